#include "server/exposition_writer.h"

#include <charconv>
#include <cmath>

namespace bonus::server {

std::string ExpositionWriter::escape_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (const char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string ExpositionWriter::escape_help(std::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (const char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string ExpositionWriter::format_value(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buffer[32];
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  return std::string(buffer, result.ptr);
}

// A bucket bound in plain decimals (le="0.0001", as Prometheus' own clients write it).
std::string ExpositionWriter::format_bound(double bound) {
  char buffer[64];
  const auto result =
      std::to_chars(buffer, buffer + sizeof(buffer), bound, std::chars_format::fixed);
  return result.ec == std::errc() ? std::string(buffer, result.ptr) : format_value(bound);
}

void ExpositionWriter::family(std::string_view name, std::string_view type, std::string_view help) {
  text_ += "# HELP ";
  text_ += name;
  text_ += ' ';
  text_ += escape_help(help);
  text_ += "\n# TYPE ";
  text_ += name;
  text_ += ' ';
  text_ += type;
  text_ += '\n';
}

void ExpositionWriter::begin_sample(std::string_view name, Labels labels, const Label* extra) {
  text_ += name;
  if (labels.size() == 0 && extra == nullptr) {
    text_ += ' ';
    return;
  }
  char separator = '{';
  auto add = [&](const Label& label) {
    text_ += separator;
    text_ += label.first;
    text_ += "=\"";
    text_ += escape_label_value(label.second);
    text_ += '"';
    separator = ',';
  };
  for (const Label& label : labels) add(label);
  if (extra != nullptr) add(*extra);
  text_ += "} ";
}

void ExpositionWriter::sample(std::string_view name, Labels labels, double value) {
  begin_sample(name, labels);
  text_ += format_value(value);
  text_ += '\n';
}

void ExpositionWriter::sample(std::string_view name, Labels labels, std::uint64_t value) {
  begin_sample(name, labels);
  text_ += std::to_string(value);
  text_ += '\n';
}

void ExpositionWriter::sample(std::string_view name, Labels labels, std::int64_t value) {
  begin_sample(name, labels);
  text_ += std::to_string(value);
  text_ += '\n';
}

void ExpositionWriter::histogram(std::string_view name, Labels labels,
                                 std::span<const std::uint64_t> bounds,
                                 std::span<const std::uint64_t> counts, std::uint64_t sum,
                                 double divisor) {
  const std::string bucket = std::string(name) + "_bucket";
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i <= bounds.size(); ++i) {
    cumulative += i < counts.size() ? counts[i] : 0;
    const std::string le =
        i < bounds.size() ? format_bound(static_cast<double>(bounds[i]) / divisor) : "+Inf";
    const Label extra{"le", le};
    begin_sample(bucket, labels, &extra);
    text_ += std::to_string(cumulative);
    text_ += '\n';
  }
  sample(std::string(name) + "_sum", labels, static_cast<double>(sum) / divisor);
  sample(std::string(name) + "_count", labels, cumulative);
}

}  // namespace bonus::server
