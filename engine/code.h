// Code: the result of every write, a stable numbered enum.
// Numbers are part of the wire protocol and the checkpoint format: never reuse or
// renumber one; add new codes at the end.
#pragma once

#include <cstdint>
#include <string_view>

namespace bonus {

enum class Code : std::uint16_t {
  ok = 0,
  id_zero = 1,                    // the write id is all zeros
  id_reused = 2,                  // the id was used before with a different body
  insufficient_bonuses = 3,       // available balance is below the amount
  over_spend_cap = 4,             // amount exceeds the seller's spend cap for the goods total
  unknown_order = 5,              // no hold/spend (or accrual) with this order id
  order_already_captured = 6,     // the hold was captured already
  hold_timed_out = 7,             // the hold passed its timeout and was released
  zero_amount = 8,                // amount must be positive
  overflow = 9,                   // an amount or time would leave its range
  expiry_in_past = 10,            // absolute expiry at or before now
  order_exists = 11,              // a hold/spend (or accrual) with this order id exists
  order_released = 12,            // the hold was released already
  order_not_captured = 13,        // refund of an order that was never captured
  refund_exceeds_captured = 14,   // refund larger than what is left to refund
  capture_exceeds_hold = 15,      // partial capture larger than the hold
  accrual_already_confirmed = 16, // confirm/cancel of a confirmed accrual
  accrual_cancelled = 17,         // the accrual was cancelled
  accrual_not_confirmed = 18,     // reverse of an accrual still pending
  accrual_already_reversed = 19,  // reverse twice
  invalid_policy = 20,            // a policy field is out of range
  invalid_expiry = 21,            // expiry form not allowed for this command
  campaign_revoked = 22,          // credit under a campaign the seller revoked
  invalid_campaign = 23,          // revoke of campaign 0
  accounts_full = 24,             // the account table is at its configured bound
  ids_full = 25,                  // the idempotency table is at its bound within the window
  account_lots_full = 26,         // the account holds the maximum number of lots
  orders_full = 27,               // the order table is at its configured bound
  invalid_timeout = 28,           // hold timeout out of range
  invalid_limits = 29,            // set_limits: no field named, or a value out of range
  shards_disagree = 30,           // server: a seller-wide command's shards answered apart (a bug; logged)
  invalid_price = 31,             // accrue: price above kGoodsTotalMax, or by price without a rate
  invalid_reason = 32,            // a credit's reason is not 0..5 nor 16..255 (engine/reason.h)
  invalid_referral = 33,          // a referral's referrer and friend are the same buyer
};

inline constexpr std::uint16_t kCodeCount = 34;

// snake_case name of a code, as the CLI and docs print it; "unknown" for a number
// that is not a code.
std::string_view code_name(Code code);

}  // namespace bonus
