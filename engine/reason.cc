#include "engine/reason.h"

#include <charconv>

namespace bonus {

std::optional<std::uint32_t> parse_reason(std::string_view text) {
  for (std::uint32_t r = 0; r <= kReasonDefinedMax; ++r) {
    if (text == reason_name(r)) return r;
  }
  std::uint32_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || !reason_valid(value)) {
    return std::nullopt;
  }
  return value;
}

}  // namespace bonus
