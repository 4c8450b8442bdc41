#include "bench/bonus_bench/zipf.h"

#include <algorithm>
#include <cassert>
#include <cmath>

namespace bonus::bench {

ZipfSampler::ZipfSampler(std::uint64_t n, double s) : s_(s), cdf_(n) {
  assert(n >= 1 && s >= 0);
  double sum = 0;
  for (std::uint64_t k = 0; k < n; ++k) {
    sum += std::pow(double(k + 1), -s);
    cdf_[k] = sum;
  }
  for (double& c : cdf_) c /= sum;
  cdf_.back() = 1.0;
}

double ZipfSampler::probability(std::uint64_t k) const {
  return k == 0 ? cdf_[0] : cdf_[k] - cdf_[k - 1];
}

std::uint64_t ZipfSampler::rank_at(double u) const {
  const auto it = std::upper_bound(cdf_.begin(), cdf_.end(), u);
  return std::min<std::uint64_t>(static_cast<std::uint64_t>(it - cdf_.begin()), cdf_.size() - 1);
}

}  // namespace bonus::bench
