// journal-bench: the latency of one group commit (append a group of 256-byte records,
// then sync(): write + fdatasync) for 4 KiB and 64 KiB groups into preallocated segments
// zeroed ahead (the default), preallocated segments only, and growing files; and, for
// comparison, a bare pwrite + fdatasync of the same size into a growing, a fallocated and
// a zero-filled file.
//   build/bin/journal-bench --benchmark_repetitions=8
//       --benchmark_enable_random_interleaving=true
//       --benchmark_report_aggregates_only=true      (one line) as the docs quote it
//   JOURNAL_BENCH_DIR=/data build/bin/journal-bench    on another file system
// A run is a fixed number of groups (300 of 4 KiB, 100 of 64 KiB) in a fresh directory,
// removed afterwards. Counters: p50_us, p99_us and max_us of one group commit. The
// virtual disk here has spells of throttling (latencies in multiples of 4 ms) that come
// and go, so compare rows of one run, repeated and interleaved as above (the medians
// across repetitions are the figures to quote).
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "bench/bench_dir.h"
#include "server/journal.h"

namespace bonus::server {
namespace {

constexpr int kGroupsSmall = 300;          // of 4 KiB
constexpr int kGroupsLarge = 100;          // of 64 KiB
constexpr std::size_t kRecordBytes = 256;  // header included

// A fresh directory under $JOURNAL_BENCH_DIR (default /tmp).
struct BenchDir : bench::BenchDir {
  BenchDir() : bench::BenchDir("JOURNAL_BENCH_DIR", "journal_bench") {}
};

class Latencies {
 public:
  void add(std::chrono::steady_clock::duration d) {
    us_.push_back(std::chrono::duration<double, std::micro>(d).count());
  }
  void report(benchmark::State& state, std::size_t group_bytes) {
    std::sort(us_.begin(), us_.end());
    state.counters["p50_us"] = us_[us_.size() / 2];
    state.counters["p99_us"] = us_[us_.size() * 99 / 100];
    state.counters["max_us"] = us_.back();
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * group_bytes));
  }

 private:
  std::vector<double> us_;
};

// Args: group bytes, segments: 2 preallocated and zeroed ahead (the default),
// 1 preallocated only, 0 growing.
void BM_JournalGroupCommit(benchmark::State& state) {
  const auto group_bytes = static_cast<std::size_t>(state.range(0));
  BenchDir dir;
  JournalOptions options;
  options.dir = dir.path();
  options.preallocate = state.range(1) != 0;
  if (state.range(1) != 2) options.zero_ahead_bytes = 0;
  std::string note;
  auto opened = Journal::open(options, &note);
  if (auto* error = std::get_if<std::string>(&opened)) {
    state.SkipWithError(error->c_str());
    return;
  }
  Journal& journal = *std::get<std::unique_ptr<Journal>>(opened);
  const std::string payload(kRecordBytes - kJournalHeaderBytes, 'p');
  Latencies latencies;
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < group_bytes / kRecordBytes; ++i) {
      benchmark::DoNotOptimize(journal.append(payload));
    }
    if (auto error = journal.sync()) {
      state.SkipWithError(error->c_str());
      return;
    }
    latencies.add(std::chrono::steady_clock::now() - start);
  }
  latencies.report(state, group_bytes);
}
BENCHMARK(BM_JournalGroupCommit)
    ->ArgNames({"group_bytes", "segments"})
    ->ArgsProduct({{4096}, {2, 1, 0}})
    ->Iterations(kGroupsSmall)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_JournalGroupCommit)
    ->ArgNames({"group_bytes", "segments"})
    ->ArgsProduct({{65536}, {2, 1, 0}})
    ->Iterations(kGroupsLarge)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// Args: group bytes, file kind: 0 growing, 1 fallocated, 2 zero-filled and synced. On
// ext4 a fallocated extent is "unwritten": the first fdatasync after writing into it must
// also commit the extent's conversion, which written (zeroed) blocks do not need.
void BM_RawWriteFdatasync(benchmark::State& state) {
  const auto group_bytes = static_cast<std::size_t>(state.range(0));
  const std::uint64_t file_bytes = state.max_iterations * group_bytes;
  BenchDir dir;
  const std::string path = dir.path() + "/file";
  const int fd = ::open(path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644);
  if (fd < 0) {
    state.SkipWithError("cannot create the file");
    return;
  }
  if (state.range(1) == 1 && ::posix_fallocate(fd, 0, static_cast<off_t>(file_bytes)) != 0) {
    state.SkipWithError("fallocate failed");
  }
  if (state.range(1) == 2) {
    const std::string zeros(group_bytes, '\0');
    for (std::uint64_t at = 0; at < file_bytes; at += zeros.size()) {
      if (::pwrite(fd, zeros.data(), zeros.size(), static_cast<off_t>(at)) < 0) {
        state.SkipWithError("zero fill failed");
      }
    }
  }
  ::fsync(fd);
  const std::string group(group_bytes, 'g');
  Latencies latencies;
  std::uint64_t offset = 0;
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    if (::pwrite(fd, group.data(), group.size(), static_cast<off_t>(offset)) !=
            static_cast<ssize_t>(group.size()) ||
        ::fdatasync(fd) != 0) {
      state.SkipWithError("write or fdatasync failed");
      break;
    }
    latencies.add(std::chrono::steady_clock::now() - start);
    offset += group.size();
  }
  ::close(fd);
  if (!state.error_occurred()) latencies.report(state, group_bytes);
}
BENCHMARK(BM_RawWriteFdatasync)
    ->ArgNames({"group_bytes", "file"})
    ->ArgsProduct({{4096}, {0, 1, 2}})
    ->Iterations(kGroupsSmall)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_RawWriteFdatasync)
    ->ArgNames({"group_bytes", "file"})
    ->ArgsProduct({{65536}, {0, 1, 2}})
    ->Iterations(kGroupsLarge)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace bonus::server

BENCHMARK_MAIN();
