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

// A SetPolicy's fields on their own (docs/engine.md, set_policy): at least one known
// field named, each named one in range; tiers with thresholds ascending from above 0,
// rates 1..kRateBpMax and the entries past tier_count zero. Whether the policy it makes
// has a base rate under its tiers depends on the seller's policy: the Ledger checks that.
bool set_policy_valid(const SetPolicy& c);
// A whole policy (a loaded one): every field in its range, tiers as set_policy_valid
// wants them, and a base rate under any tiers.
bool policy_valid(const Policy& p);

}  // namespace bonus
