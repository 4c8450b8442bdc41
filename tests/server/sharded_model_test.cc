// The sharded ledger against the reference: a randomized stream of commands, heavy in
// reused write ids and order ids across shards and in seller-wide commands, applied
// through the server's Admission to two or three engine Ledgers (as the sequencer and the
// shards do, but in one thread, each shard's outcome reported at once) must give exactly
// the results, balances and statistics of ONE ReferenceLedger (tests/engine): ids and
// orders are ledger-wide, and a seller-wide command is applied on every shard or none.
//
// Prints its seed; replay one with SHARDED_SEED=<seed>.
#include <gtest/gtest.h>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "engine/calendar.h"
#include "engine/code.h"
#include "engine/hash.h"
#include "engine/ledger.h"
#include "server/admission.h"
#include "tests/engine/reference_ledger.h"

namespace bonus::server {
namespace {

std::string show(const Result& r) {
  std::ostringstream o;
  o << code_name(r.code) << " flags=" << int{r.flags} << " amount=" << r.amount << " aux=" << r.aux;
  return o.str();
}

// N ledgers behind one Admission, applied synchronously.
class ShardedLedger {
 public:
  ShardedLedger(std::uint32_t shards, const EngineConfig& config) : admission_(shards, config) {
    for (std::uint32_t s = 0; s < shards; ++s) {
      ledgers_.push_back(std::make_unique<Ledger>(config));
      ledgers_.back()->set_partition(s, shards);  // as bonusd's shards (Shard)
    }
  }

  Result apply(const Command& command, TimeUs now) {
    const Admission::Admitted admitted = admission_.admit(command, now);
    if (admitted.rejected) return *admitted.rejected;
    Result merged;
    std::vector<Outcome> outcomes;
    bool first = true;
    for (std::uint32_t s = 0; s < ledgers_.size(); ++s) {
      if (admitted.shard != s && admitted.shard != Router::kAllShards) continue;
      const Result r = ledgers_[s]->apply(command, now);
      collect_outcomes(command, r, *ledgers_[s], s, now, outcomes);
      EXPECT_FALSE(merge_seller_wide(merged, r, first)) << "shards disagree";
      first = false;
    }
    for (const Outcome& o : outcomes) admission_.report(o);
    for (std::uint32_t s = 0; s < ledgers_.size(); ++s) admission_.applied_through(s, now);
    return merged;
  }

  const Ledger& shard_of(BuyerId buyer) const {
    return *ledgers_[admission_.router().shard_of_buyer(buyer)];
  }
  SellerStats seller_stats(SellerId seller) const {
    SellerStats sum;
    for (const auto& l : ledgers_) add(sum, l->seller_stats(seller));
    return sum;
  }
  CampaignStats campaign_stats(SellerId seller, CampaignId campaign) const {
    CampaignStats sum;
    for (const auto& l : ledgers_) {
      const CampaignStats c = l->campaign_stats(seller, campaign);
      sum.issued += c.issued;
      sum.spent += c.spent;
      sum.expired += c.expired;
      sum.refunded += c.refunded;
      sum.reversed += c.reversed;
      sum.outstanding += c.outstanding;
      sum.recipients += c.recipients;
      sum.spenders += c.spenders;
      sum.revoked = sum.revoked || c.revoked;
      sum.revoked_amount += c.revoked_amount;
      sum.sales_orders += c.sales_orders;
      sum.sales_kopecks += c.sales_kopecks;
    }
    return sum;
  }
  MonthReport month_report(SellerId seller, std::uint16_t month) const {
    MonthReport sum;
    sum.month = month;
    for (const auto& l : ledgers_) sum.add(l->month_report(seller, month));
    return sum;
  }
  std::optional<std::string> audit() const {
    for (const auto& l : ledgers_) {
      if (auto problem = l->audit()) return problem;
    }
    return std::nullopt;
  }

 private:
  static void add(SellerStats& sum, const SellerStats& s) {
    sum.issued += s.issued;
    sum.accrued += s.accrued;
    sum.spent += s.spent;
    sum.expired += s.expired;
    sum.refunded += s.refunded;
    sum.reversed += s.reversed;
    sum.held += s.held;
    sum.pending += s.pending;
    sum.debt += s.debt;
    sum.outstanding += s.outstanding;
  }

  Admission admission_;
  std::vector<std::unique_ptr<Ledger>> ledgers_;
};

class Stream {
 public:
  explicit Stream(std::uint64_t seed) : rng_(seed) {}

  std::uint64_t below(std::uint64_t n) { return rng_() % n; }
  bool chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }

  EngineConfig config() {
    EngineConfig c;
    c.accounts_max = 1u << 20;  // per shard in the server, ledger-wide in the reference:
    c.orders_max = 1u << 20;    // out of reach, so that the two agree
    c.ids_max = chance(0.3) ? 20 + below(60) : 1u << 20;
    c.id_window_us = static_cast<TimeUs>((5 + below(120)) * kUsPerMinute);
    c.rejected_id_window_us = static_cast<TimeUs>((1 + below(30)) * kUsPerMinute);
    // Per shard in the server, ledger-wide in the reference: out of reach too (the engine's
    // model test covers a full rejection table).
    c.rejected_ids_max = 1u << 20;
    c.order_retention_us = static_cast<TimeUs>((10 + below(240)) * kUsPerMinute);
    return c;
  }

  // A command; ids are often reused: the same command again (a retry), or another
  // command under a recent id.
  Command next(const std::vector<BuyerId>& buyers) {
    Command c = fresh(buyers);
    if (!recent_.empty() && chance(0.25)) {
      const Command& old = recent_[below(recent_.size())];
      if (chance(0.5)) return old;  // a retry, maybe routed elsewhere by now
      set_id(c, id_of(old));        // another body under a live id
    }
    recent_.push_back(c);
    if (recent_.size() > 40) recent_.pop_front();
    return c;
  }

 private:
  static Id128 id_of(const Command& c) {
    return std::visit(
        [](const auto& x) {
          if constexpr (requires { x.id; }) {
            return x.id;
          } else {
            return Id128{};
          }
        },
        c);
  }
  static void set_id(Command& c, Id128 id) {
    std::visit(
        [&](auto& x) {
          if constexpr (requires { x.id; }) x.id = id;
        },
        c);
  }

  Command fresh(const std::vector<BuyerId>& buyers) {
    const Id128 id{7, ++ids_};
    const SellerId seller = 1 + below(2);
    const BuyerId buyer = buyers[below(buyers.size())];
    const OrderId order = 1 + below(8);  // few orders: reused across buyers and shards
    const Amount amount = below(20) == 0 ? 0 : 1 + below(300);
    if (below(400) == 0) {
      // The limits that are ledger-wide in the server too (accounts, orders and rejected
      // ids are per shard there): ids_max and the windows, now and then out of range.
      SetLimits l{};
      l.id = id;
      l.fields = static_cast<std::uint32_t>(1 + below(SetLimits::kFieldsAll)) &
                 (SetLimits::kIdsMax | SetLimits::kIdWindow | SetLimits::kOrderRetention |
                  SetLimits::kRejectedIdWindow);
      l.ids_max = chance(0.5) ? 20 + below(80) : 1u << 20;
      l.id_window_us = static_cast<TimeUs>((chance(0.05) ? 0 : 1 + below(120)) * kUsPerMinute);
      l.order_retention_us = static_cast<TimeUs>((1 + below(240)) * kUsPerMinute);
      l.rejected_id_window_us = static_cast<TimeUs>((1 + below(30)) * kUsPerMinute);
      return l;
    }
    switch (below(16)) {
      case 0:
      case 1:
      case 2:
        return Credit{id,
                      seller,
                      buyer,
                      amount,
                      below(3),
                      chance(0.5)
                          ? LotLife::forever()
                          : LotLife::ttl_of(static_cast<TimeUs>((1 + below(90)) * kUsPerMinute)),
                      static_cast<std::uint32_t>(chance(0.05) ? 9 : below(6)),  // 9: invalid_reason
                      0};
      case 3:
        return Accrue{id, order, seller, buyer, amount, LotLife::policy()};
      case 4:
        return ConfirmAccrual{id, order};
      case 5:
        return CancelAccrual{id, order};
      case 6:
        return ReverseAccrual{id, order};
      case 7:
        return Hold{id,
                    order,
                    seller,
                    buyer,
                    amount,
                    1'000'000,
                    static_cast<TimeUs>(chance(0.3) ? 0 : (1 + below(60)) * kUsPerMinute)};
      case 8:
        return Capture{id, order, chance(0.5) ? Capture{}.amount : 1 + below(100)};
      case 9:
        return Release{id, order};
      case 10:
        return Spend{id, order, seller, buyer, amount, 1'000'000};
      case 11:
        return Refund{id, order, chance(0.5) ? Refund{}.amount : 1 + below(100)};
      case 12:
        return RevokeCampaign{id, seller, below(3)};
      case 13:
      case 14: {
        // Referrer and friend often on two shards; sometimes the same buyer.
        const BuyerId friend_buyer = chance(0.05) ? buyer : buyers[below(buyers.size())];
        return Referral{id,     seller, buyer, friend_buyer, amount, 1 + below(300), below(3),
                        chance(0.5) ? LotLife::forever()
                                    : LotLife::ttl_of(static_cast<TimeUs>((1 + below(90)) *
                                                                          kUsPerMinute))};
      }
      default:
        return SetPolicy{id, seller, SetPolicy::kBalanceMax, 0, chance(0.2) ? 0 : 200 + below(2000),
                         0,  0};
    }
  }

  std::mt19937_64 rng_;
  std::uint64_t ids_ = 0;
  std::deque<Command> recent_;
};

struct Coverage {
  std::uint64_t codes[kCodeCount] = {};
  std::uint64_t repeats = 0;
  std::uint64_t limits_applied = 0;
  std::uint64_t referrals_across = 0;  // applied, referrer and friend on two shards
  std::uint64_t referral_repeats = 0;  // of those, retried (a repeat for both)
};

// Runs one seed; returns the first difference, if any.
std::optional<std::string> run_seed(std::uint64_t seed, std::size_t steps, Coverage& coverage) {
  Stream stream(seed);
  const EngineConfig config = stream.config();
  const std::uint32_t shards = 2 + static_cast<std::uint32_t>(stream.below(2));
  ShardedLedger sharded(shards, config);
  test::ReferenceLedger reference(config);
  std::vector<BuyerId> buyers;
  for (BuyerId b = 1; buyers.size() < 6; ++b) buyers.push_back(b * 1'000'003);
  TimeUs now = 1'768'003'200 * kUsPerSecond;
  for (std::size_t i = 0; i < steps; ++i) {
    now += static_cast<TimeUs>(stream.chance(0.1) ? 1 + stream.below(40) * kUsPerMinute
                                                  : 1 + stream.below(1'000'000));
    const Command command = stream.chance(0.05) ? Command{Sweep{}} : stream.next(buyers);
    const Result got = sharded.apply(command, now);
    const Result want = reference.apply(command, now);
    ++coverage.codes[static_cast<std::size_t>(want.code)];
    if (want.flags & Result::kRepeat) ++coverage.repeats;
    if (std::holds_alternative<SetLimits>(command) && want.ok()) ++coverage.limits_applied;
    if (const auto* r = std::get_if<Referral>(&command);
        r != nullptr && want.ok() && want.amount > 0 && want.aux > 0 &&
        &sharded.shard_of(r->referrer) != &sharded.shard_of(r->friend_buyer)) {
      ++((want.flags & Result::kRepeat) ? coverage.referral_repeats : coverage.referrals_across);
    }
    if (!(got == want)) {
      return "step " + std::to_string(i) + " (command kind " + std::to_string(command.index()) +
             "): sharded " + show(got) + ", reference " + show(want);
    }
    if (i % 16 != 0) continue;
    for (const BuyerId b : buyers) {
      for (SellerId s = 1; s <= 2; ++s) {
        if (!(sharded.shard_of(b).balance(s, b, now) == reference.balance(s, b, now))) {
          return "step " + std::to_string(i) + ": balance of (" + std::to_string(s) + ", " +
                 std::to_string(b) + ") differs";
        }
      }
    }
    for (SellerId s = 1; s <= 2; ++s) {
      if (!(sharded.seller_stats(s) == reference.seller_stats(s))) {
        return "step " + std::to_string(i) + ": seller stats differ";
      }
      for (CampaignId c = 1; c < 3; ++c) {
        if (!(sharded.campaign_stats(s, c) == reference.campaign_stats(s, c))) {
          return "step " + std::to_string(i) + ": campaign stats differ";
        }
      }
      const std::uint16_t month = calendar_month(now);
      if (!(sharded.month_report(s, month) == reference.month_report(s, month))) {
        return "step " + std::to_string(i) + ": month report differs";
      }
    }
    if (auto problem = sharded.audit()) return "step " + std::to_string(i) + ": audit: " + *problem;
  }
  return std::nullopt;
}

TEST(ShardedModel, ShardsBehindTheAdmissionAreOneLedger) {
  std::uint64_t seed = std::random_device{}();
  if (const char* s = std::getenv("SHARDED_SEED")) seed = std::strtoull(s, nullptr, 10);
  const bool one = std::getenv("SHARDED_SEED") != nullptr;
  std::printf("sharded_model_test: SHARDED_SEED=%" PRIu64 "\n", seed);
  std::mt19937_64 seeds(seed);
  Coverage coverage;
  for (int round = 0; round < (one ? 1 : 300); ++round) {
    const std::uint64_t s = one ? seed : seeds();
    const auto problem = run_seed(s, 3000, coverage);
    ASSERT_FALSE(problem.has_value()) << "SHARDED_SEED=" << s << ": " << *problem;
  }
  std::printf("sharded_model_test: repeats %" PRIu64 ", set_limits applied %" PRIu64
              ", referrals across shards %" PRIu64 " (retried %" PRIu64 ")\n",
              coverage.repeats, coverage.limits_applied, coverage.referrals_across,
              coverage.referral_repeats);
  for (std::size_t c = 0; c < kCodeCount; ++c) {
    if (coverage.codes[c] > 0) {
      std::printf("  %-28s %" PRIu64 "\n", std::string(code_name(static_cast<Code>(c))).c_str(),
                  coverage.codes[c]);
    }
  }
  if (one) return;
  // The stream must reach what this test is about.
  EXPECT_GT(coverage.codes[static_cast<std::size_t>(Code::id_reused)], 1000u);
  EXPECT_GT(coverage.codes[static_cast<std::size_t>(Code::order_exists)], 1000u);
  EXPECT_GT(coverage.codes[static_cast<std::size_t>(Code::ids_full)], 0u);
  EXPECT_GT(coverage.repeats, 1000u);
  EXPECT_GT(coverage.referrals_across, 100u);
  EXPECT_GT(coverage.referral_repeats, 10u);
  EXPECT_GT(coverage.limits_applied, 100u);
}

}  // namespace
}  // namespace bonus::server
