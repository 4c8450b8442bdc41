#include "bench/bonus_bench/workload.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <set>
#include <vector>

namespace bonus::bench {
namespace {

TEST(Zipf, ProbabilitiesFollowThePowerLaw) {
  const ZipfSampler z(1000, 1.0);
  double sum = 0;
  for (std::uint64_t k = 0; k < z.n(); ++k) sum += z.probability(k);
  EXPECT_NEAR(sum, 1.0, 1e-9);
  EXPECT_NEAR(z.probability(0) / z.probability(1), 2.0, 1e-9);
  EXPECT_NEAR(z.probability(0) / z.probability(9), 10.0, 1e-9);
  // H(1000) = 7.4854708606
  EXPECT_NEAR(z.probability(0), 1.0 / 7.4854708606, 1e-9);
}

TEST(Zipf, SampledFrequenciesMatchProbabilities) {
  const std::uint64_t seed = 12345;
  SCOPED_TRACE(seed);
  const ZipfSampler z(10'000, 0.99);
  std::mt19937_64 rng(seed);
  std::vector<std::uint64_t> hits(z.n(), 0);
  const int n = 1'000'000;
  for (int i = 0; i < n; ++i) ++hits[z.sample(rng)];
  for (std::uint64_t k : {0, 1, 2, 9, 99}) {
    const double expected = z.probability(k) * n;
    EXPECT_NEAR(double(hits[k]), expected, 5 * std::sqrt(expected)) << k;
  }
  // The top 1 % of ranks take their share of the draws.
  double top = 0, top_expected = 0;
  for (std::uint64_t k = 0; k < 100; ++k) {
    top += double(hits[k]);
    top_expected += z.probability(k) * n;
  }
  EXPECT_NEAR(top, top_expected, 5 * std::sqrt(top_expected));
}

TEST(Zipf, ExponentZeroIsUniformAndEdgesStayInRange) {
  const ZipfSampler z(4, 0.0);
  for (std::uint64_t k = 0; k < 4; ++k) EXPECT_NEAR(z.probability(k), 0.25, 1e-12);
  EXPECT_EQ(z.rank_at(0.0), 0u);
  EXPECT_EQ(z.rank_at(0.26), 1u);
  EXPECT_EQ(z.rank_at(std::nextafter(1.0, 0.0)), 3u);
  EXPECT_EQ(ZipfSampler(1, 1.2).rank_at(0.999), 0u);
}

TEST(Mix, DefaultsAreCartHeavy) {
  const Mix mix;
  EXPECT_GT(mix.cart, mix.checkout + mix.accrual);
}

TEST(Mix, SampledProportionsMatchTheWeights) {
  std::string error;
  const auto mix = Mix::parse("cart=70,checkout=20,accrual=10,capture=0.8,release=0.15,confirm=0.9", error);
  ASSERT_TRUE(mix) << error;
  std::mt19937_64 rng(99);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  const int n = 1'000'000;
  int flows[3] = {}, ends[3] = {}, accruals[2] = {};
  for (int i = 0; i < n; ++i) {
    ++flows[static_cast<int>(mix->flow_at(u(rng)))];
    ++ends[static_cast<int>(mix->checkout_end_at(u(rng)))];
    ++accruals[static_cast<int>(mix->accrual_end_at(u(rng)))];
  }
  EXPECT_NEAR(flows[0] / double(n), 0.70, 0.003);
  EXPECT_NEAR(flows[1] / double(n), 0.20, 0.003);
  EXPECT_NEAR(flows[2] / double(n), 0.10, 0.003);
  EXPECT_NEAR(ends[0] / double(n), 0.80, 0.003);
  EXPECT_NEAR(ends[1] / double(n), 0.15, 0.003);
  EXPECT_NEAR(ends[2] / double(n), 0.05, 0.003);
  EXPECT_NEAR(accruals[0] / double(n), 0.90, 0.003);
}

TEST(Mix, ZeroWeightFlowsNeverComeUp) {
  std::string error;
  const auto mix = Mix::parse("cart=0,accrual=0", error);
  ASSERT_TRUE(mix) << error;
  for (double u : {0.0, 0.3, 0.999999}) EXPECT_EQ(mix->flow_at(u), Flow::checkout);
}

TEST(Mix, BadTextIsRejectedWithAReason) {
  std::string error;
  EXPECT_FALSE(Mix::parse("carts=5", error));
  EXPECT_NE(error.find("carts=5"), std::string::npos);
  EXPECT_FALSE(Mix::parse("cart=-1", error));
  EXPECT_FALSE(Mix::parse("cart=x", error));
  EXPECT_FALSE(Mix::parse("cart=0,checkout=0,accrual=0", error));
  EXPECT_FALSE(Mix::parse("capture=0.9,release=0.2", error));
  EXPECT_TRUE(Mix::parse("", error));
}

TEST(Workload, BuyersHaveDistinctSellersInRange) {
  const Workload w({.buyers = 10'000, .sellers = 50, .sellers_per_buyer_max = 6, .zipf_s = 0.99});
  std::array<SellerId, kSellersPerBuyerMax> sellers{};
  std::uint64_t accounts = 0;
  std::set<std::uint32_t> counts;
  for (std::uint64_t rank = 0; rank < 10'000; ++rank) {
    const std::uint32_t n = w.sellers_of(w.buyer_of_rank(rank), sellers);
    ASSERT_GE(n, 1u);
    ASSERT_LE(n, 6u);
    counts.insert(n);
    accounts += n;
    std::set<SellerId> distinct(sellers.begin(), sellers.begin() + n);
    ASSERT_EQ(distinct.size(), n);
    for (std::uint32_t j = 0; j < n; ++j) ASSERT_TRUE(sellers[j] >= 1 && sellers[j] <= 50);
  }
  EXPECT_EQ(counts.size(), 6u);
  EXPECT_EQ(w.account_count(), accounts);
  EXPECT_NEAR(double(accounts) / 10'000, 3.5, 0.1);
}

TEST(Workload, PopularBuyersComeUpMost) {
  const Workload w({.buyers = 100'000, .sellers = 100, .sellers_per_buyer_max = 3, .zipf_s = 0.99});
  std::mt19937_64 rng(5);
  int first = 0, last_half = 0;
  for (int i = 0; i < 100'000; ++i) {
    const BuyerId b = w.pick_buyer(rng);
    ASSERT_GE(b, 1u);
    ASSERT_LE(b, 100'000u);
    first += b == 1;
    last_half += b > 50'000;
  }
  EXPECT_GT(first, 7'000);      // P(rank 0) is about 8.3 %
  EXPECT_LT(last_half, 10'000); // the unpopular half gets about 6 %
}

}  // namespace
}  // namespace bonus::bench
