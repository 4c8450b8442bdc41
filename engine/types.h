// Plain value types shared by the whole engine: ids, amounts, ledger time.
// No behaviour, no I/O. Safe to use from any thread.
#pragma once

#include <cstdint>
#include <limits>

namespace bonus {

using SellerId = std::uint64_t;
using BuyerId = std::uint64_t;
using OrderId = std::uint64_t;
using CampaignId = std::uint64_t;  // 0 means "no campaign".

// Whole bonuses (1 bonus = 1 rouble of discount). Account-level figures fit in
// 32 bits by construction (see limits.h); seller and ledger totals are 64-bit.
using Amount = std::uint64_t;

// Money in kopecks (minor units): a goods total of 1990.50 roubles is 199050.
using Kopecks = std::uint64_t;

// Ledger time: microseconds since the Unix epoch, stamped by the sequencer.
// The engine never reads a clock; time always arrives as an argument.
using TimeUs = std::int64_t;
inline constexpr TimeUs kTimeNever = std::numeric_limits<TimeUs>::max();

inline constexpr TimeUs kUsPerSecond = 1'000'000;
inline constexpr TimeUs kUsPerMinute = 60 * kUsPerSecond;
inline constexpr TimeUs kUsPerHour = 60 * kUsPerMinute;
inline constexpr TimeUs kUsPerDay = 24 * kUsPerHour;

// A client-chosen 128-bit write id. Zero is not a valid id.
struct Id128 {
  std::uint64_t hi = 0;
  std::uint64_t lo = 0;

  bool zero() const { return hi == 0 && lo == 0; }
  friend bool operator==(const Id128&, const Id128&) = default;
};

}  // namespace bonus
