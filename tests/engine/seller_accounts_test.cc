// SellerAccounts: each seller's account indexes in creation order, in blocks of steps;
// walks from any of the seller's accounts, and refuses a position that is not one.
#include "engine/seller_accounts.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <random>
#include <vector>

namespace bonus {
namespace {

std::vector<std::uint32_t> walk_all(const SellerAccounts& s, SellerId seller,
                                    std::uint32_t after = SellerAccounts::kNone) {
  std::vector<std::uint32_t> out;
  EXPECT_TRUE(s.walk(seller, after, [&](std::uint32_t i) {
    out.push_back(i);
    return true;
  }));
  return out;
}

TEST(SellerAccounts, RandomListsWalkInOrderFromEveryPosition) {
  const std::uint32_t seed = std::random_device{}();
  std::printf("seed %u\n", seed);
  std::mt19937 rng(seed);
  SellerAccounts s;
  std::map<SellerId, std::vector<std::uint32_t>> expected;
  std::uint32_t index = 0;
  for (int n = 0; n < 20'000; ++n) {
    // Mostly small gaps, now and then one past a step's 16 bits.
    index += static_cast<std::uint32_t>(rng() % 50 == 0 ? 60'000 + rng() % 20'000 : 1 + rng() % 3);
    const SellerId seller = 1 + rng() % 7;
    s.add(seller, index);
    expected[seller].push_back(index);
  }
  for (const auto& [seller, list] : expected) {
    EXPECT_EQ(s.count(seller), list.size());
    EXPECT_EQ(walk_all(s, seller), list) << "seed " << seed;
    for (std::size_t k = 0; k < list.size(); k += 1 + rng() % 97) {
      const std::vector<std::uint32_t> rest(list.begin() + static_cast<std::ptrdiff_t>(k) + 1,
                                            list.end());
      EXPECT_EQ(walk_all(s, seller, list[k]), rest) << "seed " << seed << " from " << list[k];
    }
    // Stopping early stops.
    int calls = 0;
    EXPECT_TRUE(s.walk(seller, SellerAccounts::kNone, [&](std::uint32_t) { return ++calls < 3; }));
    EXPECT_EQ(calls, 3);
  }
  // A position that is not one of the seller's accounts: refused, nothing called.
  const std::vector<std::uint32_t>& one = expected.begin()->second;
  const SellerId other = std::next(expected.begin())->first;
  bool called = false;
  auto mark = [&](std::uint32_t) { return called = true; };
  EXPECT_FALSE(s.walk(other, one[0] == expected[other][0] ? one[1] : one[0], mark));
  EXPECT_FALSE(s.walk(other, expected[other].back() + 1, mark));
  EXPECT_FALSE(s.walk(99, 5, mark));
  EXPECT_FALSE(called);
  EXPECT_TRUE(s.walk(99, SellerAccounts::kNone, mark));  // no accounts: nothing to walk
  EXPECT_FALSE(called);
}

TEST(SellerAccounts, AboutTwoBytesPerAccount) {
  SellerAccounts s;
  for (std::uint32_t i = 0; i < 1'000'000; ++i) s.add(1 + i % 50, i);
  EXPECT_LT(s.memory_bytes(), 2'400'000u);  // 2.06 bytes a block's share, a little slack
}

}  // namespace
}  // namespace bonus
