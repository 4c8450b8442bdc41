#include "engine/code.h"

namespace bonus {

std::string_view code_name(Code code) {
  switch (code) {
    case Code::ok: return "ok";
    case Code::id_zero: return "id_zero";
    case Code::id_reused: return "id_reused";
    case Code::insufficient_bonuses: return "insufficient_bonuses";
    case Code::over_spend_cap: return "over_spend_cap";
    case Code::unknown_order: return "unknown_order";
    case Code::order_already_captured: return "order_already_captured";
    case Code::hold_timed_out: return "hold_timed_out";
    case Code::zero_amount: return "zero_amount";
    case Code::overflow: return "overflow";
    case Code::expiry_in_past: return "expiry_in_past";
    case Code::order_exists: return "order_exists";
    case Code::order_released: return "order_released";
    case Code::order_not_captured: return "order_not_captured";
    case Code::refund_exceeds_captured: return "refund_exceeds_captured";
    case Code::capture_exceeds_hold: return "capture_exceeds_hold";
    case Code::accrual_already_confirmed: return "accrual_already_confirmed";
    case Code::accrual_cancelled: return "accrual_cancelled";
    case Code::accrual_not_confirmed: return "accrual_not_confirmed";
    case Code::accrual_already_reversed: return "accrual_already_reversed";
    case Code::invalid_policy: return "invalid_policy";
    case Code::invalid_expiry: return "invalid_expiry";
    case Code::campaign_revoked: return "campaign_revoked";
    case Code::invalid_campaign: return "invalid_campaign";
    case Code::accounts_full: return "accounts_full";
    case Code::ids_full: return "ids_full";
    case Code::account_lots_full: return "account_lots_full";
    case Code::orders_full: return "orders_full";
    case Code::invalid_timeout: return "invalid_timeout";
    case Code::invalid_limits: return "invalid_limits";
    case Code::shards_disagree: return "shards_disagree";
    case Code::invalid_price: return "invalid_price";
    case Code::invalid_reason: return "invalid_reason";
    case Code::invalid_referral: return "invalid_referral";
  }
  return "unknown";
}

}  // namespace bonus
