// ExpositionWriter: writes metrics in the Prometheus text exposition format, version
// 0.0.4 (https://prometheus.io/docs/instrumenting/exposition_formats/): one `# HELP` and
// one `# TYPE` line per family, then its samples, label values escaped. It checks
// nothing about names (they are the caller's constants). No Prometheus C++ client is used:
// Debian 12's prometheus-cpp counts with a CAS loop on a shared atomic<double> and serves
// HTTP from civetweb threads of its own; the format is small enough to write.
//
// A plain value; one per scrape, on the thread that renders it.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace bonus::server {

class ExpositionWriter {
 public:
  using Label = std::pair<std::string_view, std::string_view>;
  using Labels = std::initializer_list<Label>;

  // Starts a family: `type` is counter, gauge or histogram. Samples follow.
  void family(std::string_view name, std::string_view type, std::string_view help);
  void sample(std::string_view name, Labels labels, double value);
  void sample(std::string_view name, Labels labels, std::uint64_t value);
  void sample(std::string_view name, Labels labels, std::int64_t value);
  // One histogram's samples: `counts` per bucket, not cumulative, the last one for +Inf
  // (counts.size() == bounds.size() + 1); `scale` turns a bound and the sum into the
  // exposed unit (1e-9 for ns as seconds). Writes _bucket (cumulative), _sum and _count.
  void histogram(std::string_view name, Labels labels, std::span<const std::uint64_t> bounds,
                 std::span<const std::uint64_t> counts, std::uint64_t sum, double divisor);

  const std::string& text() const { return text_; }
  std::string take() { return std::move(text_); }

  // Escaping, exposed for the tests: a label value (\ " and newline) and a HELP text
  // (\ and newline).
  static std::string escape_label_value(std::string_view value);
  static std::string escape_help(std::string_view help);
  // A float as the format wants it: shortest round-trip form, +Inf, -Inf, NaN.
  static std::string format_value(double value);
  // A bucket bound: the shortest plain decimal that reads back as it (0.0001, 2.5, 16).
  static std::string format_bound(double bound);

 private:
  void begin_sample(std::string_view name, Labels labels, const Label* extra = nullptr);

  std::string text_;
};

}  // namespace bonus::server
