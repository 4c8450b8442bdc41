// ZipfSampler: draws ranks 0..n-1 with P(rank k) proportional to 1/(k+1)^s, by binary
// search in a precomputed cumulative table (8 bytes per rank). Immutable after
// construction, so one sampler may be shared by any number of threads.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

namespace bonus::bench {

class ZipfSampler {
 public:
  // REQUIRES: n >= 1, s >= 0 (s = 0 is uniform).
  ZipfSampler(std::uint64_t n, double s);

  std::uint64_t n() const { return cdf_.size(); }
  double s() const { return s_; }
  // The probability of rank k. REQUIRES: k < n().
  double probability(std::uint64_t k) const;
  // The rank for a uniform u in [0, 1).
  std::uint64_t rank_at(double u) const;
  template <typename Rng>
  std::uint64_t sample(Rng& rng) const {
    return rank_at(std::uniform_real_distribution<double>(0.0, 1.0)(rng));
  }

 private:
  double s_;
  std::vector<double> cdf_;  // cdf_[k] = P(rank <= k); cdf_.back() == 1
};

}  // namespace bonus::bench
