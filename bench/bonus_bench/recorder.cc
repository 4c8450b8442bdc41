#include "bench/bonus_bench/recorder.h"

#include <cstdio>
#include <string>

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

namespace {
double us(std::uint64_t ns) { return double(ns) / 1000.0; }
}  // namespace

void print_op_rows(const OpTable& total, double seconds) {
  std::printf("%-8s %10s %11s %9s %9s %9s %9s %10s %8s\n", "op", "count", "per s", "p50 us",
              "p90 us", "p99 us", "p99.9 us", "max us", "errors");
  for (std::size_t i = 0; i < kOpCount; ++i) {
    const OpStats& s = total[i];
    if (s.latency_ns.count() == 0) continue;
    const auto& h = s.latency_ns;
    std::printf("%-8s %10llu %11.0f %9.1f %9.1f %9.1f %9.1f %10.1f %8llu\n",
                std::string(op_name(Op(i))).c_str(), (unsigned long long)s.commands,
                double(s.commands) / seconds, us(h.percentile(0.5)), us(h.percentile(0.9)),
                us(h.percentile(0.99)), us(h.percentile(0.999)), us(h.max()),
                (unsigned long long)s.error_count());
  }
  for (std::size_t i = 0; i < kOpCount; ++i) {
    for (const auto& [name, n] : total[i].errors) {
      std::printf("  %s: %s x %llu\n", std::string(op_name(Op(i))).c_str(), name.c_str(), (unsigned long long)n);
    }
  }
}

void print_op_json(const OpTable& total, double seconds) {
  bool first = true;
  for (std::size_t i = 0; i < kOpCount; ++i) {
    const OpStats& s = total[i];
    if (s.latency_ns.count() == 0) continue;
    const auto& h = s.latency_ns;
    std::printf("%s\"%s\":{\"count\":%llu,\"requests\":%llu,\"per_s\":%.1f,\"p50_us\":%.1f,\"p90_us\":%.1f,"
                "\"p99_us\":%.1f,\"p999_us\":%.1f,\"max_us\":%.1f,\"errors\":{",
                first ? "" : ",", std::string(op_name(Op(i))).c_str(), (unsigned long long)s.commands,
                (unsigned long long)h.count(), double(s.commands) / seconds, us(h.percentile(0.5)),
                us(h.percentile(0.9)), us(h.percentile(0.99)), us(h.percentile(0.999)), us(h.max()));
    first = false;
    bool first_error = true;
    for (const auto& [name, n] : s.errors) {
      std::printf("%s\"%s\":%llu", first_error ? "" : ",", name.c_str(), (unsigned long long)n);
      first_error = false;
    }
    std::printf("}}");
  }
}

}  // namespace bonus::bench
