// history-bench: what writing statements' events costs the checkpointer's thread, and its
// floor. One flush is what the checkpointer hands HistoryStore::write at a time (up to
// --history-pending-max, 65,536 by default): here 32,768 events of the mixed workload's
// shape (credits to random accounts; one in eight a checkout's held + spent pair naming
// an order), into a store already holding one event per account, each flush one durable
// LMDB transaction as in bonusd.
//   build/bin/history-bench --benchmark_repetitions=3
//       --benchmark_enable_random_interleaving=true --benchmark_report_aggregates_only=true
//   HISTORY_BENCH_DIR=/data build/bin/history-bench     on another file system
// Rows (counter events_per_s, and bytes_per_event of file):
//   HistoryWrite/A         HistoryStore::write, A accounts
//   HistoryRead/A/L        after those writes, statement pages (limit L) of random
//                          accounts, from a cache-warm file: pages_per_s, entries_per_page
//   AppendFloor/A          the floor of any layout: the same events' 72 bytes appended in
//                          log order (MDB_APPEND) to one LMDB table, nothing else, the
//                          same flushes and transactions
// The seed is fixed (kSeed): every row writes the same events.
#include <benchmark/benchmark.h>
#include <lmdb.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <variant>
#include <vector>

#include "bench/bench_dir.h"
#include "engine/ledger_event.h"
#include "server/history_store.h"
#include "server/lmdb_file.h"

namespace bonus::server {
namespace {

constexpr std::uint64_t kSeed = 20261202;
constexpr std::size_t kFlushEvents = 32'768;
constexpr int kFlushes = 8;  // timed, after the fill

// A fresh directory under $HISTORY_BENCH_DIR (default /tmp).
struct BenchDir : bench::BenchDir {
  BenchDir() : bench::BenchDir("HISTORY_BENCH_DIR", "history_bench") {}
};

// The events in log order, positions 1, 2, ..., over `accounts` accounts of 4 sellers:
// fill() gives every account its first event, next(count) the next `count` or one more
// (a checkout's pair is not split).
class EventStream {
 public:
  explicit EventStream(std::uint64_t accounts) : accounts_(accounts), rng_(kSeed) {}

  std::vector<HistoryEntry> fill() {
    std::vector<HistoryEntry> out;
    out.reserve(accounts_);
    for (std::uint64_t a = 0; a < accounts_; ++a) out.push_back(credit(a));
    return out;
  }
  std::vector<HistoryEntry> next(std::size_t count) {
    std::vector<HistoryEntry> out;
    out.reserve(count + 1);
    while (out.size() < count) {
      const std::uint64_t a = rng_() % accounts_;
      if (rng_() % 8 == 0) {
        // A checkout: held, then spent, two positions naming one order.
        const std::uint64_t order = ++order_;
        out.push_back(entry(a, LedgerEvent::Kind::held, LedgerEvent::Ref::order, order));
        out.push_back(entry(a, LedgerEvent::Kind::spent, LedgerEvent::Ref::order, order));
      } else {
        out.push_back(credit(a));
      }
    }
    return out;
  }
  std::uint64_t position() const { return position_; }

 private:
  HistoryEntry credit(std::uint64_t a) {
    return entry(a, LedgerEvent::Kind::credited, LedgerEvent::Ref::campaign, 5);
  }
  HistoryEntry entry(std::uint64_t a, LedgerEvent::Kind kind, LedgerEvent::Ref ref_kind,
                     std::uint64_t ref) {
    HistoryEntry h;
    h.position = ++position_;
    h.index = 0;
    h.event.seller = 1 + a % 4;
    h.event.buyer = 1'000'000 + a / 4;
    h.event.ref = ref;
    h.event.ref_kind = ref_kind;
    h.event.kind = kind;
    h.event.time_us = static_cast<TimeUs>(position_) * 10;
    h.event.amount = 100;
    h.event.balance_after = 100;
    return h;
  }

  std::uint64_t accounts_;
  std::mt19937_64 rng_;
  std::uint64_t position_ = 0;
  std::uint64_t order_ = 0;
};

// Called paused: makes kFlushes flushes of `stream`, then times `write` (false: stop)
// over them and reports events_per_s and the bytes of `dir`'s file per event stored.
// Returns paused.
template <typename Write>
bool time_flushes(benchmark::State& state, EventStream& stream, const std::string& dir,
                  Write&& write) {
  std::vector<std::vector<HistoryEntry>> flushes;
  for (int f = 0; f < kFlushes; ++f) flushes.push_back(stream.next(kFlushEvents));
  std::uint64_t events = 0;
  const auto start = std::chrono::steady_clock::now();
  state.ResumeTiming();
  for (const auto& flush : flushes) {
    if (!write(flush)) return false;
    events += flush.size();
  }
  state.PauseTiming();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  state.counters["events_per_s"] = static_cast<double>(events) / seconds;
  state.counters["bytes_per_event"] =
      static_cast<double>(lmdb_file_bytes(dir)) / static_cast<double>(stream.position());
  return true;
}

std::unique_ptr<HistoryStore> open_store(benchmark::State& state, const BenchDir& dir) {
  auto opened = HistoryStore::open(dir.path());
  if (auto* error = std::get_if<std::string>(&opened)) {
    state.SkipWithError(error->c_str());
    return nullptr;
  }
  return std::move(std::get<std::unique_ptr<HistoryStore>>(opened));
}

// Writes `entries` as the checkpointer would: transactions of at most 65,536 events.
bool write_all(benchmark::State& state, HistoryStore& store,
               const std::vector<HistoryEntry>& entries) {
  for (std::size_t at = 0; at < entries.size(); at += 65'536) {
    const std::size_t n = std::min<std::size_t>(65'536, entries.size() - at);
    if (auto error = store.write({entries.data() + at, n}, entries[at + n - 1].position)) {
      state.SkipWithError(error->c_str());
      return false;
    }
  }
  return true;
}

void HistoryWrite(benchmark::State& state) {
  const auto accounts = static_cast<std::uint64_t>(state.range(0));
  for (auto _ : state) {
    state.PauseTiming();
    BenchDir dir;
    const auto store = open_store(state, dir);
    EventStream stream(accounts);
    if (!store || !write_all(state, *store, stream.fill())) return;
    if (!time_flushes(state, stream, dir.path(), [&](const std::vector<HistoryEntry>& flush) {
          return write_all(state, *store, flush);
        })) {
      return;
    }
    state.ResumeTiming();
  }
}

void HistoryRead(benchmark::State& state) {
  const auto accounts = static_cast<std::uint64_t>(state.range(0));
  const auto limit = static_cast<std::uint32_t>(state.range(1));
  BenchDir dir;
  const auto store = open_store(state, dir);
  EventStream stream(accounts);
  if (!store || !write_all(state, *store, stream.fill())) return;
  for (int f = 0; f < kFlushes; ++f) {
    if (!write_all(state, *store, stream.next(kFlushEvents))) return;
  }
  std::mt19937_64 rng(kSeed);
  HistoryPage page;
  std::uint64_t pages = 0, entries = 0;
  for (auto _ : state) {
    const std::uint64_t a = rng() % accounts;
    if (auto error = store->account_page(1 + a % 4, 1'000'000 + a / 4, {}, limit, page)) {
      state.SkipWithError(error->c_str());
      return;
    }
    ++pages;
    entries += page.entries.size();
  }
  state.counters["pages_per_s"] = benchmark::Counter(static_cast<double>(pages),
                                                     benchmark::Counter::kIsRate);
  state.counters["entries_per_page"] = static_cast<double>(entries) / static_cast<double>(pages);
}

// The floor: one table, the events' bytes under a big-endian position key, appended.
void AppendFloor(benchmark::State& state) {
  const auto accounts = static_cast<std::uint64_t>(state.range(0));
  auto write = [](MDB_env* env, MDB_dbi dbi, const std::vector<HistoryEntry>& entries) {
    MDB_txn* txn = nullptr;
    if (mdb_txn_begin(env, nullptr, 0, &txn) != 0) std::abort();
    for (const HistoryEntry& h : entries) {
      unsigned char key[8];
      for (int i = 0; i < 8; ++i) key[i] = static_cast<unsigned char>(h.position >> (56 - 8 * i));
      MDB_val k{sizeof(key), key};
      MDB_val v{sizeof(LedgerEvent), const_cast<LedgerEvent*>(&h.event)};
      if (mdb_put(txn, dbi, &k, &v, MDB_APPEND) != 0) std::abort();
    }
    if (mdb_txn_commit(txn) != 0) std::abort();
  };
  for (auto _ : state) {
    state.PauseTiming();
    BenchDir dir;
    MDB_env* env = nullptr;
    mdb_env_create(&env);
    mdb_env_set_maxdbs(env, 1);
    if (auto error = open_lmdb_env(env, dir.path(), 1ull << 34, "floor")) std::abort();
    MDB_txn* txn = nullptr;
    MDB_dbi dbi = 0;
    mdb_txn_begin(env, nullptr, 0, &txn);
    mdb_dbi_open(txn, "event", MDB_CREATE, &dbi);
    mdb_txn_commit(txn);
    EventStream stream(accounts);
    const auto fill = stream.fill();
    write(env, dbi, fill);
    time_flushes(state, stream, dir.path(), [&](const std::vector<HistoryEntry>& flush) {
      write(env, dbi, flush);
      return true;
    });
    mdb_env_close(env);
    state.ResumeTiming();
  }
}

BENCHMARK(HistoryWrite)->Arg(100'000)->Arg(1'000'000)->Unit(benchmark::kMillisecond)->Iterations(1);
BENCHMARK(HistoryRead)
    ->Args({100'000, 50})
    ->Args({1'000'000, 50})
    ->Args({1'000, 1'000})  // busy accounts: pages of ~260 events spread over the file
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(AppendFloor)->Arg(100'000)->Arg(1'000'000)->Unit(benchmark::kMillisecond)->Iterations(1);

}  // namespace
}  // namespace bonus::server

BENCHMARK_MAIN();
