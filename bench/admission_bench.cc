// admission-bench: what ledger-wide ids and orders cost the sequencer thread per write
// (server/admission.h), with 1 M and 10 M ids remembered ledger-wide.
//   build/bin/admission-bench
// BM_AdmitCredit: a credit with a fresh id (one id-directory lookup and insert);
// BM_AdmitHold: a hold with a fresh id and a fresh order (plus an order-directory insert);
// BM_AdmitRetry: a retry of a remembered id (a lookup). Memory: resident bytes per
// remembered id, right after the directory was filled.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <map>
#include <memory>

#include "bench/rss.h"
#include "server/admission.h"

namespace bonus::server {
namespace {

constexpr TimeUs kStart = 1'798'761'600'000'000;  // 2027-01-01T00:00:00Z

struct World {
  std::unique_ptr<Admission> admission;
  TimeUs now = kStart;
  std::uint64_t ids = 0;
  std::uint64_t orders = 0;
  double rss_per_id = 0;

  Credit credit(std::uint64_t n) {
    return Credit{Id128{7, n}, 1 + n % 50, 1 + n * 7919, 5, 0, LotLife::forever(), 0, 0};
  }
};

World& world(std::uint64_t ids) {
  static std::map<std::uint64_t, std::unique_ptr<World>> worlds;
  auto& w = worlds[ids];
  if (w) return *w;
  const long before = rss_bytes();
  w = std::make_unique<World>();
  EngineConfig config;
  config.ids_max = 1ull << 30;
  w->admission = std::make_unique<Admission>(2, config);
  for (; w->ids < ids; ++w->ids) w->admission->admit(w->credit(w->ids + 1), ++w->now);
  // The shards have applied all of it (as they soon would): retries are answered there.
  for (std::uint32_t s = 0; s < 2; ++s) w->admission->applied_through(s, w->now);
  w->rss_per_id = double(rss_bytes() - before) / double(ids);
  return *w;
}

void BM_AdmitCredit(benchmark::State& state) {
  World& w = world(static_cast<std::uint64_t>(state.range(0)));
  for (auto _ : state) benchmark::DoNotOptimize(w.admission->admit(w.credit(++w.ids), ++w.now));
  state.counters["rss_bytes_per_id"] = w.rss_per_id;
}

void BM_AdmitHold(benchmark::State& state) {
  World& w = world(static_cast<std::uint64_t>(state.range(0)));
  for (auto _ : state) {
    const std::uint64_t n = ++w.ids;
    benchmark::DoNotOptimize(w.admission->admit(
        Hold{Id128{7, n}, ++w.orders, 1 + n % 50, 1 + n * 7919, 3, 100'000, 0}, ++w.now));
  }
}

void BM_AdmitRetry(benchmark::State& state) {
  World& w = world(static_cast<std::uint64_t>(state.range(0)));
  std::uint64_t k = 0;
  for (auto _ : state) {
    k = (k * 6364136223846793005ull + 1442695040888963407ull);
    benchmark::DoNotOptimize(w.admission->admit(w.credit(1 + k % state.range(0)), ++w.now));
  }
}

BENCHMARK(BM_AdmitCredit)->Arg(1'000'000)->Arg(10'000'000);
BENCHMARK(BM_AdmitHold)->Arg(1'000'000)->Arg(10'000'000);
BENCHMARK(BM_AdmitRetry)->Arg(1'000'000)->Arg(10'000'000);

}  // namespace
}  // namespace bonus::server

BENCHMARK_MAIN();
