// metrics-bench: what the metrics hooks cost on a shard's apply path, side by side with
// the same path without them, and why counters live in per-thread cells.
//   build/bin/metrics-bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
//     --benchmark_enable_random_interleaving=true     (one line; medians are the figures)
// BM_ApplySlice/<metered>/<slice>: ns per command to apply credits on 100 k accounts in
// slices (256: a busy shard; 1: an idle one, each command its own slice), without
// (metered 0) and with (1) what Shard::run and the reply add: two clock reads and a
// histogram observation per slice, the shard's account gauge, the results counted.
// BM_Count*: ns per command counted, per-thread cell against one shared atomic.
#include <benchmark/benchmark.h>

#include <atomic>
#include <memory>
#include <random>
#include <vector>

#include "engine/ledger.h"
#include "server/metrics.h"

namespace bonus {
namespace {

using server::Histogram;
using server::metrics;

constexpr TimeUs kStart = 1'798'761'600'000'000;  // 2027-01-01T00:00:00Z
constexpr std::uint64_t kAccounts = 100'000;      // small and warm: the hooks' share is largest

struct World {
  Ledger ledger;
  TimeUs now = kStart;
  std::uint64_t ids = 0;
  std::mt19937_64 rng{42};
  explicit World(const EngineConfig& config) : ledger(config) {}
  Credit credit() {
    const std::uint64_t k = rng() % kAccounts;
    return Credit{
        Id128{7, ++ids}, 1 + k % 50, 1 + (k / 50) * 7919, 5, 0, LotLife::ttl_of(7 * kUsPerDay)};
  }
};

World& world() {
  static std::unique_ptr<World> w;
  if (w) return *w;
  EngineConfig config;
  config.ids_max = 1ull << 27;
  w = std::make_unique<World>(config);
  for (std::uint64_t k = 0; k < kAccounts; ++k) w->ledger.apply(w->credit(), ++w->now);
  return *w;
}

void BM_ApplySlice(benchmark::State& state) {
  const bool metered = state.range(0) != 0;
  const auto slice = static_cast<std::size_t>(state.range(1));
  World& w = world();
  std::vector<Command> commands(slice);
  std::vector<Result> results(slice);
  for (auto _ : state) {
    for (auto& c : commands) c = w.credit();  // in both variants alike
    const auto start =
        metered ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
    for (std::size_t i = 0; i < slice; ++i) results[i] = w.ledger.apply(commands[i], ++w.now);
    if (metered) {
      metrics().observe_since(Histogram::apply_slice, start);
      metrics().shard_accounts(0, w.ledger.account_count());
      metrics().count_results(commands, results);
    }
    benchmark::DoNotOptimize(results.data());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * slice));
}

// The hooks alone, per command, for a slice of `slice` commands already applied.
void BM_HooksOnly(benchmark::State& state) {
  const auto slice = static_cast<std::size_t>(state.range(0));
  const std::vector<Command> commands(slice, Credit{});
  const std::vector<Result> results(slice, Result{Code::ok});
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    metrics().observe_since(Histogram::apply_slice, start);
    metrics().shard_accounts(0, slice);
    metrics().count_results(commands, results);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * slice));
}

// Per command: count_results over a batch of 64 (one cell lookup per batch).
void BM_CountResultsCells(benchmark::State& state) {
  const std::vector<Command> commands(64, Credit{});
  const std::vector<Result> results(64, Result{Code::ok});
  for (auto _ : state) metrics().count_results(commands, results);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * 64));
}

// Per command: one shared atomic counter, fetch_add by every thread (what a plain
// registry would do).
std::atomic<std::uint64_t> g_shared{0};
void BM_CountSharedAtomic(benchmark::State& state) {
  for (auto _ : state) {
    for (int i = 0; i < 64; ++i) g_shared.fetch_add(1, std::memory_order_relaxed);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * 64));
}

BENCHMARK(BM_ApplySlice)->ArgsProduct({{0, 1}, {256}})->Iterations(1'000);
BENCHMARK(BM_ApplySlice)->ArgsProduct({{0, 1}, {1}})->Iterations(200'000);
BENCHMARK(BM_HooksOnly)->Arg(1)->Arg(256);
BENCHMARK(BM_CountResultsCells)->Threads(1)->Threads(2);
BENCHMARK(BM_CountSharedAtomic)->Threads(1)->Threads(2);

}  // namespace
}  // namespace bonus

BENCHMARK_MAIN();
