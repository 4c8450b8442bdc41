// Ledger: one shard's bonus ledger, a deterministic state machine.
//
// Every write goes through apply(command, now); every read is a const method taking
// `now`. The state is a pure function of the sequence of (command, now) pairs: no
// clock, no I/O, no threads. The rules are written down in docs/engine.md.
//
// Ownership and threads: a Ledger is owned by exactly one thread (its shard's) and
// has no locks; nothing in it may be touched from another thread.
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <optional>
#include <queue>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "engine/account_table.h"
#include "engine/command.h"
#include "engine/expiry_index.h"
#include "engine/keyed_table.h"
#include "engine/ledger_config.h"
#include "engine/ledger_event.h"
#include "engine/ledger_records.h"
#include "engine/purchase_table.h"
#include "engine/seller_accounts.h"
#include "engine/result.h"
#include "engine/views.h"

namespace bonus {

class StateCodec;
class StateLoader;

// What the prefetch phases of a window learn about one write (Ledger::prefetch), kept
// from phase to phase and handed to its apply, so that a write's keys are hashed and its
// account found once. Only hints: apply() uses the id's hash only for the id it was
// computed from, and the account only after checking it against the write's own (seller,
// buyer); otherwise (no hint, another write's, a new account, or one created by an
// earlier write of the window) it looks them up itself.
struct WriteHint {
  Id128 id;                        // the write's id, and
  std::uint64_t id_hash = 0;       // its IdEntry::hash (0: not computed)
  std::uint64_t account_hash = 0;  // hash_pair of the (first) account the write names
  std::uint32_t account = UINT32_MAX;  // its index: a candidate after phase 1, found after 2
};

class Ledger {
 public:
  explicit Ledger(const EngineConfig& config = {});
  Ledger(const Ledger&) = delete;
  Ledger& operator=(const Ledger&) = delete;

  // Applies one write at ledger time `now`; with the hint its prefetch phases left, if
  // it had them (the result is the same either way).
  // REQUIRES: now is greater than every `now` applied before (the sequencer's stamp),
  //           and at most kTimeMaxUs. Violations are bugs and abort.
  Result apply(const Command& command, TimeUs now) { return apply(command, now, WriteHint{}); }
  Result apply(const Command& command, TimeUs now, const WriteHint& hint);

  // Applies `count` writes in order, exactly as apply() on each in turn would (the same
  // results, the same state), a window of kApplyWindow at a time and in phases, as
  // TigerBeetle's state machine prefetches: first the index slots each write of the window
  // will look up are brought into the cache, then the records those slots name, then what
  // hangs off the records (an order's account, an account's lot array); only then are the
  // writes applied, one by one. The window's misses overlap instead of following one
  // another. `write(i)` returns write i as a std::pair<const Command&, TimeUs>;
  // `done(i, result)` runs right after write i is applied, before write i + 1 is.
  template <typename WriteAt, typename Done>
  void apply_batch(std::size_t count, WriteAt&& write, Done&& done) {
    WriteHint hints[kApplyWindow];
    for (std::size_t start = 0; start < count; start += kApplyWindow) {
      const std::size_t end = std::min(count, start + kApplyWindow);
      for (std::size_t i = start; i < end; ++i) hints[i - start] = WriteHint{};
      for (int phase = 0; phase < kPrefetchPhases; ++phase) {
        prefetch_upkeep(write(end - 1).second, end - start, phase);
        for (std::size_t i = start; i < end; ++i) prefetch(write(i).first, phase, hints[i - start]);
      }
      for (std::size_t i = start; i < end; ++i) {
        const auto& [command, now] = write(i);
        done(i, apply(command, now, hints[i - start]));
      }
    }
  }
  // Writes per prefetch window: enough misses in flight to cover the memory latency, few
  // enough that the window's lines stay in L1/L2 until they are used.
  // (8, 16, 64 and 128 measured no different from 32: docs/performance.md, issue 13.)
  static constexpr std::size_t kApplyWindow = 32;

  // apply_batch's prefetching (ledger_prefetch.cc), for a caller that spreads a window of
  // writes over several ledgers (the checkpointer's replicas): for each phase in turn,
  // prefetch_upkeep and then prefetch of every write of the window; then apply them.
  // Phase 0 touches index slots, each later phase what the phase before brought in.
  // Nothing changes but `hint` (start each write with a fresh one, keep it through the
  // phases and pass it to apply()).
  static constexpr int kPrefetchPhases = 4;
  void prefetch(const Command& command, int phase, WriteHint& hint) const;
  // The table upkeep of the next `count` applies, up to `now`: the ids they will forget
  // and the slots their ids will take.
  void prefetch_upkeep(TimeUs now, std::size_t count, int phase) const;
  // For reads, an account by (seller, buyer): its index slot, record, lot array and
  // purchases.
  void prefetch_account(SellerId seller, BuyerId buyer, int phase) const;

  // Reads, as of `now` (normally the latest ledger time): lots that expired by `now`
  // are never counted, whether or not a sweep has reached them yet.
  AccountView balance(SellerId seller, BuyerId buyer, TimeUs now) const;
  // balance() of `count` accounts: `key(i)` returns account i as a std::pair<SellerId,
  // BuyerId>, `out(i, view)` takes its view, in order. The same answers as balance() on
  // each, with the misses of a window of accounts overlapped: their index slots, then their
  // records, then their lot arrays and purchases are brought into the cache first.
  template <typename KeyAt, typename Out>
  void balances(std::size_t count, TimeUs now, KeyAt&& key, Out&& out) const {
    std::uint64_t hashes[kApplyWindow];
    std::uint32_t found[kApplyWindow];
    for (std::size_t start = 0; start < count; start += kApplyWindow) {
      const std::size_t n = std::min(count - start, kApplyWindow);
      for (std::size_t k = 0; k < n; ++k) {
        const auto [seller, buyer] = key(start + k);
        hashes[k] = hash_pair(seller, buyer);
        accounts_.prefetch_slot_hashed(hashes[k]);
      }
      for (std::size_t k = 0; k < n; ++k) accounts_.prefetch_record_hashed(hashes[k]);
      for (std::size_t k = 0; k < n; ++k) {
        const auto [seller, buyer] = key(start + k);
        found[k] = accounts_.find_hashed(hashes[k], seller, buyer);
        if (found[k] == AccountTable::kNone) continue;
        accounts_.prefetch_lots(found[k]);
        purchases_.prefetch(found[k], 0);
      }
      for (std::size_t k = 0; k < n; ++k) {
        if (found[k] != AccountTable::kNone) purchases_.prefetch(found[k], 1);
      }
      for (std::size_t k = 0; k < n; ++k) {
        const auto [seller, buyer] = key(start + k);
        out(start + k, balance_at(found[k], seller, buyer, now));
      }
    }
  }
  // Unexpired lots of an account, soonest-expiring first (ties: oldest first).
  void lots(SellerId seller, BuyerId buyer, TimeUs now, std::vector<LotView>& out) const;
  // One entry per line, in the lines' order.
  void cart(BuyerId buyer, std::span<const CartLine> lines, TimeUs soon_us, TimeUs now,
            std::vector<CartEntry>& out) const;
  // Every account of the buyer with something in it, sorted by seller.
  void wallet(BuyerId buyer, TimeUs now, std::vector<AccountView>& out) const;
  // Buyers of `seller` with bonuses expiring in (now, now + within_us], a page of at
  // most `limit` entries starting at `cursor`. Pages follow the expiry index's order.
  ExpiringPage expiring(SellerId seller, TimeUs within_us, ExpiringCursor cursor,
                        std::uint32_t limit, TimeUs now) const;
  // Buyers of a segment of the seller's (SegmentKind), a page of at most `limit` (0: no
  // limit) starting at `cursor`. Both walk only the seller's accounts (or the campaign's
  // recipients), at most kReadScanMax per page: a page may end early, not done. A cursor
  // that is not one of this seller's (or campaign's) positions answers an empty, done page.
  SegmentPage segment(const SegmentQuery& query, SegmentCursor cursor, std::uint32_t limit,
                      TimeUs now) const;
  SellerStats seller_stats(SellerId seller) const;
  // The earliest ledger time at which a Sweep would have work: an open hold reaching its
  // deadline, a minute bucket of expiring lots being over, a finished order leaving its
  // retention, or a write id leaving its window. kTimeNever when nothing waits. It may
  // be early (entries of holds already closed, of lots already gone): a sweep then finds
  // nothing and the next answer is later. For the server, which writes a sweep tick into
  // the log only when one is due (server/README.md, "Sweep ticks"). O(1).
  TimeUs next_due_us() const;
  SellerStats total_stats() const;
  CampaignStats campaign_stats(SellerId seller, CampaignId campaign) const;
  // The seller's flows in calendar month `month` (calendar_month index; kept for the
  // current month and the 24 before it): zeros, with `month` set, when none.
  MonthReport month_report(SellerId seller, std::uint16_t month) const;
  Policy policy(SellerId seller) const;

  // Checks the conservation invariant (DESIGN.md §2) per seller and in total, and
  // that every counter agrees with the records it summarises. Empty when all holds;
  // otherwise a description of the first violation. Cost: O(state).
  std::optional<std::string> audit() const;

  // 64-bit hash of the canonical encoding of the state (see StateCodec): two ledgers
  // with equal hashes answer every query alike.
  std::uint64_t state_hash() const;

  // Change tracking, for incremental checkpoints (StateCodec::give_changes): from now
  // on every record a write touches is remembered until forgotten. Off by default: it costs
  // each write a bit set and each record a bit of memory.
  void track_changes();
  bool tracking_changes() const;

  // Every order the ledger holds a record of: f(order, is_hold, recency), holds (and
  // one-step spends) first, then accruals. `recency` orders records of a reused id:
  // kTimeNever for an open one, else when it finished. For the server's router, which
  // must know after a checkpoint load where each order went.
  template <typename F>
  void for_each_order(F&& f) const {
    holds_.for_each([&](const HoldOrder& h) {
      f(h.order, true, h.state == HoldOrder::State::held ? kTimeNever : h.finished_us);
    });
    accruals_.for_each([&](const AccrualOrder& a) {
      f(a.order, false, a.state == AccrualOrder::State::pending ? kTimeNever : a.finished_us);
    });
  }

  // What the ledger remembers of a write id at `now` (nullopt: nothing; a command with
  // this id would be applied as new). For the server's ledger-wide id directory.
  std::optional<IdMemory> id_memory(const Id128& id, TimeUs now) const;
  // Every id remembered at `now`: f(id, IdMemory).
  template <typename F>
  void for_each_id(TimeUs now, F&& f) const {
    ids_.for_each([&](const IdEntry& e) {
      if (id_live(e, now)) f(e.id, IdMemory{e.body_hash, e.time_us, id_rejected(e)});
    });
  }
  // The record of an order (a hold or spend if `hold`, else an accrual) at `now`: 0 if
  // there is none live, kTimeNever while it is open (held, pending), else when it
  // finished (it stays live for config().order_retention_us after). For the server's
  // ledger-wide order directory.
  TimeUs order_finished_us(OrderId order, bool hold, TimeUs now) const;
  // The holds the last apply() timed out in a sweep (cleared by every apply).
  const std::vector<OrderId>& swept_holds() const { return swept_holds_; }
  // Event recording, for statements (engine/ledger_event.h): when on, every apply()
  // clears events() and fills it with what the write did to accounts, in order. Off by
  // default, and then free (one untaken branch per step): the shards never turn it on,
  // only the checkpointer's replicas, which feed the history store.
  void record_events(bool on) { recording_ = on; }
  bool recording_events() const { return recording_; }
  const std::vector<LedgerEvent>& events() const { return events_; }
  // How long an id is remembered: an applied command's, or a rejected one's.
  TimeUs id_window_us(bool rejected) const;
  // Whether a remembered id belongs to a rejected command (any code but ok).
  static bool id_rejected(const IdEntry& entry);

  // The server's shards: this ledger is partition `index` of `count` (partition_of,
  // engine/partition.h) and acts on a Referral only for the buyers it owns. Not state:
  // whoever builds a shard's ledger (or its replica) sets it before the first apply or
  // load. Default: 0 of 1, every buyer.
  void set_partition(std::uint32_t index, std::uint32_t count);
  bool owns(BuyerId buyer) const;

  TimeUs last_time() const { return last_now_; }
  std::uint64_t account_count() const { return accounts_.size(); }
  const EngineConfig& config() const { return config_; }
  // SetLimits commands applied so far (over the whole log, checkpoints included): the
  // server's manifest records it beside the config, to tell which of the two is newer.
  std::uint64_t limits_changes() const { return limits_changes_; }
  // Bytes held by accounts: the account table with its indexes and spilled lot arrays,
  // and the expiry index. Walks every account: for reports, not hot paths.
  std::uint64_t account_memory_bytes() const;

 private:
  friend class StateCodec;
  friend class StateLoader;

  // Writes (ledger_writes.cc); each runs the checks of docs/engine.md in order.
  Result apply_write(const Command& command, TimeUs now);
  Result credit(const Credit& c, TimeUs now);
  Result accrue(const Accrue& c, TimeUs now);
  Result confirm_accrual(const ConfirmAccrual& c, TimeUs now);
  Result cancel_accrual(const CancelAccrual& c, TimeUs now);
  Result hold(const Hold& c, TimeUs now);
  Result capture(const Capture& c, TimeUs now);
  Result release(const Release& c, TimeUs now);
  Result spend(const Spend& c, TimeUs now);
  Result refund(const Refund& c, TimeUs now);
  Result reverse_accrual(const ReverseAccrual& c, TimeUs now);
  Result revoke_campaign(const RevokeCampaign& c, TimeUs now);
  Result set_policy(const SetPolicy& c, TimeUs now);
  Result sweep(const Sweep& c, TimeUs now);
  Result set_limits(const SetLimits& c, TimeUs now);
  Result referral(const Referral& c, TimeUs now);

  // What returning bonuses to an account did: `amount` came back, of which `repaid`
  // repaid debt and `expired` expired at once; the rest is in the account's lots.
  struct Returned {
    Amount amount = 0;
    Amount repaid = 0;
    Amount expired = 0;
    // The result of a refund or release: amount, aux = repaid, expired.
    Result result() const {
      Result r;
      r.amount = amount;
      r.aux = repaid;
      r.expired = static_cast<std::uint32_t>(expired);
      return r;
    }
  };

  // Steps shared by several writes.
  Code check_hold(SellerId seller, BuyerId buyer, OrderId order, Amount amount,
                  Kopecks goods_total, TimeUs now);
  HoldOrder& open_hold(OrderId order, std::uint32_t account_index, Amount amount,
                       Kopecks goods_total, TimeUs deadline_us, TimeUs now);
  // The open hold of `order`, or nullptr with the code that says why not (a hold past
  // its deadline times out here).
  HoldOrder* open_hold_for(OrderId order, TimeUs now, Code& code);
  // Spends `amount` of the hold and returns the rest (what the returning did).
  Returned capture_hold(HoldOrder& hold, Amount amount, TimeUs now);
  // The campaigns of the `spent` pieces each count the order once in their sales.
  void count_sales(const HoldOrder& hold, std::span<const Lot> spent);
  // Returns every fragment to the account and finishes the hold in `state`.
  Returned close_hold(HoldOrder& hold, HoldOrder::State state, TimeUs now);
  void finish_accrual(AccrualOrder& accrual, AccrualOrder::State state, TimeUs now);
  // A reversed accrual's share of this month's earn allowance comes back.
  void give_back_earned(Account& account, const AccrualOrder& accrual);
  // Returns `amount` of `piece` to the account: it expires at once if its lot's life or
  // campaign is over, else it repays debt first and the rest goes into its lot. Adds
  // what happened to `out`.
  void return_piece(Account& account, std::uint32_t account_index, const Lot& piece,
                    Amount amount, TimeUs now, Returned& out);
  // Credits `amount` to the account: debt first, the caps, then a new lot shaped like
  // `lot` (its expiry, origin, origin flag and reason; amount and seq are filled in),
  // whose seq goes to `lot_seq` if not null.
  Result deposit(std::uint32_t account_index, Amount amount, const Lot& lot, TimeUs now,
                 std::uint32_t* lot_seq);
  void settle(Account& account, TimeUs now);
  // Appends an event of `kind` for `account` with its figures as they are now; the
  // caller tests recording_ first (so that a ledger not recording pays nothing more).
  void record(const Account& account, LedgerEvent::Kind kind, Amount amount, std::uint64_t ref,
              Amount debt_part, TimeUs now);
  // What came back to the account, as an event of `kind` (its expired_part: what died at once).
  void record_returned(const Account& account, LedgerEvent::Kind kind, OrderId order,
                       const Returned& returned, TimeUs now);
  void add_lot(Account& account, std::uint32_t account_index, const Lot& lot);
  // A new account, chained to its seller's.
  std::uint32_t create_account(SellerId seller, BuyerId buyer);
  // No room for a new account: accounts_max (or kAccountCountMax) accounts exist.
  bool accounts_full() const;
  bool lots_full(const Account& account) const;
  bool orders_full(bool holds, TimeUs now);
  Code lot_expiry(const LotLife& life, const Policy& policy, TimeUs now, TimeUs& out) const;
  // A credited lot's expiry (lot_expiry with the seller's policy), then campaign_revoked
  // if its campaign takes no more credits: the credit checks after the amounts.
  Code credit_expiry(SellerId seller, CampaignId campaign, const LotLife& life, TimeUs now,
                     TimeUs& out);

  // Lookups. A finished order past its retention, or an id past its window, is
  // treated as absent even before prune() removes it.
  // The account's index (kNone: none), through the write's hint when it names it.
  std::uint32_t find_account(SellerId seller, BuyerId buyer) const;
  Seller& seller_of(SellerId seller);
  // A seller's policy (the default one if it has no record). The write path's overload
  // keeps the seller it finds for the rest of the write, as seller_of() does, so a write
  // that reads the policy and then counts into the seller looks it up once; a write that
  // is rejected after reading it leaves the record marked changed, which costs a
  // checkpoint one unchanged record and changes nothing.
  const Policy& policy_of(SellerId seller) const;
  const Policy& policy_of(SellerId seller);
  Campaign& campaign_of(SellerId seller, CampaignId campaign);
  bool campaign_revoked(SellerId seller, CampaignId campaign) const;
  HoldOrder* live_hold(OrderId order, TimeUs now);
  AccrualOrder* live_accrual(OrderId order, TimeUs now);
  bool hold_live(const HoldOrder& hold, TimeUs now) const;
  bool accrual_live(const AccrualOrder& accrual, TimeUs now) const;
  bool id_live(const IdEntry& entry, TimeUs now) const;
  void remember_id(const IdEntry& entry, std::uint64_t hash, TimeUs now);
  void forget_id(std::uint32_t at);  // by its index in ids_
  // Forgets up to `budget` finished orders and ids that are past their time.
  void prune(TimeUs now, std::size_t budget);

  // balance() of the account at index `i` (AccountTable::kNone: none yet).
  AccountView balance_at(std::uint32_t i, SellerId seller, BuyerId buyer, TimeUs now) const;
  // The account's amounts as of `now` (lots, held, pending, debt), without its tier.
  AccountView amounts_of(const Account& account, TimeUs now) const;
  AccountView view_of(const Account& account, std::uint32_t account_index, TimeUs now) const {
    return view_of(account, account_index, policy_of(account.seller), now);
  }
  // `policy`: the account's seller's.
  AccountView view_of(const Account& account, std::uint32_t account_index, const Policy& policy,
                      TimeUs now) const;
  // The buyer's place in the seller's tiers at `now` (purchases in the policy's window).
  TierPlace tier_of(std::uint32_t account_index, const Policy& policy, TimeUs now) const;

  // Statistics: `f(counters)` for the seller and the total, and the campaign's when
  // campaign != 0. What the seller's flows grew by also goes to its month report.
  template <typename F>
  void count(SellerId seller, CampaignId campaign, F&& f) {
    Seller& s = seller_of(seller);
    const Counters before = s.counters;
    f(s.counters);
    add_flows(month_of(s), before, s.counters);
    f(totals_);
    if (campaign != 0) f(campaign_of(seller, campaign).counters);
  }
  // The seller's report of the month of the write being applied (last_now_), started
  // (and months past MonthReport::kMonthsKept dropped) if new.
  MonthReport& month_of(Seller& seller);
  static void add_flows(MonthReport& month, const Counters& before, const Counters& after);

  EngineConfig config_;
  std::uint32_t partition_index_ = 0;
  std::uint32_t partition_count_ = 1;
  std::uint64_t limits_changes_ = 0;
  TimeUs last_now_ = INT64_MIN;
  // Kept by apply() for the write being applied: the calendar month of last_now_ (and the
  // calendar day it was computed for), and the seller record the write found last, so
  // that the steps of one write look each up once. The seller is forgotten at every
  // apply(): its first lookup in a write goes through the table, which marks it changed.
  std::int64_t month_day_ = INT64_MIN;
  std::uint16_t month_now_ = 0;
  Seller* seller_now_ = nullptr;
  // The account the write being applied names, from its prefetch (WriteHint::account;
  // kNone outside apply() or without one): find_account() checks and uses it.
  std::uint32_t hinted_account_ = UINT32_MAX;

  AccountTable accounts_;
  ExpiryIndex expiry_;
  KeyedTable<HoldOrder> holds_;
  KeyedTable<AccrualOrder> accruals_;
  KeyedTable<IdEntry> ids_;
  KeyedTable<Seller> sellers_;
  KeyedTable<Campaign> campaigns_;
  PurchaseTable purchases_;  // by account index; saved in the account records
  SellerAccounts seller_accounts_;  // derived: rebuilt when a state is loaded
  Counters totals_;

  // Open holds by (deadline, order); entries of holds no longer open are skipped.
  std::priority_queue<std::pair<TimeUs, OrderId>, std::vector<std::pair<TimeUs, OrderId>>,
                      std::greater<>>
      deadlines_;
  // Finished orders and remembered ids in the order they may be forgotten.
  std::deque<std::pair<TimeUs, OrderId>> finished_holds_;
  std::deque<std::pair<TimeUs, OrderId>> finished_accruals_;
  // Per class (0 applied, 1 rejected): remembered ids by time (with their index in ids_,
  // 16 bytes where the id itself would take 24), and how many there are.
  std::deque<std::pair<TimeUs, std::uint32_t>> id_times_[2];
  std::uint64_t id_count_[2] = {0, 0};
  std::vector<OrderId> swept_holds_;
  // Scratch space of capture_hold and count_sales, kept to spare an allocation per spend.
  std::vector<Lot> spent_scratch_;
  std::vector<CampaignId> campaign_scratch_;
  bool recording_ = false;
  std::vector<LedgerEvent> events_;
};

}  // namespace bonus
