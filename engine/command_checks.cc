#include "engine/command_checks.h"

#include <algorithm>
#include <iterator>
#include <type_traits>

#include "engine/limits.h"
#include "engine/reason.h"

namespace bonus {

Code check_amount(Amount amount) {
  if (amount == 0) return Code::zero_amount;
  if (amount > kAmountMax) return Code::overflow;
  return Code::ok;
}

Code check_amount_or_all(Amount amount) {
  return amount == kAmountAll ? Code::ok : check_amount(amount);
}

Code check_reason(std::uint32_t reason) {
  return reason_valid(reason) ? Code::ok : Code::invalid_reason;
}

Code check_before_order(const Accrue& c) {
  if (c.price > kGoodsTotalMax) return Code::invalid_price;
  // An amount of 0 with a price: the amount comes from the rate (Ledger::accrue).
  if (c.amount != 0 || c.price == 0) {
    if (Code e = check_amount(c.amount); e != Code::ok) return e;
  }
  if (c.life.kind == LotLife::Kind::absolute ||
      (c.life.kind == LotLife::Kind::ttl && c.life.value <= 0) ||
      c.life.kind > LotLife::Kind::never) {
    return Code::invalid_expiry;
  }
  return Code::ok;
}

Code check_before_order(const Hold& c) {
  if (Code e = check_amount(c.amount); e != Code::ok) return e;
  if (c.goods_total > kGoodsTotalMax) return Code::overflow;
  const TimeUs timeout_us = c.timeout_us == 0 ? kHoldTimeoutDefaultUs : c.timeout_us;
  if (timeout_us < 0 || timeout_us > kHoldTimeoutMaxUs) return Code::invalid_timeout;
  return Code::ok;
}

Code check_before_order(const Spend& c) {
  if (Code e = check_amount(c.amount); e != Code::ok) return e;
  if (c.goods_total > kGoodsTotalMax) return Code::overflow;
  return Code::ok;
}

bool set_policy_valid(const SetPolicy& c) {
  auto in = [](auto v, auto lo, auto hi) { return v >= lo && v <= hi; };
  const std::uint32_t f = c.fields;
  if (f == 0 || (f & ~SetPolicy::kFieldsAll) != 0) return false;
  if ((f & SetPolicy::kSpendShare) && !in(c.spend_share_bp, 1u, kSpendShareBpMax)) return false;
  if ((f & SetPolicy::kBalanceMax) && !in(c.balance_max, Amount{1}, kAmountMax)) return false;
  if ((f & SetPolicy::kEarnMonthMax) && !in(c.earn_month_max, Amount{1}, kAmountMax)) return false;
  if ((f & SetPolicy::kLotLife) && c.lot_life_us <= 0) return false;
  if ((f & SetPolicy::kRate) && !in(c.rate_bp, 1u, kRateBpMax)) return false;
  if ((f & SetPolicy::kTierWindow) && !in(c.tier_window_days, 1u, kTierWindowDaysMax)) return false;
  if (c.tier_count > kPolicyTiersMax || c.reserved != 0) return false;
  if (!(f & SetPolicy::kTiers) && c.tier_count != 0) return false;
  for (std::uint32_t k = 0; k < kPolicyTiersMax; ++k) {
    const PolicyTier& t = c.tiers[k];
    if (k >= c.tier_count || !(f & SetPolicy::kTiers)) {
      if (t != PolicyTier{}) return false;
      continue;
    }
    const Kopecks floor = k == 0 ? 0 : c.tiers[k - 1].threshold_kopecks;
    if (t.threshold_kopecks <= floor || t.threshold_kopecks > kGoodsTotalMax ||
        !in(t.rate_bp, 1u, kRateBpMax) || t.reserved != 0) {
      return false;
    }
  }
  return true;
}

bool policy_valid(const Policy& p) {
  SetPolicy c;
  c.fields = SetPolicy::kFieldsAll;
  c.spend_share_bp = p.spend_share_bp;
  c.balance_max = p.balance_max;
  c.earn_month_max = p.earn_month_max;
  c.lot_life_us = p.lot_life_us;
  c.rate_bp = p.rate_bp == 0 ? 1 : p.rate_bp;  // 0 (none) is a policy's own value
  c.tier_window_days = p.tier_window_days;
  c.tier_count = p.tier_count;
  std::copy(std::begin(p.tiers), std::end(p.tiers), std::begin(c.tiers));
  return set_policy_valid(c) && (p.tier_count == 0 || p.rate_bp != 0);
}

Code check_before_order(const Command& command) {
  return std::visit(
      [](const auto& c) {
        using T = std::decay_t<decltype(c)>;
        if constexpr (std::is_same_v<T, Accrue> || std::is_same_v<T, Hold> ||
                      std::is_same_v<T, Spend>) {
          return check_before_order(c);
        } else {
          return Code::ok;
        }
      },
      command);
}

}  // namespace bonus
