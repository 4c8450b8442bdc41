// The engine's memory floor: what a credit would cost if it did nothing but the memory
// accesses it cannot avoid, on the same world as engine_bench.cc (account k is seller
// 1 + k % 50, buyer 1 + (k / 50) * 7919; 1 M and 10 M accounts; 4 M random operations
// drawn ahead from std::mt19937_64 seeded 42). Plain arrays written here, none of the
// engine's tables: an open-addressing index of 8-byte slots (the hash's top 32 bits as
// tag, a 32-bit reference), linear probing, the power-of-two capacity that keeps it at
// most 7/8 full, over an array of records on huge pages that hold their own keys.
// Engine ÷ floor in one run is how far the engine is from the ideal.
//
//   BM_FloorIndexRecord         one at a time: hash, probe, compare the record's key, add
//                               to two 32-bit fields of the 72-byte record.
//   BM_FloorIndexRecord64       the same with 64-byte, 64-byte-aligned records.
//   BM_FloorIndexRecordBatched  batches of 64: hash and prefetch every home slot, then
//                               probe and prefetch every record, then update.
//   BM_FloorCredit              the batched update plus a fresh 128-bit write id per
//                               operation into a second table, the oldest id leaving.
//
// Every floor reports the counter ns_per_op (for the batched ones "Time" is per batch of
// 64), and accounts and bytes_per_account (index + records). Each checks its own work
// after the timed loop and fails with an error rather than report a fast wrong number.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <vector>

#include "engine/hash.h"
#include "engine/huge_pages.h"

namespace bonus {
namespace {

constexpr std::uint64_t kSellers = 50;
constexpr std::size_t kOps = 4'000'000;  // pre-generated random operations, cycled
constexpr std::size_t kBatch = 64;
constexpr std::uint32_t kNone = UINT32_MAX;

std::uint64_t seller_of(std::uint64_t k) { return 1 + k % kSellers; }
std::uint64_t buyer_of(std::uint64_t k) { return 1 + (k / kSellers) * 7919; }

// Zero-filled, on transparent huge pages where the kernel gives them, as the engine's
// tables are (engine/huge_pages.h: an allocator, not a table). Never freed: the worlds
// live as long as the process.
void* huge_zeroed(std::size_t bytes) { return huge_allocate(bytes); }

// The smallest power of two that holds `count` entries at most 7/8 full.
std::uint64_t capacity_for(std::uint64_t count) {
  std::uint64_t capacity = 16;
  while (count * 8 > capacity * 7) capacity *= 2;
  return capacity;
}

struct Slot {
  std::uint32_t tag;
  std::uint32_t ref;  // kNone: empty
};
static_assert(sizeof(Slot) == 8);

// Open addressing over 8-byte slots, linear probing. The home slot is taken from the
// tag's top bits, as in the engine, so a slot never needs its record to be moved.
struct Index {
  Slot* slots = nullptr;
  std::uint64_t mask = 0;
  std::uint32_t shift = 0;  // log2(capacity)

  explicit Index(std::uint64_t count) {
    const std::uint64_t capacity = capacity_for(count);
    slots = static_cast<Slot*>(huge_zeroed(capacity * sizeof(Slot)));
    for (std::uint64_t i = 0; i < capacity; ++i) slots[i] = Slot{0, kNone};
    mask = capacity - 1;
    shift = static_cast<std::uint32_t>(__builtin_ctzll(capacity));
  }

  std::uint64_t bytes() const { return (mask + 1) * sizeof(Slot); }
  static std::uint32_t tag_of(std::uint64_t hash) { return static_cast<std::uint32_t>(hash >> 32); }
  std::uint64_t home(std::uint32_t tag) const { return (std::uint64_t{tag} << shift) >> 32; }
  void prefetch(std::uint64_t hash) const { __builtin_prefetch(&slots[home(tag_of(hash))]); }

  // The first slot from `i` on that is empty or holds `tag`.
  std::uint64_t scan(std::uint64_t i, std::uint32_t tag) const {
    while (slots[i].ref != kNone && slots[i].tag != tag) i = (i + 1) & mask;
    return i;
  }

  // REQUIRES: no equal key present (the build inserts distinct keys only).
  void insert_new(std::uint64_t hash, std::uint32_t ref) {
    std::uint64_t i = home(tag_of(hash));
    while (slots[i].ref != kNone) i = (i + 1) & mask;
    slots[i] = Slot{tag_of(hash), ref};
  }

  // Deletion with backward shift (Knuth's algorithm R for linear probing): each later
  // entry of the run whose home is not between the hole and itself moves into the hole.
  // No tombstones. REQUIRES: `ref` is present under `hash`.
  void erase(std::uint64_t hash, std::uint32_t ref) {
    std::uint64_t i = home(tag_of(hash));
    while (slots[i].ref != ref) {
      if (slots[i].ref == kNone) std::abort();
      i = (i + 1) & mask;
    }
    for (std::uint64_t j = (i + 1) & mask; slots[j].ref != kNone; j = (j + 1) & mask) {
      const std::uint64_t h = home(slots[j].tag);
      if (((j - h) & mask) >= ((j - i) & mask)) {
        slots[i] = slots[j];
        i = j;
      }
    }
    slots[i] = Slot{0, kNone};
  }
};

// A record that holds its key, `Bytes` long: 72 like the engine's Account today, 64
// (aligned to a cache line) to see what the 8 bytes cost.
template <std::size_t Bytes>
struct alignas(Bytes % 64 == 0 ? 64 : 8) Record {
  std::uint64_t seller;
  std::uint64_t buyer;
  std::uint32_t balance;
  std::uint32_t earned;
  std::uint8_t rest[Bytes - 24];
};
static_assert(sizeof(Record<72>) == 72);
static_assert(sizeof(Record<64>) == 64 && alignof(Record<64>) == 64);

// The 4 M random account indexes, per account count.
const std::vector<std::uint32_t>& random_accounts(std::uint64_t accounts) {
  static std::map<std::uint64_t, std::vector<std::uint32_t>> cache;
  auto& v = cache[accounts];
  if (v.empty()) {
    std::mt19937_64 rng{42};
    v.resize(kOps);
    for (auto& k : v) k = static_cast<std::uint32_t>(rng() % accounts);
  }
  return v;
}

template <std::size_t Bytes>
struct Accounts {
  std::uint64_t count = 0;
  Index index;
  Record<Bytes>* records = nullptr;
  const std::vector<std::uint32_t>* picks = nullptr;  // random account indexes
  std::size_t next = 0;                               // next pick, cycling

  explicit Accounts(std::uint64_t n) : count(n), index(n) {
    records = static_cast<Record<Bytes>*>(huge_zeroed(n * sizeof(Record<Bytes>)));
    for (std::uint64_t k = 0; k < n; ++k) {
      records[k].seller = seller_of(k);
      records[k].buyer = buyer_of(k);
      index.insert_new(hash_pair(seller_of(k), buyer_of(k)), static_cast<std::uint32_t>(k));
    }
    picks = &random_accounts(n);
  }

  double bytes_per_account() const {
    return double(index.bytes() + count * sizeof(Record<Bytes>)) / double(count);
  }

  bool is(std::uint32_t ref, std::uint64_t seller, std::uint64_t buyer) const {
    return records[ref].seller == seller && records[ref].buyer == buyer;
  }

  // One lookup, start to end; kNone when absent.
  std::uint32_t find(std::uint64_t seller, std::uint64_t buyer, std::uint64_t hash) const {
    const std::uint32_t tag = Index::tag_of(hash);
    for (std::uint64_t i = index.home(tag);; i = (i + 1) & index.mask) {
      i = index.scan(i, tag);
      const std::uint32_t ref = index.slots[i].ref;
      if (ref == kNone || is(ref, seller, buyer)) return ref;
    }
  }

  std::uint32_t pick() {
    const std::uint32_t k = (*picks)[next];
    if (++next == picks->size()) next = 0;
    return k;
  }
};

template <std::size_t Bytes>
Accounts<Bytes>& accounts_world(std::uint64_t n) {
  static std::map<std::uint64_t, std::unique_ptr<Accounts<Bytes>>> worlds;
  auto& w = worlds[n];
  if (!w) w = std::make_unique<Accounts<Bytes>>(n);
  return *w;
}

void update(std::uint32_t& balance, std::uint32_t& earned) {
  balance += 5;
  earned += 5;
}

// A check outside the timing: the first, the last and a few random accounts are found
// under their keys, and a key never inserted is not.
template <std::size_t Bytes>
bool lookups_hold(const Accounts<Bytes>& w) {
  std::mt19937_64 rng{7};
  for (int i = 0; i < 1'000; ++i) {
    const std::uint64_t k = i == 0 ? 0 : i == 1 ? w.count - 1 : rng() % w.count;
    if (w.find(seller_of(k), buyer_of(k), hash_pair(seller_of(k), buyer_of(k))) != k) return false;
  }
  return w.find(kSellers + 1, 1, hash_pair(kSellers + 1, 1)) == kNone;
}

template <std::size_t Bytes>
void set_counters(benchmark::State& state, const Accounts<Bytes>& w, std::uint64_t ops) {
  state.SetItemsProcessed(static_cast<std::int64_t>(ops));
  state.counters["ns_per_op"] =
      benchmark::Counter(double(ops), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.counters["accounts"] = double(w.count);
  state.counters["bytes_per_account"] = w.bytes_per_account();
}

template <std::size_t Bytes>
void floor_index_record(benchmark::State& state) {
  auto& w = accounts_world<Bytes>(static_cast<std::uint64_t>(state.range(0)));
  std::uint64_t missed = 0;
  for (auto _ : state) {
    const std::uint64_t k = w.pick();
    const std::uint64_t s = seller_of(k), b = buyer_of(k);
    const std::uint32_t ref = w.find(s, b, hash_pair(s, b));
    if (ref == kNone) {
      ++missed;
      continue;
    }
    update(w.records[ref].balance, w.records[ref].earned);
  }
  benchmark::ClobberMemory();
  if (missed != 0 || !lookups_hold(w)) state.SkipWithError("a lookup failed");
  set_counters(state, w, state.iterations());
}

void BM_FloorIndexRecord(benchmark::State& state) { floor_index_record<72>(state); }
void BM_FloorIndexRecord64(benchmark::State& state) { floor_index_record<64>(state); }

// The first two phases of a batch: hash every key and prefetch its home slot; then probe
// every key (slots now cached) to its first tag match and prefetch that record. The key
// is compared in the third phase, by the caller, when the record has arrived.
struct Probe {
  std::uint64_t seller, buyer, hash;
  std::uint64_t slot;  // where the tag matched (or the empty slot that ended the probe)
};

template <std::size_t Bytes>
void probe_batch(Accounts<Bytes>& w, Probe* p) {
  for (std::size_t j = 0; j < kBatch; ++j) {
    const std::uint64_t k = w.pick();
    p[j].seller = seller_of(k);
    p[j].buyer = buyer_of(k);
    p[j].hash = hash_pair(p[j].seller, p[j].buyer);
    w.index.prefetch(p[j].hash);
  }
  for (std::size_t j = 0; j < kBatch; ++j) {
    const std::uint32_t tag = Index::tag_of(p[j].hash);
    p[j].slot = w.index.scan(w.index.home(tag), tag);
    const std::uint32_t ref = w.index.slots[p[j].slot].ref;
    if (ref != kNone) __builtin_prefetch(&w.records[ref]);
  }
}

// The third phase for one key: the record the probe found, or the next one on a tag
// collision. kNone when the key is absent.
template <std::size_t Bytes>
std::uint32_t resolve(const Accounts<Bytes>& w, const Probe& p) {
  const std::uint32_t tag = Index::tag_of(p.hash);
  for (std::uint64_t i = p.slot;; i = w.index.scan((i + 1) & w.index.mask, tag)) {
    const std::uint32_t ref = w.index.slots[i].ref;
    if (ref == kNone || w.is(ref, p.seller, p.buyer)) return ref;
  }
}

void BM_FloorIndexRecordBatched(benchmark::State& state) {
  auto& w = accounts_world<72>(static_cast<std::uint64_t>(state.range(0)));
  Probe p[kBatch];
  std::uint64_t missed = 0;
  for (auto _ : state) {
    probe_batch(w, p);
    for (std::size_t j = 0; j < kBatch; ++j) {
      const std::uint32_t ref = resolve(w, p[j]);
      if (ref == kNone) {
        ++missed;
        continue;
      }
      update(w.records[ref].balance, w.records[ref].earned);
    }
  }
  benchmark::ClobberMemory();
  if (missed != 0 || !lookups_hold(w)) state.SkipWithError("a lookup failed");
  set_counters(state, w, state.iterations() * kBatch);
}

// The credit's write ids: a second index of 8-byte slots over an array of 32-byte
// entries, holding as many ids as there are accounts (as the engine's world does after
// its build: every account was made by a credit). Steady state, as in the engine's
// idempotency window: each new id takes the place of the oldest, which is deleted (FIFO;
// the entries array is the ring, so the new id reuses the oldest's entry and reference).
// The count is constant and the table never grows in the timed loop.
struct IdEntry {
  std::uint64_t hi, lo;  // the write id
  std::uint64_t time;
  std::uint64_t result;
};
static_assert(sizeof(IdEntry) == 32);

struct Ids {
  std::uint64_t count = 0;
  Index index;
  IdEntry* entries = nullptr;
  std::uint64_t oldest = 0;      // ring position of the oldest id
  std::uint64_t time = 0;
  std::vector<std::uint64_t> fresh;  // 2 × 4 M random words: the new ids, cycled
  std::size_t next = 0;
  std::uint64_t lap = 0;  // added to `lo` on each pass over `fresh`, so ids stay new

  explicit Ids(std::uint64_t n) : count(n), index(n) {
    entries = static_cast<IdEntry*>(huge_zeroed(n * sizeof(IdEntry)));
    std::mt19937_64 rng{43};
    for (std::uint64_t r = 0; r < n; ++r) {
      entries[r] = IdEntry{rng(), rng(), ++time, 0};
      index.insert_new(hash_pair(entries[r].hi, entries[r].lo), static_cast<std::uint32_t>(r));
    }
    fresh.resize(2 * kOps);
    for (auto& word : fresh) word = rng();
  }

  double bytes_per_account() const {
    return double(index.bytes() + count * sizeof(IdEntry)) / double(count);
  }

  // kNone when absent.
  std::uint32_t find(std::uint64_t hi, std::uint64_t lo) const {
    const std::uint64_t hash = hash_pair(hi, lo);
    const std::uint32_t tag = Index::tag_of(hash);
    for (std::uint64_t i = index.scan(index.home(tag), tag);; i = index.scan((i + 1) & index.mask, tag)) {
      const std::uint32_t ref = index.slots[i].ref;
      if (ref == kNone || (entries[ref].hi == hi && entries[ref].lo == lo)) return ref;
    }
  }
};

Ids& ids_world(std::uint64_t n) {
  static std::map<std::uint64_t, std::unique_ptr<Ids>> worlds;
  auto& w = worlds[n];
  if (!w) w = std::make_unique<Ids>(n);
  return *w;
}

void BM_FloorCredit(benchmark::State& state) {
  const auto n = static_cast<std::uint64_t>(state.range(0));
  auto& w = accounts_world<72>(n);
  Ids& ids = ids_world(n);
  Probe p[kBatch];
  std::uint64_t new_hash[kBatch], new_hi[kBatch], new_lo[kBatch], old_hash[kBatch];
  std::uint64_t missed = 0, repeats = 0;
  for (auto _ : state) {
    // Phase 1 for the ids: hash the new ids and the oldest (read in ring order, so the
    // entries stream in) and prefetch both home slots.
    for (std::size_t j = 0; j < kBatch; ++j) {
      new_hi[j] = ids.fresh[ids.next];
      new_lo[j] = ids.fresh[ids.next + 1] + ids.lap;
      if ((ids.next += 2) == ids.fresh.size()) ids.next = 0, ++ids.lap;
      new_hash[j] = hash_pair(new_hi[j], new_lo[j]);
      ids.index.prefetch(new_hash[j]);
      std::uint64_t r = ids.oldest + j;
      if (r >= ids.count) r -= ids.count;
      const IdEntry& old = ids.entries[r];
      old_hash[j] = hash_pair(old.hi, old.lo);
      ids.index.prefetch(old_hash[j]);
    }
    probe_batch(w, p);
    for (std::size_t j = 0; j < kBatch; ++j) {
      const std::uint32_t ref = resolve(w, p[j]);
      if (ref == kNone) {
        ++missed;
        continue;
      }
      update(w.records[ref].balance, w.records[ref].earned);
      // The oldest id leaves; the new one, unless a repeat, takes its entry.
      const auto r = static_cast<std::uint32_t>(ids.oldest);
      if (++ids.oldest == ids.count) ids.oldest = 0;
      ids.index.erase(old_hash[j], r);
      const std::uint32_t tag = Index::tag_of(new_hash[j]);
      std::uint64_t i = ids.index.scan(ids.index.home(tag), tag);
      for (; ids.index.slots[i].ref != kNone; i = ids.index.scan((i + 1) & ids.index.mask, tag)) {
        const IdEntry& e = ids.entries[ids.index.slots[i].ref];
        if (e.hi == new_hi[j] && e.lo == new_lo[j]) break;
      }
      if (ids.index.slots[i].ref != kNone) {
        ++repeats;
        continue;
      }
      ids.entries[r] = IdEntry{new_hi[j], new_lo[j], ++ids.time, w.records[ref].balance};
      ids.index.slots[i] = Slot{tag, r};
    }
  }
  benchmark::ClobberMemory();
  // The check: every account found, no new id taken for a repeat, the last batch's new
  // ids present under their references, one never made absent, and exactly `count` ids
  // in the index (so every oldest id was deleted).
  bool ok = missed == 0 && repeats == 0 && lookups_hold(w);
  if (ok && state.iterations() > 0) {
    for (std::size_t j = 0; j < kBatch; ++j) {
      const std::uint64_t r = (ids.oldest + ids.count - kBatch + j) % ids.count;
      ok = ok && ids.find(new_hi[j], new_lo[j]) == r;
    }
    ok = ok && ids.find(new_hi[0], new_lo[0] + 1) == kNone;  // a later lap's id
    std::uint64_t present = 0;
    for (std::uint64_t i = 0; i <= ids.index.mask; ++i) present += ids.index.slots[i].ref != kNone;
    ok = ok && present == ids.count;
  }
  if (!ok) state.SkipWithError("a lookup or an id insert failed");
  set_counters(state, w, state.iterations() * kBatch);
  state.counters["id_bytes_per_account"] = ids.bytes_per_account();
}

BENCHMARK(BM_FloorIndexRecord)->Arg(1'000'000)->Arg(10'000'000);
BENCHMARK(BM_FloorIndexRecord64)->Arg(1'000'000)->Arg(10'000'000);
BENCHMARK(BM_FloorIndexRecordBatched)->Arg(1'000'000)->Arg(10'000'000);
BENCHMARK(BM_FloorCredit)->Arg(1'000'000)->Arg(10'000'000);

}  // namespace
}  // namespace bonus
