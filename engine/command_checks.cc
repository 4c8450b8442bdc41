#include "engine/command_checks.h"

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
  if (Code e = check_amount(c.amount); e != Code::ok) return e;
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
