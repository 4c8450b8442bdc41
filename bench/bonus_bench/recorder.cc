#include "bench/bonus_bench/recorder.h"

namespace bonus::bench {

void OpStats::merge(const OpStats& other) {
  latency_ns.merge(other.latency_ns);
  commands += other.commands;
  for (const auto& [name, n] : other.errors) errors[name] += n;
}

void OpStats::reset() {
  latency_ns.reset();
  commands = 0;
  errors.clear();
}

std::uint64_t OpStats::error_count() const {
  std::uint64_t n = 0;
  for (const auto& [name, count] : errors) n += count;
  return n;
}

}  // namespace bonus::bench
