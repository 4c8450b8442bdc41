// Router: buyers go to their shard, orders follow where their hold or accrual went, and
// after a checkpoint load the router learns the orders from the ledgers' records: the
// most recent record of a reused id wins, and past the bound the oldest are forgotten.
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

TEST(Router, OrdersFollowTheirHoldOrAccrual) {
  Router router(4, 100);
  const BuyerId b = buyer_on(3, 4);
  EXPECT_EQ(router.route(Hold{Id128{1, 1}, 77, 5, b, 10, 100, 0}), 3u);
  EXPECT_EQ(router.route(Capture{Id128{1, 2}, 77, 0}), 3u);
  EXPECT_EQ(router.route(Accrue{Id128{1, 3}, 88, 5, b, 10, LotLife::forever()}), 3u);
  EXPECT_EQ(router.route(ConfirmAccrual{Id128{1, 4}, 88}), 3u);
  EXPECT_EQ(router.route(Capture{Id128{1, 5}, 99, 0}), 0u);  // never seen: shard 0
  EXPECT_EQ(router.route(Sweep{}), Router::kAllShards);
}

TEST(Router, RestoredOrdersRouteWhereTheirRecordsAre) {
  Router router(4, 100);
  router.restore(77, true, 2, 1'000);
  router.restore(88, false, 1, kTimeNever);
  router.finish_restore();
  EXPECT_EQ(router.route(Capture{Id128{1, 1}, 77, 0}), 2u);
  EXPECT_EQ(router.route(Refund{Id128{1, 2}, 77, 0}), 2u);
  EXPECT_EQ(router.route(ConfirmAccrual{Id128{1, 3}, 88}), 1u);
  // A hold id is not an accrual id.
  EXPECT_EQ(router.route(ConfirmAccrual{Id128{1, 4}, 77}), 0u);
}

TEST(Router, OfAReusedIdTheMostRecentRecordWins) {
  Router router(4, 100);
  // Finished on shard 1 at t=500, open on shard 3, finished on shard 2 at t=900.
  router.restore(77, true, 1, 500);
  router.restore(77, true, 3, kTimeNever);
  router.restore(77, true, 2, 900);
  router.finish_restore();
  EXPECT_EQ(router.route(Capture{Id128{1, 1}, 77, 0}), 3u);
}

TEST(Router, PastTheBoundTheOldestRestoredOrdersAreForgotten) {
  Router router(4, 2);
  router.restore(10, true, 1, 100);  // the oldest
  router.restore(11, true, 2, 200);
  router.restore(12, true, 3, kTimeNever);
  router.finish_restore();
  EXPECT_EQ(router.route(Capture{Id128{1, 1}, 10, 0}), 0u);
  EXPECT_EQ(router.route(Capture{Id128{1, 2}, 11, 0}), 2u);
  EXPECT_EQ(router.route(Capture{Id128{1, 3}, 12, 0}), 3u);
}

}  // namespace
}  // namespace bonus::server
