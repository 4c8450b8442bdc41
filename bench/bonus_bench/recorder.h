// Recorder: one worker's latencies and errors per operation since the reporter last took
// them. Written by its worker thread, taken (and reset) by the reporter thread once a
// second; the mutex is uncontended except at that moment.
// Totals: what the reporter has taken so far, per operation. Reporter thread only.
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "bench/bonus_bench/histogram.h"
#include "bench/bonus_bench/workload.h"

namespace bonus::bench {

struct OpStats {
  LatencyHistogram latency_ns;          // one value per request (a batch is one request)
  std::uint64_t commands = 0;           // commands carried (a batch carries many)
  std::map<std::string, std::uint64_t> errors;  // code or status name -> count

  void merge(const OpStats& other);
  void reset();
  std::uint64_t error_count() const;
};

using OpTable = std::array<OpStats, kOpCount>;

// A latency for record(): nanoseconds from `from` to `to`, 0 if `to` is earlier.
inline std::uint64_t elapsed_ns(std::chrono::steady_clock::time_point from,
                                std::chrono::steady_clock::time_point to) {
  return static_cast<std::uint64_t>(std::max<std::int64_t>(
      0, std::chrono::duration_cast<std::chrono::nanoseconds>(to - from).count()));
}

class Recorder {
 public:
  // `error` empty: served and ok.
  void record(Op op, std::uint64_t latency_ns, std::uint64_t commands, std::string_view error) {
    std::lock_guard lock(mutex_);
    OpStats& s = ops_[static_cast<std::size_t>(op)];
    s.latency_ns.record(latency_ns);
    s.commands += commands;
    if (!error.empty()) ++s.errors[std::string(error)];
  }
  // Adds what was recorded since the last call to `into` and forgets it.
  void take(OpTable& into) {
    std::lock_guard lock(mutex_);
    for (std::size_t i = 0; i < kOpCount; ++i) {
      into[i].merge(ops_[i]);
      ops_[i].reset();
    }
  }

 private:
  std::mutex mutex_;
  OpTable ops_;
};

// Reports shared by bonus-bench and peer-bench (stdout): the per-operation table with
// its header and error lines, and the per-operation JSON members ("op":{...},...).
void print_op_rows(const OpTable& total, double seconds);
void print_op_json(const OpTable& total, double seconds);

}  // namespace bonus::bench
