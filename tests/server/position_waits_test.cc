// PositionWaits (server/position_waits.h): waiters wake once the position they name is
// reached, in any order of adding; a cancelled one never wakes; a wake that races the
// caller's own check runs once, from one side or the other.
#include "server/position_waits.h"

#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <thread>
#include <vector>

namespace bonus::server {
namespace {

TEST(PositionWaits, WakesWhatIsReachedAndNothingElse) {
  PositionWaits waits;
  std::vector<int> woken;
  const auto a = waits.add(5, [&] { woken.push_back(5); });
  waits.add(3, [&] { woken.push_back(3); });
  waits.add(9, [&] { woken.push_back(9); });
  waits.reached(2);
  EXPECT_TRUE(woken.empty());
  EXPECT_TRUE(waits.cancel(5, a));
  EXPECT_FALSE(waits.cancel(5, a)) << "cancelled twice";
  waits.reached(6);
  EXPECT_EQ(woken, std::vector<int>{3});
  EXPECT_EQ(waits.size(), 1u);
  waits.reached(9);
  EXPECT_EQ(woken, (std::vector<int>{3, 9}));
  EXPECT_EQ(waits.size(), 0u);
}

// One thread moves the position up while others add waiters and check it after adding,
// as Connection::wait_for_position does: every waiter runs exactly once.
TEST(PositionWaits, NoWakeIsLostOrDoubled) {
  const unsigned seed = std::random_device{}();
  std::printf("seed %u\n", seed);
  PositionWaits waits;
  std::atomic<std::uint64_t> position{0};
  constexpr int kWaiters = 20'000;
  std::vector<std::atomic<int>> runs(kWaiters);
  std::thread mover([&] {
    for (std::uint64_t p = 1; p <= kWaiters; ++p) {
      position.store(p);
      waits.reached(p);
    }
  });
  std::mt19937_64 random(seed);
  for (int i = 0; i < kWaiters; ++i) {
    const std::uint64_t wanted = 1 + random() % kWaiters;
    const auto ticket = waits.add(wanted, [&runs, i] { ++runs[i]; });
    if (position.load() >= wanted && waits.cancel(wanted, ticket)) ++runs[i];
  }
  mover.join();
  waits.reached(kWaiters);
  for (int i = 0; i < kWaiters; ++i) ASSERT_EQ(runs[i].load(), 1) << "waiter " << i;
  EXPECT_EQ(waits.size(), 0u);
}

}  // namespace
}  // namespace bonus::server
