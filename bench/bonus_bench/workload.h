// The bonus-bench workload model (bench/README.md): which buyer, which sellers, which
// flow, which outcome. Pure functions of their inputs and of uniform draws, so the mix
// and the popularity can be tested without a server. Immutable after construction;
// shared by every worker thread.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "bench/bonus_bench/zipf.h"
#include "engine/types.h"

namespace bonus::bench {

// What the report has a row for: one wire command or read each.
enum class Op : std::uint8_t { cart, hold, capture, release, accrue, confirm, cancel, credit, kCount };
inline constexpr std::size_t kOpCount = static_cast<std::size_t>(Op::kCount);
std::string_view op_name(Op op);

// What a worker does next: one cart read, one checkout (hold, then its end), or one
// accrual (accrue, then later its end). Mailing bursts run beside the workers.
enum class Flow : std::uint8_t { cart, checkout, accrual };
enum class CheckoutEnd : std::uint8_t { capture, release, time_out };
enum class AccrualEnd : std::uint8_t { confirm, cancel };

struct Mix {
  double cart = 80;      // relative weights of the flows
  double checkout = 12;
  double accrual = 8;
  double capture_share = 0.85;  // of checkouts; release_share more are released,
  double release_share = 0.10;  // the rest left to time out
  double confirm_share = 0.90;  // of accruals; the rest cancelled

  // "cart=80,checkout=12,accrual=8" (any subset, any order); nullopt with `error` set on
  // a bad key or value.
  static std::optional<Mix> parse(std::string_view text, std::string& error);
  Flow flow_at(double u) const;  // u uniform in [0, 1)
  CheckoutEnd checkout_end_at(double u) const;
  AccrualEnd accrual_end_at(double u) const;
};

struct WorkloadShape {
  std::uint64_t buyers = 100'000;
  std::uint64_t sellers = 1'000;
  std::uint32_t sellers_per_buyer_max = 6;  // each buyer has 1..max sellers
  double zipf_s = 0.99;                     // buyer popularity exponent
};

inline constexpr std::uint32_t kCartLinesMax = 5;
inline constexpr std::uint32_t kSellersPerBuyerMax = 16;

class Workload {
 public:
  // REQUIRES: buyers >= 1, 1 <= sellers_per_buyer_max <= min(sellers, kSellersPerBuyerMax).
  explicit Workload(const WorkloadShape& shape);

  const WorkloadShape& shape() const { return shape_; }
  const ZipfSampler& popularity() const { return zipf_; }
  // Rank 0 is the most active buyer.
  BuyerId buyer_of_rank(std::uint64_t rank) const { return rank + 1; }
  template <typename Rng>
  BuyerId pick_buyer(Rng& rng) const {
    return buyer_of_rank(zipf_.sample(rng));
  }
  // The buyer's sellers (distinct, deterministic), written to `out`; returns how many.
  std::uint32_t sellers_of(BuyerId buyer, std::span<SellerId, kSellersPerBuyerMax> out) const;
  // Accounts the preload creates: the sum of every buyer's seller count.
  std::uint64_t account_count() const;

 private:
  WorkloadShape shape_;
  ZipfSampler zipf_;
};

// A 64-bit mixer (splitmix64's finaliser): deterministic scatter for ids and choices.
std::uint64_t mix64(std::uint64_t x);

}  // namespace bonus::bench
