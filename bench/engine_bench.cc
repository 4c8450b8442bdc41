// engine-bench: the engine alone, one core, on 1 M and 10 M accounts.
//   build/bin/engine-bench                       all benchmarks
//   build/bin/engine-bench --benchmark_filter=10000000   the 10 M account runs only
// Each figure is ns per command (or per expired lot for the sweep); memory counters are
// bytes per account. A ledger per account count is built once and shared. Writes go in
// batches of kBatch through Ledger::apply_batch, as the server's shards apply them (the
// `Single` variants apply one at a time). The id window and the order retention are as
// many commands long as there are accounts, so the id and order tables are in their
// steady state (each write adds one and forgets one) rather than growing.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "bench/rss.h"
#include "engine/ledger.h"
#include "engine/state_codec.h"

namespace bonus {
namespace {

constexpr TimeUs kStart = 1'798'761'600'000'000;  // 2027-01-01T00:00:00Z
constexpr SellerId kSellers = 50;
// Finished orders are kept for accounts / kRetentionShare commands.
constexpr std::uint64_t kRetentionShare = 4;

struct World {
  std::unique_ptr<Ledger> ledger;
  std::uint64_t accounts = 0;
  TimeUs now = kStart;
  std::uint64_t ids = 0;
  std::uint64_t orders = 0;
  std::mt19937_64 rng{42};
  double built_account_bytes = 0;  // per account, right after the build
  double built_rss_bytes = 0;      // per account, right after the build
  std::set<std::string> warmed;    // benchmarks that have filled the order table

  Id128 id() { return Id128{7, ++ids}; }
  OrderId order() { return ++orders; }
  // Account k is (seller k % kSellers, buyer k / kSellers * 7919 + 1): every buyer has
  // several sellers, as carts do.
  SellerId seller_of(std::uint64_t k) const { return 1 + k % kSellers; }
  BuyerId buyer_of(std::uint64_t k) const { return 1 + (k / kSellers) * 7919; }
  std::uint64_t pick() { return rng() % accounts; }
};

// One ledger per account count, `lots` lots per account (1 year life, spread over days).
World& world(std::uint64_t accounts, int lots = 1) {
  static std::map<std::pair<std::uint64_t, int>, std::unique_ptr<World>> worlds;
  auto& w = worlds[{accounts, lots}];
  if (w) return *w;
  const long rss_before = rss_bytes();
  w = std::make_unique<World>();
  w->accounts = accounts;
  EngineConfig config;
  config.ids_max = 1ull << 27;
    // Steady state: one command per µs, so the ledger remembers as many write ids as it has
  // accounts, and a quarter as many finished orders; each write adds one and forgets one.
  config.id_window_us = static_cast<TimeUs>(accounts);
  config.order_retention_us = static_cast<TimeUs>(accounts / kRetentionShare);
  w->ledger = std::make_unique<Ledger>(config);
  for (int l = 0; l < lots; ++l) {
    for (std::uint64_t k = 0; k < accounts; ++k) {
      const TimeUs life = 365 * kUsPerDay - TimeUs((k * 13 + l * 7) % 30) * kUsPerDay;
      w->ledger->apply(Credit{w->id(), w->seller_of(k), w->buyer_of(k), 1'000, 1 + k % 8,
                              LotLife::ttl_of(life)},
                       ++w->now);
    }
  }
  w->built_account_bytes = double(w->ledger->account_memory_bytes()) / double(accounts);
  w->built_rss_bytes = double(rss_bytes() - rss_before) / double(accounts);
  return *w;
}

// Writes of one batch and their times, applied as the server's shards apply them: through
// Ledger::apply_batch, or one at a time where the ledger has no batches (older builds
// measured with this file, for comparisons in one run).
constexpr int kBatch = 64;
struct Batch {
  std::vector<Command> commands;
  std::vector<TimeUs> times;
  void add(Command c, TimeUs now) {
    commands.push_back(std::move(c));
    times.push_back(now);
  }
  template <typename L>  // a template, so that a build without apply_batch compiles
  void apply(L& ledger) {
    if constexpr (requires { ledger.apply_batch(0, 0, 0); }) {
      ledger.apply_batch(
          commands.size(),
          [&](std::size_t i) { return std::pair<const Command&, TimeUs>(commands[i], times[i]); },
          [&](std::size_t, const Result& r) { benchmark::DoNotOptimize(r); });
    } else {
      for (std::size_t i = 0; i < commands.size(); ++i) {
        benchmark::DoNotOptimize(ledger.apply(commands[i], times[i]));
      }
    }
    commands.clear();
    times.clear();
  }
};

// Runs `step` untimed until the world's finished orders are at their steady count, the
// first time benchmark `name` runs on world `w`.
template <typename Step>
void warm_up(World& w, const char* name, Step&& step) {
  if (!w.warmed.insert(name).second) return;
  const std::uint64_t end = w.ids + w.accounts / kRetentionShare + w.accounts / 16;
  while (w.ids < end) step();
}

void BM_Credit(benchmark::State& state) {
  World& w = world(state.range(0));
  Batch batch;
  while (state.KeepRunningBatch(kBatch)) {
    for (int j = 0; j < kBatch; ++j) {
      const std::uint64_t k = w.pick();
      batch.add(Credit{w.id(), w.seller_of(k), w.buyer_of(k), 5, 0, LotLife::ttl_of(7 * kUsPerDay)},
                ++w.now);
    }
    batch.apply(*w.ledger);
  }
}

void BM_CreditSingle(benchmark::State& state) {
  World& w = world(state.range(0));
  for (auto _ : state) {
    const std::uint64_t k = w.pick();
    benchmark::DoNotOptimize(w.ledger->apply(
        Credit{w.id(), w.seller_of(k), w.buyer_of(k), 5, 0, LotLife::ttl_of(7 * kUsPerDay)},
        ++w.now));
  }
}

void BM_HoldCapture(benchmark::State& state) {
  World& w = world(state.range(0));
  warm_up(w, "spend", [&] {
    const std::uint64_t k = w.pick();
    w.ledger->apply(Spend{w.id(), w.order(), w.seller_of(k), w.buyer_of(k), 3, 100'000}, ++w.now);
  });
  for (auto _ : state) {
    const std::uint64_t k = w.pick();
    const OrderId order = w.order();
    benchmark::DoNotOptimize(w.ledger->apply(
        Hold{w.id(), order, w.seller_of(k), w.buyer_of(k), 3, 100'000, 0}, ++w.now));
    benchmark::DoNotOptimize(w.ledger->apply(Capture{w.id(), order, kAmountAll}, ++w.now));
  }
}

void BM_Spend(benchmark::State& state) {
  World& w = world(state.range(0));
  Batch batch;
  auto fill = [&] {
    for (int j = 0; j < kBatch; ++j) {
      const std::uint64_t k = w.pick();
      batch.add(Spend{w.id(), w.order(), w.seller_of(k), w.buyer_of(k), 3, 100'000}, ++w.now);
    }
  };
  warm_up(w, "spend", [&] {
    fill();
    batch.apply(*w.ledger);
  });
  while (state.KeepRunningBatch(kBatch)) {
    fill();
    batch.apply(*w.ledger);
  }
}

void BM_SpendSingle(benchmark::State& state) {
  World& w = world(state.range(0));
  warm_up(w, "spend", [&] {
    const std::uint64_t k = w.pick();
    w.ledger->apply(Spend{w.id(), w.order(), w.seller_of(k), w.buyer_of(k), 3, 100'000}, ++w.now);
  });
  for (auto _ : state) {
    const std::uint64_t k = w.pick();
    benchmark::DoNotOptimize(w.ledger->apply(
        Spend{w.id(), w.order(), w.seller_of(k), w.buyer_of(k), 3, 100'000}, ++w.now));
  }
}

// Accruals of random accounts, pending, to confirm: `count` of them, newest last.
void accrue_pending(World& w, std::size_t count, std::vector<OrderId>& pending) {
  for (std::size_t i = 0; i < count; ++i) {
    const std::uint64_t k = w.pick();
    const OrderId order = w.order();
    w.ledger->apply(Accrue{w.id(), order, w.seller_of(k), w.buyer_of(k), 4, LotLife::policy()},
                    ++w.now);
    pending.push_back(order);
  }
}

// Accrues and confirms, untimed, until the retention is full of confirmed accruals.
void warm_up_accruals(World& w) {
  std::vector<OrderId> pending;
  warm_up(w, "accrual", [&] {
    accrue_pending(w, 1, pending);
    w.ledger->apply(ConfirmAccrual{w.id(), pending.back()}, ++w.now);
    pending.pop_back();
  });
}

void BM_ConfirmAccrual(benchmark::State& state) {
  World& w = world(state.range(0));
  warm_up_accruals(w);
  std::vector<OrderId> pending;
  Batch batch;
  while (state.KeepRunningBatch(kBatch)) {
    if (pending.size() < kBatch) {
      state.PauseTiming();
      accrue_pending(w, 10'000, pending);
      state.ResumeTiming();
    }
    for (int j = 0; j < kBatch; ++j) {
      batch.add(ConfirmAccrual{w.id(), pending.back()}, ++w.now);
      pending.pop_back();
    }
    batch.apply(*w.ledger);
  }
}

void BM_ConfirmAccrualSingle(benchmark::State& state) {
  World& w = world(state.range(0));
  warm_up_accruals(w);
  std::vector<OrderId> pending;
  for (auto _ : state) {
    if (pending.empty()) {
      state.PauseTiming();
      accrue_pending(w, 10'000, pending);
      state.ResumeTiming();
    }
    benchmark::DoNotOptimize(w.ledger->apply(ConfirmAccrual{w.id(), pending.back()}, ++w.now));
    pending.pop_back();
  }
}

// Per expired lot: a batch of accounts gets a lot expiring within a minute, time passes,
// and one sweep removes them all.
void BM_SweepPerExpiredLot(benchmark::State& state) {
  World& w = world(state.range(0));
  constexpr std::uint64_t kLots = 10'000;
  std::uint64_t expired = 0;
  for (auto _ : state) {
    state.PauseTiming();
    for (std::uint64_t i = 0; i < kLots; ++i) {
      const std::uint64_t k = w.pick();
      w.ledger->apply(Credit{w.id(), w.seller_of(k), w.buyer_of(k), 2, 0,
                             LotLife::ttl_of(30 * kUsPerSecond)},
                      ++w.now);
    }
    w.now += 2 * kUsPerMinute;
    state.ResumeTiming();
    const Result r = w.ledger->apply(Sweep{}, ++w.now);
    expired += r.amount / 2;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(expired));
  state.counters["ns_per_expired_lot"] = benchmark::Counter(
      double(expired), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

void BM_Accrue(benchmark::State& state) {
  World& w = world(state.range(0));
  warm_up_accruals(w);
  for (auto _ : state) {
    const std::uint64_t k = w.pick();
    benchmark::DoNotOptimize(w.ledger->apply(
        Accrue{w.id(), w.order(), w.seller_of(k), w.buyer_of(k), 4, LotLife::policy()}, ++w.now));
  }
}

#if __has_include("engine/purchase_table.h")
// Accrue by price at the buyer's rate: the seller's rate with tiers, the buyer's window
// summed. (Not in builds before rates and tiers.)
void BM_AccrueByPrice(benchmark::State& state) {
  World& w = world(state.range(0));
  for (SellerId s = 1; s <= kSellers; ++s) {
    SetPolicy p{w.id(), s, SetPolicy::kRate | SetPolicy::kTiers};
    p.rate_bp = 500;
    p.tier_count = 2;
    p.tiers[0] = {1'000'000, 700, 0};
    p.tiers[1] = {5'000'000, 1'000, 0};
    w.ledger->apply(p, ++w.now);
  }
  for (auto _ : state) {
    const std::uint64_t k = w.pick();
    Accrue c{w.id(), w.order(), w.seller_of(k), w.buyer_of(k), 0, LotLife::policy()};
    c.price = 199'050;
    benchmark::DoNotOptimize(w.ledger->apply(c, ++w.now));
  }
}
#endif

// expiring walks: the world's 1 M accounts (50 sellers, lots 335..365 days out) plus
// seller 9001 with 2,000 accounts whose lots never expire ("none") and seller 9002 with
// 2,000 accounts, 200 of them with a lot expiring in 30 days ("some"). One iteration is a
// whole walk, every page of 1,000.
Ledger& expiring_world() {
  static Ledger* ledger = nullptr;
  if (ledger != nullptr) return *ledger;
  World& w = world(1'000'000);
  for (std::uint64_t b = 1; b <= 2'000; ++b) {
    w.ledger->apply(Credit{w.id(), 9001, b, 10, 0, LotLife::forever()}, ++w.now);
    w.ledger->apply(Credit{w.id(), 9002, b, 10, 0,
                           b % 10 == 0 ? LotLife::ttl_of(30 * kUsPerDay) : LotLife::forever()},
                    ++w.now);
  }
  ledger = w.ledger.get();  // world(1 M)'s, with the two sellers added
  return *ledger;
}

std::uint64_t walk_expiring(const Ledger& ledger, SellerId seller, TimeUs within_us, TimeUs now) {
  std::uint64_t found = 0;
  ExpiringCursor cursor;
  for (;;) {
    const ExpiringPage page = ledger.expiring(seller, within_us, cursor, 1'000, now);
    found += page.entries.size();
    if (page.done) return found;
    cursor = page.next;
  }
}

void BM_ExpiringSellerWithNone(benchmark::State& state) {
  Ledger& l = expiring_world();
  for (auto _ : state) {
    benchmark::DoNotOptimize(walk_expiring(l, 9001, 400 * kUsPerDay, l.last_time()));
  }
}

void BM_ExpiringSellerWithSome(benchmark::State& state) {
  Ledger& l = expiring_world();
  std::uint64_t found = 0;
  for (auto _ : state) found = walk_expiring(l, 9002, 60 * kUsPerDay, l.last_time());
  state.counters["found"] = double(found);
}

// A large seller (20,000 accounts) of which none expire within a day: the walk the expiry
// index made cheap (no bucket within a day) and the seller's chain does not.
void BM_ExpiringLargeSellerWithin1d(benchmark::State& state) {
  Ledger& l = expiring_world();
  for (auto _ : state) benchmark::DoNotOptimize(walk_expiring(l, 1, kUsPerDay, l.last_time()));
}

// Balance reads in batches of kBatch accounts, as a shard answers a request for many (or
// one at a time where the ledger has no batched reads: older builds).
template <typename L>
void read_balances(const L& ledger, const std::vector<std::pair<SellerId, BuyerId>>& keys,
                   TimeUs now) {
  if constexpr (requires { ledger.balances(0, 0, 0, 0); }) {
    ledger.balances(
        keys.size(), now, [&](std::size_t i) { return keys[i]; },
        [&](std::size_t, const AccountView& v) { benchmark::DoNotOptimize(v); });
  } else {
    for (const auto& [seller, buyer] : keys) {
      benchmark::DoNotOptimize(ledger.balance(seller, buyer, now));
    }
  }
}

void BM_Balance(benchmark::State& state) {
  World& w = world(state.range(0));
  std::vector<std::pair<SellerId, BuyerId>> keys(kBatch);
  while (state.KeepRunningBatch(kBatch)) {
    for (auto& key : keys) {
      const std::uint64_t k = w.pick();
      key = {w.seller_of(k), w.buyer_of(k)};
    }
    read_balances(*w.ledger, keys, w.now);
  }
}

void BM_BalanceSingle(benchmark::State& state) {
  World& w = world(state.range(0));
  for (auto _ : state) {
    const std::uint64_t k = w.pick();
    benchmark::DoNotOptimize(w.ledger->balance(w.seller_of(k), w.buyer_of(k), w.now));
  }
}

void BM_Cart3Sellers(benchmark::State& state) {
  World& w = world(state.range(0));
  std::vector<CartEntry> out;
  for (auto _ : state) {
    const std::uint64_t k = w.pick();
    const CartLine lines[3] = {{w.seller_of(k), 199'000},
                               {w.seller_of(k + 1), 59'900},
                               {w.seller_of(k + 2), 1'250'000}};
    w.ledger->cart(w.buyer_of(k), lines, kUsPerDay, w.now, out);
    benchmark::DoNotOptimize(out.data());
  }
}

// Memory per account right after a ledger of one or three lots per account was built:
// the engine's account structures, and the process's resident set (which also holds
// the idempotency window of the credits that built it).
void BM_Memory(benchmark::State& state) {
  World& w = world(state.range(0), static_cast<int>(state.range(1)));
  for (auto _ : state) benchmark::DoNotOptimize(w.ledger->account_count());
  state.counters["account_bytes_per_account"] = w.built_account_bytes;
  state.counters["rss_bytes_per_account"] = w.built_rss_bytes;
}

// A checkpoint's encoding of what changed (StateCodec::give_changes, as CheckpointStore
// writes it, into a sink that only counts): a ledger that tracked changes while `accounts`
// new buyers got a credit each, so every account and write id is given, sorted by key.
// Time per record given.
class CountingSink : public StateSink {
 public:
  void put(StateTable, std::string_view key, std::string_view value) override {
    bytes += key.size() + value.size();
    ++records;
  }
  void erase(StateTable, std::string_view key) override {
    bytes += key.size();
    ++records;
  }
  std::uint64_t bytes = 0;
  std::uint64_t records = 0;
};

void BM_GiveChanges(benchmark::State& state) {
  const auto accounts = static_cast<std::uint64_t>(state.range(0));
  static std::map<std::uint64_t, std::unique_ptr<Ledger>> ledgers;
  auto& ledger = ledgers[accounts];
  if (!ledger) {
    EngineConfig config;
    config.ids_max = 1ull << 27;
    ledger = std::make_unique<Ledger>(config);
    ledger->track_changes();
    TimeUs now = kStart;
    for (std::uint64_t k = 0; k < accounts; ++k) {
      ledger->apply(Credit{Id128{k * 2654435761u + 1, k + 1}, 1 + k % kSellers, k + 1, 300, 1,
                           LotLife::ttl_of(30 * kUsPerDay)},
                    ++now);
    }
  }
  std::uint64_t records = 0;
  for (auto _ : state) {
    CountingSink sink;
    StateCodec::give_changes(*ledger, sink);
    benchmark::DoNotOptimize(sink.bytes);
    records = sink.records;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * records));
  state.counters["records"] = static_cast<double>(records);
}
BENCHMARK(BM_GiveChanges)->Arg(1'000'000)->Unit(benchmark::kMillisecond)->Iterations(5);

BENCHMARK(BM_Credit)->Arg(1'000'000)->Arg(10'000'000);
BENCHMARK(BM_CreditSingle)->Arg(1'000'000)->Arg(10'000'000);
BENCHMARK(BM_HoldCapture)->Arg(1'000'000)->Arg(10'000'000);
BENCHMARK(BM_Spend)->Arg(1'000'000)->Arg(10'000'000);
BENCHMARK(BM_SpendSingle)->Arg(1'000'000)->Arg(10'000'000);
BENCHMARK(BM_Accrue)->Arg(1'000'000)->Arg(10'000'000);
BENCHMARK(BM_ConfirmAccrual)->Arg(1'000'000)->Arg(10'000'000);
BENCHMARK(BM_ConfirmAccrualSingle)->Arg(1'000'000)->Arg(10'000'000);
BENCHMARK(BM_SweepPerExpiredLot)->Arg(1'000'000)->Arg(10'000'000)->Iterations(50);
// 10,000 accounts: everything in cache, the instructions alone (docs/performance.md).
BENCHMARK(BM_Balance)->Arg(10'000)->Arg(1'000'000)->Arg(10'000'000);
BENCHMARK(BM_BalanceSingle)->Arg(10'000)->Arg(1'000'000)->Arg(10'000'000);
BENCHMARK(BM_Cart3Sellers)->Arg(1'000'000)->Arg(10'000'000);
BENCHMARK(BM_Memory)
    ->Args({1'000'000, 1})
    ->Args({10'000'000, 1})
    ->Args({1'000'000, 3})
    ->Iterations(1);
// Last: they add sellers to the 1 M world (and rates to its sellers).
BENCHMARK(BM_ExpiringSellerWithNone)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ExpiringSellerWithSome)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ExpiringLargeSellerWithin1d)->Unit(benchmark::kMicrosecond);
#if __has_include("engine/purchase_table.h")
BENCHMARK(BM_AccrueByPrice)->Arg(1'000'000);
#endif

}  // namespace
}  // namespace bonus

BENCHMARK_MAIN();
