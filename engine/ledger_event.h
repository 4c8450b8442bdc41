// LedgerEvent: one change to one account, as a statement shows it ("why did my balance
// change?"). A Ledger that records events (Ledger::record_events) emits them from the
// steps every write shares (deposit, the hold, capture and return paths, the sweep's
// expiry, revocation, reversal), so a command built from those steps is covered.
//
// The balance moves by: +(amount - debt_part - expired_part) for credited, confirmed,
// released, timed_out, refunded; -(amount - debt_part) for reversed; -amount for held,
// expired, revoked; 0 for accrued, cancelled, spent (the hold already took it). The debt
// moves by -debt_part, or +debt_part for reversed.
// The figures after the event are the account's as the ledger holds them: `balance_after`
// counts every lot still in the account, so a lot past its expiry counts until the sweep
// removes it, and the `expired` event is written then (docs/engine.md, "Events").
// Deterministic: the same (command, now) sequence makes the same events, in the same order.
// Plain value, 72 bytes, no padding (the history store writes its bytes).
#pragma once

#include <cstdint>
#include <type_traits>

#include "engine/types.h"

namespace bonus {

struct LedgerEvent {
  // Stable numbers (they are stored on disk): append only.
  enum class Kind : std::uint8_t {
    credited = 1,        // a credit's lot (ref: campaign, 0 for none; reason)
    accrued = 2,         // an order's cashback, pending (ref: order)
    confirmed = 3,       // the accrual became a lot (ref: order)
    cancelled = 4,       // the pending accrual went away (ref: order)
    reversed = 5,        // confirmed cashback taken back (ref: order); debt_part became debt
    held = 6,            // reserved for an order (ref: order)
    spent = 7,           // the hold's spent part (ref: order)
    released = 8,        // the hold's unspent part came back (ref: order); expired_part
                         // of it had come from lots whose life was over and died at once
    timed_out = 9,       // as released, by the hold's deadline (ref: order)
    refunded = 10,       // spent bonuses came back (ref: order); expired_part as released
    expired = 11,        // a lot's life ended (ref: its campaign, or its accrual's order)
    revoked = 12,        // the campaign's unspent bonuses expired (ref: campaign)
  };
  static constexpr std::uint8_t kKindMax = 12;
  // What `ref` is.
  enum class Ref : std::uint8_t { none = 0, campaign = 1, order = 2 };

  SellerId seller = 0;
  BuyerId buyer = 0;
  std::uint64_t ref = 0;  // order or campaign id; ref_kind says which
  TimeUs time_us = 0;
  Amount amount = 0;      // what the operation moved, never negative
  // The part of `amount` that repaid debt (credited, confirmed, released, timed_out,
  // refunded) or, for reversed, that could not be taken and became debt.
  std::uint32_t debt_part = 0;
  std::uint32_t reason = 0;  // credited: the credit's reason code; else 0
  std::uint32_t expired_part = 0;  // released, timed_out, refunded: the part that died at once
  // The account after the event (each fits 32 bits, limits.h).
  std::uint32_t balance_after = 0;  // in lots, unexpired or not yet swept
  std::uint32_t held_after = 0;
  std::uint32_t pending_after = 0;
  std::uint32_t debt_after = 0;
  Kind kind = Kind::credited;
  Ref ref_kind = Ref::none;
  std::uint8_t reserved[2] = {};

  bool names_order() const { return ref_kind == Ref::order; }

  friend bool operator==(const LedgerEvent&, const LedgerEvent&) = default;
};
static_assert(sizeof(LedgerEvent) == 72);
static_assert(std::has_unique_object_representations_v<LedgerEvent>);

// An event with its place in the server's log, for statements (the history store and
// the wire): the journal position of the command that made it, and its place among that
// command's events (over every shard, in shard order). The engine never fills these.
struct HistoryEntry {
  std::uint64_t position = 0;
  std::uint32_t index = 0;
  LedgerEvent event;
  friend bool operator==(const HistoryEntry&, const HistoryEntry&) = default;
};

// Where a statement page resumes: after the entry (position, index) in the page's order.
// A zero cursor starts at the beginning (an account's newest event, an order's oldest).
struct HistoryCursor {
  std::uint64_t position = 0;
  std::uint32_t index = 0;
  bool start() const { return position == 0 && index == 0; }
  friend bool operator==(const HistoryCursor&, const HistoryCursor&) = default;
};

const char* event_kind_name(LedgerEvent::Kind kind);
// The kind named `name`, or false.
bool event_kind_of(const char* name, LedgerEvent::Kind& out);

}  // namespace bonus
