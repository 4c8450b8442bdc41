// Ledger: prefetching for apply_batch. Each phase touches what the phase before brought
// into the cache and prefetches the next level: index slots, then records, then what the
// records point at. Nothing here changes state (const lookups only), so a batch's results
// are those of applying its writes one by one; a wrong guess costs a wasted prefetch.
#include "engine/command_id.h"
#include "engine/ledger.h"

namespace bonus {

void Ledger::prefetch(const Command& command, int phase, WriteHint& hint) const {
  // The id's slot only: a new id (nearly every write) has no record, and a repeat's
  // record is worth no probe of every write's slots.
  if (phase == 0) {
    const Id128 id = command_id(command);
    if (!id.zero()) {
      hint.id = id;
      hint.id_hash = IdEntry::hash(id);
      ids_.prefetch_hashed(hint.id_hash);
    }
  }
  // An account named by (seller, buyer): slot, record (the first candidate the slots
  // name becomes the hint), lot array (once the record shows whether the candidate is
  // the account). A write needs no purchases, but an accrual by price: rare enough to
  // leave to its own miss. A second account (a referral's friend) goes without a hint,
  // as a read's does (prefetch_account).
  auto account = [&](SellerId seller, BuyerId buyer) {
    if (phase == 0) {
      hint.account_hash = hash_pair(seller, buyer);
      accounts_.prefetch_slot_hashed(hint.account_hash);
    }
    if (phase == 1) hint.account = accounts_.prefetch_record_hashed(hint.account_hash, buyer);
    if (phase == 2 && hint.account != AccountTable::kNone) {
      if (!accounts_.is(hint.account, seller, buyer)) {
        hint.account = accounts_.find_hashed(hint.account_hash, seller, buyer);
      }
      if (hint.account != AccountTable::kNone) accounts_.prefetch_lots(hint.account);
    }
  };
  // An account named by an order's record, which phase 1 fetched.
  auto account_of_order = [&](std::uint32_t i) {
    if (phase == 2) accounts_.prefetch_record(i);
    if (phase == 3) accounts_.prefetch_lots(i);
  };
  std::visit(
      [&](const auto& c) {
        using T = std::decay_t<decltype(c)>;
        if constexpr (std::is_same_v<T, Credit>) {
          account(c.seller, c.buyer);
        } else if constexpr (std::is_same_v<T, Accrue> || std::is_same_v<T, Hold> ||
                             std::is_same_v<T, Spend>) {
          account(c.seller, c.buyer);
          if constexpr (std::is_same_v<T, Accrue>) {
            if (phase == 0) accruals_.prefetch(c.order);
            if (phase == 1) accruals_.prefetch_record(c.order);
          } else {
            if (phase == 0) holds_.prefetch(c.order);
            if (phase == 1) holds_.prefetch_record(c.order);
          }
        } else if constexpr (std::is_same_v<T, ConfirmAccrual> ||
                             std::is_same_v<T, CancelAccrual> ||
                             std::is_same_v<T, ReverseAccrual>) {
          if (phase == 0) accruals_.prefetch(c.order);
          if (phase == 1) accruals_.prefetch_record(c.order);
          if (phase >= 2) {
            if (const AccrualOrder* o = accruals_.find(c.order)) {
              account_of_order(o->account);
              purchases_.prefetch(o->account, phase - 2);
            }
          }
        } else if constexpr (std::is_same_v<T, Capture> || std::is_same_v<T, Release> ||
                             std::is_same_v<T, Refund>) {
          if (phase == 0) holds_.prefetch(c.order);
          if (phase == 1) holds_.prefetch_record(c.order);
          if (phase >= 2) {
            if (const HoldOrder* h = holds_.find(c.order)) {
              account_of_order(h->account);
              if (phase == 2 && !h->fragments.empty()) __builtin_prefetch(h->fragments.data());
            }
          }
        } else if constexpr (std::is_same_v<T, Referral>) {
          const bool referrer = owns(c.referrer);
          if (referrer) account(c.seller, c.referrer);
          if (owns(c.friend_buyer)) {
            if (referrer) {
              prefetch_account(c.seller, c.friend_buyer, phase);
            } else {
              account(c.seller, c.friend_buyer);
            }
          }
        }
        // Seller-wide writes, sweeps and settings touch what no one write can name.
      },
      command);
}

// For reads: what balance() and the cart look at, purchases included.
void Ledger::prefetch_account(SellerId seller, BuyerId buyer, int phase) const {
  if (phase == 0) accounts_.prefetch_slot(seller, buyer);
  if (phase == 1) accounts_.prefetch_record(seller, buyer);
  if (phase >= 2) {
    const std::uint32_t i = accounts_.find(seller, buyer);
    if (i == AccountTable::kNone) return;
    if (phase == 2) accounts_.prefetch_lots(i);
    purchases_.prefetch(i, phase - 2);
  }
}

void Ledger::prefetch_upkeep(TimeUs now, std::size_t count, int phase) const {
  if (phase == 1) ids_.prefetch_inserts(static_cast<std::uint32_t>(count));
  if (phase > 1) return;
  // What prune() will look up: the oldest ids and finished orders past their time.
  auto oldest = [&](const auto& queue, TimeUs horizon, const auto& table) {
    for (std::size_t k = 0; k < count && k < queue.size() && queue[k].first <= horizon; ++k) {
      if (phase == 0) table.prefetch(queue[k].second);
      if (phase == 1) table.prefetch_record(queue[k].second);
    }
  };
  // The ids queue their records' indexes: the record first, then (from its id) the slot.
  for (const bool rejected : {false, true}) {
    const auto& queue = id_times_[rejected];
    const TimeUs horizon = now - id_window_us(rejected);
    for (std::size_t k = 0; k < count && k < queue.size() && queue[k].first <= horizon; ++k) {
      if (phase == 0) ids_.prefetch_index(queue[k].second);
      if (phase == 1) ids_.prefetch_hashed(IdEntry::hash(ids_.at(queue[k].second).id));
    }
  }
  oldest(finished_holds_, now - config_.order_retention_us, holds_);
  oldest(finished_accruals_, now - config_.order_retention_us, accruals_);
}

}  // namespace bonus
