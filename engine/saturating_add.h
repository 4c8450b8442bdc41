// saturating_add: a + b, or UINT64_MAX when that would pass it. For sums that are
// reports, not balances (goods totals of orders: 185 at kGoodsTotalMax pass 2^64).
// Pure; any thread.
#pragma once

#include <cstdint>

namespace bonus {

inline std::uint64_t saturating_add(std::uint64_t a, std::uint64_t b) {
  return b > UINT64_MAX - a ? UINT64_MAX : a + b;
}

}  // namespace bonus
