#include "bench/bonus_bench/histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace bonus::bench {

std::size_t LatencyHistogram::bucket_of(std::uint64_t value) {
  value = std::min(value, kValueMax);
  if (value < 2 * kSubCount) return value;
  // value has bit_width w > kSubBits + 1: keep its top kSubBits + 1 bits.
  const unsigned shift = static_cast<unsigned>(std::bit_width(value)) - (kSubBits + 1);
  return (shift + 1) * kSubCount + ((value >> shift) - kSubCount);
}

std::uint64_t LatencyHistogram::bucket_low(std::size_t bucket) {
  if (bucket < 2 * kSubCount) return bucket;
  const std::uint64_t shift = bucket / kSubCount - 1;
  return (bucket % kSubCount + kSubCount) << shift;
}

std::uint64_t LatencyHistogram::bucket_high(std::size_t bucket) {
  if (bucket < 2 * kSubCount) return bucket;
  const std::uint64_t shift = bucket / kSubCount - 1;
  return bucket_low(bucket) + (std::uint64_t{1} << shift) - 1;
}

std::size_t LatencyHistogram::bucket_count() { return bucket_of(kValueMax) + 1; }

LatencyHistogram::LatencyHistogram() : buckets_(bucket_count(), 0) {}

void LatencyHistogram::record(std::uint64_t value) {
  value = std::min(value, kValueMax);
  ++buckets_[bucket_of(value)];
  ++count_;
  sum_ += value;
  min_ = std::min(min_, value);
  max_ = std::max(max_, value);
}

void LatencyHistogram::merge(const LatencyHistogram& other) {
  if (other.count_ == 0) return;
  for (std::size_t i = 0; i < buckets_.size(); ++i) buckets_[i] += other.buckets_[i];
  count_ += other.count_;
  sum_ += other.sum_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

void LatencyHistogram::reset() {
  if (count_ == 0) return;
  std::fill(buckets_.begin(), buckets_.end(), 0);
  count_ = 0;
  sum_ = 0;
  min_ = ~std::uint64_t{0};
  max_ = 0;
}

std::uint64_t LatencyHistogram::percentile(double q) const {
  if (count_ == 0) return 0;
  const double wanted = std::ceil(std::clamp(q, 0.0, 1.0) * double(count_));
  const std::uint64_t rank = std::max<std::uint64_t>(1, static_cast<std::uint64_t>(wanted));
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < buckets_.size(); ++i) {
    seen += buckets_[i];
    if (seen >= rank) return std::clamp(bucket_high(i), min_, max_);
  }
  return max_;
}

}  // namespace bonus::bench
