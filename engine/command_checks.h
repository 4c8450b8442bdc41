// The checks of a write that depend on the command alone, not on the ledger's state: an
// amount's range, a goods total, a hold's timeout, an accrual's life. The Ledger runs them
// first (docs/engine.md lists them first); the server's admission runs the ones that come
// before an order id is looked at, so that a command invalid in itself gets the same code
// whichever shard would have judged it.
//
// Pure functions; any thread.
#pragma once

#include "engine/code.h"
#include "engine/command.h"

namespace bonus {

// zero_amount for 0, overflow above kAmountMax.
Code check_amount(Amount amount);
// A capture's or refund's amount: kAmountAll ("all") or a checked amount.
Code check_amount_or_all(Amount amount);

// invalid_reason unless reason_valid (engine/reason.h).
Code check_reason(std::uint32_t reason);
// The checks a hold, spend or accrual passes before its order id is looked at; ok for
// every other command.
Code check_before_order(const Command& command);
Code check_before_order(const Accrue& c);
Code check_before_order(const Hold& c);
Code check_before_order(const Spend& c);

}  // namespace bonus
