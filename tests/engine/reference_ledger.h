// ReferenceLedger: a deliberately simple second implementation of docs/engine.md, used as
// the oracle of the model-based test (model_test.cc).
//
// It shares no code with engine/ beyond the public value types, `spend_cap` and
// `code_name`. Everything is plain std::map / std::vector and linear scans; every rule is
// written out in the order docs/engine.md lists it. Speed does not matter here, only that a
// reader can check each step against the document.
//
// Differences from bonus::Ledger, on purpose:
// - `sweep` ignores its limit and always does all the work due (the test sends limit 0).
// - `expiring` is not paged: it returns every entry, sorted by buyer.
// - Reads return their answers by value.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "engine/command.h"
#include "engine/ledger_config.h"
#include "engine/month_report.h"
#include "engine/policy.h"
#include "engine/result.h"
#include "engine/views.h"

namespace bonus::test {

class ReferenceLedger {
 public:
  explicit ReferenceLedger(const EngineConfig& config = {});

  Result apply(const Command& command, TimeUs now);

  AccountView balance(SellerId seller, BuyerId buyer, TimeUs now) const;
  std::vector<LotView> lots(SellerId seller, BuyerId buyer, TimeUs now) const;
  std::vector<CartEntry> cart(BuyerId buyer, std::span<const CartLine> lines, TimeUs soon_us,
                              TimeUs now) const;
  std::vector<AccountView> wallet(BuyerId buyer, TimeUs now) const;
  // All entries, sorted by buyer (no paging).
  std::vector<ExpiringEntry> expiring(SellerId seller, TimeUs within_us, TimeUs now) const;
  // The segment's buyers, sorted (no paging).
  std::vector<BuyerId> segment(const SegmentQuery& query, TimeUs now) const;
  SellerStats seller_stats(SellerId seller) const;
  SellerStats total_stats() const;
  CampaignStats campaign_stats(SellerId seller, CampaignId campaign) const;
  // `month`: months since 1970-01 of the marketplace calendar (as Ledger::month_report).
  // Every month is kept here; the engine keeps the last 25 a seller had activity in.
  MonthReport month_report(SellerId seller, std::uint16_t month) const;
  Policy policy(SellerId seller) const;

  std::size_t account_count() const { return accounts_.size(); }
  // Every account, by (seller, buyer).
  std::vector<std::pair<SellerId, BuyerId>> accounts() const {
    std::vector<std::pair<SellerId, BuyerId>> out;
    for (const auto& [key, account] : accounts_) out.push_back(key);
    return out;
  }

  // How often each interesting path of the rules was taken (for the test's coverage report).
  const std::map<std::string, std::uint64_t>& notes() const { return notes_; }

  // The marketplace calendar month (UTC+3, no DST) of `now`, as year * 12 + (month - 1).
  static std::int64_t calendar_month(TimeUs now);
  // The marketplace calendar day (UTC+3) of `now`: days since 1970-01-01 of that calendar.
  static std::int64_t calendar_day(TimeUs now);

 private:
  // A lot, and also a fragment (a piece of a lot held or spent by an order).
  struct Lot {
    Amount amount = 0;
    TimeUs expires_at = kTimeNever;
    bool order_origin = false;  // origin is an order id (confirmed accrual), else a campaign
    std::uint64_t origin = 0;
    std::uint32_t seq = 0;
    bool spent_from = false;
    std::uint32_t reason = 0;  // the credit's; 0 for cashback

    CampaignId campaign() const { return order_origin ? 0 : origin; }
    bool expired(TimeUs now) const { return expires_at <= now; }
  };

  struct Account {
    std::vector<Lot> lots;  // always sorted by (expires_at, seq)
    Amount held = 0;
    Amount pending = 0;
    Amount debt = 0;
    Amount earned = 0;          // credited in calendar month `month`
    std::int64_t month = -1;    // -1: nothing earned yet
    std::uint32_t next_seq = 0;
    // Confirmed purchases not reversed: (confirmation time, price) for prices above 0.
    std::vector<std::pair<TimeUs, Kopecks>> purchases;
    TimeUs last_purchase = 0;  // the last confirmation; 0: none
  };

  enum class HoldState { open, captured, released, timed_out };
  struct HoldOrder {
    SellerId seller = 0;
    BuyerId buyer = 0;
    Amount amount = 0;
    Kopecks goods_total = 0;
    TimeUs deadline = 0;
    HoldState state = HoldState::open;
    TimeUs finished_at = 0;
    // Open: the held fragments, in lot order. Captured: the spent fragments (what is
    // left of them to refund), in lot order.
    std::vector<Lot> fragments;
    Amount captured = 0;
    Amount refunded = 0;
  };

  enum class AccrualState { pending, confirmed, cancelled, reversed };
  struct AccrualOrder {
    SellerId seller = 0;
    BuyerId buyer = 0;
    Amount amount = 0;
    LotLife life;
    AccrualState state = AccrualState::pending;
    TimeUs finished_at = 0;
    Amount credited = 0;               // set by confirmation
    Amount earned = 0;                 // of credited, what counted as earned (not repaid debt)
    std::optional<std::uint32_t> lot;  // seq of the lot the confirmation created, if any
    Kopecks price = 0;
  };

  struct IdEntry {
    TimeUs time = 0;
    Command command;
    Result result;
  };

  // `revoked`: expired by a campaign's revoke (the seller's and total's `expired`, the
  // campaign's `revoked_amount`).
  enum class Stat { issued, accrued, spent, expired, refunded, reversed, held, pending, debt, revoked };

  using AccountKey = std::pair<SellerId, BuyerId>;
  using CampaignKey = std::pair<SellerId, CampaignId>;
  using IdKey = std::pair<std::uint64_t, std::uint64_t>;

  // Writes.
  Result write(const Credit& c, TimeUs now);
  Result write(const Accrue& c, TimeUs now);
  Result write(const ConfirmAccrual& c, TimeUs now);
  Result write(const CancelAccrual& c, TimeUs now);
  Result write(const Hold& c, TimeUs now);
  Result write(const Capture& c, TimeUs now);
  Result write(const Release& c, TimeUs now);
  Result write(const Spend& c, TimeUs now);
  Result write(const Refund& c, TimeUs now);
  Result write(const ReverseAccrual& c, TimeUs now);
  Result write(const RevokeCampaign& c, TimeUs now);
  Result write(const SetPolicy& c, TimeUs now);
  Result write(const Sweep& c, TimeUs now);
  Result write(const SetLimits& c, TimeUs now);
  Result write(const Referral& c, TimeUs now);

  // Steps shared by several writes.
  Code credit_expiry(SellerId seller, CampaignId campaign, const LotLife& life, TimeUs now,
                     TimeUs& expires_at) const;
  Result credit_steps(SellerId seller, BuyerId buyer, Account& account, Amount amount,
                      TimeUs expires_at,
                      bool order_origin, std::uint64_t origin, std::uint32_t reason,
                      TimeUs now, std::optional<std::uint32_t>* lot_seq);
  Code check_spend(SellerId seller, BuyerId buyer, Amount amount, Kopecks goods_total,
                   OrderId order, TimeUs now, bool is_hold, TimeUs timeout_us) const;
  std::vector<Lot> take_fragments(Account& account, Amount amount, TimeUs now);
  // What returning pieces did: everything returned, of which `repaid` repaid debt and
  // `expired` expired at once.
  struct Returned {
    Amount amount = 0;
    Amount repaid = 0;
    Amount expired = 0;
  };
  // Returns what returning the fragments did; `out` also for capture's rest.
  Returned capture_hold(HoldOrder& hold, Amount amount, TimeUs now, BuyerId buyer);
  Returned time_out(HoldOrder& hold, TimeUs now);
  Returned return_all(HoldOrder& hold, TimeUs now);
  void return_piece(SellerId seller, Account& account, const Lot& fragment, Amount x,
                    TimeUs now, Returned& out);
  Result returned_result(const Returned& r);

  // Lookups.
  Account* find_account(SellerId seller, BuyerId buyer);
  const Account* find_account(SellerId seller, BuyerId buyer) const;
  HoldOrder* live_hold(OrderId order, TimeUs now);
  AccrualOrder* live_accrual(OrderId order, TimeUs now);
  bool hold_live(const HoldOrder& hold, TimeUs now) const;
  bool accrual_live(const AccrualOrder& accrual, TimeUs now) const;
  std::uint64_t live_holds(TimeUs now) const;
  std::uint64_t live_accruals(TimeUs now) const;
  bool campaign_revoked(SellerId seller, CampaignId campaign) const;
  void forget_dead_ids(TimeUs now);

  static Amount available(const Account& account, TimeUs now);
  static void insert_lot(Account& account, const Lot& lot);
  static Lot* lot_by_seq(Account& account, std::uint32_t seq);
  AccountView view_of(SellerId seller, BuyerId buyer, const Account& account,
                      TimeUs now) const;
  // Purchases in the seller's tier window ending today, and the tier and rate they reach.
  void tier_fields(SellerId seller, const Account* account, TimeUs now, AccountView& v) const;

  // Statistics: the seller's, the total's and (for the campaign stats, when campaign
  // is not 0) the campaign's.
  void add(Stat stat, SellerId seller, CampaignId campaign, Amount x);
  void sub(Stat stat, SellerId seller, Amount x);
  void note(const char* what) { notes_[what] += 1; }

  EngineConfig config_;
  std::map<AccountKey, Account> accounts_;
  std::map<SellerId, Policy> policies_;
  std::map<OrderId, HoldOrder> holds_;
  std::map<OrderId, AccrualOrder> accruals_;
  std::map<CampaignKey, CampaignStats> campaigns_;  // `outstanding` is filled on read
  // "recipients and spenders count buyers": each buyer that received a lot of the
  // campaign, and whether it spent from one.
  std::map<CampaignKey, std::map<BuyerId, bool>> campaign_buyers_;
  std::map<SellerId, SellerStats> sellers_;         // `outstanding` is filled on read
  // "A seller's report per calendar month": the month of the write being applied.
  std::map<std::pair<SellerId, std::int64_t>, MonthReport> months_;
  MonthReport& month_of(SellerId seller);
  TimeUs now_ = 0;  // of the write being applied
  SellerStats totals_;
  // Remembered ids. Only live ids are kept: forget_dead_ids() drops an id once its window
  // has passed (ids are remembered in time order, so the queue is sorted by time).
  std::map<IdKey, IdEntry> ids_;
  std::deque<std::pair<TimeUs, IdKey>> id_times_[2];  // applied, rejected
  std::uint64_t id_counts_[2] = {0, 0};
  std::map<std::string, std::uint64_t> notes_;
};

}  // namespace bonus::test
