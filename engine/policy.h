// Policy: one seller's rules for its bonuses. A plain value; defaults from limits.h.
#pragma once

#include <cstdint>

#include "engine/limits.h"
#include "engine/types.h"

namespace bonus {

// A tier: from `threshold_kopecks` of purchases in the window on, accruals by price
// earn `rate_bp`.
struct PolicyTier {
  Kopecks threshold_kopecks = 0;
  std::uint32_t rate_bp = 0;  // 1..kRateBpMax
  std::uint32_t reserved = 0;

  friend bool operator==(const PolicyTier&, const PolicyTier&) = default;
};
static_assert(sizeof(PolicyTier) == 16);

struct Policy {
  std::uint32_t spend_share_bp = kPolicySpendShareBpDefault;  // of the goods total
  std::uint32_t rate_bp = 0;  // accrual rate below the first tier; 0: none (no accrual by price)
  Amount balance_max = kPolicyBalanceMaxDefault;         // available + held per buyer
  Amount earn_month_max = kPolicyEarnMonthMaxDefault;    // credited per buyer per month
  TimeUs lot_life_us = kPolicyLotLifeDefaultUs;          // kTimeNever: lots never expire
  std::uint32_t tier_window_days = kTierWindowDaysDefault;  // 1..kTierWindowDaysMax
  std::uint32_t tier_count = 0;                          // 0..kPolicyTiersMax
  PolicyTier tiers[kPolicyTiersMax] = {};  // thresholds ascending; past tier_count zero

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

// A buyer's place in a policy's tiers, from its purchases in the window.
struct TierPlace {
  std::uint32_t tier = 0;     // 0: the base rate; k: tiers[k - 1]
  std::uint32_t rate_bp = 0;  // the rate that applies (0: the seller set none)
  Kopecks next_tier_kopecks = 0;  // purchases still needed for the next tier; 0 at the top
};

// The highest tier whose threshold `purchases_kopecks` reaches (a threshold is reached
// exactly at its value).
inline TierPlace tier_place(const Policy& policy, Kopecks purchases_kopecks) {
  TierPlace place;
  place.rate_bp = policy.rate_bp;
  for (std::uint32_t k = 0; k < policy.tier_count; ++k) {
    const PolicyTier& t = policy.tiers[k];
    if (purchases_kopecks < t.threshold_kopecks) {
      place.next_tier_kopecks = t.threshold_kopecks - purchases_kopecks;
      break;
    }
    place.tier = k + 1;
    place.rate_bp = t.rate_bp;
  }
  return place;
}

// Bonuses a price earns at a rate: price × rate, rounded down to whole bonuses.
// REQUIRES: price_kopecks <= kGoodsTotalMax, rate_bp <= kRateBpMax (no overflow).
inline Amount earn_by_rate(Kopecks price_kopecks, std::uint32_t rate_bp) {
  return price_kopecks * rate_bp / kRateBpMax / 100;
}

}  // namespace bonus
