// LatencyHistogram: a log-linear histogram of non-negative integer values (nanoseconds
// here), in the manner of HdrHistogram: values below 2^(kSubBits+1) have a bucket each;
// above, every power of two is split into 2^kSubBits equal buckets, so a recorded value
// is known to within 1/2^kSubBits (< 0.8 %) of itself. Values past kValueMax are clamped
// to it. Min, max and count are exact. Owned by one thread; not thread-safe.
#pragma once

#include <cstdint>
#include <vector>

namespace bonus::bench {

class LatencyHistogram {
 public:
  static constexpr unsigned kSubBits = 7;
  static constexpr std::uint64_t kSubCount = std::uint64_t{1} << kSubBits;
  static constexpr std::uint64_t kValueMax = (std::uint64_t{1} << 44) - 1;  // ~4.9 h in ns

  LatencyHistogram();

  void record(std::uint64_t value);
  void merge(const LatencyHistogram& other);
  void reset();

  std::uint64_t count() const { return count_; }
  std::uint64_t min() const { return count_ == 0 ? 0 : min_; }
  std::uint64_t max() const { return max_; }
  double mean() const { return count_ == 0 ? 0 : double(sum_) / double(count_); }
  // The smallest recorded value v (to bucket precision) such that at least fraction q of
  // the values are <= v; 0 when empty. REQUIRES: 0 <= q <= 1. q = 1 gives max().
  std::uint64_t percentile(double q) const;

  // Bucket arithmetic, public for tests.
  static std::size_t bucket_of(std::uint64_t value);
  static std::uint64_t bucket_low(std::size_t bucket);
  static std::uint64_t bucket_high(std::size_t bucket);  // inclusive
  static std::size_t bucket_count();

 private:
  std::vector<std::uint64_t> buckets_;
  std::uint64_t count_ = 0;
  std::uint64_t sum_ = 0;
  std::uint64_t min_ = ~std::uint64_t{0};
  std::uint64_t max_ = 0;
};

}  // namespace bonus::bench
