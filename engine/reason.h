// Reason: why a credit was given, an 8-bit code kept on its lot (Lot::reason()).
// 0 none, 1..5 the defined reasons, 6..15 reserved, 16..255 a seller's own codes;
// a credit with any other number is `invalid_reason`. Confirmed accruals (cashback)
// have no reason: their lots carry 0.
//
// Constants and pure functions; any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace bonus {

enum class Reason : std::uint8_t {
  none = 0,
  mailing = 1,
  gift = 2,
  apology = 3,
  referral = 4,
  manual = 5,
};

// The last defined reason, and the first of the sellers' own codes.
inline constexpr std::uint32_t kReasonDefinedMax = 5;
inline constexpr std::uint32_t kReasonOwnMin = 16;
inline constexpr std::uint32_t kReasonMax = 255;

// Whether `reason` may be a credit's: a defined reason or a seller's own code.
inline bool reason_valid(std::uint32_t reason) {
  return reason <= kReasonDefinedMax || (reason >= kReasonOwnMin && reason <= kReasonMax);
}

// The name of a defined reason ("none", "mailing", ...); empty for any other number.
inline std::string_view reason_name(std::uint32_t reason) {
  switch (reason) {
    case 0: return "none";
    case 1: return "mailing";
    case 2: return "gift";
    case 3: return "apology";
    case 4: return "referral";
    case 5: return "manual";
    default: return {};
  }
}

// The reason named `text` (a defined reason's name, or a number that reason_valid
// accepts); nullopt otherwise.
std::optional<std::uint32_t> parse_reason(std::string_view text);

}  // namespace bonus
