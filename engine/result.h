// Result: what every write returns. A rejection is a Result with a non-ok code,
// never an exception.
#pragma once

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
  std::uint8_t reserved[5] = {};
  // The command's main figure:
  //   credit, confirm_accrual: credited (after caps, including what repaid debt)
  //   accrue: pending amount;  cancel_accrual: amount cancelled
  //   hold: held;  capture, spend: spent;  release: released;  refund: refunded
  //   reverse_accrual: amount reversed (taken from lots plus new debt)
  //   revoke_campaign, sweep: amount expired
  Amount amount = 0;
  // A second figure:
  //   credit, confirm_accrual, refund: debt repaid;  capture: released remainder
  //   reverse_accrual: new debt;  sweep: holds timed out
  Amount aux = 0;

  bool ok() const { return code == Code::ok; }
  friend bool operator==(const Result&, const Result&) = default;

  static Result of(Code code) { return Result{code, 0, {}, 0, 0}; }
};
static_assert(sizeof(Result) == 24);

}  // namespace bonus
