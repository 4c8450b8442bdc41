// Units: what people type on bonusctl's command line, read into engine values, and
// engine values written back for people and scripts. Pure functions, any thread.
//
// Every parser takes the whole text and returns nothing when any part of it is wrong:
// it never guesses (no octal, no hex without asking, no rounding, no trailing junk).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "engine/types.h"

namespace bonus::ctl {

// Why an unsigned decimal number was refused, for messages ("line 7: negative").
enum class NumberError : std::uint8_t { none, empty, negative, overflow, not_a_number };
std::string_view number_error_name(NumberError error);

// Decimal digits only, 0 .. 2^64-1 ("007" is 7, never octal).
std::optional<std::uint64_t> parse_u64(std::string_view text, NumberError* error = nullptr);

// A positive duration: a whole number and one unit, s, m, h or d ("30s", "15m", "24h",
// "7d"). Microseconds.
std::optional<TimeUs> parse_duration(std::string_view text);

// Roubles as "1990", "1990.5" or "1990.00" (at most 2 decimals, no sign, no grouping)
// into kopecks: "1990.00" is 199000.
std::optional<Kopecks> parse_money(std::string_view text);

// A share of 0..100 percent, "99%", "99.5%" or "99" (at most 2 decimals), into basis
// points: "99%" is 9900.
std::optional<std::uint32_t> parse_share_bp(std::string_view text);

// An accrual rate: a percentage like "7%", "7.5%" or "7" (at most 2 decimals), or basis
// points like "750bp"; 1..10000 basis points ("0%" is refused: no rate is no flag).
std::optional<std::uint32_t> parse_rate_bp(std::string_view text);

// ISO-8601 in UTC: "2026-12-01T00:00:00Z", optionally with 1..6 fractional digits
// ("...00.5Z") and "+00:00" instead of "Z". Microseconds since the epoch, 1970..2261.
std::optional<TimeUs> parse_time(std::string_view text);

// A calendar month "2026-11" (YYYY-MM, 1970-01 .. 7431-12) as months since 1970-01, the
// engine's calendar_month index: "2026-11" is 682.
std::optional<std::uint16_t> parse_month(std::string_view text);
// The inverse: 682 is "2026-11".
std::string format_month(std::uint16_t month);

// A write id: 1..32 hex digits (an optional 0x), zero-padded on the left; not all zero.
std::optional<Id128> parse_id(std::string_view text);

// "2026-12-01T00:00:00Z", with ".uuuuuu" when the microseconds are not zero.
// REQUIRES: 0 <= t < kTimeNever.
std::string format_time(TimeUs t);
// 32 lowercase hex digits, hi then lo.
std::string format_id(const Id128& id);
// Kopecks as roubles with two decimals: 199050 is "1990.50".
std::string format_money(Kopecks kopecks);
// Basis points as a percentage: 750 is "7.5%", 500 is "5%", 1 is "0.01%".
std::string format_rate(std::uint32_t bp);
// The largest unit that divides it exactly: "25h", "3d", "90s"; "1500us" below a second.
std::string format_duration(TimeUs us);

}  // namespace bonus::ctl
