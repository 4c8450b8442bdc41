// Ids and orders are ledger-wide (issue 10): against a real bonusd with two shards, a
// write id or an order id means one thing across every shard. Each test reproduces a
// defect of the per-shard tables that came before.
#include <gtest/gtest.h>

#include <array>

#include "clients/cpp/client.h"
#include "engine/hash.h"
#include "tests/server/bonusd_process.h"
#include "tests/server/client_of.h"

namespace bonus::test {
namespace {

using client::Client;

constexpr SellerId kSeller = 42;
constexpr Kopecks kGoods = 10'000'000;

// A buyer on shard `shard` of 2 (shard = mix64(buyer) % shards).
BuyerId buyer_on(std::uint32_t shard, BuyerId from = 1) {
  for (BuyerId b = from;; ++b) {
    if (mix64(b) % 2 == shard) return b;
  }
}

class LedgerWide : public ::testing::Test {
 protected:
  void SetUp() override { start({"--shards", "2", "--test-clock"}); }

  void start(const std::vector<std::string>& args) {
    ASSERT_TRUE(server_.start(args)) << server_.log();
    std::string error;
    client_ = client_of(server_, error);
    ASSERT_TRUE(client_) << error;
  }

  void restart(const std::vector<std::string>& args) {
    client_.reset();
    ASSERT_EQ(server_.stop(SIGTERM), 0) << server_.log();
    start(args);
  }

  Id128 id() { return Id128{0x1D, ++ids_}; }

  template <typename C>
  Result write(const C& command) {
    const auto reply = client_->write(command);
    EXPECT_TRUE(reply.ok()) << reply.message;
    return reply.value;
  }

  Amount available(BuyerId buyer) {
    const auto reply = client_->balance(kSeller, buyer);
    EXPECT_TRUE(reply.ok()) << reply.message;
    return reply.value.account.available;
  }

  Credit credit(Id128 id, BuyerId buyer, Amount amount) {
    return Credit{id, kSeller, buyer, amount, 0, LotLife::forever(), 0, 0};
  }

  BonusdProcess server_;
  std::unique_ptr<Client> client_;
  std::uint64_t ids_ = 0;
  const BuyerId b0_ = buyer_on(0);
  const BuyerId b1_ = buyer_on(1);
};

TEST_F(LedgerWide, AnIdUsedOnOneShardIsReusedOnTheOther) {
  const Id128 x = id();
  ASSERT_EQ(write(credit(x, b0_, 100)).code, Code::ok);
  EXPECT_EQ(write(credit(x, b1_, 200)).code, Code::id_reused);
  EXPECT_EQ(available(b1_), 0u);
  const Result again = write(credit(x, b0_, 100));  // the retry is still a repeat
  EXPECT_EQ(again.code, Code::ok);
  EXPECT_TRUE(again.flags & Result::kRepeat);
  EXPECT_EQ(available(b0_), 100u);
  // And so it stays after a restart, which rebuilds the directory from the ledgers.
  restart({"--test-clock"});
  EXPECT_EQ(write(credit(x, b1_, 200)).code, Code::id_reused);
  EXPECT_EQ(available(b1_), 0u);
}

TEST_F(LedgerWide, OneBatchCannotApplyAnIdOnBothShards) {
  const Id128 x = id();
  const std::array<Credit, 2> batch{credit(x, b0_, 100), credit(x, b1_, 100)};
  const auto reply = client_->write_batch(std::span<const Credit>(batch));
  ASSERT_TRUE(reply.ok()) << reply.message;
  EXPECT_EQ(reply.value[0].code, Code::ok);
  EXPECT_EQ(reply.value[1].code, Code::id_reused);
  EXPECT_EQ(available(b0_) + available(b1_), 100u);
}

TEST_F(LedgerWide, ASellerWideCommandWithAReusedIdChangesNoShard) {
  const Id128 x = id();
  ASSERT_EQ(write(credit(x, b0_, 10)).code, Code::ok);
  // A balance cap of 50 under the id of that credit: refused everywhere.
  EXPECT_EQ(write(SetPolicy{x, kSeller, SetPolicy::kBalanceMax, 0, 50, 0, 0}).code,
            Code::id_reused);
  EXPECT_EQ(write(RevokeCampaign{x, kSeller, 7}).code, Code::id_reused);
  // Had any shard taken the policy, a credit of 100 there would be cut to the cap.
  EXPECT_EQ(write(credit(id(), b0_, 100)).amount, 100u);
  EXPECT_EQ(write(credit(id(), b1_, 100)).amount, 100u);
  // Had any shard revoked campaign 7, its credits there would be campaign_revoked.
  for (const BuyerId b : {b0_, b1_}) {
    EXPECT_EQ(write(Credit{id(), kSeller, b, 5, 7, LotLife::forever(), 0, 0}).code, Code::ok);
  }
  // A seller-wide id used again by a buyer's command is reused too.
  const Id128 y = id();
  ASSERT_EQ(write(SetPolicy{y, kSeller, SetPolicy::kBalanceMax, 0, 50'000, 0, 0}).code, Code::ok);
  EXPECT_EQ(write(credit(y, b1_, 1)).code, Code::id_reused);
  const Result repeat = write(SetPolicy{y, kSeller, SetPolicy::kBalanceMax, 0, 50'000, 0, 0});
  EXPECT_EQ(repeat.code, Code::ok);
  EXPECT_TRUE(repeat.flags & Result::kRepeat);
}

TEST_F(LedgerWide, AnAccrualOrderIsOneOrderAcrossShards) {
  ASSERT_EQ(write(Accrue{id(), 555, kSeller, b0_, 30, LotLife::forever()}).code, Code::ok);
  EXPECT_EQ(write(Accrue{id(), 555, kSeller, b1_, 40, LotLife::forever()}).code,
            Code::order_exists);
  EXPECT_EQ(write(ConfirmAccrual{id(), 555}).code, Code::ok);
  EXPECT_EQ(available(b0_), 30u);
  const auto other = client_->balance(kSeller, b1_);
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(other.value.account.pending, 0u);  // nothing left pending for ever
  EXPECT_FALSE(other.value.account.exists);    // a rejected accrual creates no account
}

TEST_F(LedgerWide, AHoldOrderIsOneOrderAcrossShards) {
  ASSERT_EQ(write(credit(id(), b0_, 100)).code, Code::ok);
  ASSERT_EQ(write(credit(id(), b1_, 100)).code, Code::ok);
  ASSERT_EQ(write(Hold{id(), 777, kSeller, b0_, 40, kGoods, 0}).code, Code::ok);
  EXPECT_EQ(write(Hold{id(), 777, kSeller, b1_, 50, kGoods, 0}).code, Code::order_exists);
  EXPECT_EQ(write(Spend{id(), 777, kSeller, b1_, 50, kGoods}).code, Code::order_exists);
  EXPECT_EQ(write(Capture{id(), 777, 40}).code, Code::ok);
  EXPECT_EQ(available(b0_), 60u);
  EXPECT_EQ(available(b1_), 100u);
  // Finished, the order stays the first buyer's for its retention; after a restart too.
  restart({"--test-clock"});
  EXPECT_EQ(write(Hold{id(), 777, kSeller, b1_, 50, kGoods, 0}).code, Code::order_exists);
}

TEST_F(LedgerWide, ARejectedHoldLeavesItsOrderFreeOnEveryShard) {
  ASSERT_EQ(write(credit(id(), b1_, 100)).code, Code::ok);
  ASSERT_EQ(write(Hold{id(), 888, kSeller, b0_, 40, kGoods, 0}).code, Code::insufficient_bonuses);
  // The shard reports before it replies, so the next write finds the order free.
  EXPECT_EQ(write(Hold{id(), 888, kSeller, b1_, 40, kGoods, 0}).code, Code::ok);
  EXPECT_EQ(write(Capture{id(), 888, 40}).code, Code::ok);
  EXPECT_EQ(available(b1_), 60u);
}

TEST(LedgerWideBounds, RejectionsDoNotLockOutGoodWrites) {
  BonusdProcess server;
  ASSERT_TRUE(server.start({"--shards", "2", "--ids-max", "300"})) << server.log();
  std::string error;
  const std::unique_ptr<Client> client = client_of(server, error);
  ASSERT_TRUE(client) << error;
  Client& c = *client;
  // 2,000 cheap rejections, in batches of 100 (fewer than the bound in flight at once).
  std::uint64_t n = 0;
  for (int batch = 0; batch < 20; ++batch) {
    std::vector<Release> junk;
    for (int i = 0; i < 100; ++i, ++n) junk.push_back(Release{Id128{0xBAD, n + 1}, 1'000'000 + n});
    const auto rejected = c.write_batch(std::span<const Release>(junk));
    ASSERT_TRUE(rejected.ok()) << rejected.message;
    for (const Result& r : rejected.value) ASSERT_EQ(r.code, Code::unknown_order);
  }
  // Then the bound is all there for applied writes, on both shards: 300 and no more.
  std::vector<Credit> good;
  for (std::uint64_t i = 1; i <= 301; ++i) {
    good.push_back(Credit{Id128{0x600D, i}, kSeller, i, 5, 0, LotLife::forever(), 0, 0});
  }
  const auto applied = c.write_batch(std::span<const Credit>(good));
  ASSERT_TRUE(applied.ok()) << applied.message;
  for (std::size_t i = 0; i < 300; ++i) EXPECT_EQ(applied.value[i].code, Code::ok) << i;
  EXPECT_EQ(applied.value[300].code, Code::ids_full);
}

}  // namespace
}  // namespace bonus::test
