// Unit tests of bonus::Ledger, written from docs/engine.md (the contract). Every expected
// value is worked out by hand from the rules there, never read back from the engine.
#include "engine/ledger.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <tuple>
#include <vector>

#include "engine/calendar.h"
#include "engine/code.h"
#include "engine/command.h"
#include "engine/ledger_config.h"
#include "engine/limits.h"
#include "engine/lot_life.h"
#include "engine/partition.h"
#include "engine/policy.h"
#include "engine/result.h"
#include "engine/views.h"

namespace bonus {

// Readable failure messages (found by gtest through ADL).
inline void PrintTo(Code code, std::ostream* os) { *os << code_name(code); }
inline void PrintTo(const Result& r, std::ostream* os) {
  *os << "{" << code_name(r.code) << ", flags " << int{r.flags} << ", amount " << r.amount
      << ", aux " << r.aux << ", expired " << r.expired << "}";
}
inline void PrintTo(const LotView& l, std::ostream* os) {
  *os << "{" << l.amount << " until " << l.expires_at_us
      << (l.origin == LotView::Origin::order ? ", order " : ", campaign ") << l.origin_id << "}";
}
inline void PrintTo(const ExpiringEntry& e, std::ostream* os) {
  *os << "{buyer " << e.buyer << ", " << e.amount << " from " << e.first_expiry_us << "}";
}
inline void PrintTo(const CartEntry& e, std::ostream* os) {
  *os << "{seller " << e.seller << ", available " << e.available << ", spendable "
      << e.spendable << ", pending " << e.pending << ", soon " << e.expiring_soon << ", next "
      << e.next_expiry_us << ", earn " << e.earn << " at " << e.rate_bp << " bp (tier " << e.tier
      << "), month room " << e.earn_month_room << ", balance room " << e.balance_room << "}";
}

namespace {

// 2026-01-10T00:00:00Z, a minute boundary.
constexpr TimeUs kT0 = 1'768'003'200 * kUsPerSecond;
constexpr TimeUs kYear = 365 * kUsPerDay;  // the default lot life
constexpr TimeUs kRetention = 90 * kUsPerDay;  // default order_retention_us
constexpr TimeUs kIdWindow = 24 * kUsPerHour;  // default id_window_us

constexpr SellerId S1 = 1, S2 = 2, S3 = 3;
constexpr BuyerId B1 = 101, B2 = 102, B3 = 103, B4 = 104, B5 = 105, B6 = 106, B7 = 107,
                  B8 = 108, B9 = 109;
// 100,000 roubles: spend cap 99,000, never in the way unless a test says so.
constexpr Kopecks kGoods = 10'000'000;

constexpr std::uint8_t kBal = Result::kCappedBalance;
constexpr std::uint8_t kEarn = Result::kCappedEarn;
constexpr std::uint8_t kRep = Result::kRepeat;

Result ok(Amount amount, Amount aux = 0, int flags = 0) {
  return Result{Code::ok, static_cast<std::uint8_t>(flags), 0, 0, amount, aux};
}
// A refund's, release's or capture's result where `expired` came back dead.
Result ok_expired(Amount amount, Amount aux, std::uint32_t expired) {
  Result r = ok(amount, aux);
  r.expired = expired;
  return r;
}

LotView lot(Amount amount, TimeUs expires_at, CampaignId campaign = 0) {
  return LotView{amount, expires_at, LotView::Origin::campaign, campaign};
}
LotView order_lot(Amount amount, TimeUs expires_at, OrderId order) {
  return LotView{amount, expires_at, LotView::Origin::order, order};
}

void expect_audit_clean(const Ledger& ledger) {
  const std::optional<std::string> problem = ledger.audit();
  EXPECT_FALSE(problem.has_value()) << problem.value_or("");
}

class LedgerTest : public ::testing::Test {
 protected:
  void TearDown() override {
    expect_audit_clean(*ledger_);
    if (twin_) expect_audit_clean(*twin_);
  }

  void reconfigure(const EngineConfig& config) { ledger_ = std::make_unique<Ledger>(config); }

  // Applies a command 1 µs after the previous moment, or at `t`.
  Result run(const Command& c) { return run_at(c, now_ + 1); }
  Result run_at(const Command& c, TimeUs t) {
    EXPECT_GT(t, now_);
    now_ = t;
    const Result r = ledger_->apply(c, t);
    if (twin_) {
      EXPECT_EQ(twin_->apply(c, t), r);
    }
    return r;
  }
  // A twin ledger receives every later run() too, but not run_alone(): what run_alone()
  // did can then be compared with doing nothing.
  void start_twin() {
    ASSERT_EQ(ledger_->account_count(), 0u);
    twin_ = std::make_unique<Ledger>(ledger_->config());
  }
  Result run_alone(const Command& c) {
    now_ += 1;
    return ledger_->apply(c, now_);
  }
  // Whether the main ledger's state equals the twin's. state_hash() covers last_time(), so
  // both first take the same empty sweep to bring their clocks together.
  bool same_state_as_twin() {
    now_ += 1;
    EXPECT_EQ(ledger_->apply(sweep(), now_), ok(0));
    EXPECT_EQ(twin_->apply(sweep(), now_), ok(0));
    return ledger_->state_hash() == twin_->state_hash();
  }
  Code code(const Command& c) { return run(c).code; }
  Code code_at(const Command& c, TimeUs t) { return run_at(c, t).code; }
  // Moves the clock: reads are taken at now_, the next run() comes 1 µs later.
  void advance(TimeUs dt) { now_ += dt; }

  // Commands, each with a fresh id.
  Id128 fresh_id() { return Id128{0, ++last_id_}; }
  Credit credit(SellerId s, BuyerId b, Amount amount, LotLife life = LotLife::policy(),
                CampaignId campaign = 0) {
    Credit c;
    c.id = fresh_id();
    c.seller = s;
    c.buyer = b;
    c.amount = amount;
    c.campaign = campaign;
    c.life = life;
    return c;
  }
  Accrue accrue(OrderId order, SellerId s, BuyerId b, Amount amount,
                LotLife life = LotLife::policy()) {
    Accrue c;
    c.id = fresh_id();
    c.order = order;
    c.seller = s;
    c.buyer = b;
    c.amount = amount;
    c.life = life;
    return c;
  }
  ConfirmAccrual confirm(OrderId order) { return {fresh_id(), order}; }
  CancelAccrual cancel(OrderId order) { return {fresh_id(), order}; }
  ReverseAccrual reverse(OrderId order) { return {fresh_id(), order}; }
  Hold hold(OrderId order, SellerId s, BuyerId b, Amount amount, Kopecks goods = kGoods,
            TimeUs timeout_us = 0) {
    Hold c;
    c.id = fresh_id();
    c.order = order;
    c.seller = s;
    c.buyer = b;
    c.amount = amount;
    c.goods_total = goods;
    c.timeout_us = timeout_us;
    return c;
  }
  Capture capture(OrderId order, Amount amount = kAmountAll) { return {fresh_id(), order, amount}; }
  Release release(OrderId order) { return {fresh_id(), order}; }
  Spend spend(OrderId order, SellerId s, BuyerId b, Amount amount, Kopecks goods = kGoods) {
    Spend c;
    c.id = fresh_id();
    c.order = order;
    c.seller = s;
    c.buyer = b;
    c.amount = amount;
    c.goods_total = goods;
    return c;
  }
  Refund refund(OrderId order, Amount amount = kAmountAll) { return {fresh_id(), order, amount}; }
  RevokeCampaign revoke(SellerId s, CampaignId campaign) { return {fresh_id(), s, campaign}; }
  SetPolicy policy_cmd(SellerId s, std::uint32_t fields) {
    SetPolicy c;
    c.id = fresh_id();
    c.seller = s;
    c.fields = fields;
    return c;
  }
  static Sweep sweep(std::uint32_t limit = 0) { return Sweep{limit, 0}; }

  // Policy changes that must succeed.
  void set_balance_max(SellerId s, Amount v) {
    SetPolicy c = policy_cmd(s, SetPolicy::kBalanceMax);
    c.balance_max = v;
    ASSERT_EQ(code(c), Code::ok);
  }
  void set_earn_max(SellerId s, Amount v) {
    SetPolicy c = policy_cmd(s, SetPolicy::kEarnMonthMax);
    c.earn_month_max = v;
    ASSERT_EQ(code(c), Code::ok);
  }
  void set_share(SellerId s, std::uint32_t bp) {
    SetPolicy c = policy_cmd(s, SetPolicy::kSpendShare);
    c.spend_share_bp = bp;
    ASSERT_EQ(code(c), Code::ok);
  }
  void set_life(SellerId s, TimeUs life_us) {
    SetPolicy c = policy_cmd(s, SetPolicy::kLotLife);
    c.lot_life_us = life_us;
    ASSERT_EQ(code(c), Code::ok);
  }

  // Rates and tiers: `tiers` as {threshold_kopecks, rate_bp}.
  SetPolicy rates_cmd(SellerId s, std::uint32_t rate_bp,
                      std::initializer_list<std::pair<Kopecks, std::uint32_t>> tiers = {},
                      std::uint32_t window_days = 0) {
    SetPolicy c = policy_cmd(s, SetPolicy::kRate | SetPolicy::kTiers);
    c.rate_bp = rate_bp;
    for (const auto& [threshold, rate] : tiers) c.tiers[c.tier_count++] = {threshold, rate, 0};
    if (window_days != 0) {
      c.fields |= SetPolicy::kTierWindow;
      c.tier_window_days = window_days;
    }
    return c;
  }
  Accrue accrue_by_price(OrderId order, SellerId s, BuyerId b, Kopecks price) {
    Accrue c = accrue(order, s, b, 0);
    c.price = price;
    return c;
  }
  // Accrues by price and confirms: a purchase of `price` now.
  void buy(OrderId order, SellerId s, BuyerId b, Kopecks price) {
    ASSERT_EQ(run(accrue_by_price(order, s, b, price)).code, Code::ok);
    ASSERT_EQ(run(confirm(order)).code, Code::ok);
  }

  // Reads at now_.
  AccountView bal(SellerId s, BuyerId b) const { return ledger_->balance(s, b, now_); }
  std::vector<LotView> lots(SellerId s, BuyerId b) const {
    std::vector<LotView> out;
    ledger_->lots(s, b, now_, out);
    return out;
  }
  std::vector<Amount> amounts(SellerId s, BuyerId b) const {
    std::vector<Amount> out;
    for (const LotView& l : lots(s, b)) out.push_back(l.amount);
    return out;
  }
  SellerStats stats(SellerId s) const { return ledger_->seller_stats(s); }
  CampaignStats cstats(SellerId s, CampaignId c) const { return ledger_->campaign_stats(s, c); }

  std::unique_ptr<Ledger> ledger_ = std::make_unique<Ledger>();
  std::unique_ptr<Ledger> twin_;
  TimeUs now_ = kT0;
  std::uint64_t last_id_ = 0;
};

// ---------------------------------------------------------------------------------------
// Codes

TEST_F(LedgerTest, CodeName_NamesEveryCodeAndUnknownNumbers) {
  EXPECT_EQ(code_name(Code::ok), "ok");
  EXPECT_EQ(code_name(Code::insufficient_bonuses), "insufficient_bonuses");
  EXPECT_EQ(code_name(Code::invalid_timeout), "invalid_timeout");
  EXPECT_EQ(code_name(Code::invalid_limits), "invalid_limits");
  EXPECT_EQ(code_name(static_cast<Code>(kCodeCount)), "unknown");
}

// ---------------------------------------------------------------------------------------
// credit

TEST_F(LedgerTest, Credit_CreatesLotWithPolicyLife) {
  EXPECT_EQ(run(credit(S1, B1, 100, LotLife::policy(), 7)), ok(100));
  const TimeUs t = now_;

  const AccountView v = bal(S1, B1);
  EXPECT_TRUE(v.exists);
  EXPECT_EQ(v.available, 100u);
  EXPECT_EQ(v.held, 0u);
  EXPECT_EQ(v.pending, 0u);
  EXPECT_EQ(v.debt, 0u);
  EXPECT_EQ(v.next_expiry_us, t + kYear);
  EXPECT_EQ(v.next_expiry_amount, 100u);
  EXPECT_EQ(lots(S1, B1), std::vector<LotView>{lot(100, t + kYear, 7)});

  EXPECT_EQ(stats(S1).issued, 100u);
  EXPECT_EQ(stats(S1).outstanding, 100u);
  EXPECT_EQ(ledger_->total_stats().issued, 100u);
  EXPECT_EQ(cstats(S1, 7).issued, 100u);
  EXPECT_EQ(cstats(S1, 7).recipients, 1u);
  EXPECT_EQ(cstats(S1, 7).outstanding, 100u);
}

TEST_F(LedgerTest, Credit_ExpiryFormsOrderLotsByExpiryNotSeq) {
  ASSERT_EQ(run(credit(S1, B1, 1, LotLife::forever())), ok(1));
  ASSERT_EQ(run(credit(S1, B1, 2, LotLife::policy())), ok(2));
  const TimeUs policy_at = now_;
  ASSERT_EQ(run(credit(S1, B1, 3, LotLife::at(kT0 + 30 * kUsPerDay))), ok(3));
  ASSERT_EQ(run(credit(S1, B1, 4, LotLife::ttl_of(kUsPerHour))), ok(4));
  const TimeUs ttl_at = now_;

  EXPECT_EQ(lots(S1, B1), (std::vector<LotView>{lot(4, ttl_at + kUsPerHour),
                                                lot(3, kT0 + 30 * kUsPerDay),
                                                lot(2, policy_at + kYear),
                                                lot(1, kTimeNever)}));
  EXPECT_EQ(bal(S1, B1).available, 10u);
}

TEST_F(LedgerTest, Credit_RejectsZeroAndOversizedAmountsWithoutCreatingAccount) {
  EXPECT_EQ(code(credit(S1, B1, 0)), Code::zero_amount);
  EXPECT_EQ(code(credit(S1, B1, 0, LotLife::ttl_of(-1))), Code::zero_amount);  // amount first
  EXPECT_EQ(code(credit(S1, B1, kAmountMax + 1)), Code::overflow);
  EXPECT_FALSE(bal(S1, B1).exists);
  EXPECT_EQ(ledger_->account_count(), 0u);
  EXPECT_EQ(stats(S1).issued, 0u);
}

TEST_F(LedgerTest, Credit_RejectsNonPositiveTtlAndTtlPastTimeMax) {
  EXPECT_EQ(code(credit(S1, B1, 10, LotLife::ttl_of(0))), Code::invalid_expiry);
  EXPECT_EQ(code(credit(S1, B1, 10, LotLife::ttl_of(-5))), Code::invalid_expiry);
  EXPECT_EQ(code(credit(S1, B1, 10, LotLife::ttl_of(kTimeMaxUs))), Code::overflow);
  EXPECT_FALSE(bal(S1, B1).exists);

  const TimeUs t = now_ + 1;  // a ttl landing exactly on kTimeMaxUs is fine
  EXPECT_EQ(run_at(credit(S1, B1, 10, LotLife::ttl_of(kTimeMaxUs - t)), t), ok(10));
  EXPECT_EQ(lots(S1, B1), std::vector<LotView>{lot(10, kTimeMaxUs)});
}

TEST_F(LedgerTest, Credit_RejectsAbsoluteExpiryNotAfterNow) {
  const TimeUs t = now_ + kUsPerSecond;
  EXPECT_EQ(code_at(credit(S1, B1, 10, LotLife::at(t + 1)), t + 1), Code::expiry_in_past);
  EXPECT_EQ(code_at(credit(S1, B1, 10, LotLife::at(t)), t + 2), Code::expiry_in_past);
  EXPECT_FALSE(bal(S1, B1).exists);
  EXPECT_EQ(run_at(credit(S1, B1, 10, LotLife::at(t + 4)), t + 3), ok(10));
}

TEST_F(LedgerTest, Credit_CutByBalanceCapFlagsCappedBalance) {
  set_balance_max(S1, 1000);
  EXPECT_EQ(run(credit(S1, B1, 900)), ok(900));
  EXPECT_EQ(run(credit(S1, B1, 300)), ok(100, 0, kBal));
  EXPECT_EQ(run(credit(S1, B1, 50)), ok(0, 0, kBal));  // cut to 0: ok, no lot
  EXPECT_EQ(amounts(S1, B1), (std::vector<Amount>{900, 100}));
  EXPECT_EQ(stats(S1).issued, 1000u);
}

TEST_F(LedgerTest, Credit_BalanceCapCountsHeld) {
  set_balance_max(S1, 1000);
  ASSERT_EQ(run(credit(S1, B1, 1000)), ok(1000));
  ASSERT_EQ(run(hold(1, S1, B1, 400)), ok(400));
  EXPECT_EQ(run(credit(S1, B1, 10)), ok(0, 0, kBal));  // 600 available + 400 held
  ASSERT_EQ(run(capture(1)), ok(400));
  EXPECT_EQ(run(credit(S1, B1, 500)), ok(400, 0, kBal));
  EXPECT_EQ(bal(S1, B1).available, 1000u);
}

TEST_F(LedgerTest, Credit_BalanceCapIgnoresExpiredLots) {
  set_balance_max(S1, 1000);
  ASSERT_EQ(run(credit(S1, B1, 1000, LotLife::ttl_of(kUsPerMinute))), ok(1000));
  advance(2 * kUsPerMinute);
  EXPECT_EQ(run(credit(S1, B1, 1000)), ok(1000));
  EXPECT_EQ(bal(S1, B1).available, 1000u);
}

TEST_F(LedgerTest, Credit_CutByEarnCapFlagsCappedEarn) {
  set_earn_max(S1, 500);
  EXPECT_EQ(run(credit(S1, B1, 400)), ok(400));
  EXPECT_EQ(run(credit(S1, B1, 300)), ok(100, 0, kEarn));
  EXPECT_EQ(run(credit(S1, B1, 50)), ok(0, 0, kEarn));
  ASSERT_EQ(run(spend(1, S1, B1, 500)), ok(500));  // spending gives no earn room back
  EXPECT_EQ(run(credit(S1, B1, 10)), ok(0, 0, kEarn));
  EXPECT_EQ(stats(S1).issued, 500u);
}

TEST_F(LedgerTest, Credit_CutByBothCapsSetsBothFlags) {
  EXPECT_EQ(run(credit(S1, B1, 29'950)), ok(29'950));
  EXPECT_EQ(run(credit(S1, B1, 100)), ok(50, 0, kBal | kEarn));
  EXPECT_EQ(bal(S1, B1).available, 30'000u);
}

TEST_F(LedgerTest, Credit_EarnCapResetsAtMoscowMonthBoundary) {
  set_earn_max(S1, 100);
  constexpr TimeUs kJan31_2000Z = 1'769'889'600 * kUsPerSecond;    // 23:00 MSK, Jan 31
  constexpr TimeUs kJan31_2059_59Z = 1'769'893'199 * kUsPerSecond; // 23:59:59 MSK, Jan 31
  constexpr TimeUs kJan31_2100Z = 1'769'893'200 * kUsPerSecond;    // 00:00 MSK, Feb 1
  constexpr TimeUs kFeb01_0000Z = 1'769'904'000 * kUsPerSecond;    // UTC month turns
  EXPECT_EQ(run_at(credit(S1, B1, 100), kJan31_2000Z), ok(100));
  EXPECT_EQ(run_at(credit(S1, B1, 10), kJan31_2059_59Z), ok(0, 0, kEarn));
  EXPECT_EQ(run_at(credit(S1, B1, 10), kJan31_2100Z), ok(10));
  EXPECT_EQ(run_at(credit(S1, B1, 100), kFeb01_0000Z), ok(90, 0, kEarn));
  EXPECT_EQ(bal(S1, B1).available, 200u);
}

// ---------------------------------------------------------------------------------------
// accrue, confirm_accrual, cancel_accrual

TEST_F(LedgerTest, Accrue_AddsPendingThatIsNotSpendable) {
  EXPECT_EQ(run(accrue(1, S1, B1, 200)), ok(200));
  const AccountView v = bal(S1, B1);
  EXPECT_TRUE(v.exists);
  EXPECT_EQ(v.pending, 200u);
  EXPECT_EQ(v.available, 0u);
  EXPECT_EQ(stats(S1).pending, 200u);
  EXPECT_EQ(ledger_->total_stats().pending, 200u);
  EXPECT_EQ(stats(S1).issued, 0u);
  EXPECT_EQ(code(hold(2, S1, B1, 1)), Code::insufficient_bonuses);
}

TEST_F(LedgerTest, ConfirmAccrual_TurnsPendingIntoLotLivingFromConfirmation) {
  ASSERT_EQ(run(accrue(1, S1, B1, 200, LotLife::ttl_of(2 * kUsPerDay))), ok(200));
  advance(kUsPerHour);
  EXPECT_EQ(run(confirm(1)), ok(200));
  const TimeUs t = now_;
  EXPECT_EQ(lots(S1, B1), std::vector<LotView>{order_lot(200, t + 2 * kUsPerDay, 1)});
  EXPECT_EQ(bal(S1, B1).pending, 0u);
  const SellerStats st = stats(S1);
  EXPECT_EQ(st.issued, 200u);
  EXPECT_EQ(st.accrued, 200u);
  EXPECT_EQ(st.pending, 0u);
  EXPECT_EQ(st.outstanding, 200u);
}

TEST_F(LedgerTest, ConfirmAccrual_DefaultLifeIsThePolicyAtConfirmation) {
  ASSERT_EQ(run(accrue(1, S1, B1, 50)), ok(50));
  set_life(S1, 10 * kUsPerDay);
  EXPECT_EQ(run(confirm(1)), ok(50));
  EXPECT_EQ(lots(S1, B1), std::vector<LotView>{order_lot(50, now_ + 10 * kUsPerDay, 1)});
}

TEST_F(LedgerTest, ConfirmAccrual_AppliesCaps) {
  set_balance_max(S1, 150);
  EXPECT_EQ(run(accrue(1, S1, B1, 200)), ok(200));  // accrual itself is not capped
  EXPECT_EQ(run(confirm(1)), ok(150, 0, kBal));
  EXPECT_EQ(stats(S1).issued, 150u);
  EXPECT_EQ(stats(S1).accrued, 150u);
  EXPECT_EQ(stats(S1).pending, 0u);
}

TEST_F(LedgerTest, CancelAccrual_RemovesPending) {
  ASSERT_EQ(run(accrue(1, S1, B1, 200)), ok(200));
  EXPECT_EQ(run(cancel(1)), ok(200));
  EXPECT_TRUE(bal(S1, B1).exists);
  EXPECT_EQ(bal(S1, B1).pending, 0u);
  EXPECT_EQ(stats(S1).pending, 0u);
  EXPECT_EQ(stats(S1).issued, 0u);
  EXPECT_EQ(code(confirm(1)), Code::accrual_cancelled);
  EXPECT_EQ(code(cancel(1)), Code::accrual_cancelled);
  EXPECT_EQ(code(reverse(1)), Code::accrual_cancelled);
}

TEST_F(LedgerTest, ConfirmAccrual_RejectsSecondConfirmAndCancel) {
  ASSERT_EQ(run(accrue(1, S1, B1, 20)), ok(20));
  ASSERT_EQ(run(confirm(1)), ok(20));
  EXPECT_EQ(code(confirm(1)), Code::accrual_already_confirmed);
  EXPECT_EQ(code(cancel(1)), Code::accrual_already_confirmed);
  EXPECT_EQ(bal(S1, B1).available, 20u);
}

TEST_F(LedgerTest, Accrual_RejectsUnknownOrder) {
  EXPECT_EQ(code(confirm(99)), Code::unknown_order);
  EXPECT_EQ(code(cancel(99)), Code::unknown_order);
  EXPECT_EQ(code(reverse(99)), Code::unknown_order);
}

TEST_F(LedgerTest, Accrue_RejectsAbsoluteAndNonPositiveTtl) {
  EXPECT_EQ(code(accrue(1, S1, B1, 10, LotLife::at(kT0 + kUsPerDay))), Code::invalid_expiry);
  EXPECT_EQ(code(accrue(1, S1, B1, 10, LotLife::ttl_of(0))), Code::invalid_expiry);
  EXPECT_EQ(code(accrue(1, S1, B1, 10, LotLife::ttl_of(-5))), Code::invalid_expiry);
  EXPECT_EQ(code(accrue(1, S1, B1, 0)), Code::zero_amount);
  EXPECT_FALSE(bal(S1, B1).exists);
}

TEST_F(LedgerTest, Accrue_RejectsLiveOrderId) {
  ASSERT_EQ(run(accrue(1, S1, B1, 10)), ok(10));
  EXPECT_EQ(code(accrue(1, S1, B2, 10)), Code::order_exists);
  ASSERT_EQ(run(cancel(1)), ok(10));
  EXPECT_EQ(code(accrue(1, S1, B2, 10)), Code::order_exists);  // finished but retained
  EXPECT_FALSE(bal(S1, B2).exists);
}

TEST_F(LedgerTest, Accrue_RejectsPendingAbove32Bits) {
  for (OrderId o = 1; o <= 4; ++o) ASSERT_EQ(run(accrue(o, S1, B1, kAmountMax)), ok(kAmountMax));
  EXPECT_EQ(code(accrue(5, S1, B1, kAmountMax)), Code::overflow);  // 5e9 > 2^32 - 1
  EXPECT_EQ(bal(S1, B1).pending, 4 * kAmountMax);
  EXPECT_EQ(stats(S1).pending, 4 * kAmountMax);
}

TEST_F(LedgerTest, ConfirmAccrual_RejectsTtlPastTimeMax) {
  ASSERT_EQ(run(accrue(1, S1, B1, 10, LotLife::ttl_of(kTimeMaxUs))), ok(10));
  EXPECT_EQ(code(confirm(1)), Code::overflow);
  EXPECT_EQ(bal(S1, B1).pending, 10u);
  EXPECT_EQ(bal(S1, B1).available, 0u);
}

TEST_F(LedgerTest, Accrual_PendingIsNeverForgotten) {
  ASSERT_EQ(run(accrue(1, S1, B1, 100)), ok(100));
  advance(200 * kUsPerDay);
  EXPECT_EQ(run(confirm(1)), ok(100));
}

// ---------------------------------------------------------------------------------------
// reverse_accrual

TEST_F(LedgerTest, ReverseAccrual_RejectsByState) {
  ASSERT_EQ(run(accrue(1, S1, B1, 30)), ok(30));
  EXPECT_EQ(code(reverse(1)), Code::accrual_not_confirmed);
  ASSERT_EQ(run(confirm(1)), ok(30));
  EXPECT_EQ(run(reverse(1)), ok(30, 0));
  EXPECT_EQ(code(reverse(1)), Code::accrual_already_reversed);
  EXPECT_EQ(code(confirm(1)), Code::accrual_already_confirmed);
  EXPECT_EQ(bal(S1, B1).available, 0u);
}

TEST_F(LedgerTest, ReverseAccrual_TakesOwnLotBeforeSoonerLots) {
  ASSERT_EQ(run(credit(S1, B1, 100, LotLife::at(kT0 + 5 * kUsPerDay))), ok(100));
  ASSERT_EQ(run(accrue(9, S1, B1, 200)), ok(200));
  ASSERT_EQ(run(confirm(9)), ok(200));
  EXPECT_EQ(run(reverse(9)), ok(200, 0));
  EXPECT_EQ(lots(S1, B1), std::vector<LotView>{lot(100, kT0 + 5 * kUsPerDay)});
  EXPECT_EQ(stats(S1).reversed, 200u);
}

TEST_F(LedgerTest, ReverseAccrual_TakesOwnLotFirstThenOthersInLotOrder) {
  ASSERT_EQ(run(credit(S1, B1, 100, LotLife::at(kT0 + 5 * kUsPerDay))), ok(100));
  ASSERT_EQ(run(credit(S1, B1, 100, LotLife::forever())), ok(100));
  ASSERT_EQ(run(accrue(9, S1, B1, 200)), ok(200));
  ASSERT_EQ(run(confirm(9)), ok(200));  // its lot expires in a year
  ASSERT_EQ(run(spend(1, S1, B1, 150)), ok(150));  // 100 of the 5-day lot, 50 of the accrual's
  ASSERT_EQ(run(credit(S1, B1, 100, LotLife::at(kT0 + 3 * kUsPerDay), 4)), ok(100));

  EXPECT_EQ(run(reverse(9)), ok(200, 0));  // 150 of its own, then 50 of the 3-day lot
  EXPECT_EQ(lots(S1, B1),
            (std::vector<LotView>{lot(50, kT0 + 3 * kUsPerDay, 4), lot(100, kTimeNever)}));
  const SellerStats st = stats(S1);
  EXPECT_EQ(st.issued, 500u);
  EXPECT_EQ(st.spent, 150u);
  EXPECT_EQ(st.reversed, 200u);
  EXPECT_EQ(st.debt, 0u);
  EXPECT_EQ(st.outstanding, 150u);
  EXPECT_EQ(cstats(S1, 4).reversed, 50u);
  EXPECT_EQ(cstats(S1, 4).outstanding, 50u);
}

TEST_F(LedgerTest, ReverseAccrual_MissingBecomesDebtRepaidByCreditThenRefund) {
  ASSERT_EQ(run(accrue(9, S1, B1, 200)), ok(200));
  ASSERT_EQ(run(confirm(9)), ok(200));
  const TimeUs lot_expiry = now_ + kYear;
  ASSERT_EQ(run(spend(1, S1, B1, 150)), ok(150));

  EXPECT_EQ(run(reverse(9)), ok(200, 150));  // 50 taken, 150 owed
  EXPECT_EQ(bal(S1, B1).debt, 150u);
  EXPECT_EQ(bal(S1, B1).available, 0u);
  EXPECT_EQ(stats(S1).reversed, 50u);
  EXPECT_EQ(stats(S1).debt, 150u);

  EXPECT_EQ(run(credit(S1, B1, 100, LotLife::policy(), 5)), ok(100, 100));  // all repays
  EXPECT_EQ(bal(S1, B1).debt, 50u);
  EXPECT_TRUE(lots(S1, B1).empty());
  EXPECT_EQ(cstats(S1, 5).issued, 100u);
  EXPECT_EQ(cstats(S1, 5).reversed, 100u);
  EXPECT_EQ(cstats(S1, 5).recipients, 0u);
  EXPECT_EQ(cstats(S1, 5).outstanding, 0u);

  EXPECT_EQ(run(refund(1, 100)), ok(100, 50));  // 50 repays, 50 recreates the lot
  EXPECT_EQ(bal(S1, B1).debt, 0u);
  EXPECT_EQ(lots(S1, B1), std::vector<LotView>{order_lot(50, lot_expiry, 9)});
  const SellerStats st = stats(S1);
  EXPECT_EQ(st.issued, 300u);
  EXPECT_EQ(st.spent, 150u);
  EXPECT_EQ(st.refunded, 100u);
  EXPECT_EQ(st.reversed, 200u);
  EXPECT_EQ(st.debt, 0u);
  EXPECT_EQ(st.outstanding, 50u);
}

TEST_F(LedgerTest, ReverseAccrual_KeepsConfirmationTimeForRetention) {
  ASSERT_EQ(run(accrue(1, S1, B1, 100)), ok(100));
  ASSERT_EQ(run(confirm(1)), ok(100));
  const TimeUs confirmed_at = now_;
  EXPECT_EQ(run_at(reverse(1), confirmed_at + kRetention - 1), ok(100, 0));
  EXPECT_EQ(code_at(reverse(1), confirmed_at + kRetention), Code::unknown_order);
  EXPECT_EQ(run(accrue(1, S1, B1, 5)), ok(5));  // the order id is free again
}

TEST_F(LedgerTest, ReverseAccrual_RejectsDebtAbove32Bits) {
  EngineConfig config;
  config.order_retention_us = 400 * kUsPerDay;
  reconfigure(config);
  set_balance_max(S1, kAmountMax);
  set_earn_max(S1, kAmountMax);
  constexpr Kopecks kHuge = 1'000'000'000'000;  // spend cap 9.9e9
  for (OrderId o = 1; o <= 5; ++o) {  // one month each, so the earn cap never bites
    ASSERT_EQ(run(accrue(o, S1, B1, kAmountMax)), ok(kAmountMax));
    ASSERT_EQ(run(confirm(o)), ok(kAmountMax));
    ASSERT_EQ(run(spend(100 + o, S1, B1, kAmountMax, kHuge)), ok(kAmountMax));
    advance(31 * kUsPerDay);
  }
  for (OrderId o = 1; o <= 4; ++o) ASSERT_EQ(run(reverse(o)), ok(kAmountMax, kAmountMax));
  EXPECT_EQ(code(reverse(5)), Code::overflow);  // 5e9 > 2^32 - 1
  EXPECT_EQ(bal(S1, B1).debt, 4 * kAmountMax);
}

// ---------------------------------------------------------------------------------------
// hold, capture, release, spend

TEST_F(LedgerTest, Hold_TakesSoonestExpiringFirstTiesOldestFirst) {
  const TimeUs day1 = kT0 + kUsPerDay, day3 = kT0 + 3 * kUsPerDay;
  ASSERT_EQ(run(credit(S1, B1, 100, LotLife::at(day3), 1)), ok(100));
  ASSERT_EQ(run(credit(S1, B1, 50, LotLife::at(day1), 2)), ok(50));
  ASSERT_EQ(run(credit(S1, B1, 70, LotLife::at(day1), 3)), ok(70));
  ASSERT_EQ(run(credit(S1, B1, 30, LotLife::forever(), 4)), ok(30));
  EXPECT_EQ(bal(S1, B1).next_expiry_us, day1);
  EXPECT_EQ(bal(S1, B1).next_expiry_amount, 120u);

  EXPECT_EQ(run(hold(1, S1, B1, 60)), ok(60));  // all of campaign 2, 10 of campaign 3
  EXPECT_EQ(lots(S1, B1), (std::vector<LotView>{lot(60, day1, 3), lot(100, day3, 1),
                                                lot(30, kTimeNever, 4)}));
  EXPECT_EQ(run(hold(2, S1, B1, 100)), ok(100));  // the rest of 3, then 40 of 1
  EXPECT_EQ(lots(S1, B1), (std::vector<LotView>{lot(60, day3, 1), lot(30, kTimeNever, 4)}));
  EXPECT_EQ(bal(S1, B1).available, 90u);
  EXPECT_EQ(bal(S1, B1).held, 160u);
  EXPECT_EQ(stats(S1).held, 160u);
}

TEST_F(LedgerTest, Capture_SpendsWholeHold) {
  ASSERT_EQ(run(credit(S1, B1, 100, LotLife::forever())), ok(100));
  ASSERT_EQ(run(hold(1, S1, B1, 60)), ok(60));
  EXPECT_EQ(bal(S1, B1).held, 60u);
  EXPECT_EQ(run(capture(1)), ok(60, 0));
  EXPECT_EQ(bal(S1, B1).available, 40u);
  EXPECT_EQ(bal(S1, B1).held, 0u);
  EXPECT_EQ(stats(S1).spent, 60u);
  EXPECT_EQ(stats(S1).held, 0u);
  EXPECT_EQ(stats(S1).outstanding, 40u);
  EXPECT_EQ(ledger_->total_stats().spent, 60u);
}

TEST_F(LedgerTest, Capture_PartialSpendsSoonestFragmentsAndReleasesRest) {
  const TimeUs day1 = kT0 + kUsPerDay, day2 = kT0 + 2 * kUsPerDay;
  ASSERT_EQ(run(credit(S1, B1, 50, LotLife::at(day1), 1)), ok(50));
  ASSERT_EQ(run(credit(S1, B1, 100, LotLife::at(day2), 2)), ok(100));
  ASSERT_EQ(run(hold(1, S1, B1, 120)), ok(120));
  EXPECT_EQ(lots(S1, B1), std::vector<LotView>{lot(30, day2, 2)});

  EXPECT_EQ(run(capture(1, 60)), ok(60, 60));  // spends 50 of 1 and 10 of 2
  EXPECT_EQ(lots(S1, B1), std::vector<LotView>{lot(90, day2, 2)});
  EXPECT_EQ(bal(S1, B1).held, 0u);
  EXPECT_EQ(stats(S1).spent, 60u);
  EXPECT_EQ(stats(S1).held, 0u);
  EXPECT_EQ(cstats(S1, 1).spent, 50u);
  EXPECT_EQ(cstats(S1, 2).spent, 10u);

  EXPECT_EQ(run(refund(1)), ok(60, 0));
  EXPECT_EQ(lots(S1, B1), (std::vector<LotView>{lot(50, day1, 1), lot(100, day2, 2)}));
  EXPECT_EQ(cstats(S1, 1).refunded, 50u);
  EXPECT_EQ(cstats(S1, 2).refunded, 10u);
}

TEST_F(LedgerTest, Capture_RejectsMoreThanHeldOrAboveMax) {
  ASSERT_EQ(run(credit(S1, B1, 100)), ok(100));
  ASSERT_EQ(run(hold(1, S1, B1, 60)), ok(60));
  EXPECT_EQ(code(capture(1, 61)), Code::capture_exceeds_hold);
  EXPECT_EQ(code(capture(1, kAmountMax + 1)), Code::overflow);
  EXPECT_EQ(bal(S1, B1).held, 60u);
  EXPECT_EQ(run(capture(1, 60)), ok(60, 0));
}

// Regression: `capture` with amount 0 used to capture the whole hold.
TEST_F(LedgerTest, Capture_ZeroAmountIsRejectedNotAll) {
  ASSERT_EQ(run(credit(S1, B1, 100)), ok(100));
  ASSERT_EQ(run(hold(1, S1, B1, 60)), ok(60));
  EXPECT_EQ(code(capture(1, 0)), Code::zero_amount);
  EXPECT_EQ(bal(S1, B1).held, 60u);  // nothing captured, nothing released
  EXPECT_EQ(bal(S1, B1).available, 40u);
  EXPECT_EQ(stats(S1).spent, 0u);
  EXPECT_EQ(run(capture(1, 25)), ok(25, 35));  // the hold is still open
}

TEST_F(LedgerTest, Capture_AllIsTheDefaultAndOnlyAllIsAboveMax) {
  ASSERT_EQ(run(credit(S1, B1, 100)), ok(100));
  ASSERT_EQ(run(hold(1, S1, B1, 60)), ok(60));
  EXPECT_EQ(Capture{}.amount, kAmountAll);  // an amount left out is "all"
  EXPECT_EQ(code(capture(1, kAmountAll - 1)), Code::overflow);
  EXPECT_EQ(run(capture(1, kAmountAll)), ok(60, 0));
  EXPECT_EQ(bal(S1, B1).available, 40u);
  EXPECT_EQ(stats(S1).spent, 60u);
}

TEST_F(LedgerTest, Capture_RejectsCapturedAndReleasedOrders) {
  ASSERT_EQ(run(credit(S1, B1, 100)), ok(100));
  ASSERT_EQ(run(hold(1, S1, B1, 10)), ok(10));
  ASSERT_EQ(run(capture(1)), ok(10));
  EXPECT_EQ(code(capture(1)), Code::order_already_captured);
  EXPECT_EQ(code(release(1)), Code::order_already_captured);

  ASSERT_EQ(run(hold(2, S1, B1, 20)), ok(20));
  EXPECT_EQ(run(release(2)), ok(20));
  EXPECT_EQ(code(capture(2)), Code::order_released);
  EXPECT_EQ(code(release(2)), Code::order_released);
  EXPECT_EQ(code(refund(2)), Code::order_not_captured);
  EXPECT_EQ(bal(S1, B1).available, 90u);
}

TEST_F(LedgerTest, Capture_RejectsUnknownOrder) {
  EXPECT_EQ(code(capture(77)), Code::unknown_order);
  EXPECT_EQ(code(release(77)), Code::unknown_order);
  EXPECT_EQ(code(refund(77)), Code::unknown_order);
}

TEST_F(LedgerTest, Hold_RejectsLiveOrderId) {
  ASSERT_EQ(run(credit(S1, B1, 100)), ok(100));
  ASSERT_EQ(run(hold(1, S1, B1, 10)), ok(10));
  EXPECT_EQ(code(hold(1, S1, B1, 10)), Code::order_exists);
  EXPECT_EQ(code(spend(1, S1, B1, 10)), Code::order_exists);
  ASSERT_EQ(run(release(1)), ok(10));
  EXPECT_EQ(code(hold(1, S1, B1, 10)), Code::order_exists);  // finished but retained
  EXPECT_EQ(run(accrue(1, S1, B1, 5)), ok(5));  // accruals are a table of their own
}

TEST_F(LedgerTest, Hold_RejectsOverSpendCap) {
  ASSERT_EQ(run(credit(S1, B1, 1000)), ok(1000));
  // 100 roubles: cap min(99, 99) = 99.
  EXPECT_EQ(code(hold(1, S1, B1, 100, 10'000)), Code::over_spend_cap);
  EXPECT_EQ(code(hold(2, S1, B1, 5000, 10'000)), Code::over_spend_cap);  // before insufficient
  EXPECT_EQ(run(hold(3, S1, B1, 99, 10'000)), ok(99));
  // 1.50 roubles: 99 % is 1, but 1 rouble must be paid: cap 0.
  EXPECT_EQ(code(hold(4, S1, B1, 1, 150)), Code::over_spend_cap);
  EXPECT_EQ(run(hold(5, S1, B1, 1, 200)), ok(1));
  EXPECT_EQ(code(hold(6, S1, B1, 1, 100)), Code::over_spend_cap);
  EXPECT_EQ(bal(S1, B1).held, 100u);
}

TEST_F(LedgerTest, Hold_SpendCapLeavesOneRoublePaidAtAnyShare) {
  ASSERT_EQ(run(credit(S1, B1, 1000)), ok(1000));
  set_share(S1, 10'000);  // 100 %: still 1 rouble paid, cap 99 on 100 roubles
  EXPECT_EQ(code(hold(1, S1, B1, 100, 10'000)), Code::over_spend_cap);
  EXPECT_EQ(run(hold(2, S1, B1, 99, 10'000)), ok(99));
  set_share(S1, 5'000);  // 50 %: cap 50
  EXPECT_EQ(code(hold(3, S1, B1, 51, 10'000)), Code::over_spend_cap);
  EXPECT_EQ(run(hold(4, S1, B1, 50, 10'000)), ok(50));
}

TEST_F(LedgerTest, Hold_RejectsInsufficientBonuses) {
  EXPECT_EQ(code(hold(1, S1, B1, 1)), Code::insufficient_bonuses);  // no account
  EXPECT_FALSE(bal(S1, B1).exists);
  ASSERT_EQ(run(credit(S1, B1, 50)), ok(50));
  EXPECT_EQ(code(hold(2, S1, B1, 51)), Code::insufficient_bonuses);
  EXPECT_EQ(bal(S1, B1).held, 0u);
}

TEST_F(LedgerTest, Hold_RejectsBadAmountGoodsTotalAndTimeout) {
  ASSERT_EQ(run(credit(S1, B1, 100)), ok(100));
  EXPECT_EQ(code(hold(1, S1, B1, 0, kGoodsTotalMax + 1)), Code::zero_amount);
  EXPECT_EQ(code(hold(1, S1, B1, kAmountMax + 1)), Code::overflow);
  EXPECT_EQ(code(hold(1, S1, B1, 10, kGoodsTotalMax + 1)), Code::overflow);
  EXPECT_EQ(code(hold(1, S1, B1, 10, kGoods, -1)), Code::invalid_timeout);
  EXPECT_EQ(code(hold(1, S1, B1, 10, kGoods, kHoldTimeoutMaxUs + 1)), Code::invalid_timeout);
  EXPECT_EQ(bal(S1, B1).held, 0u);
  EXPECT_EQ(run(hold(1, S1, B1, 10, kGoods, kHoldTimeoutMaxUs)), ok(10));
}

TEST_F(LedgerTest, Hold_DefaultTimeoutIsFifteenMinutes) {
  ASSERT_EQ(run(credit(S1, B1, 100)), ok(100));
  ASSERT_EQ(run(hold(1, S1, B1, 10)), ok(10));
  EXPECT_EQ(run_at(capture(1), now_ + kHoldTimeoutDefaultUs - 1), ok(10));
  ASSERT_EQ(run(hold(2, S1, B1, 10)), ok(10));
  EXPECT_EQ(code_at(capture(2), now_ + kHoldTimeoutDefaultUs), Code::hold_timed_out);
  EXPECT_EQ(bal(S1, B1).available, 90u);
  EXPECT_EQ(bal(S1, B1).held, 0u);
}

TEST_F(LedgerTest, Hold_TimesOutInSweepAtDeadline) {
  ASSERT_EQ(run(credit(S1, B1, 100)), ok(100));
  ASSERT_EQ(run(hold(1, S1, B1, 60, kGoods, kUsPerMinute)), ok(60));
  const TimeUs deadline = now_ + kUsPerMinute;
  // At the deadline, not yet timed out: still held.
  EXPECT_EQ(ledger_->balance(S1, B1, deadline).held, 60u);
  EXPECT_EQ(ledger_->balance(S1, B1, deadline).available, 40u);

  EXPECT_EQ(run_at(sweep(), deadline), ok(0, 1));
  EXPECT_EQ(bal(S1, B1).held, 0u);
  EXPECT_EQ(bal(S1, B1).available, 100u);
  EXPECT_EQ(stats(S1).held, 0u);
  EXPECT_EQ(code(capture(1)), Code::hold_timed_out);
  EXPECT_EQ(code(release(1)), Code::hold_timed_out);
  EXPECT_EQ(code(refund(1)), Code::order_not_captured);
}

TEST_F(LedgerTest, Capture_AfterDeadlineTimesOutHold) {
  ASSERT_EQ(run(credit(S1, B1, 100)), ok(100));
  ASSERT_EQ(run(hold(1, S1, B1, 60, kGoods, kUsPerMinute)), ok(60));
  EXPECT_EQ(code_at(capture(1), now_ + kUsPerMinute), Code::hold_timed_out);
  EXPECT_EQ(bal(S1, B1).held, 0u);
  EXPECT_EQ(bal(S1, B1).available, 100u);
  EXPECT_EQ(stats(S1).spent, 0u);
  EXPECT_EQ(code(capture(1)), Code::hold_timed_out);
  EXPECT_EQ(run(sweep()), ok(0, 0));  // nothing left to time out
}

TEST_F(LedgerTest, Release_AfterDeadlineTimesOutHold) {
  ASSERT_EQ(run(credit(S1, B1, 100)), ok(100));
  ASSERT_EQ(run(hold(1, S1, B1, 60, kGoods, kUsPerMinute)), ok(60));
  EXPECT_EQ(code_at(release(1), now_ + 2 * kUsPerMinute), Code::hold_timed_out);
  EXPECT_EQ(bal(S1, B1).held, 0u);
  EXPECT_EQ(bal(S1, B1).available, 100u);
  EXPECT_EQ(code(release(1)), Code::hold_timed_out);
  EXPECT_EQ(run(sweep()), ok(0, 0));
}

TEST_F(LedgerTest, Release_ReturnsFragmentsToTheirLots) {
  const TimeUs day1 = kT0 + kUsPerDay, day2 = kT0 + 2 * kUsPerDay;
  ASSERT_EQ(run(credit(S1, B1, 50, LotLife::at(day1), 1)), ok(50));
  ASSERT_EQ(run(credit(S1, B1, 100, LotLife::at(day2), 2)), ok(100));
  ASSERT_EQ(run(hold(1, S1, B1, 120)), ok(120));
  EXPECT_EQ(run(release(1)), ok(120));
  EXPECT_EQ(lots(S1, B1), (std::vector<LotView>{lot(50, day1, 1), lot(100, day2, 2)}));
  EXPECT_EQ(bal(S1, B1).held, 0u);
  EXPECT_EQ(stats(S1).held, 0u);
  EXPECT_EQ(stats(S1).spent, 0u);
}

TEST_F(LedgerTest, Spend_SpendsAtOnceAndIsRefundable) {
  ASSERT_EQ(run(credit(S1, B1, 100, LotLife::forever())), ok(100));
  EXPECT_EQ(run(spend(1, S1, B1, 30)), ok(30));
  EXPECT_EQ(bal(S1, B1).available, 70u);
  EXPECT_EQ(bal(S1, B1).held, 0u);
  EXPECT_EQ(stats(S1).spent, 30u);
  EXPECT_EQ(stats(S1).held, 0u);
  EXPECT_EQ(run(refund(1)), ok(30, 0));
  EXPECT_EQ(bal(S1, B1).available, 100u);
  EXPECT_EQ(stats(S1).refunded, 30u);
  EXPECT_EQ(stats(S1).outstanding, 100u);
}

TEST_F(LedgerTest, Spend_ChecksLikeHold) {
  ASSERT_EQ(run(credit(S1, B1, 100)), ok(100));
  EXPECT_EQ(code(spend(1, S1, B1, 0)), Code::zero_amount);
  EXPECT_EQ(code(spend(1, S1, B1, 10, kGoodsTotalMax + 1)), Code::overflow);
  EXPECT_EQ(code(spend(1, S1, B1, 100, 10'000)), Code::over_spend_cap);
  EXPECT_EQ(code(spend(1, S1, B1, 101)), Code::insufficient_bonuses);
  EXPECT_EQ(bal(S1, B1).available, 100u);
  EXPECT_EQ(stats(S1).spent, 0u);
}

TEST_F(LedgerTest, Hold_RejectsWhenOrderTableFull) {
  EngineConfig config;
  config.orders_max = 1;
  reconfigure(config);
  ASSERT_EQ(run(credit(S1, B1, 100, LotLife::forever())), ok(100));
  ASSERT_EQ(run(hold(1, S1, B1, 10)), ok(10));
  EXPECT_EQ(code(hold(2, S1, B1, 10)), Code::orders_full);
  EXPECT_EQ(code(spend(3, S1, B1, 10)), Code::orders_full);
  EXPECT_EQ(run(accrue(4, S1, B1, 10)), ok(10));  // accruals have their own table
  EXPECT_EQ(code(accrue(5, S1, B1, 10)), Code::orders_full);
  EXPECT_EQ(bal(S1, B1).held, 10u);

  ASSERT_EQ(run(release(1)), ok(10));
  const TimeUs released_at = now_;
  EXPECT_EQ(code_at(hold(2, S1, B1, 10), released_at + kRetention - 1), Code::orders_full);
  EXPECT_EQ(run_at(hold(2, S1, B1, 10), released_at + kRetention), ok(10));
}

// ---------------------------------------------------------------------------------------
// refund

// Regression: `refund` with amount 0 used to refund all not yet refunded.
TEST_F(LedgerTest, Refund_ZeroAmountIsRejectedNotAll) {
  ASSERT_EQ(run(credit(S1, B1, 100)), ok(100));
  ASSERT_EQ(run(spend(1, S1, B1, 80)), ok(80));
  EXPECT_EQ(code(refund(1, 0)), Code::zero_amount);
  EXPECT_EQ(bal(S1, B1).available, 20u);
  EXPECT_EQ(stats(S1).refunded, 0u);
  EXPECT_EQ(run(refund(1, 30)), ok(30));
}

TEST_F(LedgerTest, Refund_AllIsTheDefaultAndOnlyAllIsAboveMax) {
  ASSERT_EQ(run(credit(S1, B1, 100)), ok(100));
  ASSERT_EQ(run(spend(1, S1, B1, 80)), ok(80));
  EXPECT_EQ(Refund{}.amount, kAmountAll);  // an amount left out is "all"
  EXPECT_EQ(code(refund(1, kAmountAll - 1)), Code::overflow);
  ASSERT_EQ(run(refund(1, 30)), ok(30));
  EXPECT_EQ(run(refund(1, kAmountAll)), ok(50));  // all that is left
  EXPECT_EQ(code(refund(1, kAmountAll)), Code::refund_exceeds_captured);  // nothing left
  EXPECT_EQ(bal(S1, B1).available, 100u);
}

// kAmountAll is "all" only where a command has an "all": elsewhere it is an amount
// above kAmountMax.
TEST_F(LedgerTest, AmountAll_IsOverflowOutsideCaptureAndRefund) {
  ASSERT_EQ(run(credit(S1, B1, 100)), ok(100));
  EXPECT_EQ(code(credit(S1, B1, kAmountAll)), Code::overflow);
  EXPECT_EQ(code(hold(1, S1, B1, kAmountAll)), Code::overflow);
  EXPECT_EQ(code(spend(2, S1, B1, kAmountAll)), Code::overflow);
  EXPECT_EQ(bal(S1, B1).available, 100u);
}

TEST_F(LedgerTest, Refund_PartialReturnsLatestExpiringFirst) {
  const TimeUs day1 = kT0 + kUsPerDay, day2 = kT0 + 2 * kUsPerDay;
  ASSERT_EQ(run(credit(S1, B1, 50, LotLife::at(day1), 1)), ok(50));
  ASSERT_EQ(run(credit(S1, B1, 50, LotLife::at(day2), 2)), ok(50));
  ASSERT_EQ(run(spend(1, S1, B1, 80)), ok(80));  // 50 of 1, 30 of 2
  EXPECT_EQ(lots(S1, B1), std::vector<LotView>{lot(20, day2, 2)});

  EXPECT_EQ(run(refund(1, 20)), ok(20));
  EXPECT_EQ(lots(S1, B1), std::vector<LotView>{lot(40, day2, 2)});
  EXPECT_EQ(code(refund(1, 70)), Code::refund_exceeds_captured);  // 60 left
  EXPECT_EQ(run(refund(1)), ok(60));
  EXPECT_EQ(lots(S1, B1), (std::vector<LotView>{lot(50, day1, 1), lot(50, day2, 2)}));
  EXPECT_EQ(code(refund(1)), Code::refund_exceeds_captured);  // nothing left
  EXPECT_EQ(code(refund(1, kAmountMax + 1)), Code::overflow);
  EXPECT_EQ(stats(S1).refunded, 80u);
  EXPECT_EQ(stats(S1).outstanding, 100u);
}

TEST_F(LedgerTest, Refund_RecreatesEmptiedLotInItsOldPlace) {
  const TimeUs day1 = kT0 + kUsPerDay;
  ASSERT_EQ(run(credit(S1, B1, 100, LotLife::at(day1), 1)), ok(100));
  ASSERT_EQ(run(credit(S1, B1, 100, LotLife::at(day1), 2)), ok(100));
  ASSERT_EQ(run(spend(1, S1, B1, 150)), ok(150));  // all of 1, 50 of 2
  EXPECT_EQ(lots(S1, B1), std::vector<LotView>{lot(50, day1, 2)});

  EXPECT_EQ(run(refund(1, 100)), ok(100));  // 50 back to 2, then 50 recreates 1
  EXPECT_EQ(lots(S1, B1), (std::vector<LotView>{lot(50, day1, 1), lot(100, day1, 2)}));
  ASSERT_EQ(run(hold(2, S1, B1, 60)), ok(60));  // the recreated lot is still the oldest
  EXPECT_EQ(lots(S1, B1), std::vector<LotView>{lot(90, day1, 2)});
}

TEST_F(LedgerTest, Refund_RecreatesLotBeyondLotsMax) {
  ASSERT_EQ(run(credit(S1, B1, 100, LotLife::at(kT0 + kUsPerDay))), ok(100));
  ASSERT_EQ(run(spend(1, S1, B1, 100)), ok(100));
  for (std::uint32_t i = 0; i < kAccountLotsMax; ++i)
    ASSERT_EQ(run(credit(S1, B1, 1, LotLife::forever())), ok(1));
  EXPECT_EQ(code(credit(S1, B1, 1)), Code::account_lots_full);
  EXPECT_EQ(run(refund(1)), ok(100));
  EXPECT_EQ(lots(S1, B1).size(), kAccountLotsMax + 1);
  EXPECT_EQ(bal(S1, B1).available, 100u + kAccountLotsMax);
}

TEST_F(LedgerTest, Refund_IntoExpiredLotCountsRefundedAndExpired) {
  ASSERT_EQ(run(credit(S1, B1, 50, LotLife::ttl_of(kUsPerHour), 1)), ok(50));
  ASSERT_EQ(run(spend(1, S1, B1, 50)), ok(50));
  advance(2 * kUsPerHour);
  EXPECT_EQ(run(refund(1)), ok_expired(50, 0, 50));
  EXPECT_TRUE(lots(S1, B1).empty());
  EXPECT_EQ(bal(S1, B1).available, 0u);
  const SellerStats st = stats(S1);
  EXPECT_EQ(st.refunded, 50u);
  EXPECT_EQ(st.expired, 50u);
  EXPECT_EQ(st.outstanding, 0u);
  EXPECT_EQ(cstats(S1, 1).refunded, 50u);
  EXPECT_EQ(cstats(S1, 1).expired, 50u);
  EXPECT_EQ(run(sweep()), ok(0, 0));  // not expired twice
}

TEST_F(LedgerTest, Refund_RejectsOpenHold) {
  ASSERT_EQ(run(credit(S1, B1, 100)), ok(100));
  ASSERT_EQ(run(hold(1, S1, B1, 10)), ok(10));
  EXPECT_EQ(code(refund(1)), Code::order_not_captured);
  EXPECT_EQ(bal(S1, B1).held, 10u);
}

TEST_F(LedgerTest, Refund_AfterRetentionIsUnknownOrder) {
  ASSERT_EQ(run(credit(S1, B1, 100, LotLife::forever())), ok(100));
  ASSERT_EQ(run(spend(1, S1, B1, 40)), ok(40));
  const TimeUs spent_at = now_;
  EXPECT_EQ(run_at(refund(1, 10), spent_at + kRetention - 1), ok(10));
  EXPECT_EQ(code_at(refund(1, 10), spent_at + kRetention), Code::unknown_order);
  EXPECT_EQ(run(hold(1, S1, B1, 10)), ok(10));  // the order id is free again
  EXPECT_EQ(bal(S1, B1).available, 60u);
}

// ---------------------------------------------------------------------------------------
// revoke_campaign

TEST_F(LedgerTest, RevokeCampaign_ExpiresItsLotsIncludingExpiredOnes) {
  ASSERT_EQ(run(credit(S1, B1, 100, LotLife::policy(), 7)), ok(100));
  ASSERT_EQ(run(credit(S1, B2, 50, LotLife::policy(), 7)), ok(50));
  ASSERT_EQ(run(credit(S1, B1, 30)), ok(30));
  ASSERT_EQ(run(credit(S1, B1, 20, LotLife::ttl_of(kUsPerMinute), 7)), ok(20));
  ASSERT_EQ(run(credit(S2, B1, 40, LotLife::policy(), 7)), ok(40));  // another seller's 7
  advance(2 * kUsPerMinute);  // the 20 expired, not swept

  EXPECT_EQ(run(revoke(S1, 7)), ok(170));
  EXPECT_EQ(amounts(S1, B1), std::vector<Amount>{30});
  EXPECT_TRUE(lots(S1, B2).empty());
  EXPECT_EQ(amounts(S2, B1), std::vector<Amount>{40});
  const CampaignStats c = cstats(S1, 7);
  EXPECT_EQ(c.issued, 170u);
  EXPECT_EQ(c.expired, 20u);          // the lot past its life had lapsed
  EXPECT_EQ(c.revoked_amount, 150u);  // the live ones were revoked
  EXPECT_EQ(c.outstanding, 0u);
  EXPECT_EQ(c.recipients, 2u);  // B1 (two lots) and B2
  EXPECT_TRUE(c.revoked);
  EXPECT_FALSE(cstats(S2, 7).revoked);
  EXPECT_EQ(stats(S1).expired, 170u);
  EXPECT_EQ(stats(S1).outstanding, 30u);

  EXPECT_EQ(code(credit(S1, B1, 10, LotLife::policy(), 7)), Code::campaign_revoked);
  EXPECT_EQ(run(revoke(S1, 7)), ok(0));
  EXPECT_EQ(run(credit(S2, B1, 10, LotLife::policy(), 7)), ok(10));
  EXPECT_EQ(run(sweep()), ok(0, 0));  // the expired 20 went with the revoke
}

TEST_F(LedgerTest, RevokeCampaign_OfUnknownCampaignMarksItRevoked) {
  EXPECT_EQ(run(revoke(S1, 9)), ok(0));
  EXPECT_TRUE(cstats(S1, 9).revoked);
  EXPECT_EQ(code(credit(S1, B1, 10, LotLife::policy(), 9)), Code::campaign_revoked);
  EXPECT_FALSE(bal(S1, B1).exists);
}

TEST_F(LedgerTest, RevokeCampaign_HeldFragmentsExpireWhenReleased) {
  ASSERT_EQ(run(credit(S1, B1, 100, LotLife::at(kT0 + kUsPerDay), 7)), ok(100));
  ASSERT_EQ(run(credit(S1, B1, 50, LotLife::at(kT0 + 2 * kUsPerDay))), ok(50));
  ASSERT_EQ(run(hold(1, S1, B1, 80)), ok(80));  // 80 of campaign 7
  EXPECT_EQ(run(revoke(S1, 7)), ok(20));         // its unheld 20
  EXPECT_EQ(bal(S1, B1).held, 80u);
  EXPECT_EQ(bal(S1, B1).available, 50u);

  EXPECT_EQ(run(release(1)), ok_expired(80, 0, 80));
  EXPECT_EQ(bal(S1, B1).held, 0u);
  EXPECT_EQ(bal(S1, B1).available, 50u);
  EXPECT_EQ(cstats(S1, 7).expired, 0u);
  EXPECT_EQ(cstats(S1, 7).revoked_amount, 100u);  // 20 taken, 80 returning after
  EXPECT_EQ(cstats(S1, 7).outstanding, 0u);
  EXPECT_EQ(stats(S1).expired, 100u);  // the seller's expired counts both
  EXPECT_EQ(stats(S1).outstanding, 50u);
}

TEST_F(LedgerTest, RevokeCampaign_CaptureSpendsHeldFragmentsButRefundExpires) {
  ASSERT_EQ(run(credit(S1, B1, 100, LotLife::policy(), 7)), ok(100));
  ASSERT_EQ(run(hold(1, S1, B1, 100)), ok(100));
  EXPECT_EQ(run(revoke(S1, 7)), ok(0));
  EXPECT_EQ(run(capture(1, 30)), ok_expired(30, 70, 70));  // the released 70 expires at once
  EXPECT_EQ(cstats(S1, 7).spent, 30u);
  EXPECT_EQ(cstats(S1, 7).revoked_amount, 70u);
  EXPECT_EQ(run(refund(1)), ok_expired(30, 0, 30));  // back into a revoked campaign: expires too
  const CampaignStats c = cstats(S1, 7);
  EXPECT_EQ(c.refunded, 30u);
  EXPECT_EQ(c.expired, 0u);
  EXPECT_EQ(c.revoked_amount, 100u);
  EXPECT_EQ(c.outstanding, 0u);
  EXPECT_EQ(bal(S1, B1).available, 0u);
  EXPECT_EQ(bal(S1, B1).held, 0u);
}

TEST_F(LedgerTest, RevokeCampaign_RejectsCampaignZero) {
  ASSERT_EQ(run(credit(S1, B1, 10)), ok(10));
  EXPECT_EQ(code(revoke(S1, 0)), Code::invalid_campaign);
  EXPECT_EQ(bal(S1, B1).available, 10u);
}

// ---------------------------------------------------------------------------------------
// set_policy

TEST_F(LedgerTest, SetPolicy_ChangesOnlyNamedFields) {
  EXPECT_EQ(ledger_->policy(S1), Policy{});
  SetPolicy c = policy_cmd(S1, SetPolicy::kBalanceMax);
  c.balance_max = 500;
  c.spend_share_bp = 0;  // not named: ignored
  ASSERT_EQ(code(c), Code::ok);
  Policy want;
  want.balance_max = 500;
  EXPECT_EQ(ledger_->policy(S1), want);

  c = policy_cmd(S1, SetPolicy::kSpendShare | SetPolicy::kEarnMonthMax | SetPolicy::kLotLife);
  c.spend_share_bp = 5000;
  c.earn_month_max = 700;
  c.lot_life_us = kTimeNever;
  ASSERT_EQ(code(c), Code::ok);
  want.spend_share_bp = 5000;
  want.earn_month_max = 700;
  want.lot_life_us = kTimeNever;
  EXPECT_EQ(ledger_->policy(S1), want);
  EXPECT_EQ(ledger_->policy(S2), Policy{});

  ASSERT_EQ(run(credit(S1, B1, 10)), ok(10));  // policy life never: the lot never expires
  EXPECT_EQ(lots(S1, B1), std::vector<LotView>{lot(10, kTimeNever)});
}

TEST_F(LedgerTest, SetPolicy_RejectsEmptyUnknownOrOutOfRangeFields) {
  using F = SetPolicy;
  auto with = [&](std::uint32_t fields, std::uint32_t share, Amount balance, Amount earn,
                  TimeUs life) {
    SetPolicy c = policy_cmd(S1, fields);
    c.spend_share_bp = share;
    c.balance_max = balance;
    c.earn_month_max = earn;
    c.lot_life_us = life;
    return c;
  };
  const std::vector<SetPolicy> bad = {
      with(0, 100, 100, 100, 100),
      with(16, 100, 100, 100, 100),
      with(F::kSpendShare | 16, 100, 100, 100, 100),
      with(F::kSpendShare, 0, 100, 100, 100),
      with(F::kSpendShare, 10'001, 100, 100, 100),
      with(F::kBalanceMax, 100, 0, 100, 100),
      with(F::kBalanceMax, 100, kAmountMax + 1, 100, 100),
      with(F::kEarnMonthMax, 100, 100, 0, 100),
      with(F::kEarnMonthMax, 100, 100, kAmountMax + 1, 100),
      with(F::kLotLife, 100, 100, 100, 0),
      with(F::kLotLife, 100, 100, 100, -1),
      with(F::kSpendShare | F::kBalanceMax, 100, 0, 100, 100),  // one bad field spoils all
  };
  for (const SetPolicy& c : bad) {
    EXPECT_EQ(code(c), Code::invalid_policy) << "fields " << c.fields;
    EXPECT_EQ(ledger_->policy(S1), Policy{});
  }
  const SetPolicy edge =
      with(F::kSpendShare | F::kBalanceMax | F::kEarnMonthMax | F::kLotLife, 10'000,
           kAmountMax, kAmountMax, 1);
  ASSERT_EQ(code(edge), Code::ok);
  EXPECT_EQ(ledger_->policy(S1), (Policy{10'000, 0, kAmountMax, kAmountMax, 1}));
}

// ---------------------------------------------------------------------------------------
// Idempotency

TEST_F(LedgerTest, Idempotency_RepeatReturnsStoredResultAndChangesNothing) {
  start_twin();
  set_balance_max(S1, 100);
  const Credit c = credit(S1, B1, 150);
  ASSERT_EQ(run(c), ok(100, 0, kBal));
  advance(kUsPerHour);
  EXPECT_EQ(run_alone(c), ok(100, 0, kBal | kRep));
  EXPECT_TRUE(same_state_as_twin());
  EXPECT_EQ(bal(S1, B1).available, 100u);

  const Spend s = spend(1, S1, B1, 40);
  ASSERT_EQ(run(s), ok(40));
  EXPECT_EQ(run_alone(s), ok(40, 0, kRep));
  EXPECT_TRUE(same_state_as_twin());
  EXPECT_EQ(bal(S1, B1).available, 60u);
  EXPECT_EQ(stats(S1).spent, 40u);
}

TEST_F(LedgerTest, Idempotency_RepeatOfRejectionStaysRejected) {
  start_twin();
  const Hold h = hold(1, S1, B1, 50);
  ASSERT_EQ(code(h), Code::insufficient_bonuses);
  ASSERT_EQ(run(credit(S1, B1, 100)), ok(100));
  const Result again = run_alone(h);  // would pass now, but the stored answer stands
  EXPECT_EQ(again.code, Code::insufficient_bonuses);
  EXPECT_EQ(again.flags, kRep);
  EXPECT_TRUE(same_state_as_twin());
  EXPECT_EQ(bal(S1, B1).held, 0u);
}

TEST_F(LedgerTest, Idempotency_SameIdWithOtherBodyIsIdReused) {
  start_twin();
  const Credit c = credit(S1, B1, 100);
  ASSERT_EQ(run(c), ok(100));
  Credit other = c;
  other.amount = 99;
  EXPECT_EQ(run_alone(other).code, Code::id_reused);
  Hold other_type = hold(1, S1, B1, 10);
  other_type.id = c.id;
  EXPECT_EQ(run_alone(other_type).code, Code::id_reused);
  EXPECT_TRUE(same_state_as_twin());
  EXPECT_EQ(run(c), ok(100, 0, kRep));  // the stored result is untouched
  EXPECT_EQ(bal(S1, B1).available, 100u);
  EXPECT_EQ(bal(S1, B1).held, 0u);
}

TEST_F(LedgerTest, Idempotency_ZeroIdIsRejectedAndNotRemembered) {
  Credit c = credit(S1, B1, 100);
  c.id = Id128{};
  EXPECT_EQ(run(c), Result::of(Code::id_zero));
  EXPECT_EQ(run(c), Result::of(Code::id_zero));  // no kRepeat: nothing was remembered
  EXPECT_FALSE(bal(S1, B1).exists);
}

TEST_F(LedgerTest, Idempotency_IdForgottenAfterWindow) {
  Credit c = credit(S1, B1, 100);
  ASSERT_EQ(run(c), ok(100));
  const TimeUs t = now_;
  EXPECT_EQ(run_at(c, t + kIdWindow - 1), ok(100, 0, kRep));
  EXPECT_EQ(run_at(c, t + kIdWindow), ok(100));  // forgotten: applied again
  EXPECT_EQ(bal(S1, B1).available, 200u);
  c.amount = 5;  // forgotten again a window later: any body will do
  EXPECT_EQ(run_at(c, t + 2 * kIdWindow), ok(5));
  EXPECT_EQ(bal(S1, B1).available, 205u);
}

// The retention queue names ids by their record's index. An id met past its window
// before the queue reaches it is forgotten early and its slot is reused at once (by its
// own new entry here); the queue's old entry must then forget nothing.
TEST_F(LedgerTest, Idempotency_AnIdForgottenEarlyIsNotForgottenAgainByTheQueue) {
  std::vector<Credit> credits;
  for (int k = 0; k < 20; ++k) credits.push_back(credit(S1, B1, 1));
  for (const Credit& c : credits) ASSERT_EQ(run(c), ok(1));
  const TimeUs late = now_ + kIdWindow + kUsPerHour;
  // Each write forgets at most 8 expired ids on its way: the last one is still queued.
  Credit again = credits.back();
  ASSERT_EQ(run_at(again, late), ok(1));
  for (int k = 0; k < 5; ++k) ASSERT_EQ(run_at(credit(S1, B1, 1), late + 1 + k), ok(1));
  // The queue has passed the old entry by now; the new one is still remembered.
  EXPECT_EQ(run_at(again, late + 10), ok(1, 0, kRep));
  const auto memory = ledger_->id_memory(again.id, late + 10);
  ASSERT_TRUE(memory.has_value());
  EXPECT_EQ(memory->time_us, late);
  EXPECT_EQ(bal(S1, B1).available, 26u);
}

// A hint left by another write's prefetch (a caller's mistake) changes no result: the
// id's hash is used only for its own id, the account only once checked.
TEST_F(LedgerTest, AnotherWritesHintChangesNoResult) {
  const Credit a = credit(S1, B1, 100);
  ASSERT_EQ(run(a), ok(100));
  const Credit b = credit(S1, B2, 7);
  ASSERT_EQ(run(b), ok(7));
  WriteHint hint;
  for (int phase = 0; phase < Ledger::kPrefetchPhases; ++phase) ledger_->prefetch(b, phase, hint);
  ASSERT_NE(hint.account, AccountTable::kNone);  // b's account, found
  now_ += 1;
  EXPECT_EQ(ledger_->apply(a, now_, hint), ok(100, 0, kRep));
  now_ += 1;
  EXPECT_EQ(ledger_->apply(credit(S1, B1, 5), now_, hint), ok(5));
  now_ += 1;
  EXPECT_EQ(ledger_->apply(b, now_, hint), ok(7, 0, kRep));
  EXPECT_EQ(bal(S1, B1).available, 105u);
  EXPECT_EQ(bal(S1, B2).available, 7u);
}

TEST_F(LedgerTest, Idempotency_RejectsNewIdsWhenTableFull) {
  EngineConfig config;
  config.ids_max = 2;
  reconfigure(config);
  const Credit c1 = credit(S1, B1, 100), c2 = credit(S1, B1, 100), c3 = credit(S1, B1, 100);
  ASSERT_EQ(run(c1), ok(100));
  const TimeUs t1 = now_;
  ASSERT_EQ(run(c2), ok(100));
  EXPECT_EQ(code(c3), Code::ids_full);
  EXPECT_EQ(run(c1), ok(100, 0, kRep));  // known ids still answer
  EXPECT_EQ(code(c3), Code::ids_full);   // ids_full was not remembered
  EXPECT_EQ(run(sweep()), ok(0, 0));     // sweeps carry no id
  EXPECT_EQ(bal(S1, B1).available, 200u);
  EXPECT_EQ(run_at(c3, t1 + kIdWindow), ok(100));  // c1 has been forgotten
  EXPECT_EQ(bal(S1, B1).available, 300u);
}

// Rejected commands' ids live in a table of their own: a flood of cheap invalid
// commands cannot lock out applied writes (issue 10).
TEST_F(LedgerTest, Idempotency_RejectionsDoNotFillTheIdTable) {
  EngineConfig config;
  config.ids_max = 2;
  reconfigure(config);
  for (OrderId order = 1; order <= 50; ++order) {
    ASSERT_EQ(code(release(order)), Code::unknown_order);
  }
  EXPECT_EQ(run(credit(S1, B1, 100)), ok(100));
  EXPECT_EQ(run(credit(S1, B1, 100)), ok(100));
  EXPECT_EQ(code(credit(S1, B1, 100)), Code::ids_full);  // applied ids still have a bound
}

TEST_F(LedgerTest, Idempotency_RejectionRepeatsWithinItsOwnWindowOnly) {
  EngineConfig config;
  config.rejected_id_window_us = 10 * kUsPerMinute;
  reconfigure(config);
  Hold h = hold(7, S1, B1, 50);
  ASSERT_EQ(code(h), Code::insufficient_bonuses);
  const TimeUs t = now_;
  ASSERT_EQ(run(credit(S1, B1, 100)), ok(100));
  Hold other = h;
  other.amount = 60;
  EXPECT_EQ(code(other), Code::id_reused);
  // Within the window the retry gets the rejection it got, and nothing changes.
  EXPECT_EQ(run_at(h, t + 10 * kUsPerMinute - 1),
            (Result{Code::insufficient_bonuses, kRep, {}, 0, 0}));
  EXPECT_EQ(bal(S1, B1).held, 0u);
  // After it, the id is forgotten: the retry is evaluated afresh and applied once.
  EXPECT_EQ(run_at(h, t + 10 * kUsPerMinute), ok(50));
  EXPECT_EQ(run(h), ok(50, 0, kRep));
  EXPECT_EQ(bal(S1, B1).held, 50u);
}

TEST_F(LedgerTest, Idempotency_RejectionPastItsBoundIsNotRemembered) {
  EngineConfig config;
  config.rejected_ids_max = 1;
  reconfigure(config);
  const Release first = release(1), second = release(2);
  ASSERT_EQ(code(first), Code::unknown_order);
  ASSERT_EQ(code(second), Code::unknown_order);  // answered, not remembered
  EXPECT_EQ(run(first), (Result{Code::unknown_order, kRep, {}, 0, 0}));
  Release reused = second;
  reused.order = 3;  // another body under the unremembered id: evaluated as new
  EXPECT_EQ(code(reused), Code::unknown_order);
  EXPECT_FALSE(ledger_->id_memory(second.id, now_).has_value());
}

TEST_F(LedgerTest, IdMemoryAndOrderFinishedSayWhatTheLedgerRemembers) {
  const Credit c = credit(S1, B1, 100);
  ASSERT_EQ(run(c), ok(100));
  const TimeUs tc = now_;
  const std::optional<IdMemory> m = ledger_->id_memory(c.id, now_);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->time_us, tc);
  EXPECT_FALSE(m->rejected);
  EXPECT_FALSE(ledger_->id_memory(c.id, tc + kIdWindow).has_value());
  const Release r = release(9);
  ASSERT_EQ(code(r), Code::unknown_order);
  ASSERT_TRUE(ledger_->id_memory(r.id, now_).has_value());
  EXPECT_TRUE(ledger_->id_memory(r.id, now_)->rejected);

  EXPECT_EQ(ledger_->order_finished_us(5, true, now_), 0);
  ASSERT_EQ(run(hold(5, S1, B1, 40)), ok(40));
  EXPECT_EQ(ledger_->order_finished_us(5, true, now_), kTimeNever);
  EXPECT_EQ(ledger_->order_finished_us(5, false, now_), 0);  // no accrual of that id
  ASSERT_EQ(run(release(5)), ok(40));
  EXPECT_EQ(ledger_->order_finished_us(5, true, now_), now_);

  ASSERT_EQ(run(hold(6, S1, B1, 10, kGoods, kUsPerMinute)), ok(10));
  EXPECT_TRUE(ledger_->swept_holds().empty());
  ASSERT_EQ(run_at(sweep(), now_ + kUsPerMinute), ok(0, 1));
  EXPECT_EQ(ledger_->swept_holds(), std::vector<OrderId>{6});
  EXPECT_EQ(ledger_->order_finished_us(6, true, now_), now_);
}

// ---------------------------------------------------------------------------------------
// set_limits: the limits change on purpose, at the command's position in the log

SetLimits limits_cmd(Id128 id, std::uint32_t fields) {
  SetLimits c;
  c.id = id;
  c.fields = fields;
  return c;
}

TEST_F(LedgerTest, SetLimits_ARaisedAccountBoundAdmitsNewAccountsFromItsPositionOn) {
  EngineConfig config;
  config.accounts_max = 1;
  reconfigure(config);
  ASSERT_EQ(run(credit(S1, B1, 10)), ok(10));
  EXPECT_EQ(code(credit(S1, B2, 10)), Code::accounts_full);
  SetLimits c = limits_cmd(fresh_id(), SetLimits::kAccountsMax);
  c.accounts_max = 2;
  EXPECT_EQ(run(c), ok(0));
  EXPECT_EQ(ledger_->config().accounts_max, 2u);
  EXPECT_EQ(ledger_->limits_changes(), 1u);
  EXPECT_EQ(run(credit(S1, B2, 10)), ok(10));
  EXPECT_EQ(code(credit(S1, B3, 10)), Code::accounts_full);
  EXPECT_EQ(run(c), ok(0, 0, kRep));  // a retry is a repeat, not a second change
  EXPECT_EQ(ledger_->limits_changes(), 1u);
}

TEST_F(LedgerTest, SetLimits_ALoweredBoundKeepsWhatIsThereAndRefusesNewEntries) {
  ASSERT_EQ(run(credit(S1, B1, 10)), ok(10));
  ASSERT_EQ(run(credit(S1, B2, 10)), ok(10));
  SetLimits c = limits_cmd(fresh_id(), SetLimits::kAccountsMax);
  c.accounts_max = 1;
  ASSERT_EQ(run(c), ok(0));
  EXPECT_EQ(ledger_->account_count(), 2u);
  EXPECT_EQ(bal(S1, B2).available, 10u);
  EXPECT_EQ(run(credit(S1, B2, 5)), ok(5));  // existing accounts still take credits
  EXPECT_EQ(code(credit(S1, B3, 10)), Code::accounts_full);
}

TEST_F(LedgerTest, SetLimits_AShorterIdWindowForgetsOlderIdsAtOnce) {
  const Credit c = credit(S1, B1, 100);
  ASSERT_EQ(run(c), ok(100));
  advance(2 * kUsPerHour);
  EXPECT_EQ(run(c), ok(100, 0, kRep));  // within the default 24 h
  SetLimits shorter = limits_cmd(fresh_id(), SetLimits::kIdWindow);
  shorter.id_window_us = kUsPerHour;
  ASSERT_EQ(run(shorter), ok(0));
  EXPECT_EQ(run(c), ok(100));  // 2 h old, past the new 1 h window: a new write
  EXPECT_EQ(bal(S1, B1).available, 200u);
}

TEST_F(LedgerTest, SetLimits_OutOfRangeOrEmptyIsInvalidAndChangesNothing) {
  const EngineConfig before = ledger_->config();
  EXPECT_EQ(code(limits_cmd(fresh_id(), 0)), Code::invalid_limits);
  EXPECT_EQ(code(limits_cmd(fresh_id(), 128)), Code::invalid_limits);  // unknown field
  EXPECT_EQ(code(limits_cmd(fresh_id(), SetLimits::kIdsMax)), Code::invalid_limits);  // 0
  SetLimits window = limits_cmd(fresh_id(), SetLimits::kIdWindow);
  window.id_window_us = -1;
  EXPECT_EQ(code(window), Code::invalid_limits);
  window = limits_cmd(fresh_id(), SetLimits::kOrderRetention);
  window.order_retention_us = kWindowMaxUs + 1;
  EXPECT_EQ(code(window), Code::invalid_limits);
  SetLimits table = limits_cmd(fresh_id(), SetLimits::kOrdersMax);
  table.orders_max = kTableBoundMax + 1;
  EXPECT_EQ(code(table), Code::invalid_limits);
  SetLimits reserved = limits_cmd(fresh_id(), SetLimits::kIdsMax);
  reserved.ids_max = 10;
  reserved.reserved = 1;
  EXPECT_EQ(code(reserved), Code::invalid_limits);
  EXPECT_EQ(ledger_->config(), before);
  EXPECT_EQ(ledger_->limits_changes(), 0u);
}

TEST_F(LedgerTest, SetLimits_OnlyTheNamedFieldsChange) {
  SetLimits c = limits_cmd(fresh_id(), SetLimits::kOrdersMax | SetLimits::kRejectedIdWindow);
  c.orders_max = 9;
  c.rejected_id_window_us = 5 * kUsPerSecond;
  c.ids_max = 3;  // not named: ignored
  ASSERT_EQ(run(c), ok(0));
  EngineConfig expected;
  expected.orders_max = 9;
  expected.rejected_id_window_us = 5 * kUsPerSecond;
  EXPECT_EQ(ledger_->config(), expected);
  EXPECT_EQ(apply_limits(EngineConfig{}, c), expected);
}

// ---------------------------------------------------------------------------------------
// Table bounds

TEST_F(LedgerTest, Credit_RejectsNewAccountWhenTableFull) {
  EngineConfig config;
  config.accounts_max = 2;
  reconfigure(config);
  ASSERT_EQ(run(credit(S1, B1, 10)), ok(10));
  ASSERT_EQ(run(credit(S1, B2, 10)), ok(10));
  EXPECT_EQ(code(credit(S1, B3, 10)), Code::accounts_full);
  EXPECT_EQ(code(accrue(1, S1, B3, 10)), Code::accounts_full);
  EXPECT_EQ(code(credit(S2, B1, 10)), Code::accounts_full);
  EXPECT_EQ(run(credit(S1, B1, 10)), ok(10));  // existing accounts still take credits
  EXPECT_EQ(ledger_->account_count(), 2u);
  EXPECT_FALSE(bal(S1, B3).exists);
  EXPECT_FALSE(bal(S2, B1).exists);
}

TEST_F(LedgerTest, Credit_RejectsWhenAccountLotsFullCountingExpiredUntilSwept) {
  for (std::uint32_t i = 0; i < kAccountLotsMax; ++i)
    ASSERT_EQ(run(credit(S1, B1, 1, LotLife::ttl_of(kUsPerMinute))), ok(1));
  EXPECT_EQ(code(credit(S1, B1, 1)), Code::account_lots_full);
  ASSERT_EQ(run(accrue(1, S1, B1, 5)), ok(5));
  advance(3 * kUsPerMinute);  // all expired, none swept: they still count
  EXPECT_EQ(bal(S1, B1).available, 0u);
  EXPECT_EQ(code(credit(S1, B1, 1)), Code::account_lots_full);
  EXPECT_EQ(code(confirm(1)), Code::account_lots_full);
  EXPECT_EQ(bal(S1, B1).pending, 5u);

  EXPECT_EQ(run(sweep()), ok(kAccountLotsMax, 0));
  EXPECT_EQ(run(credit(S1, B1, 1)), ok(1));
  EXPECT_EQ(run(confirm(1)), ok(5));
  EXPECT_EQ(bal(S1, B1).available, 6u);
}

// ---------------------------------------------------------------------------------------
// sweep

TEST_F(LedgerTest, Sweep_SettlesOnlyFinishedMinuteBuckets) {
  ASSERT_EQ(run_at(credit(S1, B1, 100, LotLife::at(kT0 + 90 * kUsPerSecond)),
                   kT0 + kUsPerSecond),
            ok(100));
  EXPECT_EQ(run_at(sweep(), kT0 + 90 * kUsPerSecond), ok(0, 0));  // its minute is not over
  EXPECT_EQ(bal(S1, B1).available, 0u);  // but reads already ignore it
  EXPECT_EQ(stats(S1).outstanding, 100u);
  EXPECT_EQ(run_at(sweep(), kT0 + 120 * kUsPerSecond), ok(100, 0));
  EXPECT_EQ(stats(S1).expired, 100u);
  EXPECT_EQ(stats(S1).outstanding, 0u);
  EXPECT_EQ(ledger_->total_stats().expired, 100u);
}

TEST_F(LedgerTest, Sweep_SettlesEveryExpiredLotOfADueAccount) {
  const TimeUs s = kUsPerSecond;
  ASSERT_EQ(run_at(credit(S1, B1, 10, LotLife::at(kT0 + 30 * s)), kT0 + 1 * s), ok(10));
  ASSERT_EQ(run_at(credit(S1, B1, 20, LotLife::at(kT0 + 130 * s)), kT0 + 2 * s), ok(20));
  ASSERT_EQ(run_at(credit(S1, B1, 30, LotLife::at(kT0 + 600 * s)), kT0 + 3 * s), ok(30));
  ASSERT_EQ(run_at(credit(S1, B2, 40, LotLife::at(kT0 + 125 * s)), kT0 + 4 * s), ok(40));

  // B1 is due (a lot in a finished minute) and loses both expired lots; B2's only lot
  // expired in the current minute, so B2 waits.
  EXPECT_EQ(run_at(sweep(), kT0 + 135 * s), ok(30, 0));
  EXPECT_EQ(amounts(S1, B1), std::vector<Amount>{30});
  EXPECT_EQ(bal(S1, B2).available, 0u);
  EXPECT_EQ(run_at(sweep(), kT0 + 180 * s), ok(40, 0));
  EXPECT_EQ(stats(S1).expired, 70u);
  EXPECT_EQ(stats(S1).outstanding, 30u);
}

TEST_F(LedgerTest, Sweep_TimedOutHoldIntoExpiredLotExpires) {
  ASSERT_EQ(run(credit(S1, B1, 100, LotLife::ttl_of(2 * kUsPerMinute))), ok(100));
  ASSERT_EQ(run(hold(1, S1, B1, 60, kGoods, 5 * kUsPerMinute)), ok(60));
  EXPECT_EQ(run_at(sweep(), now_ + 5 * kUsPerMinute), ok(100, 1));  // 60 returned + 40 swept
  EXPECT_EQ(stats(S1).expired, 100u);
  EXPECT_EQ(stats(S1).held, 0u);
  EXPECT_EQ(stats(S1).outstanding, 0u);
  EXPECT_TRUE(lots(S1, B1).empty());
}

// Three accounts with expired lots and a hold past its deadline whose lot expired, all at
// fixed times so that two ledgers get exactly the same history. Only one hold is due: a
// timed-out hold is finished at the sweep's now, so a second one timed out by a later
// limited sweep would (rightly) finish later than under one unlimited sweep.
void apply_sweep_scenario(Ledger& ledger) {
  std::uint64_t n = 0;
  auto id = [&] { return Id128{7, ++n}; };
  auto credit_at = [&](BuyerId b, Amount amount, LotLife life, TimeUs t) {
    Credit c;
    c.id = id();
    c.seller = S1;
    c.buyer = b;
    c.amount = amount;
    c.life = life;
    ASSERT_EQ(ledger.apply(c, t).code, Code::ok);
  };
  auto hold_at = [&](OrderId order, BuyerId b, Amount amount, TimeUs timeout, TimeUs t) {
    Hold h;
    h.id = id();
    h.order = order;
    h.seller = S1;
    h.buyer = b;
    h.amount = amount;
    h.goods_total = kGoods;
    h.timeout_us = timeout;
    ASSERT_EQ(ledger.apply(h, t).code, Code::ok);
  };
  const TimeUs m = kUsPerMinute;
  credit_at(B1, 100, LotLife::at(kT0 + 5 * m), kT0 + 1);
  credit_at(B2, 200, LotLife::at(kT0 + 6 * m), kT0 + 2);
  credit_at(B3, 300, LotLife::at(kT0 + 7 * m), kT0 + 3);
  credit_at(B3, 50, LotLife::forever(), kT0 + 4);
  credit_at(B4, 40, LotLife::at(kT0 + kUsPerDay), kT0 + 5);
  hold_at(1, B2, 150, 2 * m, kT0 + 6);         // its lot expires before the timeout
  hold_at(2, B4, 10, kUsPerDay, kT0 + 7);  // not due
  hold_at(3, B3, 20, kUsPerDay, kT0 + 8);      // not due
}

TEST_F(LedgerTest, Sweep_WithLimitReachesSameStateAsUnlimited) {
  Ledger twin;
  apply_sweep_scenario(*ledger_);
  apply_sweep_scenario(twin);
  ASSERT_EQ(ledger_->state_hash(), twin.state_hash());
  const TimeUs ts = kT0 + 10 * kUsPerMinute;

  // Expired: 100 (B1) + 150 returned into B2's expired lot + 50 (B2) + 280 (B3).
  EXPECT_EQ(ledger_->apply(sweep(), ts), ok(580, 1));

  Amount expired = 0, timed_out = 0;
  TimeUs t = ts;
  int sweeps = 0;
  for (; sweeps < 20; ++sweeps, ++t) {
    const Result r = twin.apply(sweep(1), t);
    ASSERT_EQ(r.code, Code::ok);
    if (sweeps == 0) {
      EXPECT_TRUE(r.flags & Result::kMore);
    }
    expired += r.amount;
    timed_out += r.aux;
    if (!(r.flags & Result::kMore)) break;
  }
  ASSERT_LT(sweeps, 20);
  EXPECT_GE(sweeps, 3);  // 4 units of work, one at a time
  EXPECT_EQ(expired, 580u);
  EXPECT_EQ(timed_out, 1u);

  if (t > ts) {
    EXPECT_EQ(ledger_->apply(sweep(), t), ok(0, 0));  // same last time
  }
  now_ = t;
  EXPECT_EQ(ledger_->state_hash(), twin.state_hash());
  EXPECT_EQ(twin.seller_stats(S1), ledger_->seller_stats(S1));
  EXPECT_EQ(twin.balance(S1, B3, t), ledger_->balance(S1, B3, t));
  EXPECT_EQ(bal(S1, B3).available, 50u);
  EXPECT_EQ(bal(S1, B3).held, 20u);
  EXPECT_EQ(bal(S1, B4).available, 30u);
  EXPECT_EQ(bal(S1, B4).held, 10u);
  EXPECT_EQ(stats(S1).expired, 580u);
  EXPECT_EQ(stats(S1).outstanding, 110u);
  expect_audit_clean(twin);
}

TEST_F(LedgerTest, NextDue_NothingWaitsInAnEmptyLedger) {
  EXPECT_EQ(ledger_->next_due_us(), kTimeNever);
  ASSERT_EQ(run(sweep()), ok(0));
  EXPECT_EQ(ledger_->next_due_us(), kTimeNever);  // a sweep has no id to remember
}

// The server writes a sweep tick only at next_due_us(), so each kind of waiting work
// must show in it: a sweep just before the answer finds nothing, one at it does the work.
TEST_F(LedgerTest, NextDue_NamesHoldDeadlinesLotBucketsIdWindowsAndOrderRetention) {
  const TimeUs t1 = kT0 + 1, t2 = kT0 + 2;
  ASSERT_EQ(run_at(credit(S1, B1, 10, LotLife::ttl_of(10 * kUsPerMinute)), t1), ok(10));
  const TimeUs bucket_over = kT0 + 11 * kUsPerMinute;  // the lot's minute is over
  EXPECT_EQ(ledger_->next_due_us(), bucket_over);
  ASSERT_EQ(run_at(hold(1, S1, B1, 4, kGoods, 5 * kUsPerMinute), t2), ok(4));
  const TimeUs deadline = t2 + 5 * kUsPerMinute;
  EXPECT_EQ(ledger_->next_due_us(), deadline);

  EXPECT_EQ(run_at(sweep(), deadline - 1), ok(0, 0));
  EXPECT_EQ(run_at(sweep(), deadline), ok(0, 1));  // the hold timed out
  EXPECT_EQ(ledger_->next_due_us(), bucket_over);
  EXPECT_EQ(run_at(sweep(), bucket_over - 1), ok(0, 0));
  EXPECT_EQ(run_at(sweep(), bucket_over), ok(10, 0));  // the lot expired
  EXPECT_EQ(stats(S1).expired, 10u);

  // Then the ids leave their window, one after the other, then the finished hold its
  // retention; then nothing is left.
  EXPECT_EQ(ledger_->next_due_us(), t1 + kIdWindow);
  ASSERT_EQ(run_at(sweep(), t1 + kIdWindow), ok(0));
  EXPECT_EQ(ledger_->next_due_us(), t2 + kIdWindow);
  ASSERT_EQ(run_at(sweep(), t2 + kIdWindow), ok(0));
  EXPECT_EQ(ledger_->next_due_us(), deadline + kRetention);
  ASSERT_EQ(run_at(sweep(), deadline + kRetention), ok(0));
  EXPECT_EQ(ledger_->next_due_us(), kTimeNever);
  EXPECT_EQ(code(capture(1)), Code::unknown_order);  // the hold's record is gone
}

TEST_F(LedgerTest, NextDue_NamesAFinishedAccrualsRetention) {
  ASSERT_EQ(run(accrue(7, S1, B1, 10)), ok(10));
  ASSERT_EQ(code(cancel(7)), Code::ok);
  const TimeUs finished = now_;
  ASSERT_EQ(run_at(sweep(), now_ + kIdWindow + kUsPerSecond), ok(0));  // both ids gone
  EXPECT_EQ(ledger_->next_due_us(), finished + kRetention);
  ASSERT_EQ(run_at(sweep(), finished + kRetention), ok(0));
  EXPECT_EQ(ledger_->next_due_us(), kTimeNever);
}

// ---------------------------------------------------------------------------------------
// Reads

TEST_F(LedgerTest, Reads_UnknownAccountSellerAndCampaignAreEmpty) {
  const AccountView v = bal(S1, B1);
  EXPECT_FALSE(v.exists);
  AccountView empty;
  empty.seller = S1;
  empty.buyer = B1;
  EXPECT_EQ(v, empty);  // nothing, never-expiring
  EXPECT_TRUE(lots(S1, B1).empty());
  EXPECT_EQ(stats(S1), SellerStats{});
  EXPECT_EQ(ledger_->total_stats(), SellerStats{});
  EXPECT_EQ(cstats(S1, 7), CampaignStats{});
  EXPECT_EQ(ledger_->policy(S1), Policy{});
}

TEST_F(LedgerTest, Reads_IgnoreExpiredUnsweptLots) {
  const TimeUs h1 = kT0 + kUsPerHour, h2 = kT0 + 2 * kUsPerHour;
  ASSERT_EQ(run(credit(S1, B1, 100, LotLife::at(h1))), ok(100));
  ASSERT_EQ(run(credit(S1, B1, 30, LotLife::at(h2))), ok(30));
  ASSERT_EQ(run(credit(S1, B1, 20, LotLife::at(h2))), ok(20));
  EXPECT_EQ(code_at(hold(1, S1, B1, 60), h1), Code::insufficient_bonuses);

  const AccountView v = bal(S1, B1);
  EXPECT_EQ(v.available, 50u);
  EXPECT_EQ(v.next_expiry_us, h2);
  EXPECT_EQ(v.next_expiry_amount, 50u);
  EXPECT_EQ(lots(S1, B1), (std::vector<LotView>{lot(30, h2), lot(20, h2)}));

  const std::vector<CartLine> lines = {{S1, kGoods}};
  std::vector<CartEntry> cart;
  ledger_->cart(B1, lines, 2 * kUsPerHour, now_, cart);
  EXPECT_EQ(cart, (std::vector<CartEntry>{{S1, 50, 50, 0, 50, h2, 0, 0, 0, 29'850, 29'950}}));

  std::vector<AccountView> wallet;
  ledger_->wallet(B1, now_, wallet);
  ASSERT_EQ(wallet.size(), 1u);
  EXPECT_EQ(wallet[0].available, 50u);

  const ExpiringPage page = ledger_->expiring(S1, kUsPerDay, {}, 10, now_);
  EXPECT_EQ(page.entries, (std::vector<ExpiringEntry>{{B1, 50, h2}}));
  EXPECT_TRUE(page.done);

  EXPECT_EQ(stats(S1).expired, 0u);  // not swept: still counted as outstanding
  EXPECT_EQ(stats(S1).outstanding, 150u);
}

TEST_F(LedgerTest, Cart_SpendableIsAvailableCappedBySpendCap) {
  const TimeUs h1 = kT0 + kUsPerHour, h2 = kT0 + 2 * kUsPerHour;
  ASSERT_EQ(run(credit(S1, B1, 60, LotLife::at(h1))), ok(60));
  ASSERT_EQ(run(credit(S1, B1, 40, LotLife::at(kT0 + 10 * kUsPerDay))), ok(40));
  ASSERT_EQ(run(accrue(1, S1, B1, 25)), ok(25));
  ASSERT_EQ(run(credit(S2, B1, 30, LotLife::at(h2))), ok(30));
  ASSERT_EQ(run(credit(S1, B2, 500)), ok(500));  // someone else's

  // 50 roubles: cap min(49, 49); 10,000 roubles: cap 9,900.
  const std::vector<CartLine> lines = {{S1, 5'000}, {S2, 1'000'000}, {S3, 10'000}};
  std::vector<CartEntry> cart;
  ledger_->cart(B1, lines, kUsPerHour, now_, cart);  // soon: lots expiring by now + 1h
  // No rate set: nothing to earn; the rooms are the default caps less what is used.
  EXPECT_EQ(cart, (std::vector<CartEntry>{{S1, 100, 49, 25, 60, h1, 0, 0, 0, 29'900, 29'900},
                                          {S2, 30, 30, 0, 0, h2, 0, 0, 0, 29'970, 29'970},
                                          {S3, 0, 0, 0, 0, kTimeNever, 0, 0, 0, 30'000, 30'000}}));
}

TEST_F(LedgerTest, Wallet_ListsNonEmptyAccountsBySeller) {
  ASSERT_EQ(run(credit(30, B1, 100)), ok(100));
  ASSERT_EQ(run(credit(10, B1, 50)), ok(50));
  ASSERT_EQ(run(accrue(1, 20, B1, 40)), ok(40));
  ASSERT_EQ(run(cancel(1)), ok(40));  // seller 20: empty again
  ASSERT_EQ(run(credit(40, B1, 25)), ok(25));
  ASSERT_EQ(run(spend(2, 40, B1, 25)), ok(25));  // seller 40: empty
  ASSERT_EQ(run(accrue(3, 50, B1, 70)), ok(70));  // pending only
  ASSERT_EQ(run(credit(60, B1, 100)), ok(100));
  ASSERT_EQ(run(hold(4, 60, B1, 100)), ok(100));  // held only
  ASSERT_EQ(run(accrue(5, 70, B1, 10)), ok(10));
  ASSERT_EQ(run(confirm(5)), ok(10));
  ASSERT_EQ(run(spend(6, 70, B1, 10)), ok(10));
  ASSERT_EQ(run(reverse(5)), ok(10, 10));  // debt only
  ASSERT_EQ(run(credit(10, B2, 999)), ok(999));  // another buyer

  std::vector<AccountView> wallet;
  ledger_->wallet(B1, now_, wallet);
  using Row = std::tuple<SellerId, BuyerId, Amount, Amount, Amount, Amount, bool>;
  std::vector<Row> rows;
  for (const AccountView& v : wallet)
    rows.emplace_back(v.seller, v.buyer, v.available, v.held, v.pending, v.debt, v.exists);
  // (seller, buyer, available, held, pending, debt, exists)
  EXPECT_EQ(rows, (std::vector<Row>{{10, B1, 50, 0, 0, 0, true},
                                    {30, B1, 100, 0, 0, 0, true},
                                    {50, B1, 0, 0, 70, 0, true},
                                    {60, B1, 0, 100, 0, 0, true},
                                    {70, B1, 0, 0, 0, 10, true}}));
}

TEST_F(LedgerTest, Expiring_PagesOfTwoCoverEachBuyerOnce) {
  const TimeUs q = kT0 + kUsPerHour;  // the query's now
  const TimeUs h = kUsPerHour;
  ASSERT_EQ(run(credit(S1, B1, 10, LotLife::at(q + 1 * h))), ok(10));
  ASSERT_EQ(run(credit(S1, B1, 15, LotLife::at(q + 5 * h))), ok(15));
  ASSERT_EQ(run(credit(S1, B1, 99, LotLife::at(q + 48 * h))), ok(99));  // outside the window
  ASSERT_EQ(run(credit(S1, B2, 20, LotLife::at(q + 2 * h))), ok(20));
  ASSERT_EQ(run(credit(S1, B3, 30, LotLife::at(q + 3 * h))), ok(30));
  ASSERT_EQ(run(credit(S1, B4, 40, LotLife::at(q + 23 * h))), ok(40));
  ASSERT_EQ(run(credit(S1, B5, 50, LotLife::at(q + 24 * h))), ok(50));      // window's end
  ASSERT_EQ(run(credit(S1, B6, 60, LotLife::at(q + 24 * h + 1))), ok(60));  // just past it
  ASSERT_EQ(run(credit(S1, B7, 70, LotLife::at(kT0 + 30 * kUsPerMinute))), ok(70));  // expired
  ASSERT_EQ(run(credit(S1, B8, 80, LotLife::forever())), ok(80));
  ASSERT_EQ(run(credit(S2, B9, 90, LotLife::at(q + 1 * h))), ok(90));  // another seller

  std::vector<ExpiringEntry> all;
  ExpiringCursor cursor;
  int pages = 0;
  for (; pages < 20; ++pages) {
    const ExpiringPage page = ledger_->expiring(S1, 24 * h, cursor, 2, q);
    EXPECT_LE(page.entries.size(), 2u);
    all.insert(all.end(), page.entries.begin(), page.entries.end());
    cursor = page.next;
    if (page.done) break;
  }
  ASSERT_LT(pages, 20);
  EXPECT_GE(pages, 2);  // at least three pages for five buyers
  std::sort(all.begin(), all.end(),
            [](const ExpiringEntry& a, const ExpiringEntry& b) { return a.buyer < b.buyer; });
  EXPECT_EQ(all, (std::vector<ExpiringEntry>{{B1, 25, q + 1 * h},
                                             {B2, 20, q + 2 * h},
                                             {B3, 30, q + 3 * h},
                                             {B4, 40, q + 23 * h},
                                             {B5, 50, q + 24 * h}}));
}

TEST_F(LedgerTest, CampaignStats_CountsRecipientsAndSpenders) {
  set_balance_max(S1, 150);
  ASSERT_EQ(run(credit(S1, B1, 100, LotLife::policy(), 7)), ok(100));  // B1's first lot
  ASSERT_EQ(run(credit(S1, B2, 100, LotLife::policy(), 7)), ok(100));
  ASSERT_EQ(run(credit(S1, B3, 100, LotLife::policy(), 7)), ok(100));
  ASSERT_EQ(run(credit(S1, B1, 50, LotLife::policy(), 7)), ok(50));   // B1's second lot
  ASSERT_EQ(run(credit(S1, B1, 10, LotLife::policy(), 7)), ok(0, 0, kBal));  // no lot
  EXPECT_EQ(cstats(S1, 7).recipients, 3u);  // buyers, not lots

  ASSERT_EQ(run(spend(1, S1, B1, 120)), ok(120));  // first lot emptied, second spent from
  EXPECT_EQ(cstats(S1, 7).spenders, 1u);  // one buyer, two lots
  ASSERT_EQ(run(spend(2, S1, B1, 10)), ok(10));  // the second lot again: no one new
  EXPECT_EQ(cstats(S1, 7).spenders, 1u);
  ASSERT_EQ(run(hold(3, S1, B2, 50)), ok(50));
  EXPECT_EQ(cstats(S1, 7).spenders, 1u);  // holding is not spending
  ASSERT_EQ(run(capture(3)), ok(50));
  EXPECT_EQ(cstats(S1, 7).spenders, 2u);
  ASSERT_EQ(run(refund(1)), ok(120));  // recreates B1's first lot, flagged as spent from
  ASSERT_EQ(run(spend(4, S1, B1, 100)), ok(100));
  const CampaignStats c = cstats(S1, 7);
  EXPECT_EQ(c.spenders, 2u);
  EXPECT_EQ(c.recipients, 3u);
  EXPECT_EQ(c.issued, 350u);
  EXPECT_EQ(c.spent, 280u);
  EXPECT_EQ(c.refunded, 120u);
  EXPECT_EQ(c.outstanding, 190u);
  EXPECT_EQ(bal(S1, B1).available, 40u);
}

TEST_F(LedgerTest, Stats_TotalSumsSellers) {
  ASSERT_EQ(run(credit(S1, B1, 100)), ok(100));
  ASSERT_EQ(run(credit(S2, B1, 50)), ok(50));
  ASSERT_EQ(run(spend(1, S2, B1, 20)), ok(20));
  ASSERT_EQ(run(accrue(2, S2, B1, 7)), ok(7));
  EXPECT_EQ(stats(S1).issued, 100u);
  EXPECT_EQ(stats(S2).issued, 50u);
  EXPECT_EQ(stats(S2).spent, 20u);
  EXPECT_EQ(stats(S2).outstanding, 30u);
  const SellerStats total = ledger_->total_stats();
  EXPECT_EQ(total.issued, 150u);
  EXPECT_EQ(total.spent, 20u);
  EXPECT_EQ(total.pending, 7u);
  EXPECT_EQ(total.outstanding, 130u);
}

// ---------------------------------------------------------------------------------------
// Rules a seller or buyer would call wrong (issue 10)

// The review's report: 3 buyers and 1 spender were reported as 4 recipients and 2 spenders.
TEST_F(LedgerTest, CampaignStats_RecipientsAndSpendersCountBuyersNotLots) {
  ASSERT_EQ(run(credit(S1, B1, 100, LotLife::policy(), 7)), ok(100));
  ASSERT_EQ(run(credit(S1, B1, 50, LotLife::policy(), 7)), ok(50));  // a second lot, same buyer
  ASSERT_EQ(run(credit(S1, B2, 100, LotLife::policy(), 7)), ok(100));
  ASSERT_EQ(run(credit(S1, B3, 100, LotLife::policy(), 7)), ok(100));
  EXPECT_EQ(cstats(S1, 7).recipients, 3u);

  ASSERT_EQ(run(spend(1, S1, B1, 120)), ok(120));  // 100 of the first lot, 20 of the second
  EXPECT_EQ(cstats(S1, 7).spenders, 1u);
  ASSERT_EQ(run(spend(2, S1, B1, 30)), ok(30));  // both lots gone now
  ASSERT_EQ(run(credit(S1, B1, 40, LotLife::policy(), 7)), ok(40));  // a third lot
  ASSERT_EQ(run(spend(3, S1, B1, 40)), ok(40));
  const CampaignStats c = cstats(S1, 7);
  EXPECT_EQ(c.recipients, 3u);
  EXPECT_EQ(c.spenders, 1u);
  EXPECT_EQ(c.issued, 390u);
  EXPECT_EQ(c.spent, 190u);
}

// The buyer counts are kept through a revoke: a held fragment captured afterwards
// still makes its buyer a spender, once.
TEST_F(LedgerTest, CampaignStats_SpenderAfterRevokeCountsOnce) {
  ASSERT_EQ(run(credit(S1, B1, 100, LotLife::policy(), 7)), ok(100));
  ASSERT_EQ(run(credit(S1, B1, 100, LotLife::policy(), 7)), ok(100));
  ASSERT_EQ(run(hold(1, S1, B1, 150)), ok(150));  // fragments of both lots
  ASSERT_EQ(run(revoke(S1, 7)), ok(50));
  ASSERT_EQ(run(capture(1, 150)), ok(150));
  EXPECT_EQ(cstats(S1, 7).recipients, 1u);
  EXPECT_EQ(cstats(S1, 7).spenders, 1u);
}

// A hold on bonuses whose accrual is then reversed: the release must repay the debt
// first, not make the bonuses spendable while the debt stays.
TEST_F(LedgerTest, Release_RepaysDebtFirst) {
  ASSERT_EQ(run(accrue(9, S1, B1, 150)), ok(150));
  ASSERT_EQ(run(confirm(9)), ok(150));
  ASSERT_EQ(run(credit(S1, B1, 50)), ok(50));
  ASSERT_EQ(run(hold(1, S1, B1, 200)), ok(200));  // the accrual's 150 first, then 50
  ASSERT_EQ(run(reverse(9)), ok(150, 150));       // nothing left to take: all owed
  ASSERT_EQ(bal(S1, B1).debt, 150u);

  EXPECT_EQ(run(release(1)), ok(200, 150));  // 150 repays, 50 comes back
  EXPECT_EQ(bal(S1, B1).debt, 0u);
  EXPECT_EQ(bal(S1, B1).available, 50u);
  EXPECT_EQ(amounts(S1, B1), std::vector<Amount>{50});
  const SellerStats st = stats(S1);
  EXPECT_EQ(st.debt, 0u);
  EXPECT_EQ(st.reversed, 150u);
  EXPECT_EQ(st.outstanding, 50u);
}

TEST_F(LedgerTest, Sweep_TimedOutHoldRepaysDebtFirst) {
  ASSERT_EQ(run(accrue(9, S1, B1, 150)), ok(150));
  ASSERT_EQ(run(confirm(9)), ok(150));
  ASSERT_EQ(run(credit(S1, B1, 50)), ok(50));
  ASSERT_EQ(run(hold(1, S1, B1, 200)), ok(200));
  ASSERT_EQ(run(reverse(9)), ok(150, 150));
  advance(kHoldTimeoutDefaultUs);
  EXPECT_EQ(run(sweep()), ok(0, 1));
  EXPECT_EQ(bal(S1, B1).debt, 0u);
  EXPECT_EQ(bal(S1, B1).available, 50u);
  EXPECT_EQ(stats(S1).debt, 0u);
}

TEST_F(LedgerTest, Capture_ReleasedRestRepaysDebtFirst) {
  ASSERT_EQ(run(accrue(9, S1, B1, 150)), ok(150));
  ASSERT_EQ(run(confirm(9)), ok(150));
  ASSERT_EQ(run(credit(S1, B1, 50)), ok(50));
  ASSERT_EQ(run(hold(1, S1, B1, 200)), ok(200));
  ASSERT_EQ(run(reverse(9)), ok(150, 150));
  EXPECT_EQ(run(capture(1, 20)), ok(20, 180));  // 130 + 20 of the rest repay, 30 come back
  EXPECT_EQ(bal(S1, B1).debt, 0u);
  EXPECT_EQ(bal(S1, B1).available, 30u);
}

// The review's report: a reversed 30,000 still blocked every credit of the month.
TEST_F(LedgerTest, ReverseAccrual_GivesTheMonthsEarnAllowanceBack) {
  ASSERT_EQ(run(accrue(9, S1, B1, 30'000)), ok(30'000));
  ASSERT_EQ(run(confirm(9)), ok(30'000));
  ASSERT_EQ(run(credit(S1, B1, 100)), ok(0, 0, kBal | kEarn));
  ASSERT_EQ(run(reverse(9)), ok(30'000, 0));
  EXPECT_EQ(run(credit(S1, B1, 30'000)), ok(30'000));
  EXPECT_EQ(run(credit(S1, B1, 1)), ok(0, 0, kBal | kEarn));
}

// Repaying debt is not earning: it neither uses the allowance nor is cut by the caps.
TEST_F(LedgerTest, Credit_RepayingDebtIsNotEarning) {
  ASSERT_EQ(run(accrue(9, S1, B1, 30'000)), ok(30'000));
  ASSERT_EQ(run(confirm(9)), ok(30'000));
  ASSERT_EQ(run(spend(1, S1, B1, 30'000)), ok(30'000));
  ASSERT_EQ(run(reverse(9)), ok(30'000, 30'000));  // all owed; the allowance comes back
  EXPECT_EQ(run(credit(S1, B1, 30'000)), ok(30'000, 30'000));  // all repays
  EXPECT_EQ(bal(S1, B1).debt, 0u);
  EXPECT_EQ(run(credit(S1, B1, 30'000)), ok(30'000));  // the whole allowance is left
  EXPECT_EQ(bal(S1, B1).available, 30'000u);
}

// An accrual confirmed in January and reversed in February gives nothing back:
// January's allowance is over, February's was never used by it. The debt it leaves
// is still repaid by a credit past February's earn cap.
TEST_F(LedgerTest, ReverseAccrual_InALaterMonthGivesNoAllowanceBack) {
  set_earn_max(S1, 100);
  ASSERT_EQ(run(accrue(9, S1, B1, 100)), ok(100));
  ASSERT_EQ(run(confirm(9)), ok(100));
  ASSERT_EQ(run(spend(1, S1, B1, 100)), ok(100));
  const TimeUs february = kT0 + 25 * kUsPerDay;  // Feb 4
  ASSERT_EQ(run_at(credit(S1, B1, 100), february), ok(100));
  ASSERT_EQ(run(spend(2, S1, B1, 100)), ok(100));
  ASSERT_EQ(run(reverse(9)), ok(100, 100));
  EXPECT_EQ(run(credit(S1, B1, 60)), ok(60, 60, 0));  // repays, though the cap is reached
  EXPECT_EQ(run(credit(S1, B1, 60)), ok(40, 40, kEarn));  // 40 repays, 20 cut by the cap
  EXPECT_EQ(bal(S1, B1).debt, 0u);
  EXPECT_EQ(bal(S1, B1).available, 0u);
}

// The review's report: a refund of bonuses whose lot's life was over said "refunded 150".
TEST_F(LedgerTest, Refund_ReportsWhatExpiredAtOnce) {
  ASSERT_EQ(run(credit(S1, B1, 100, LotLife::ttl_of(kUsPerHour))), ok(100));
  ASSERT_EQ(run(credit(S1, B1, 50)), ok(50));
  ASSERT_EQ(run(spend(1, S1, B1, 150)), ok(150));
  advance(2 * kUsPerHour);
  EXPECT_EQ(run(refund(1)), ok_expired(150, 0, 100));  // 50 back, 100 expired
  EXPECT_EQ(bal(S1, B1).available, 50u);
  EXPECT_EQ(stats(S1).expired, 100u);
}

TEST_F(LedgerTest, Release_ReportsWhatExpiredAtOnce) {
  ASSERT_EQ(run(credit(S1, B1, 100, LotLife::ttl_of(kUsPerHour))), ok(100));
  ASSERT_EQ(run(credit(S1, B1, 50)), ok(50));
  ASSERT_EQ(run(hold(1, S1, B1, 150, kGoods, 3 * kUsPerHour)), ok(150));
  advance(2 * kUsPerHour);
  EXPECT_EQ(run(release(1)), ok_expired(150, 0, 100));
  EXPECT_EQ(bal(S1, B1).available, 50u);
}

// The balance cap bounds what a buyer earns, not what a refund gives back: the refunded
// bonuses were the buyer's and were counted against the cap when they were earned.
TEST_F(LedgerTest, Refund_MayLiftBalanceAboveTheBalanceCap) {
  set_earn_max(S1, 100'000);
  ASSERT_EQ(run(credit(S1, B1, 30'000)), ok(30'000));
  ASSERT_EQ(run(spend(1, S1, B1, 10'000)), ok(10'000));
  ASSERT_EQ(run(credit(S1, B1, 10'000)), ok(10'000));  // at the cap again
  EXPECT_EQ(run(refund(1)), ok(10'000));
  EXPECT_EQ(bal(S1, B1).available, 40'000u);
  EXPECT_EQ(run(credit(S1, B1, 1)), ok(0, 0, kBal));  // no credit while above it
  ASSERT_EQ(run(spend(2, S1, B1, 15'000)), ok(15'000));
  EXPECT_EQ(run(credit(S1, B1, 6'000)), ok(5'000, 0, kBal));  // room again below it
}

// ---------------------------------------------------------------------------------
// Rates and tiers (docs/engine.md, "Rates and tiers").

TEST_F(LedgerTest, Rates_AccrueByPriceNeedsARate) {
  EXPECT_EQ(code(accrue_by_price(1, S1, B1, 199'000)), Code::invalid_price);
  EXPECT_FALSE(bal(S1, B1).exists);  // nothing created
  ASSERT_EQ(code(rates_cmd(S1, 500)), Code::ok);
  // 1990 roubles at 5 %: 99.5, rounded down to 99; the result's aux is the rate used.
  EXPECT_EQ(run(accrue_by_price(1, S1, B1, 199'000)), ok(99, 500));
  EXPECT_EQ(bal(S1, B1).pending, 99u);
  // Neither amount nor price: zero_amount as before; a price past the goods maximum:
  // invalid_price, before anything else.
  EXPECT_EQ(code(accrue(2, S1, B1, 0)), Code::zero_amount);
  EXPECT_EQ(code(accrue_by_price(3, S1, B1, kGoodsTotalMax + 1)), Code::invalid_price);
  Accrue both = accrue(4, S1, B1, 7);
  both.price = kGoodsTotalMax + 1;
  EXPECT_EQ(code(both), Code::invalid_price);
}

TEST_F(LedgerTest, Rates_RoundsDownAndKeepsAnAccrualThatEarnsNothing) {
  ASSERT_EQ(code(rates_cmd(S1, 100)), Code::ok);  // 1 %
  EXPECT_EQ(run(accrue_by_price(1, S1, B1, 9'999)), ok(0, 100));  // 0.9999 bonus: 0
  ASSERT_EQ(run(confirm(1)), ok(0));
  EXPECT_TRUE(lots(S1, B1).empty());
  // It still counts as a purchase.
  EXPECT_EQ(bal(S1, B1).purchases_kopecks, 9'999u);
  EXPECT_EQ(bal(S1, B1).last_purchase_us, now_);
}

TEST_F(LedgerTest, Rates_AnExplicitAmountWinsAndItsPriceCounts) {
  ASSERT_EQ(code(rates_cmd(S1, 500, {{100'000, 700}})), Code::ok);
  Accrue c = accrue(1, S1, B1, 42);
  c.price = 150'000;
  EXPECT_EQ(run(c), ok(42));
  ASSERT_EQ(run(confirm(1)), ok(42));
  const AccountView v = bal(S1, B1);
  EXPECT_EQ(v.purchases_kopecks, 150'000u);
  EXPECT_EQ(v.tier, 1u);
  EXPECT_EQ(v.rate_bp, 700u);
  EXPECT_EQ(v.next_tier_kopecks, 0u);  // the top
}

TEST_F(LedgerTest, Rates_ATierIsReachedExactlyAtItsThreshold) {
  ASSERT_EQ(code(rates_cmd(S1, 500, {{1'000'000, 700}, {5'000'000, 1'000}})), Code::ok);
  AccountView v = bal(S1, B1);  // no account: the base rate, the first tier ahead
  EXPECT_EQ(v.tier, 0u);
  EXPECT_EQ(v.rate_bp, 500u);
  EXPECT_EQ(v.next_tier_kopecks, 1'000'000u);
  buy(1, S1, B1, 999'999);
  v = bal(S1, B1);
  EXPECT_EQ(v.tier, 0u);
  EXPECT_EQ(v.next_tier_kopecks, 1u);
  // Priced at the rate before it counts: 9999.99 roubles at 5 % = 499.99 -> 499.
  EXPECT_EQ(v.available, 499u);
  buy(2, S1, B1, 1);
  v = bal(S1, B1);
  EXPECT_EQ(v.tier, 1u);
  EXPECT_EQ(v.rate_bp, 700u);
  EXPECT_EQ(v.next_tier_kopecks, 4'000'000u);
  EXPECT_EQ(run(accrue_by_price(3, S1, B1, 100'000)), ok(70, 700));
  buy(4, S1, B1, 4'000'000);
  v = bal(S1, B1);
  EXPECT_EQ(v.tier, 2u);
  EXPECT_EQ(v.rate_bp, 1'000u);
  EXPECT_EQ(v.next_tier_kopecks, 0u);
  // A pending accrual is not a purchase: only confirmation counts.
  EXPECT_EQ(v.purchases_kopecks, 5'000'000u);
}

TEST_F(LedgerTest, Rates_TheWindowCountsWholeCalendarDays) {
  ASSERT_EQ(code(rates_cmd(S1, 500, {{100'000, 700}}, 2)), Code::ok);
  // kT0 is 03:00 Moscow time on 10 January. Buy at 23:59 Moscow time that day.
  const TimeUs day_end = kT0 + 21 * kUsPerHour - kUsPerMinute;
  advance(day_end - now_ - 2);
  buy(1, S1, B1, 100'000);
  EXPECT_EQ(bal(S1, B1).tier, 1u);
  // The window is 2 days: 10 and 11 January, all of them, then the purchase is out.
  advance(kUsPerDay + kUsPerMinute - 1);  // 11 January, 23:59:59.999999 Moscow time
  EXPECT_EQ(bal(S1, B1).tier, 1u);
  EXPECT_EQ(bal(S1, B1).purchases_kopecks, 100'000u);
  advance(1);  // 12 January, 00:00 Moscow time
  EXPECT_EQ(bal(S1, B1).tier, 0u);
  EXPECT_EQ(bal(S1, B1).purchases_kopecks, 0u);
  EXPECT_EQ(bal(S1, B1).next_tier_kopecks, 100'000u);
}

TEST_F(LedgerTest, Rates_AReversalTakesThePurchaseBackOut) {
  ASSERT_EQ(code(rates_cmd(S1, 500, {{100'000, 700}})), Code::ok);
  buy(1, S1, B1, 60'000);
  buy(2, S1, B1, 50'000);
  EXPECT_EQ(bal(S1, B1).tier, 1u);
  advance(3 * kUsPerDay);  // from another day: it leaves its confirmation's day
  ASSERT_EQ(run(reverse(2)).code, Code::ok);
  const AccountView v = bal(S1, B1);
  EXPECT_EQ(v.purchases_kopecks, 60'000u);
  EXPECT_EQ(v.tier, 0u);
  EXPECT_EQ(v.next_tier_kopecks, 40'000u);
}

TEST_F(LedgerTest, Rates_CapsApplyAtConfirmation) {
  ASSERT_EQ(code(rates_cmd(S1, 1'000)), Code::ok);  // 10 %
  set_earn_max(S1, 150);
  EXPECT_EQ(run(accrue_by_price(1, S1, B1, 1'000'000)), ok(1'000, 1'000));  // pending: uncut
  EXPECT_EQ(run(confirm(1)), ok(150, 0, kEarn));
}

TEST_F(LedgerTest, Rates_ThePolicyRulesRefuseBadRatesAndTiers) {
  auto bad = [&](SetPolicy c) { EXPECT_EQ(code(c), Code::invalid_policy); };
  bad(rates_cmd(S1, 0));
  bad(rates_cmd(S1, kRateBpMax + 1));
  bad(rates_cmd(S1, 500, {{100, 700}, {100, 800}}));  // not ascending
  bad(rates_cmd(S1, 500, {{0, 700}}));                // threshold 0
  bad(rates_cmd(S1, 500, {{100, 0}}));                // rate 0
  bad(rates_cmd(S1, 500, {{100, kRateBpMax + 1}}));
  bad(rates_cmd(S1, 500, {}, kTierWindowDaysMax + 1));
  SetPolicy tiers_only = policy_cmd(S1, SetPolicy::kTiers);  // tiers need a base rate
  tiers_only.tier_count = 1;
  tiers_only.tiers[0] = {100, 700, 0};
  bad(tiers_only);
  SetPolicy stray = rates_cmd(S1, 500, {{100, 700}});
  stray.tiers[3] = {5, 5, 0};  // past tier_count: must be zero
  bad(stray);
  EXPECT_EQ(ledger_->policy(S1), Policy{});  // nothing changed
  ASSERT_EQ(code(rates_cmd(S1, 500, {{100, 700}}, 30)), Code::ok);
  const Policy p = ledger_->policy(S1);
  EXPECT_EQ(p.rate_bp, 500u);
  EXPECT_EQ(p.tier_count, 1u);
  EXPECT_EQ(p.tiers[0], (PolicyTier{100, 700, 0}));
  EXPECT_EQ(p.tier_window_days, 30u);
  ASSERT_EQ(code(rates_cmd(S1, 400)), Code::ok);  // kTiers with no tiers clears them
  EXPECT_EQ(ledger_->policy(S1).tier_count, 0u);
  EXPECT_EQ(ledger_->policy(S1).tier_window_days, 30u);
}

TEST_F(LedgerTest, Cart_SaysWhatALineWouldEarnAfterDebtAndCaps) {
  ASSERT_EQ(code(rates_cmd(S1, 500, {{1'000'000, 1'000}})), Code::ok);
  set_earn_max(S1, 1'000);
  set_balance_max(S1, 600);
  ASSERT_EQ(run(credit(S1, B1, 500)), ok(500));
  std::vector<CartEntry> cart;
  const std::vector<CartLine> lines = {{S1, 200'000}, {S2, 200'000}, {S1, 20'000'000}};
  ledger_->cart(B1, lines, 0, now_, cart);
  ASSERT_EQ(cart.size(), 3u);
  // 2000 roubles at 5 %: 100, the balance cap leaves room for 100.
  EXPECT_EQ(cart[0].earn, 100u);
  EXPECT_EQ(cart[0].rate_bp, 500u);
  EXPECT_EQ(cart[0].tier, 0u);
  EXPECT_EQ(cart[0].earn_month_room, 500u);
  EXPECT_EQ(cart[0].balance_room, 100u);
  // No rate at S2: nothing to earn.
  EXPECT_EQ(cart[1].earn, 0u);
  EXPECT_EQ(cart[1].rate_bp, 0u);
  EXPECT_EQ(cart[1].balance_room, 30'000u);
  // 200,000 roubles: 10,000 by rate, cut to the balance room.
  EXPECT_EQ(cart[2].earn, 100u);
  // Into tier 1 after a purchase; a debt is repaid first.
  buy(1, S1, B1, 1'000'000);  // earns 500, cut to 100 by the balance cap
  ASSERT_EQ(run(hold(2, S1, B1, 600)).code, Code::ok);
  ASSERT_EQ(run(capture(2)).code, Code::ok);
  ASSERT_EQ(run(reverse(1)), ok(100, 100));  // nothing left: debt 100
  ledger_->cart(B1, lines, 0, now_, cart);
  EXPECT_EQ(cart[0].tier, 0u);  // the reversal took the purchase back out
  EXPECT_EQ(cart[0].earn, 0u);  // 100 by rate, all of it repays the debt
  // 10,000 by rate, 100 repays; the balance cap leaves 600, the month's allowance 500
  // (1,000 less the credit's 500; the reversal gave the confirmation's 100 back).
  EXPECT_EQ(cart[2].earn_month_room, 500u);
  EXPECT_EQ(cart[2].balance_room, 600u);
  EXPECT_EQ(cart[2].earn, 500u);
}

// ---------------------------------------------------------------------------------
// Walks of one seller's accounts: expiring and segments (docs/engine.md, Reads).

TEST_F(LedgerTest, Expiring_WalksTheSellersAccountsWithABoundedScanPerPage) {
  // kReadScanMax + 5 accounts of S1 with nothing expiring soon, then one that does; S2's
  // buyers expire soon too but are never S1's.
  for (std::uint32_t k = 0; k < kReadScanMax + 5; ++k) {
    ASSERT_EQ(run(credit(S1, 10'000 + k, 10)).code, Code::ok);
    if (k % 1000 == 0) {
      ASSERT_EQ(run(credit(S2, 10'000 + k, 10, LotLife::ttl_of(kUsPerHour))).code, Code::ok);
    }
  }
  ASSERT_EQ(run(credit(S1, B1, 7, LotLife::ttl_of(kUsPerHour))), ok(7));
  ExpiringPage page = ledger_->expiring(S1, kUsPerDay, {}, 100, now_);
  EXPECT_TRUE(page.entries.empty());  // the scan budget ran out first
  EXPECT_FALSE(page.done);
  page = ledger_->expiring(S1, kUsPerDay, page.next, 100, now_);
  EXPECT_EQ(page.entries, (std::vector<ExpiringEntry>{{B1, 7, now_ + kUsPerHour}}));
  EXPECT_TRUE(page.done);
  // A cursor at another seller's account answers nothing.
  const ExpiringPage other = ledger_->expiring(S2, kUsPerDay, {}, 1, now_);
  ASSERT_FALSE(other.done);
  const ExpiringPage forged = ledger_->expiring(S1, kUsPerDay, other.next, 100, now_);
  EXPECT_TRUE(forged.entries.empty());
  EXPECT_TRUE(forged.done);
  EXPECT_TRUE(ledger_->expiring(S3, kUsPerDay, {}, 100, now_).done);  // no accounts at all
}

TEST_F(LedgerTest, Segment_InactiveAndBoughtWithinByLastPurchase) {
  ASSERT_EQ(code(rates_cmd(S1, 500)), Code::ok);
  ASSERT_EQ(code(rates_cmd(S2, 500)), Code::ok);
  buy(1, S1, B1, 100'000);            // 90 days ago
  advance(30 * kUsPerDay);
  buy(2, S1, B2, 100'000);            // 60 days ago
  buy(3, S1, B3, 100'000);
  ASSERT_EQ(run(reverse(3)).code, Code::ok);  // a return does not undo "last purchase"
  advance(50 * kUsPerDay);
  buy(4, S1, B4, 100'000);            // 10 days ago
  ASSERT_EQ(run(credit(S1, B5, 10)).code, Code::ok);  // never bought: in neither
  buy(5, S2, B6, 100'000);            // another seller's
  advance(10 * kUsPerDay);
  auto buyers = [&](SegmentKind kind, TimeUs period, std::uint32_t limit) {
    std::vector<BuyerId> all;
    SegmentCursor cursor;
    for (int pages = 0;; ++pages) {
      EXPECT_LT(pages, 10);
      const SegmentPage page = ledger_->segment({S1, kind, 0, period}, cursor, limit, now_);
      all.insert(all.end(), page.buyers.begin(), page.buyers.end());
      if (page.done) break;
      cursor = page.next;
    }
    return all;
  };
  // Inactive for 60 days: last purchase before now - 60 d (B2 and B3 bought 60 d + a few µs ago).
  EXPECT_EQ(buyers(SegmentKind::inactive, 60 * kUsPerDay, 0), (std::vector<BuyerId>{B1, B2, B3}));
  EXPECT_EQ(buyers(SegmentKind::inactive, 61 * kUsPerDay, 0), (std::vector<BuyerId>{B1}));
  EXPECT_EQ(buyers(SegmentKind::bought_within, 30 * kUsPerDay, 0), (std::vector<BuyerId>{B4}));
  EXPECT_EQ(buyers(SegmentKind::bought_within, 365 * kUsPerDay, 1),  // a page per buyer
            (std::vector<BuyerId>{B1, B2, B3, B4}));
}

TEST_F(LedgerTest, Segment_UnspentListsRecipientsWhoSpentNone) {
  for (BuyerId b : {B1, B2, B3, B4}) {
    ASSERT_EQ(run(credit(S1, b, 100, LotLife::policy(), 9)).code, Code::ok);
  }
  ASSERT_EQ(run(credit(S1, B5, 100)).code, Code::ok);  // no campaign
  ASSERT_EQ(run(spend(1, S1, B2, 10)).code, Code::ok);
  ASSERT_EQ(run(hold(2, S1, B3, 10)).code, Code::ok);  // held, not spent: still unspent
  SegmentPage page = ledger_->segment({S1, SegmentKind::unspent, 9, 0}, {}, 2, now_);
  EXPECT_EQ(page.buyers, (std::vector<BuyerId>{B1, B3}));
  EXPECT_FALSE(page.done);
  page = ledger_->segment({S1, SegmentKind::unspent, 9, 0}, page.next, 2, now_);
  EXPECT_EQ(page.buyers, (std::vector<BuyerId>{B4}));
  EXPECT_TRUE(page.done);
  EXPECT_TRUE(ledger_->segment({S1, SegmentKind::unspent, 8, 0}, {}, 2, now_).buyers.empty());
  EXPECT_TRUE(ledger_->segment({S1, SegmentKind::unspent, 9, 0}, {77}, 2, now_).done);  // past the end
}

// ---------------------------------------------------------------------------------------
// Reasons and campaign results (issue 12)

namespace reasons {

Credit with_reason(Credit c, std::uint32_t reason) {
  c.reason = reason;
  return c;
}

}  // namespace reasons

TEST_F(LedgerTest, Credit_KeepsItsReasonOnTheLot) {
  using reasons::with_reason;
  ASSERT_EQ(run(with_reason(credit(S1, B1, 10, LotLife::ttl_of(kUsPerDay)), 3)), ok(10));
  ASSERT_EQ(run(with_reason(credit(S1, B1, 20, LotLife::ttl_of(2 * kUsPerDay)), 200)), ok(20));
  ASSERT_EQ(run(accrue(1, S1, B1, 30, LotLife::ttl_of(3 * kUsPerDay))), ok(30));
  ASSERT_EQ(run(confirm(1)), ok(30));
  const std::vector<LotView> l = lots(S1, B1);
  ASSERT_EQ(l.size(), 3u);
  EXPECT_EQ(l[0].reason, 3);    // apology
  EXPECT_EQ(l[1].reason, 200);  // a seller's own code
  EXPECT_EQ(l[2].reason, 0);    // cashback has no reason
  EXPECT_EQ(l[2].origin, LotView::Origin::order);
}

TEST_F(LedgerTest, Credit_RejectsReservedAndOutOfRangeReasons) {
  using reasons::with_reason;
  for (const std::uint32_t bad : {6u, 10u, 15u, 256u, 0xFFFF'FFFFu}) {
    EXPECT_EQ(code(with_reason(credit(S1, B1, 10), bad)), Code::invalid_reason) << bad;
  }
  EXPECT_FALSE(bal(S1, B1).exists);  // a rejected credit creates no account
  // The amount is checked first.
  EXPECT_EQ(code(with_reason(credit(S1, B1, 0), 7)), Code::zero_amount);
  for (const std::uint32_t good : {0u, 1u, 5u, 16u, 255u}) {
    EXPECT_EQ(run(with_reason(credit(S1, B1, 1), good)), ok(1)) << good;
  }
}

// A lot taken by a hold and recreated by its release keeps its reason.
TEST_F(LedgerTest, Credit_ReasonComesBackWithTheReturnedPiece) {
  ASSERT_EQ(run(reasons::with_reason(credit(S1, B1, 100), 2)), ok(100));
  ASSERT_EQ(run(hold(1, S1, B1, 100)), ok(100));
  EXPECT_TRUE(lots(S1, B1).empty());
  ASSERT_EQ(run(release(1)), ok(100));
  ASSERT_EQ(lots(S1, B1).size(), 1u);
  EXPECT_EQ(lots(S1, B1)[0].reason, 2);
  ASSERT_EQ(run(spend(2, S1, B1, 40)), ok(40));
  ASSERT_EQ(run(refund(2)), ok(40));
  EXPECT_EQ(lots(S1, B1)[0].reason, 2);
  EXPECT_EQ(lots(S1, B1)[0].amount, 100u);
}

// The goods total of an order that spent a campaign's bonuses counts once for that
// campaign, however many of its lots the order spent from; a refund does not subtract it,
// and a hold released (not captured) counts nothing.
TEST_F(LedgerTest, CampaignStats_SalesCountEachSpendingOrderOnce) {
  ASSERT_EQ(run(credit(S1, B1, 100, LotLife::ttl_of(kUsPerDay), 7)), ok(100));
  ASSERT_EQ(run(credit(S1, B1, 100, LotLife::ttl_of(2 * kUsPerDay), 7)), ok(100));
  ASSERT_EQ(run(credit(S1, B1, 100, LotLife::ttl_of(3 * kUsPerDay), 8)), ok(100));
  ASSERT_EQ(run(credit(S1, B1, 100, LotLife::ttl_of(4 * kUsPerDay))), ok(100));
  ASSERT_EQ(run(spend(1, S1, B1, 250, 50'000'00)), ok(250));  // 7, 7, then 50 of 8
  EXPECT_EQ(cstats(S1, 7).sales_orders, 1u);
  EXPECT_EQ(cstats(S1, 7).sales_kopecks, 50'000'00u);
  EXPECT_EQ(cstats(S1, 8).sales_orders, 1u);
  EXPECT_EQ(cstats(S1, 8).sales_kopecks, 50'000'00u);

  ASSERT_EQ(run(hold(2, S1, B1, 30, 10'000'00)), ok(30));
  ASSERT_EQ(run(release(2)), ok(30));
  EXPECT_EQ(cstats(S1, 8).sales_orders, 1u);  // released: no sale
  ASSERT_EQ(run(hold(3, S1, B1, 60, 20'000'00)), ok(60));  // 50 of 8, 10 of no campaign
  ASSERT_EQ(run(capture(3, 20)), ok(20, 40));               // spends 20 of 8
  EXPECT_EQ(cstats(S1, 8).sales_orders, 2u);
  EXPECT_EQ(cstats(S1, 8).sales_kopecks, 70'000'00u);
  EXPECT_EQ(cstats(S1, 7).sales_orders, 1u);

  ASSERT_EQ(run(refund(1)), ok(250));
  EXPECT_EQ(cstats(S1, 7).sales_kopecks, 50'000'00u);  // a refund does not subtract
  EXPECT_EQ(cstats(S1, 7).spent, 200u);
  EXPECT_EQ(cstats(S1, 7).refunded, 200u);
}

// What a revoke takes is `revoked_amount`; what lapsed is `expired`; the seller's
// `expired` counts both.
TEST_F(LedgerTest, CampaignStats_SeparatesRevokedFromLapsed) {
  ASSERT_EQ(run(credit(S1, B1, 100, LotLife::ttl_of(kUsPerMinute), 7)), ok(100));
  ASSERT_EQ(run(credit(S1, B2, 60, LotLife::ttl_of(kUsPerDay), 7)), ok(60));
  advance(2 * kUsPerMinute);
  ASSERT_EQ(run(sweep()), ok(100));
  EXPECT_EQ(cstats(S1, 7).expired, 100u);
  ASSERT_EQ(run(revoke(S1, 7)), ok(60));
  const CampaignStats c = cstats(S1, 7);
  EXPECT_EQ(c.expired, 100u);
  EXPECT_EQ(c.revoked_amount, 60u);
  EXPECT_EQ(c.outstanding, 0u);
  EXPECT_EQ(stats(S1).expired, 160u);
}

// A seller's month: accruals made, confirmations, credits by reason, spends with their
// orders' goods, refunds, reversals and expiries, in the month they happened.
TEST_F(LedgerTest, MonthReport_CountsTheMonthsFlowsByReason) {
  const std::uint16_t month = calendar_month(now_);
  auto credit_for = [&](BuyerId b, Amount amount, std::uint32_t reason) {
    Credit c = credit(S1, b, amount, LotLife::ttl_of(kUsPerHour));
    c.reason = reason;
    return c;
  };
  ASSERT_EQ(run(credit_for(B1, 100, 1)), ok(100));   // mailing
  ASSERT_EQ(run(credit_for(B1, 20, 3)), ok(20));     // apology
  ASSERT_EQ(run(credit_for(B2, 30, 200)), ok(30));   // a seller's own
  ASSERT_EQ(run(credit_for(B2, 40, 17)), ok(40));    // another own: the same bucket
  ASSERT_EQ(run(credit_for(B3, 5, 0)), ok(5));
  ASSERT_EQ(run(accrue(1, S1, B1, 70)), ok(70));
  ASSERT_EQ(run(accrue(2, S1, B2, 9)), ok(9));       // stays pending
  ASSERT_EQ(run(confirm(1)), ok(70));
  ASSERT_EQ(run(spend(3, S1, B1, 50, 10'000'00)), ok(50));
  ASSERT_EQ(run(hold(4, S1, B2, 10, 2'000'00)), ok(10));
  ASSERT_EQ(run(release(4)), ok(10));                // not an order with bonuses
  ASSERT_EQ(run(refund(3, 20)), ok(20));
  ASSERT_EQ(run(reverse(1)), ok(70));
  advance(2 * kUsPerHour);
  ASSERT_EQ(run(sweep()).code, Code::ok);
  ASSERT_EQ(calendar_month(now_), month) << "the test must stay in one month";

  const MonthReport m = ledger_->month_report(S1, month);
  EXPECT_EQ(m.month, month);
  EXPECT_EQ(m.accrued, 79u);
  EXPECT_EQ(m.confirmed, 70u);
  EXPECT_EQ(m.credited[MonthReport::kNone], 5u);
  EXPECT_EQ(m.credited[MonthReport::kMailing], 100u);
  EXPECT_EQ(m.credited[MonthReport::kApology], 20u);
  EXPECT_EQ(m.credited[MonthReport::kOwn], 70u);
  EXPECT_EQ(m.credited[MonthReport::kGift], 0u);
  EXPECT_EQ(m.spent, 50u);
  EXPECT_EQ(m.refunded, 20u);
  EXPECT_EQ(m.reversed, 70u);
  EXPECT_EQ(m.orders, 1u);
  EXPECT_EQ(m.orders_goods_kopecks, 10'000'00u);
  const SellerStats st = stats(S1);
  EXPECT_EQ(m.expired, st.expired);  // everything that expired did so this month
  EXPECT_GT(m.expired, 0u);
  EXPECT_EQ(ledger_->month_report(S2, month), MonthReport{.month = month});
  EXPECT_EQ(ledger_->month_report(S1, month + 1), MonthReport{.month = static_cast<std::uint16_t>(month + 1)});
}

// The current month and the 24 before it are kept; an older one goes when a new month
// starts for the seller.
TEST_F(LedgerTest, MonthReport_KeepsTwentyFiveMonths) {
  const std::uint16_t first = calendar_month(now_);
  for (int k = 0; k < 27; ++k) {
    ASSERT_EQ(run(credit(S1, B1, 1, LotLife::forever())), ok(1));
    advance(31 * kUsPerDay);
  }
  const std::uint16_t last = calendar_month(now_ - 31 * kUsPerDay);
  ASSERT_EQ(last, first + 26);
  EXPECT_EQ(ledger_->month_report(S1, first).credited[MonthReport::kNone], 0u);      // dropped
  EXPECT_EQ(ledger_->month_report(S1, first + 1).credited[MonthReport::kNone], 0u);  // dropped
  EXPECT_EQ(ledger_->month_report(S1, first + 2).credited[MonthReport::kNone], 1u);
  EXPECT_EQ(ledger_->month_report(S1, last).credited[MonthReport::kNone], 1u);
}

// ---------------------------------------------------------------------------------------
// Referrals

namespace referrals {

Referral make(Id128 id, SellerId s, BuyerId referrer, BuyerId friend_buyer, Amount referrer_amount,
              Amount friend_amount, CampaignId campaign = 0) {
  Referral r;
  r.id = id;
  r.seller = s;
  r.referrer = referrer;
  r.friend_buyer = friend_buyer;
  r.referrer_amount = referrer_amount;
  r.friend_amount = friend_amount;
  r.campaign = campaign;
  return r;
}

}  // namespace referrals

TEST_F(LedgerTest, Referral_CreditsBothWithReasonReferral) {
  const Referral r = referrals::make(fresh_id(), S1, B1, B2, 300, 100, 7);
  EXPECT_EQ(run(r), ok(300, 100));
  ASSERT_EQ(lots(S1, B1).size(), 1u);
  EXPECT_EQ(lots(S1, B1)[0].reason, 4);
  EXPECT_EQ(lots(S1, B1)[0].origin_id, 7u);
  ASSERT_EQ(lots(S1, B2).size(), 1u);
  EXPECT_EQ(lots(S1, B2)[0].amount, 100u);
  EXPECT_EQ(lots(S1, B2)[0].reason, 4);
  EXPECT_EQ(cstats(S1, 7).recipients, 2u);
  EXPECT_EQ(ledger_->month_report(S1, calendar_month(now_)).credited[MonthReport::kReferral], 400u);
  // A retry is a repeat for both: nothing is credited twice.
  Result repeat = ok(300, 100);
  repeat.flags = kRep;
  EXPECT_EQ(run(r), repeat);
  EXPECT_EQ(bal(S1, B1).available, 300u);
  EXPECT_EQ(bal(S1, B2).available, 100u);
}

TEST_F(LedgerTest, Referral_RejectsItselfAndBadAmountsFirst) {
  EXPECT_EQ(code(referrals::make(fresh_id(), S1, B1, B1, 300, 100)), Code::invalid_referral);
  EXPECT_EQ(code(referrals::make(fresh_id(), S1, B1, B2, 0, 100)), Code::zero_amount);
  EXPECT_EQ(code(referrals::make(fresh_id(), S1, B1, B2, 300, kAmountMax + 1)), Code::overflow);
  ASSERT_EQ(run(revoke(S1, 7)), ok(0));
  EXPECT_EQ(code(referrals::make(fresh_id(), S1, B1, B2, 300, 100, 7)), Code::campaign_revoked);
  EXPECT_FALSE(bal(S1, B1).exists);
  EXPECT_FALSE(bal(S1, B2).exists);
}

// Each cap cuts each credit as it would a credit of its own.
TEST_F(LedgerTest, Referral_CapsCutEachBuyersCredit) {
  set_balance_max(S1, 250);
  ASSERT_EQ(run(credit(S1, B2, 200)), ok(200));
  EXPECT_EQ(run(referrals::make(fresh_id(), S1, B1, B2, 300, 100)), ok(250, 50, kBal));
}

// Both accounts need room: a referral that needs two new accounts where one fits creates
// neither.
TEST_F(LedgerTest, Referral_NeedsRoomForBothAccounts) {
  EngineConfig config;
  config.accounts_max = 2;
  reconfigure(config);
  ASSERT_EQ(run(credit(S1, B3, 10)), ok(10));
  EXPECT_EQ(code(referrals::make(fresh_id(), S1, B1, B2, 300, 100)), Code::accounts_full);
  EXPECT_FALSE(bal(S1, B1).exists);
  EXPECT_EQ(run(referrals::make(fresh_id(), S1, B3, B2, 30, 10)), ok(30, 10));
}

// The server's shards: each ledger credits only the buyers its partition owns, and
// remembers the id either way; the parts add up to one ledger's answer.
TEST_F(LedgerTest, Referral_EachPartitionCreditsItsOwnBuyers) {
  BuyerId referrer = 1;
  BuyerId friend_buyer = 2;
  while (partition_of(friend_buyer, 2) == partition_of(referrer, 2)) ++friend_buyer;
  Ledger shard[2];
  for (std::uint32_t s = 0; s < 2; ++s) shard[s].set_partition(s, 2);
  const Referral r = referrals::make(Id128{5, 5}, S1, referrer, friend_buyer, 300, 100);
  Result sum;
  for (Ledger& l : shard) {
    const Result part = l.apply(r, kT0);
    ASSERT_TRUE(part.ok());
    sum.amount += part.amount;
    sum.aux += part.aux;
  }
  EXPECT_EQ(sum, ok(300, 100));
  Ledger& referrer_shard = shard[partition_of(referrer, 2)];
  Ledger& friend_shard = shard[partition_of(friend_buyer, 2)];
  EXPECT_EQ(referrer_shard.balance(S1, referrer, kT0).available, 300u);
  EXPECT_FALSE(referrer_shard.balance(S1, friend_buyer, kT0).exists);
  EXPECT_EQ(friend_shard.balance(S1, friend_buyer, kT0).available, 100u);
  EXPECT_FALSE(friend_shard.balance(S1, referrer, kT0).exists);
  for (Ledger& l : shard) {
    EXPECT_TRUE(l.id_memory(r.id, kT0 + 1).has_value());
    EXPECT_TRUE(l.apply(r, kT0 + 1).flags & Result::kRepeat);
    EXPECT_FALSE(l.audit());
  }
}

// ---------------------------------------------------------------------------------------
// Events (docs/engine.md, "Events"): what a recording ledger says each write did.

// An event's kind, amount, ref, debt part and the account's figures after it.
struct Ev {
  LedgerEvent::Kind kind;
  Amount amount;
  std::uint64_t ref;
  std::uint32_t debt_part;
  std::uint32_t balance, held, pending, debt;
  friend bool operator==(const Ev&, const Ev&) = default;
  friend std::ostream& operator<<(std::ostream& os, const Ev& e) {
    return os << event_kind_name(e.kind) << " " << e.amount << " ref " << e.ref << " debt_part "
              << e.debt_part << " after " << e.balance << "/" << e.held << "/" << e.pending
              << "/" << e.debt;
  }
};
using K = LedgerEvent::Kind;

class LedgerEventTest : public LedgerTest {
 protected:
  void SetUp() override { ledger_->record_events(true); }
  // Runs `c` and returns its events, each checked to be of (S1, B1) at the run's time.
  std::vector<Ev> events_of(const Command& c) {
    run(c);
    std::vector<Ev> out;
    for (const LedgerEvent& e : ledger_->events()) {
      EXPECT_EQ(e.time_us, now_);
      EXPECT_EQ(e.seller, S1);
      EXPECT_EQ(e.buyer, B1);
      out.push_back(Ev{e.kind, e.amount, e.ref, e.debt_part, e.balance_after, e.held_after,
                       e.pending_after, e.debt_after});
    }
    return out;
  }
  using V = std::vector<Ev>;
};

TEST_F(LedgerTest, Events_AreOffByDefaultAndCostNothing) {
  EXPECT_FALSE(ledger_->recording_events());
  ASSERT_EQ(run(credit(S1, B1, 100)), ok(100));
  EXPECT_TRUE(ledger_->events().empty());
}

TEST_F(LedgerEventTest, Credit_EmitsCreditedWithCampaignAndReason) {
  Credit c = credit(S1, B1, 100, LotLife::policy(), 7);
  c.reason = 3;
  EXPECT_EQ(events_of(c), (V{{K::credited, 100, 7, 0, 100, 0, 0, 0}}));
  EXPECT_EQ(ledger_->events()[0].reason, 3u);
  EXPECT_EQ(ledger_->events()[0].ref_kind, LedgerEvent::Ref::campaign);
  EXPECT_EQ(events_of(credit(S1, B1, 1))[0].ref, 0u);
  EXPECT_EQ(ledger_->events()[0].ref_kind, LedgerEvent::Ref::none);
}

TEST_F(LedgerEventTest, RepeatAndRejectionEmitNothing) {
  const Credit c = credit(S1, B1, 100);
  ASSERT_EQ(events_of(c).size(), 1u);
  EXPECT_EQ(events_of(c), V{});                      // a repeat
  EXPECT_EQ(events_of(credit(S1, B1, 0)), V{});      // zero_amount
  EXPECT_EQ(events_of(hold(1, S1, B1, 500)), V{});  // insufficient_bonuses
}

TEST_F(LedgerEventTest, AccrualLife_AccruedConfirmedReversedIntoDebtThenRepaid) {
  EXPECT_EQ(events_of(accrue(5, S1, B1, 80)), (V{{K::accrued, 80, 5, 0, 0, 0, 80, 0}}));
  EXPECT_EQ(events_of(confirm(5)), (V{{K::confirmed, 80, 5, 0, 80, 0, 0, 0}}));
  EXPECT_EQ(events_of(spend(6, S1, B1, 50)),
            (V{{K::held, 50, 6, 0, 30, 50, 0, 0}, {K::spent, 50, 6, 0, 30, 0, 0, 0}}));
  // 30 can be taken back, 50 becomes debt.
  EXPECT_EQ(events_of(reverse(5)), (V{{K::reversed, 80, 5, 50, 0, 0, 0, 50}}));
  // A credit repays the debt first; a refund too.
  EXPECT_EQ(events_of(credit(S1, B1, 20)), (V{{K::credited, 20, 0, 20, 0, 0, 0, 30}}));
  EXPECT_EQ(events_of(refund(6, 40)), (V{{K::refunded, 40, 6, 30, 10, 0, 0, 0}}));
}

TEST_F(LedgerEventTest, CancelEmitsCancelled) {
  ASSERT_EQ(events_of(accrue(5, S1, B1, 80)).size(), 1u);
  EXPECT_EQ(events_of(cancel(5)), (V{{K::cancelled, 80, 5, 0, 0, 0, 0, 0}}));
}

TEST_F(LedgerEventTest, HoldCaptureReleasesTheRest) {
  ASSERT_EQ(run(credit(S1, B1, 100)), ok(100));
  EXPECT_EQ(events_of(hold(1, S1, B1, 60)), (V{{K::held, 60, 1, 0, 40, 60, 0, 0}}));
  EXPECT_EQ(events_of(capture(1, 45)),
            (V{{K::released, 15, 1, 0, 55, 0, 0, 0}, {K::spent, 45, 1, 0, 55, 0, 0, 0}}));
  EXPECT_EQ(events_of(hold(2, S1, B1, 10)), (V{{K::held, 10, 2, 0, 45, 10, 0, 0}}));
  EXPECT_EQ(events_of(release(2)), (V{{K::released, 10, 2, 0, 55, 0, 0, 0}}));
}

TEST_F(LedgerEventTest, SweepEmitsTimedOutAndExpiredPerLot) {
  ASSERT_EQ(run(credit(S1, B1, 100, LotLife::ttl_of(kUsPerHour), 7)), ok(100));
  ASSERT_EQ(run(credit(S1, B1, 50)), ok(50));
  ASSERT_EQ(run(hold(1, S1, B1, 20, kGoods, 10 * kUsPerMinute)), ok(20));
  advance(2 * kUsPerHour);
  // The hold took its 20 from the soonest-expiring lot: they come back dead.
  EXPECT_EQ(events_of(sweep()), (V{{K::timed_out, 20, 1, 0, 130, 0, 0, 0},
                                   {K::expired, 80, 7, 0, 50, 0, 0, 0}}));
  EXPECT_EQ(ledger_->events()[0].expired_part, 20u);
  EXPECT_EQ(ledger_->events()[0].ref_kind, LedgerEvent::Ref::order);
  EXPECT_EQ(ledger_->events()[1].ref_kind, LedgerEvent::Ref::campaign);
}

TEST_F(LedgerEventTest, ReturnIntoEndedLifeCountsItsExpiredPart) {
  ASSERT_EQ(run(credit(S1, B1, 100, LotLife::ttl_of(kUsPerHour))), ok(100));
  ASSERT_EQ(run(credit(S1, B1, 50)), ok(50));
  ASSERT_EQ(run(spend(1, S1, B1, 150)), ok(150));
  advance(2 * kUsPerHour);
  EXPECT_EQ(events_of(refund(1)), (V{{K::refunded, 150, 1, 0, 50, 0, 0, 0}}));
  EXPECT_EQ(ledger_->events()[0].expired_part, 100u);
}

TEST_F(LedgerEventTest, RevokeEmitsRevokedPerAccount) {
  ASSERT_EQ(run(credit(S1, B1, 100, LotLife::policy(), 7)), ok(100));
  ASSERT_EQ(run(credit(S1, B1, 30)), ok(30));
  ASSERT_EQ(run(credit(S1, B2, 40, LotLife::policy(), 7)), ok(40));
  run(revoke(S1, 7));
  ASSERT_EQ(ledger_->events().size(), 2u);
  std::vector<std::pair<BuyerId, Amount>> got;
  for (const LedgerEvent& e : ledger_->events()) {
    EXPECT_EQ(e.kind, K::revoked);
    EXPECT_EQ(e.ref, 7u);
    got.emplace_back(e.buyer, e.amount);
  }
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<std::pair<BuyerId, Amount>>{{B1, 100}, {B2, 40}}));
  EXPECT_EQ(ledger_->events()[got[0].first == ledger_->events()[0].buyer ? 0 : 1].balance_after,
            30u);
}

TEST_F(LedgerEventTest, CaptureOfAHoldPastItsDeadlineEmitsTimedOut) {
  ASSERT_EQ(run(credit(S1, B1, 100)), ok(100));
  ASSERT_EQ(run(hold(1, S1, B1, 60, kGoods, kUsPerMinute)), ok(60));
  advance(2 * kUsPerMinute);
  EXPECT_EQ(events_of(capture(1)), (V{{K::timed_out, 60, 1, 0, 100, 0, 0, 0}}));
}

TEST_F(LedgerEventTest, KindNamesRoundTrip) {
  for (std::uint8_t k = 1; k <= LedgerEvent::kKindMax; ++k) {
    LedgerEvent::Kind back{};
    ASSERT_TRUE(event_kind_of(event_kind_name(static_cast<K>(k)), back));
    EXPECT_EQ(static_cast<std::uint8_t>(back), k);
  }
  LedgerEvent::Kind unused{};
  EXPECT_FALSE(event_kind_of("unknown", unused));
  EXPECT_STREQ(event_kind_name(static_cast<K>(200)), "unknown");
}

}  // namespace
}  // namespace bonus
