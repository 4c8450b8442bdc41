#include "bench/bonus_bench/histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

namespace bonus::bench {
namespace {

TEST(LatencyHistogram, EmptyAnswersZero) {
  LatencyHistogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.percentile(0.5), 0u);
  EXPECT_EQ(h.max(), 0u);
  EXPECT_EQ(h.min(), 0u);
}

TEST(LatencyHistogram, BucketsTileTheRangeWithoutGapsOrOverlap) {
  for (std::size_t b = 0; b + 1 < LatencyHistogram::bucket_count(); ++b) {
    ASSERT_EQ(LatencyHistogram::bucket_high(b) + 1, LatencyHistogram::bucket_low(b + 1)) << b;
    ASSERT_EQ(LatencyHistogram::bucket_of(LatencyHistogram::bucket_low(b)), b);
    ASSERT_EQ(LatencyHistogram::bucket_of(LatencyHistogram::bucket_high(b)), b);
  }
  EXPECT_EQ(LatencyHistogram::bucket_high(LatencyHistogram::bucket_count() - 1),
            LatencyHistogram::kValueMax);
}

TEST(LatencyHistogram, RelativeErrorIsBelowOneSubBucket) {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 100'000; ++i) {
    const std::uint64_t v = rng() >> (rng() % 40 + 21);
    const std::size_t b = LatencyHistogram::bucket_of(v);
    const double width = double(LatencyHistogram::bucket_high(b) - LatencyHistogram::bucket_low(b));
    ASSERT_LE(width, double(std::max<std::uint64_t>(v, 1)) / double(LatencyHistogram::kSubCount)) << v;
  }
}

TEST(LatencyHistogram, SmallValuesAreExact) {
  LatencyHistogram h;
  for (std::uint64_t v = 1; v <= 100; ++v) h.record(v);
  EXPECT_EQ(h.percentile(0.5), 50u);
  EXPECT_EQ(h.percentile(0.9), 90u);
  EXPECT_EQ(h.percentile(0.99), 99u);
  EXPECT_EQ(h.percentile(1.0), 100u);
  EXPECT_EQ(h.percentile(0.0), 1u);
  EXPECT_EQ(h.min(), 1u);
  EXPECT_EQ(h.max(), 100u);
  EXPECT_DOUBLE_EQ(h.mean(), 50.5);
}

// The percentiles of a large random sample agree with the sorted sample within the
// bucket precision.
TEST(LatencyHistogram, PercentilesMatchSortedSample) {
  std::mt19937_64 rng(42);
  std::lognormal_distribution<double> latency(std::log(50'000.0), 1.0);
  LatencyHistogram h;
  std::vector<std::uint64_t> values;
  for (int i = 0; i < 200'000; ++i) {
    values.push_back(static_cast<std::uint64_t>(latency(rng)));
    h.record(values.back());
  }
  std::sort(values.begin(), values.end());
  for (double q : {0.5, 0.9, 0.99, 0.999, 0.9999}) {
    const auto exact = values[static_cast<std::size_t>(std::ceil(q * double(values.size()))) - 1];
    const auto got = h.percentile(q);
    EXPECT_GE(got, exact) << q;
    EXPECT_LE(double(got), double(exact) * (1.0 + 1.0 / LatencyHistogram::kSubCount)) << q;
  }
  EXPECT_EQ(h.max(), values.back());
  EXPECT_EQ(h.percentile(1.0), values.back());
}

TEST(LatencyHistogram, MergeEqualsRecordingEverything) {
  LatencyHistogram a, b, all;
  for (std::uint64_t v = 0; v < 10'000; ++v) {
    (v % 3 == 0 ? a : b).record(v * 37);
    all.record(v * 37);
  }
  a.merge(b);
  EXPECT_EQ(a.count(), all.count());
  for (double q : {0.1, 0.5, 0.99, 1.0}) EXPECT_EQ(a.percentile(q), all.percentile(q));
  EXPECT_EQ(a.min(), all.min());
  EXPECT_EQ(a.max(), all.max());
  a.reset();
  EXPECT_EQ(a.count(), 0u);
  EXPECT_EQ(a.percentile(0.5), 0u);
}

TEST(LatencyHistogram, HugeValuesClampToTheMaximum) {
  LatencyHistogram h;
  h.record(~std::uint64_t{0});
  EXPECT_EQ(h.max(), LatencyHistogram::kValueMax);
  EXPECT_EQ(h.percentile(0.5), LatencyHistogram::kValueMax);
}

}  // namespace
}  // namespace bonus::bench
