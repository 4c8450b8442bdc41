// A random but realistic command stream for the state tests (StateCodec, StateLoader,
// the checkpoint store): many buyers, mailings, cashback, checkouts, sweeps, and the
// small retention windows that make orders and ids come and go.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>

#include "engine/command.h"
#include "engine/ledger_config.h"

namespace bonus::test {

constexpr TimeUs kStart = 1'798'761'600'000'000;  // 2027-01-01T00:00:00Z

// A random but realistic stream: many buyers, mailings, cashback, checkouts, sweeps.
class Workload {
 public:
  explicit Workload(std::uint64_t seed) : rng_(seed) {}

  Command next() {
    const Id128 id{1, ++ids_};
    const SellerId seller = 1 + pick(5);
    const BuyerId buyer = 1 + pick(3'000);
    const OrderId order = 1 + pick(4'000);
    const Amount amount = 1 + pick(400);
    switch (pick(17)) {
      case 0: case 1: case 2:
        return Credit{id, seller, buyer, amount, pick(4), LotLife::ttl_of(TimeUs(1 + pick(72)) * kUsPerHour),
                      static_cast<std::uint32_t>(pick(3) == 0 ? 0 : pick(2) == 0 ? 1 + pick(5) : 16 + pick(240))};
      case 3:  // half by price (at the seller's rate, once it has one), half with a price
        return Accrue{id, order, seller, buyer, pick(2) == 0 ? 0 : amount, LotLife::policy(),
                      Kopecks{1 + pick(2'000'000)}};
      case 4: return ConfirmAccrual{id, order};
      case 5: return CancelAccrual{id, order};
      case 6: case 7: return Hold{id, order, seller, buyer, amount / 4 + 1, 1'000'000, TimeUs(pick(3) * 10) * kUsPerMinute};
      case 8: return Capture{id, order, pick(3) == 0 ? Amount{1} : kAmountAll};
      case 9: return Release{id, order};
      case 10: return Spend{id, order, seller, buyer, amount, 1'000'000};
      case 11: return Refund{id, order, kAmountAll};
      case 12: return ReverseAccrual{id, order};
      case 13: return RevokeCampaign{id, seller, 1 + pick(3)};
      case 14: return Sweep{static_cast<std::uint32_t>(pick(50))};
      case 15: {  // a rate, and tiers now and then
        SetPolicy c{id, seller, SetPolicy::kRate | SetPolicy::kTiers | SetPolicy::kTierWindow};
        c.rate_bp = static_cast<std::uint32_t>(100 + pick(900));
        c.tier_window_days = static_cast<std::uint32_t>(1 + pick(30));
        c.tier_count = static_cast<std::uint32_t>(pick(4));
        for (std::uint32_t k = 0; k < c.tier_count; ++k) {
          c.tiers[k] = {Kopecks{(k + 1) * 1'000'000}, c.rate_bp + 100 * (k + 1), 0};
        }
        return c;
      }
      default: return Credit{Id128{1, ids_ - pick(5)}, seller, buyer, amount, 0, LotLife::policy()};
    }
  }
  TimeUs step() { return TimeUs(1 + pick(20)) * kUsPerMinute / 10; }

 private:
  std::uint64_t pick(std::uint64_t n) { return rng_() % n; }
  std::mt19937_64 rng_;
  std::uint64_t ids_ = 0;
};

inline std::uint64_t seed_from_env() {
  const char* s = std::getenv("CODEC_SEED");
  const std::uint64_t seed = s ? std::strtoull(s, nullptr, 10) : std::random_device{}();
  std::printf("CODEC_SEED=%llu\n", static_cast<unsigned long long>(seed));
  return seed;
}

inline EngineConfig small_windows() {
  EngineConfig config;
  config.id_window_us = 6 * kUsPerHour;
  config.order_retention_us = 2 * kUsPerDay;
  return config;
}

}  // namespace bonus::test
