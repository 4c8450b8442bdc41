// End to end: a real bonusd process (--test-clock) driven through the C++ client, every
// command and every query, a restart that keeps everything, and the test clock.
#include <gtest/gtest.h>

#include <thread>

#include "clients/cpp/client.h"
#include "tests/server/bonusd_process.h"
#include "tests/server/client_of.h"

namespace bonus::test {
namespace {

using client::Client;
using client::Status;

constexpr SellerId kSeller = 42;
constexpr BuyerId kBuyer = 7;
constexpr Kopecks kGoods = 199'000;  // 1990.00 roubles

class EndToEnd : public ::testing::Test {
 protected:
  void SetUp() override { start({"--test-clock"}); }

  void start(const std::vector<std::string>& args) {
    ASSERT_TRUE(server_.start(args)) << server_.log();
    std::string error;
    client_ = client_of(server_, error);
    ASSERT_TRUE(client_) << error;
  }

  void restart(const std::vector<std::string>& args = {"--test-clock"}) {
    client_.reset();
    ASSERT_EQ(server_.stop(SIGTERM), 0) << server_.log();
    start(args);
  }

  Id128 id() { return Id128{0xE2E, ++ids_}; }

  template <typename C>
  Result write(const C& command) {
    const auto reply = client_->write(command);
    EXPECT_TRUE(reply.ok()) << reply.message;
    return reply.value;
  }

  AccountView balance(SellerId seller = kSeller, BuyerId buyer = kBuyer) {
    const auto reply = client_->balance(seller, buyer, true);
    EXPECT_TRUE(reply.ok()) << reply.message;
    return reply.value.account;
  }

  void advance(TimeUs delta_us) {
    const auto reply = client_->admin(protocol::AdminAction::clock_advance, delta_us);
    ASSERT_TRUE(reply.ok()) << reply.message;
    ASSERT_TRUE(reply.value.ok) << reply.value.message;
  }

  BonusdProcess server_;
  std::unique_ptr<Client> client_;
  std::uint64_t ids_ = 0;
};

TEST_F(EndToEnd, TheWholeLifecycleThroughTheClient) {
  SetPolicy policy{id(), kSeller, SetPolicy::kBalanceMax, 0, 50'000, 0, 0};
  EXPECT_EQ(write(policy).code, Code::ok);

  // A mailing and a cashback accrual.
  EXPECT_EQ(write(Credit{id(), kSeller, kBuyer, 300, 9, LotLife::ttl_of(24 * kUsPerHour), 0, 0}).amount, 300u);
  EXPECT_EQ(write(Accrue{id(), 1001, kSeller, kBuyer, 95, LotLife::policy()}).code, Code::ok);
  AccountView v = balance();
  EXPECT_EQ(v.available, 300u);
  EXPECT_EQ(v.pending, 95u);

  const CartLine line{kSeller, kGoods};
  auto cart = client_->cart(kBuyer, std::span<const CartLine>(&line, 1), 48 * kUsPerHour);
  ASSERT_TRUE(cart.ok()) << cart.message;
  ASSERT_EQ(cart.value.size(), 1u);
  EXPECT_EQ(cart.value[0].spendable, 300u);
  EXPECT_EQ(cart.value[0].pending, 95u);
  EXPECT_EQ(cart.value[0].expiring_soon, 300u);

  EXPECT_EQ(write(ConfirmAccrual{id(), 1001}).amount, 95u);
  EXPECT_EQ(balance().available, 395u);

  // Checkout: hold, partial capture (the rest released), a one-step spend and a refund.
  EXPECT_EQ(write(Hold{id(), 2002, kSeller, kBuyer, 250, kGoods, 0}).amount, 250u);
  EXPECT_EQ(balance().held, 250u);
  const Result captured = write(Capture{id(), 2002, 200});
  EXPECT_EQ(captured.amount, 200u);
  EXPECT_EQ(captured.aux, 50u);
  EXPECT_EQ(write(Spend{id(), 3003, kSeller, kBuyer, 10, 5'000}).amount, 10u);
  EXPECT_EQ(write(Refund{id(), 3003, kAmountAll}).amount, 10u);
  EXPECT_EQ(write(Hold{id(), 4004, kSeller, kBuyer, 20, kGoods, 0}).code, Code::ok);
  EXPECT_EQ(write(Release{id(), 4004}).amount, 20u);
  EXPECT_EQ(write(Capture{id(), 4004, kAmountAll}).code, Code::order_released);
  EXPECT_EQ(balance().available, 195u);

  // Accruals cancelled and reversed (the cashback was partly spent: debt).
  EXPECT_EQ(write(Accrue{id(), 1002, kSeller, kBuyer, 40, LotLife::policy()}).code, Code::ok);
  EXPECT_EQ(write(CancelAccrual{id(), 1002}).amount, 40u);
  const Result reversed = write(ReverseAccrual{id(), 1001});
  EXPECT_EQ(reversed.code, Code::ok);
  EXPECT_EQ(reversed.amount, 95u);

  // Rejections come back as typed codes.
  EXPECT_EQ(write(Hold{id(), 5005, kSeller, kBuyer, 100'000, kGoods, 0}).code, Code::over_spend_cap);
  EXPECT_EQ(write(Capture{id(), 777'777, kAmountAll}).code, Code::unknown_order);
  EXPECT_EQ(write(Credit{id(), kSeller, kBuyer, 0, 0, LotLife::policy(), 0, 0}).code, Code::zero_amount);

  // Idempotency: the same id and body is a repeat, another body is refused.
  const Credit once{id(), kSeller, 8, 70, 0, LotLife::policy(), 0, 0};
  EXPECT_EQ(write(once).code, Code::ok);
  const Result again = write(once);
  EXPECT_EQ(again.code, Code::ok);
  EXPECT_TRUE(again.flags & Result::kRepeat);
  Credit other = once;
  other.amount = 71;
  EXPECT_EQ(write(other).code, Code::id_reused);
  EXPECT_EQ(balance(kSeller, 8).available, 70u);

  // Wallet, expiring, statistics, revoke.
  EXPECT_EQ(write(Credit{id(), 43, kBuyer, 5, 0, LotLife::forever(), 0, 0}).code, Code::ok);
  auto wallet = client_->wallet(kBuyer);
  ASSERT_TRUE(wallet.ok());
  ASSERT_EQ(wallet.value.size(), 2u);
  EXPECT_EQ(wallet.value[0].seller, kSeller);
  EXPECT_EQ(wallet.value[1].seller, 43u);
  auto expiring = client_->expiring(kSeller, 48 * kUsPerHour, 10);
  ASSERT_TRUE(expiring.ok());
  ASSERT_EQ(expiring.value.entries.size(), 1u);
  EXPECT_EQ(expiring.value.entries[0].buyer, kBuyer);
  EXPECT_TRUE(expiring.value.done);

  auto campaign = client_->campaign_stats(kSeller, 9);
  ASSERT_TRUE(campaign.ok());
  EXPECT_EQ(campaign.value.issued, 300u);
  EXPECT_EQ(campaign.value.recipients, 1u);
  EXPECT_EQ(campaign.value.spenders, 1u);
  const Result revoked = write(RevokeCampaign{id(), kSeller, 9});
  EXPECT_EQ(revoked.code, Code::ok);
  auto stats = client_->seller_stats(kSeller);
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats.value.issued, 300u + 95u + 70u);
  EXPECT_EQ(stats.value.spent, 210u);
  EXPECT_EQ(stats.value.refunded, 10u);
  EXPECT_EQ(stats.value.expired, revoked.amount);
  EXPECT_EQ(stats.value.outstanding, balance().available + balance(kSeller, 8).available);

  auto audit = client_->admin(protocol::AdminAction::audit);
  ASSERT_TRUE(audit.ok());
  EXPECT_TRUE(audit.value.ok) << audit.value.message;

  // A restart replays the journal to the same state.
  const AccountView before = balance();
  const SellerStats stats_before = stats.value;
  restart();
  EXPECT_EQ(balance(), before);
  auto stats_after = client_->seller_stats(kSeller);
  ASSERT_TRUE(stats_after.ok());
  EXPECT_EQ(stats_after.value, stats_before);
  EXPECT_TRUE(write(once).flags & Result::kRepeat);  // ids survive a restart too
}

TEST_F(EndToEnd, TheTestClockExpiresLotsAndTimesOutHolds) {
  EXPECT_EQ(write(Credit{id(), kSeller, kBuyer, 300, 0, LotLife::ttl_of(24 * kUsPerHour), 0, 0}).code, Code::ok);
  EXPECT_EQ(write(Credit{id(), kSeller, kBuyer, 50, 0, LotLife::forever(), 0, 0}).code, Code::ok);
  EXPECT_EQ(write(Hold{id(), 1, kSeller, kBuyer, 40, kGoods, kUsPerMinute}).code, Code::ok);

  advance(25 * kUsPerHour);
  const AccountView v = balance();
  EXPECT_EQ(v.held, 0u);  // the sweep at the new time released the timed-out hold
  EXPECT_EQ(v.available, 50u);
  EXPECT_EQ(write(Capture{id(), 1, kAmountAll}).code, Code::hold_timed_out);
  auto stats = client_->seller_stats(kSeller);
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats.value.expired, 300u);

  // The time stays moved across a restart: nothing comes back to life.
  restart();
  EXPECT_EQ(balance().available, 50u);
}

TEST_F(EndToEnd, WithoutTheFlagTheTestClockIsRefused) {
  restart({});
  const auto reply = client_->admin(protocol::AdminAction::clock_advance, kUsPerHour);
  EXPECT_EQ(reply.status, Status::refused);
  EXPECT_EQ(reply.error, protocol::FrameError::test_clock_disabled);
}

TEST_F(EndToEnd, ConcurrentWritersAreBatchedAndEachGetsItsOwnResult) {
  constexpr int kThreads = 8, kEach = 200;
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        const Credit c{Id128{0xBA7C, std::uint64_t(t * kEach + i + 1)}, kSeller,
                       std::uint64_t(100 + t), std::uint64_t(i + 1), 0, LotLife::forever(), 0, 0};
        const auto r = client_->write(c);
        if (r.ok() && r.value.code == Code::ok && r.value.amount == c.amount) ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), kThreads * kEach);
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(balance(kSeller, 100 + t).available, Amount(kEach * (kEach + 1) / 2));
  }
}

}  // namespace
}  // namespace bonus::test
