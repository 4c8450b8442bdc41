// Result: what every write returns. A rejection is a Result with a non-ok code,
// never an exception.
#pragma once

#include <cstddef>
#include <cstdint>

#include "engine/code.h"
#include "engine/types.h"

namespace bonus {

struct Result {
  enum Flag : std::uint8_t {
    kCappedBalance = 1,  // a credit was cut by the seller's balance cap
    kCappedEarn = 2,     // a credit was cut by the seller's monthly earn cap
    kRepeat = 4,         // an idempotent repeat: the stored result, nothing changed
    kMore = 8,           // sweep: work is left for the next sweep
  };

  Code code = Code::ok;
  std::uint8_t flags = 0;
  std::uint8_t reserved = 0;
  // Bonuses that came back to the account already dead and expired at once (their lot's
  // life was over, or their campaign revoked):
  //   refund, release: part of `amount`;  capture: part of the released remainder (`aux`).
  //   Everything else: 0 (a sweep's expiries are its `amount`).
  std::uint32_t expired = 0;
  // The command's main figure:
  //   credit, confirm_accrual: credited (after caps, including what repaid debt)
  //   accrue: pending amount;  cancel_accrual: amount cancelled
  //   hold: held;  capture, spend: spent;  release: released;  refund: refunded
  //   reverse_accrual: amount reversed (taken from lots plus new debt)
  //   revoke_campaign, sweep: amount expired
  Amount amount = 0;
  // A second figure:
  //   credit, confirm_accrual, refund, release: debt repaid
  //   capture: released remainder;  reverse_accrual: new debt;  sweep: holds timed out
  // What reached the buyer's balance: refund, release: amount - aux - expired.
  Amount aux = 0;

  bool ok() const { return code == Code::ok; }
  friend bool operator==(const Result&, const Result&) = default;

  static Result of(Code code) { return Result{code, 0, 0, 0, 0, 0}; }
};
static_assert(sizeof(Result) == 24);
static_assert(offsetof(Result, expired) == 4 && offsetof(Result, amount) == 8);

}  // namespace bonus
