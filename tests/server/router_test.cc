// Router: buyers go to their shard, orders follow where their hold or accrual went, and
// order ids are ledger-wide: an order live on one shard cannot be opened on another.
// The router learns what the shards did from their reports, and after a restart from
// the ledgers' records.
#include "server/router.h"

#include <gtest/gtest.h>

namespace bonus::server {
namespace {

// A buyer whose shard (of `shards`) is `shard`.
BuyerId buyer_on(std::uint32_t shard, std::uint32_t shards) {
  for (BuyerId b = 1;; ++b) {
    if (mix64(b) % shards == shard) return b;
  }
}

constexpr TimeUs kT = 1'000'000;
constexpr TimeUs kRetention = 1'000;  // a finished order is live this long

Hold hold_of(OrderId order, BuyerId buyer) {
  return Hold{Id128{1, order}, order, 5, buyer, 10, 100, 0};
}
Accrue accrue_of(OrderId order, BuyerId buyer) {
  return Accrue{Id128{2, order}, order, 5, buyer, 10, LotLife::forever()};
}

TEST(Router, OrdersFollowTheirHoldOrAccrual) {
  Router router(4, 100, kRetention);
  const BuyerId b = buyer_on(3, 4);
  EXPECT_EQ(router.route(hold_of(77, b), kT).shard, 3u);
  EXPECT_EQ(router.route(Capture{Id128{1, 2}, 77, 0}, kT + 1).shard, 3u);
  EXPECT_EQ(router.route(accrue_of(88, b), kT + 2).shard, 3u);
  EXPECT_EQ(router.route(ConfirmAccrual{Id128{1, 4}, 88}, kT + 3).shard, 3u);
  EXPECT_EQ(router.route(Capture{Id128{1, 5}, 99, 0}, kT + 4).shard, 0u);  // never seen
  EXPECT_EQ(router.route(Sweep{}, kT + 5).shard, Router::kAllShards);
}

TEST(Router, AnOrderLiveOnAnotherShardIsOrderExists) {
  Router router(4, 100, kRetention);
  ASSERT_EQ(router.route(hold_of(77, buyer_on(3, 4)), kT).rejected, Code::ok);
  const Router::Route other = router.route(hold_of(77, buyer_on(1, 4)), kT + 1);
  EXPECT_EQ(other.rejected, Code::order_exists);
  EXPECT_EQ(router.route(Spend{Id128{9, 9}, 77, 5, buyer_on(2, 4), 1, 1000}, kT + 2).rejected,
            Code::order_exists);
  // Accruals are another kind of order: the same number is free there.
  EXPECT_EQ(router.route(accrue_of(77, buyer_on(1, 4)), kT + 3).rejected, Code::ok);
  // The first shard still gets the commands that name it.
  EXPECT_EQ(router.route(Capture{Id128{1, 2}, 77, 0}, kT + 4).shard, 3u);
  // On its own shard a second hold is the engine's to judge (order_exists there).
  EXPECT_EQ(router.route(hold_of(77, buyer_on(3, 4)), kT + 5).rejected, Code::ok);
}

TEST(Router, ARejectedCreationFreesTheOrderOnceReported) {
  Router router(2, 100, kRetention);
  ASSERT_EQ(router.route(hold_of(77, buyer_on(0, 2)), kT).rejected, Code::ok);
  EXPECT_EQ(router.route(hold_of(77, buyer_on(1, 2)), kT + 1).rejected, Code::order_exists);
  router.report(77, true, 0, kT, 0);  // shard 0: insufficient bonuses, no order
  EXPECT_EQ(router.route(hold_of(77, buyer_on(1, 2)), kT + 2).rejected, Code::ok);
  EXPECT_EQ(router.route(Release{Id128{3, 3}, 77}, kT + 3).shard, 1u);
}

TEST(Router, AFinishedOrderIsLiveUntilItsRetentionEnds) {
  Router router(2, 100, kRetention);
  ASSERT_EQ(router.route(hold_of(77, buyer_on(0, 2)), kT).rejected, Code::ok);
  ASSERT_EQ(router.route(Release{Id128{3, 3}, 77}, kT + 1).shard, 0u);
  router.report(77, true, 0, kT + 1, kT + 1);  // released at kT + 1: live until kT + 1001
  EXPECT_EQ(router.route(hold_of(77, buyer_on(1, 2)), kT + 1000).rejected, Code::order_exists);
  EXPECT_EQ(router.route(hold_of(77, buyer_on(1, 2)), kT + 1001).rejected, Code::ok);
}

TEST(Router, AReportOlderThanTheLastCommandNamingTheOrderIsIgnored) {
  Router router(2, 100, kRetention);
  ASSERT_EQ(router.route(hold_of(77, buyer_on(0, 2)), kT).rejected, Code::ok);
  ASSERT_EQ(router.route(Capture{Id128{3, 3}, 77, 5}, kT + 1).shard, 0u);
  router.report(77, true, 0, kT, 0);  // about the hold: the capture since then governs
  EXPECT_EQ(router.route(hold_of(77, buyer_on(1, 2)), kT + 2).rejected, Code::order_exists);
  router.report(77, true, 0, kT + 1, 0);  // the capture found no order
  EXPECT_EQ(router.route(hold_of(77, buyer_on(1, 2)), kT + 3).rejected, Code::ok);
}

TEST(Router, ASweepReportCountsWhateverCameBefore) {
  Router router(2, 100, kRetention);
  ASSERT_EQ(router.route(hold_of(77, buyer_on(0, 2)), kT).rejected, Code::ok);
  router.report(77, true, 0, kT + 50, kT + 50);  // timed out by the sweep at kT + 50
  EXPECT_EQ(router.route(hold_of(77, buyer_on(1, 2)), kT + 1049).rejected, Code::order_exists);
  EXPECT_EQ(router.route(hold_of(77, buyer_on(1, 2)), kT + 1050).rejected, Code::ok);
}

TEST(Router, RestoredOrdersRouteWhereTheirRecordsAre) {
  Router router(4, 100, kRetention);
  router.restore(77, true, 2, kT);  // finished at kT
  router.restore(88, false, 1, kTimeNever);
  EXPECT_EQ(router.route(Capture{Id128{1, 1}, 77, 0}, kT).shard, 2u);
  EXPECT_EQ(router.route(Refund{Id128{1, 2}, 77, 0}, kT + 1).shard, 2u);
  EXPECT_EQ(router.route(ConfirmAccrual{Id128{1, 3}, 88}, kT + 2).shard, 1u);
  EXPECT_EQ(router.route(ConfirmAccrual{Id128{1, 4}, 77}, kT + 3).shard, 0u);  // a hold id
  EXPECT_EQ(router.route(accrue_of(88, buyer_on(3, 4)), kT + 4).rejected, Code::order_exists);
}

TEST(Router, OfAnIdLiveOnTwoShardsTheLongerLivedWins) {
  Router router(4, 100, kRetention);
  router.restore(77, true, 1, kT + 500);
  router.restore(77, true, 3, kTimeNever);
  router.restore(77, true, 2, kT + 900);
  EXPECT_EQ(router.route(Capture{Id128{1, 1}, 77, 0}, kT).shard, 3u);
}

TEST(Router, ASetLimitsChangesTheRetentionOfFinishedOrdersAndTheBound) {
  Router router(2, 100, kRetention);
  ASSERT_EQ(router.route(hold_of(77, buyer_on(0, 2)), kT).rejected, Code::ok);
  router.report(77, true, 0, kT, kT + 10);  // finished at kT + 10
  router.set_limits(1, 10 * kRetention, kT + 20);
  EXPECT_EQ(router.route(hold_of(77, buyer_on(1, 2)), kT + 5 * kRetention).rejected,
            Code::order_exists);  // the longer retention applies to it
  EXPECT_EQ(router.route(hold_of(78, buyer_on(1, 2)), kT + 5 * kRetention + 1).rejected,
            Code::orders_full);  // one live order of the kind at most
  router.set_limits(100, kRetention, kT + 5 * kRetention + 2);  // shorter: 77 is past it
  EXPECT_EQ(router.route(hold_of(77, buyer_on(1, 2)), kT + 5 * kRetention + 3).rejected, Code::ok);
}

TEST(Router, PastTheBoundANewOrderIsOrdersFull) {
  Router router(2, 2, kRetention);
  ASSERT_EQ(router.route(hold_of(1, buyer_on(0, 2)), kT).rejected, Code::ok);
  ASSERT_EQ(router.route(hold_of(2, buyer_on(1, 2)), kT + 1).rejected, Code::ok);
  EXPECT_EQ(router.route(hold_of(3, buyer_on(0, 2)), kT + 2).rejected, Code::orders_full);
  EXPECT_EQ(router.route(accrue_of(3, buyer_on(0, 2)), kT + 3).rejected, Code::ok);  // own bound
  router.report(1, true, 0, kT, kT);  // finished at kT; gone at kT + kRetention
  EXPECT_EQ(router.route(hold_of(3, buyer_on(0, 2)), kT + kRetention - 1).rejected,
            Code::orders_full);
  EXPECT_EQ(router.route(hold_of(3, buyer_on(0, 2)), kT + kRetention).rejected, Code::ok);
}

}  // namespace
}  // namespace bonus::server
