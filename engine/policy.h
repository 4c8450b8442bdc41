// Policy: one seller's rules for its bonuses. A plain value; defaults from limits.h.
#pragma once

#include <cstdint>

#include "engine/limits.h"
#include "engine/types.h"

namespace bonus {

struct Policy {
  std::uint32_t spend_share_bp = kPolicySpendShareBpDefault;  // of the goods total
  std::uint32_t reserved = 0;
  Amount balance_max = kPolicyBalanceMaxDefault;         // available + held per buyer
  Amount earn_month_max = kPolicyEarnMonthMaxDefault;    // credited per buyer per month
  TimeUs lot_life_us = kPolicyLotLifeDefaultUs;          // kTimeNever: lots never expire

  friend bool operator==(const Policy&, const Policy&) = default;
};

// Most bonuses an order of `goods_total` may be paid with: the policy's share,
// rounded down to whole bonuses, leaving at least kPaidMinKopecks paid in money.
inline Amount spend_cap(const Policy& policy, Kopecks goods_total) {
  if (goods_total <= kPaidMinKopecks) return 0;
  const Amount by_share = goods_total * policy.spend_share_bp / kSpendShareBpMax / 100;
  const Amount by_paid_min = (goods_total - kPaidMinKopecks) / 100;
  return by_share < by_paid_min ? by_share : by_paid_min;
}

}  // namespace bonus
