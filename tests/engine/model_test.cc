// Model-based randomized test: bonus::Ledger against bonus::test::ReferenceLedger.
//
// Each seed makes a scenario (engine config, a small universe of sellers, buyers, campaigns
// and order ids, and a stream of timed commands) that is a pure function of the seed (for a
// given standard library: <random>'s distributions are implementation-defined). Both
// ledgers get the same stream; every result must be equal, and now and then every read is
// compared and the engine's audit must be clean.
//
// Environment:
//   MODEL_SEED=<n>      first seed (default: a fixed number plus the time; printed)
//   MODEL_COMMANDS=<n>  run seeds until this many commands ran (default 10,000,000 when
//                       built with NDEBUG, 2,000,000 under ASan, else 1,000,000);
//                       MODEL_SEED=<s> MODEL_COMMANDS=1 replays exactly seed s
//   MODEL_SHRINK=1      on a mismatch, shrink the stream to a small one that still fails
//   MODEL_TRACE=1       print every command and both results (use with one seed)
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <deque>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "engine/calendar.h"
#include "engine/code.h"
#include "engine/ledger.h"
#include "engine/limits.h"
#include "tests/engine/reference_ledger.h"

namespace bonus::test {
namespace {

// ---------------------------------------------------------------------------------------
// Printing

std::string str(const Id128& id) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%" PRIx64 ":%" PRIx64, id.hi, id.lo);
  return buf;
}

std::string str(const LotLife& life) {
  switch (life.kind) {
    case LotLife::Kind::policy_default: return "policy";
    case LotLife::Kind::ttl: return "ttl(" + std::to_string(life.value) + ")";
    case LotLife::Kind::absolute: return "at(" + std::to_string(life.value) + ")";
    case LotLife::Kind::never: return "never";
  }
  return "kind" + std::to_string(static_cast<int>(life.kind));
}

constexpr std::array<const char*, std::variant_size_v<Command>> kKindNames = {
    "credit",  "accrue", "confirm_accrual", "cancel_accrual",  "hold",
    "capture", "release", "spend",          "refund",          "reverse_accrual",
    "revoke_campaign", "set_policy", "sweep", "set_limits", "referral"};

std::string str(const Command& command) {
  std::ostringstream o;
  o << kKindNames[command.index()];
  std::visit(
      [&](const auto& c) {
        using T = std::decay_t<decltype(c)>;
        if constexpr (requires { c.id; }) o << " id=" << str(c.id);
        if constexpr (std::is_same_v<T, Credit>) {
          o << " seller=" << c.seller << " buyer=" << c.buyer << " amount=" << c.amount
            << " campaign=" << c.campaign << " life=" << str(c.life) << " reason=" << c.reason;
        } else if constexpr (std::is_same_v<T, Accrue>) {
          o << " order=" << c.order << " seller=" << c.seller << " buyer=" << c.buyer
            << " amount=" << c.amount << " life=" << str(c.life) << " price=" << c.price;
        } else if constexpr (std::is_same_v<T, ConfirmAccrual> ||
                             std::is_same_v<T, CancelAccrual> || std::is_same_v<T, Release> ||
                             std::is_same_v<T, ReverseAccrual>) {
          o << " order=" << c.order;
        } else if constexpr (std::is_same_v<T, Hold>) {
          o << " order=" << c.order << " seller=" << c.seller << " buyer=" << c.buyer
            << " amount=" << c.amount << " goods_total=" << c.goods_total
            << " timeout_us=" << c.timeout_us;
        } else if constexpr (std::is_same_v<T, Capture> || std::is_same_v<T, Refund>) {
          o << " order=" << c.order << " amount="
            << (c.amount == kAmountAll ? std::string("all") : std::to_string(c.amount));
        } else if constexpr (std::is_same_v<T, Spend>) {
          o << " order=" << c.order << " seller=" << c.seller << " buyer=" << c.buyer
            << " amount=" << c.amount << " goods_total=" << c.goods_total;
        } else if constexpr (std::is_same_v<T, RevokeCampaign>) {
          o << " seller=" << c.seller << " campaign=" << c.campaign;
        } else if constexpr (std::is_same_v<T, SetPolicy>) {
          o << " seller=" << c.seller << " fields=" << c.fields
            << " share_bp=" << c.spend_share_bp << " balance_max=" << c.balance_max
            << " earn_month_max=" << c.earn_month_max << " lot_life_us=" << c.lot_life_us
            << " rate_bp=" << c.rate_bp << " tier_window_days=" << c.tier_window_days
            << " tiers=" << c.tier_count << "[";
          for (const PolicyTier& t : c.tiers) o << " " << t.threshold_kopecks << ":" << t.rate_bp;
          o << " ]";
        } else if constexpr (std::is_same_v<T, Sweep>) {
          o << " limit=" << c.limit;
        } else if constexpr (std::is_same_v<T, Referral>) {
          o << " seller=" << c.seller << " referrer=" << c.referrer << " friend=" << c.friend_buyer
            << " amounts=" << c.referrer_amount << "/" << c.friend_amount
            << " campaign=" << c.campaign << " life=" << str(c.life);
        } else if constexpr (std::is_same_v<T, SetLimits>) {
          o << " fields=" << c.fields << " accounts_max=" << c.accounts_max
            << " orders_max=" << c.orders_max << " ids_max=" << c.ids_max
            << " id_window_us=" << c.id_window_us << " order_retention_us=" << c.order_retention_us;
        }
      },
      command);
  return o.str();
}

std::string str(const Result& r) {
  std::ostringstream o;
  o << "{" << code_name(r.code) << " flags=" << static_cast<int>(r.flags) << " amount=" << r.amount
    << " aux=" << r.aux << " expired=" << r.expired << "}";
  return o.str();
}

std::string str(const AccountView& v) {
  std::ostringstream o;
  o << "{seller=" << v.seller << " buyer=" << v.buyer << " available=" << v.available
    << " held=" << v.held << " pending=" << v.pending << " debt=" << v.debt
    << " next_expiry=" << v.next_expiry_us << " next_amount=" << v.next_expiry_amount
    << " exists=" << v.exists << " tier=" << v.tier << " rate_bp=" << v.rate_bp
    << " purchases=" << v.purchases_kopecks << " next_tier=" << v.next_tier_kopecks
    << " last_purchase=" << v.last_purchase_us << "}";
  return o.str();
}

std::string str(const LotView& v) {
  std::ostringstream o;
  o << "{" << v.amount << " exp=" << v.expires_at_us
    << (v.origin == LotView::Origin::order ? " order=" : " campaign=") << v.origin_id
    << " reason=" << int{v.reason} << "}";
  return o.str();
}

std::string str(const CartEntry& v) {
  std::ostringstream o;
  o << "{seller=" << v.seller << " available=" << v.available << " spendable=" << v.spendable
    << " pending=" << v.pending << " expiring_soon=" << v.expiring_soon
    << " next_expiry=" << v.next_expiry_us << " earn=" << v.earn << " tier=" << v.tier
    << " rate_bp=" << v.rate_bp << " month_room=" << v.earn_month_room
    << " balance_room=" << v.balance_room << "}";
  return o.str();
}

std::string str(const ExpiringEntry& v) {
  std::ostringstream o;
  o << "{buyer=" << v.buyer << " amount=" << v.amount << " first=" << v.first_expiry_us << "}";
  return o.str();
}

std::string str(const SellerStats& s) {
  std::ostringstream o;
  o << "{issued=" << s.issued << " accrued=" << s.accrued << " spent=" << s.spent
    << " expired=" << s.expired << " refunded=" << s.refunded << " reversed=" << s.reversed
    << " held=" << s.held << " pending=" << s.pending << " debt=" << s.debt
    << " outstanding=" << s.outstanding << "}";
  return o.str();
}

std::string str(const CampaignStats& s) {
  std::ostringstream o;
  o << "{issued=" << s.issued << " spent=" << s.spent << " expired=" << s.expired
    << " refunded=" << s.refunded << " reversed=" << s.reversed
    << " outstanding=" << s.outstanding << " recipients=" << s.recipients
    << " spenders=" << s.spenders << " revoked=" << s.revoked
    << " revoked_amount=" << s.revoked_amount << " sales_orders=" << s.sales_orders
    << " sales_kopecks=" << s.sales_kopecks << "}";
  return o.str();
}

std::string str(const MonthReport& m) {
  std::ostringstream o;
  o << "{month=" << m.month << " accrued=" << m.accrued << " confirmed=" << m.confirmed
    << " credited=";
  for (Amount v : m.credited) o << v << ",";
  o << " spent=" << m.spent << " refunded=" << m.refunded << " reversed=" << m.reversed
    << " expired=" << m.expired << " orders=" << m.orders << " goods=" << m.orders_goods_kopecks
    << "}";
  return o.str();
}

std::string str(const Policy& p) {
  std::ostringstream o;
  o << "{share_bp=" << p.spend_share_bp << " balance_max=" << p.balance_max
    << " earn_month_max=" << p.earn_month_max << " lot_life_us=" << p.lot_life_us << "}";
  return o.str();
}

template <typename T>
std::string str(const std::vector<T>& items) {
  std::string s = "[";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) s += ' ';
    s += str(items[i]);
  }
  s += ']';
  return s;
}

// ---------------------------------------------------------------------------------------
// Scenarios

struct Step {
  TimeUs now = 0;
  Command command;
  bool check = false;   // compare every read after this command
  TimeUs read_now = 0;  // the `now` of those reads (>= now)
};

struct Scenario {
  std::uint64_t seed = 0;
  EngineConfig config;
  std::vector<SellerId> sellers;
  std::vector<BuyerId> buyers;
  std::vector<CampaignId> campaigns;  // non-zero
  std::vector<OrderId> orders;
  std::vector<Step> steps;
};

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

constexpr std::size_t kSweepIndex = Command(Sweep{}).index();

// Seeds whose scenario includes a flood: one account filled up to kAccountLotsMax lots.
bool flood_seed(std::uint64_t seed) { return splitmix64(seed ^ 0xF100D) % 40 == 0; }
// Seeds whose scenario drives one account's pending and debt near 2^32.
bool big_seed(std::uint64_t seed) { return splitmix64(seed ^ 0xB16) % 30 == 0; }

// Makes a scenario. It feeds its own ReferenceLedger (the shadow) as it goes, and uses its
// results and balances to aim commands at live orders and at amounts that can succeed.
class Generator {
 public:
  explicit Generator(std::uint64_t seed) : seed_(seed), rng_(splitmix64(seed)) {}

  Scenario make() {
    Scenario s;
    s.seed = seed_;
    const bool flood = flood_seed(seed_);
    const bool big = big_seed(seed_);

    // Config: small tables sometimes, so that the *_full codes happen.
    // Wide seeds: many sellers, buyers and orders, and dense time, so that the engine's
    // tables grow and many ids and finished orders are live at once.
    const bool wide = !flood && !big && chance(0.08);
    const bool plain = !flood && !big && !wide;
    if (plain && chance(0.25)) s.config.accounts_max = u64(3, 30);
    if (plain && chance(0.25)) s.config.orders_max = u64(2, 12);
    if (plain && chance(0.15)) s.config.ids_max = u64(20, 200);
    s.config.id_window_us = i64(10 * kUsPerMinute, 6 * kUsPerHour);
    // Rejected commands' ids: a window of their own, shorter or longer, and sometimes a
    // tiny table, so that rejections go unremembered.
    s.config.rejected_id_window_us = i64(kUsPerMinute, 2 * kUsPerHour);
    if (plain && chance(0.15)) s.config.rejected_ids_max = u64(1, 20);
    s.config.order_retention_us = i64(2 * kUsPerHour, 5 * kUsPerDay);
    if (big) s.config.order_retention_us = 400 * kUsPerDay;
    shadow_.emplace(s.config);

    // Universe.
    if (wide) {
      for (std::uint64_t i = 0; i < 40; ++i) s.sellers.push_back(chance(0.5) ? rng_() : 1 + i);
    } else if (chance(0.25)) {
      s.sellers = {0, ~0ull, rng_()};
    } else {
      s.sellers = {1, 2, 3};
    }
    const bool odd_buyers = chance(0.25);
    const std::uint64_t buyers = wide ? 3000 : 20;
    for (std::uint64_t i = 0; i < buyers; ++i) s.buyers.push_back(odd_buyers ? rng_() : 100 + i);
    if (odd_buyers) {
      s.buyers[0] = 0;
      s.buyers[1] = ~0ull;
    }
    const std::uint64_t campaigns = wide ? 30 : u64(4, 8);
    for (std::uint64_t i = 1; i <= campaigns; ++i) s.campaigns.push_back(chance(0.2) ? rng_() | 1 : i);
    // Big-figure seeds keep finished orders 400 days: a larger pool keeps order ids free.
    const std::uint64_t orders = big ? 1000 : wide ? 3000 : u64(6, 40);
    const bool odd_orders = chance(0.3);
    for (std::uint64_t i = 0; i < orders; ++i) s.orders.push_back(odd_orders ? rng_() : 5000 + i);
    if (chance(0.2)) s.orders[0] = 0;
    sc_ = &s;

    // Time.
    now_ = (1'704'067'200 + i64(0, 400 * 86'400)) * kUsPerSecond + i64(0, kUsPerSecond);
    const std::array<double, 4> scales = {0.01, 0.1, 0.3, 1.0};
    scale_ = wide ? 0.01 : scales[u64(0, scales.size() - 1)];

    const std::uint64_t count = wide ? u64(6000, 12000) : u64(1500, 5000);
    const std::uint64_t flood_at = flood ? u64(0, count / 2) : ~0ull;
    const std::uint64_t big_at = big ? u64(0, count / 2) : ~0ull;
    std::uint64_t next_check = u64(150, 250);
    while (s.steps.size() < count) {
      if (s.steps.size() >= flood_at && !flood_done_) {
        add_flood(s);
        flood_done_ = true;
      }
      if (s.steps.size() >= big_at && !big_done_) {
        add_big_figures(s);
        big_done_ = true;
      }
      advance();
      if (chance(0.002)) {
        add_debt_story(s);
        continue;
      }
      push(s, next_command());
      if (s.steps.size() >= next_check || s.steps.size() == count) {
        mark_check(s.steps.back());
        next_check = s.steps.size() + u64(150, 250);
      }
    }
    sc_ = nullptr;
    shadow_.reset();
    return s;
  }

 private:
  // Random helpers.
  std::uint64_t u64(std::uint64_t lo, std::uint64_t hi) {
    return std::uniform_int_distribution<std::uint64_t>(lo, hi)(rng_);
  }
  std::int64_t i64(std::int64_t lo, std::int64_t hi) {
    return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng_);
  }
  double unit() { return std::uniform_real_distribution<double>(0.0, 1.0)(rng_); }
  bool chance(double p) { return unit() < p; }
  template <typename T>
  T pick(const std::vector<T>& items) {
    return items[u64(0, items.size() - 1)];
  }

  // A moment some rule turns on (a deadline, an expiry, an id's window or an order's
  // retention ending); advance() sometimes jumps to one exactly, or 1 µs either side.
  void target(TimeUs t) {
    if (t <= now_ || t >= kTimeMaxUs - kUsPerDay) return;
    targets_.push_back(t);
    if (targets_.size() > 64) targets_.pop_front();
  }

  void advance() {
    if (!targets_.empty() && chance(0.08)) {
      std::vector<TimeUs> ahead;
      for (TimeUs t : targets_) {
        if (t >= now_ && t <= now_ + 3 * kUsPerDay) ahead.push_back(t);
      }
      if (!ahead.empty()) {
        const TimeUs t = pick(ahead) + i64(-1, 1);
        if (t > now_) {
          now_ = t;
          return;
        }
      }
    }
    if (chance(0.01)) {  // a minute boundary, for the sweep's buckets
      const TimeUs t = (now_ / kUsPerMinute + 1) * kUsPerMinute + i64(-1, 1);
      if (t > now_) {
        now_ = t;
        return;
      }
    }
    const double r = unit();
    TimeUs step = 0;
    if (r < 0.40) {
      step = i64(1, 1000);
    } else if (r < 0.65) {
      step = i64(1000, kUsPerMinute);
    } else if (r < 0.85) {
      step = i64(kUsPerMinute, 30 * kUsPerMinute);
    } else if (r < 0.97) {
      step = i64(30 * kUsPerMinute, 3 * kUsPerHour);
    } else if (r < 0.995) {
      step = i64(3 * kUsPerHour, 36 * kUsPerHour);
    } else {
      step = i64(36 * kUsPerHour, 20 * kUsPerDay);
    }
    now_ += std::max<TimeUs>(1, static_cast<TimeUs>(static_cast<double>(step) * scale_));
  }

  void mark_check(Step& step) {
    step.check = true;
    step.read_now = chance(0.7) ? step.now : step.now + i64(1, 2 * kUsPerHour);
  }

  void push(Scenario& s, const Command& command) {
    Step step;
    step.now = now_;
    step.command = command;
    step.read_now = now_;
    s.steps.push_back(step);
    if (command.index() != kSweepIndex) {  // not a sweep: has an id
      recent_.push_back(command);
      if (recent_.size() > 100) recent_.pop_front();
    }
    learn(command, shadow_->apply(command, now_));
  }

  // Tracks which orders are open, captured, pending or confirmed, from the shadow's results.
  void learn(const Command& command, const Result& r) {
    if (r.flags & Result::kRepeat) return;
    const bool remembered = r.code != Code::id_zero && r.code != Code::id_reused &&
                            r.code != Code::ids_full && command.index() != kSweepIndex;
    if (remembered) {
      target(now_ + (r.ok() ? sc_->config.id_window_us : sc_->config.rejected_id_window_us));
    }
    const TimeUs retention_end = now_ + sc_->config.order_retention_us;
    std::visit(
        [&](const auto& c) {
          using T = std::decay_t<decltype(c)>;
          if constexpr (std::is_same_v<T, Credit>) {
            if (r.ok() && r.amount > r.aux) {
              if (c.life.kind == LotLife::Kind::ttl) target(now_ + c.life.value);
              if (c.life.kind == LotLife::Kind::absolute) target(c.life.value);
              const TimeUs life_us = shadow_->policy(c.seller).lot_life_us;
              if (c.life.kind == LotLife::Kind::policy_default && life_us != kTimeNever) {
                target(now_ + life_us);
              }
            }
          } else if constexpr (std::is_same_v<T, Hold>) {
            if (r.ok()) {
              remember(open_holds_, c.order);
              target(now_ + (c.timeout_us == 0 ? kHoldTimeoutDefaultUs : c.timeout_us));
            }
          } else if constexpr (std::is_same_v<T, Spend>) {
            if (r.ok()) {
              remember(captured_, c.order);
              target(retention_end);
            }
          } else if constexpr (std::is_same_v<T, Capture> || std::is_same_v<T, Release>) {
            if (r.ok() || r.code == Code::hold_timed_out || r.code == Code::unknown_order) {
              forget(open_holds_, c.order);
            }
            if (r.ok() || r.code == Code::hold_timed_out) target(retention_end);
            if (std::is_same_v<T, Capture> && r.ok()) remember(captured_, c.order);
          } else if constexpr (std::is_same_v<T, Refund>) {
            if (r.code == Code::unknown_order) forget(captured_, c.order);
          } else if constexpr (std::is_same_v<T, Accrue>) {
            if (r.ok()) remember(pending_, c.order);
          } else if constexpr (std::is_same_v<T, ConfirmAccrual>) {
            if (r.code != Code::account_lots_full && r.code != Code::ids_full) forget(pending_, c.order);
            if (r.ok()) {
              remember(confirmed_, c.order);
              target(retention_end);
            }
          } else if constexpr (std::is_same_v<T, CancelAccrual>) {
            if (r.code != Code::ids_full) forget(pending_, c.order);
            if (r.ok()) target(retention_end);
          } else if constexpr (std::is_same_v<T, ReverseAccrual>) {
            if (r.ok() || r.code == Code::unknown_order) forget(confirmed_, c.order);
          }
        },
        command);
  }

  Id128 fresh_id() {
    Id128 id{rng_(), rng_()};
    if (id.zero()) id.lo = 1;
    return id;
  }

  SellerId seller() {
    // Skewed: the first seller gets half of the traffic.
    return chance(0.5) ? sc_->sellers[0] : pick(sc_->sellers);
  }
  BuyerId buyer() { return chance(0.5) ? sc_->buyers[u64(0, 4)] : pick(sc_->buyers); }
  CampaignId campaign() { return chance(0.3) ? 0 : pick(sc_->campaigns); }

  OrderId new_order() { return pick(sc_->orders); }
  // An order for capture/release (open holds first) or refund (captured orders first).
  OrderId hold_order(bool for_refund) {
    const std::deque<OrderId>& first = for_refund ? captured_ : open_holds_;
    const std::deque<OrderId>& second = for_refund ? open_holds_ : captured_;
    const double r = unit();
    if (!first.empty() && r < 0.65) return pick_recent(first);
    if (!second.empty() && r < 0.75) return pick_recent(second);
    if (!hold_orders_.empty() && r < 0.90) return pick_recent(hold_orders_);
    return pick(sc_->orders);
  }
  // An order for confirm/cancel (pending first) or reverse (confirmed first).
  OrderId accrual_order(bool for_reverse) {
    const std::deque<OrderId>& first = for_reverse ? confirmed_ : pending_;
    const std::deque<OrderId>& second = for_reverse ? pending_ : confirmed_;
    const double r = unit();
    if (!first.empty() && r < 0.65) return pick_recent(first);
    if (!second.empty() && r < 0.75) return pick_recent(second);
    if (!accrual_orders_.empty() && r < 0.90) return pick_recent(accrual_orders_);
    return pick(sc_->orders);
  }
  OrderId pick_recent(const std::deque<OrderId>& orders) {
    return orders[u64(0, orders.size() - 1)];
  }
  static void remember(std::deque<OrderId>& orders, OrderId order) {
    forget(orders, order);
    orders.push_back(order);
    if (orders.size() > 16) orders.pop_front();
  }
  static void forget(std::deque<OrderId>& orders, OrderId order) {
    orders.erase(std::remove(orders.begin(), orders.end(), order), orders.end());
  }

  Amount amount() {
    const double r = unit();
    if (r < 0.03) return 0;
    if (r < 0.06) return huge_amount();
    if (r < 0.50) return u64(1, 50);
    if (r < 0.90) return u64(1, 500);
    return u64(1, 5000);
  }
  // Mostly what the account can afford (per the shadow), sometimes anything.
  Amount spend_amount(SellerId s, BuyerId b) {
    const Amount available = shadow_->balance(s, b, now_).available;
    if (available > 0 && chance(0.5)) {
      if (chance(0.15)) return available;
      return u64(1, std::min<Amount>(available, chance(0.7) ? 60 : available));
    }
    const double r = unit();
    if (r < 0.03) return 0;
    if (r < 0.05) return huge_amount();
    if (r < 0.65) return u64(1, 30);
    if (r < 0.95) return u64(1, 300);
    return u64(1, 3000);
  }
  Amount huge_amount() {
    switch (u64(0, 4)) {
      case 0: return kAmountMax;
      case 1: return kAmountMax + 1;
      case 2: return 1ull << 32;
      case 3: return ~0ull;  // kAmountAll: "all" for capture and refund, overflow elsewhere
      default: return u64(kAmountMax / 2, 3 * kAmountMax);
    }
  }
  Kopecks goods_total(Amount amount) {
    const double r = unit();
    if (r < 0.04) return u64(0, 100);
    if (r < 0.07) {
      switch (u64(0, 2)) {
        case 0: return kGoodsTotalMax;
        case 1: return kGoodsTotalMax + 1;
        default: return ~0ull;
      }
    }
    const Amount a = std::min<Amount>(amount, 1'000'000'000);
    if (r < 0.25) return a * 100 + u64(0, 300);  // around the cap
    return a * 100 * u64(1, 5) + u64(0, 10'000);
  }

  TimeUs ttl() {
    switch (u64(0, 2)) {
      case 0: return i64(kUsPerMinute, 10 * kUsPerMinute);
      case 1: return i64(10 * kUsPerMinute, 6 * kUsPerHour);
      default: return i64(6 * kUsPerHour, 10 * kUsPerDay);
    }
  }
  LotLife life(bool credit) {
    const double r = unit();
    if (r < 0.30) return LotLife::policy();
    if (r < 0.62) {
      const double q = unit();
      if (q < 0.90) return LotLife::ttl_of(ttl());
      if (q < 0.94) return LotLife::ttl_of(i64(-5, 0));
      if (q < 0.97) return LotLife::ttl_of(kTimeMaxUs - now_ + i64(-1, 1));
      return LotLife::ttl_of(kTimeNever);
    }
    if (r < 0.80 && credit) {
      // Reusing an earlier absolute expiry makes lots that tie on expires_at (order by seq).
      if (!absolutes_.empty() && chance(0.3)) {
        const TimeUs t = pick(absolutes_);
        if (t > now_ || chance(0.2)) return LotLife::at(t);
      }
      if (chance(0.9)) {
        const TimeUs t = now_ + ttl();
        absolutes_.push_back(t);
        if (absolutes_.size() > 16) absolutes_.erase(absolutes_.begin());
        return LotLife::at(t);
      }
      if (chance(0.1)) return LotLife::at(kTimeMaxUs);
      return LotLife::at(now_ - i64(0, kUsPerHour));
    }
    if (r < 0.84 && !credit) return LotLife::at(now_ + ttl());  // invalid_expiry
    return LotLife::forever();
  }
  TimeUs timeout() {
    const double r = unit();
    if (r < 0.45) return 0;
    if (r < 0.80) return i64(kUsPerMinute, 3 * kUsPerHour);
    if (r < 0.87) return i64(1, 5 * kUsPerSecond);
    if (r < 0.92) {
      switch (u64(0, 2)) {
        case 0: return -1;
        case 1: return -i64(1, kUsPerDay);
        default: return kHoldTimeoutMaxUs + 1;
      }
    }
    if (r < 0.95) return kHoldTimeoutMaxUs;
    return i64(3 * kUsPerHour, 2 * kUsPerDay);
  }
  Amount cap_amount() {
    const double r = unit();
    if (r < 0.05) return chance(0.5) ? 0 : kAmountMax + 1;
    if (r < 0.55) return u64(20, 2000);
    if (r < 0.85) return u64(2000, 30'000);
    return kAmountMax;
  }

  // Commands.
  Command referral() {
    Referral c;
    c.id = fresh_id();
    c.seller = seller();
    c.referrer = buyer();
    c.friend_buyer = chance(0.05) ? c.referrer : buyer();
    c.referrer_amount = amount();
    c.friend_amount = chance(0.1) ? c.referrer_amount : amount();
    c.campaign = campaign();
    c.life = life(true);
    return c;
  }
  Command credit() {
    Credit c;
    c.id = fresh_id();
    c.seller = seller();
    c.buyer = buyer();
    c.amount = amount();
    if (chance(0.08)) {  // exactly the balance room, or 1 off
      const AccountView v = shadow_->balance(c.seller, c.buyer, now_);
      const Amount room_max = shadow_->policy(c.seller).balance_max;
      if (room_max > v.available + v.held + 1) {
        c.amount = room_max - (v.available + v.held) + u64(0, 2) - 1;
      }
    }
    c.campaign = campaign();
    c.life = life(true);
    // Mostly a defined reason or a seller's own code; sometimes a reserved or too large one.
    const double r = unit();
    c.reason = static_cast<std::uint32_t>(r < 0.6    ? u64(0, 5)
                                          : r < 0.97 ? u64(16, 255)
                                          : r < 0.99 ? u64(6, 15)
                                                     : u64(256, UINT32_MAX));
    return c;
  }
  Command accrue() {
    Accrue c;
    c.id = fresh_id();
    c.order = new_order();
    c.seller = seller();
    c.buyer = buyer();
    c.amount = amount();
    // By price (amount 0) half the time; a price beside an amount counts as a purchase.
    const double p = unit();
    if (p < 0.45) {
      c.amount = 0;
      c.price = u64(0, 3) == 0 ? u64(0, 300) : u64(100, 5'000'000);
    } else if (p < 0.47) {
      c.price = chance(0.5) ? kGoodsTotalMax + 1 : kGoodsTotalMax;
      if (chance(0.5)) c.amount = 0;
    } else if (p < 0.75) {
      c.price = u64(100, 2'000'000);
    }
    c.life = life(false);
    remember(accrual_orders_, c.order);
    return c;
  }
  Command hold() {
    Hold c;
    c.id = fresh_id();
    c.order = new_order();
    c.seller = seller();
    c.buyer = buyer();
    c.amount = spend_amount(c.seller, c.buyer);
    c.goods_total = goods_total(c.amount);
    c.timeout_us = timeout();
    remember(hold_orders_, c.order);
    return c;
  }
  Command spend() {
    Spend c;
    c.id = fresh_id();
    c.order = new_order();
    c.seller = seller();
    c.buyer = buyer();
    c.amount = spend_amount(c.seller, c.buyer);
    c.goods_total = goods_total(c.amount);
    remember(hold_orders_, c.order);
    return c;
  }
  Command capture() {
    Capture c;
    c.id = fresh_id();
    c.order = hold_order(false);
    const double r = unit();
    if (r < 0.37) {
      c.amount = kAmountAll;
    } else if (r < 0.40) {
      c.amount = 0;
    } else if (r < 0.80) {
      c.amount = u64(1, 40);
    } else if (r < 0.90) {
      c.amount = u64(1, 500);
    } else {
      c.amount = chance(0.5) ? kAmountMax : huge_amount();
    }
    return c;
  }
  Command refund() {
    Refund c;
    c.id = fresh_id();
    c.order = hold_order(true);
    const double r = unit();
    if (r < 0.42) {
      c.amount = kAmountAll;
    } else if (r < 0.45) {
      c.amount = 0;
    } else if (r < 0.90) {
      c.amount = u64(1, 50);
    } else if (r < 0.95) {
      c.amount = u64(1, 1000);
    } else {
      c.amount = huge_amount();
    }
    return c;
  }
  Command set_policy() {
    SetPolicy c;
    c.id = fresh_id();
    c.seller = seller();
    const double r = unit();
    if (r < 0.05) {
      c.fields = 0;
    } else if (r < 0.10) {
      c.fields = static_cast<std::uint32_t>(u64(1, 15) | (1ull << u64(4, 31)));
    } else {
      c.fields = static_cast<std::uint32_t>(u64(1, 15));
    }
    const double share = unit();
    if (share < 0.05) {
      c.spend_share_bp = 0;
    } else if (share < 0.10) {
      c.spend_share_bp = chance(0.5) ? kSpendShareBpMax + 1 : static_cast<std::uint32_t>(rng_());
    } else if (share < 0.50) {
      c.spend_share_bp = static_cast<std::uint32_t>(u64(1, kSpendShareBpMax));
    } else {
      c.spend_share_bp = static_cast<std::uint32_t>(u64(5000, kSpendShareBpMax));
    }
    c.balance_max = cap_amount();
    c.earn_month_max = cap_amount();
    const double life_r = unit();
    if (life_r < 0.10) {
      const std::array<TimeUs, 3> bad = {0, -1, INT64_MIN};
      c.lot_life_us = bad[u64(0, 2)];
    } else if (life_r < 0.60) {
      c.lot_life_us = i64(10 * kUsPerMinute, 3 * kUsPerDay);
    } else if (life_r < 0.80) {
      c.lot_life_us = i64(3 * kUsPerDay, 60 * kUsPerDay);
    } else if (life_r < 0.95) {
      c.lot_life_us = kTimeNever;
    } else {
      c.lot_life_us = kPolicyLotLifeDefaultUs;
    }
    // Rates and tiers: mostly valid, now and then out of range, tiers without a rate.
    if (chance(0.6)) c.fields |= SetPolicy::kRate;
    if (chance(0.5)) c.fields |= SetPolicy::kTiers;
    if (chance(0.3)) c.fields |= SetPolicy::kTierWindow;
    c.rate_bp = chance(0.05) ? (chance(0.5) ? 0 : kRateBpMax + 1)
                             : static_cast<std::uint32_t>(u64(1, 1'500));
    c.tier_window_days = chance(0.05) ? (chance(0.5) ? 0 : kTierWindowDaysMax + 1)
                                      : static_cast<std::uint32_t>(u64(1, 40));
    if (c.fields & SetPolicy::kTiers) {
      c.tier_count = static_cast<std::uint32_t>(u64(0, chance(0.03) ? 9 : kPolicyTiersMax));
      Kopecks threshold = 0;
      for (std::uint32_t k = 0; k < std::min(c.tier_count, kPolicyTiersMax); ++k) {
        threshold += chance(0.03) ? 0 : u64(1, 3'000'000);
        c.tiers[k].threshold_kopecks = threshold;
        c.tiers[k].rate_bp = chance(0.03) ? 0 : static_cast<std::uint32_t>(u64(1, 3'000));
      }
    }
    return c;
  }

  // Limits near the scenario's own (its bounds are small to reach the *_full codes), now
  // and then out of range.
  Command set_limits() {
    SetLimits c;
    c.id = fresh_id();
    const double r = unit();
    c.fields = r < 0.05 ? 0 : r < 0.10 ? static_cast<std::uint32_t>(u64(1, 127) | 128)
                                     : static_cast<std::uint32_t>(u64(1, 127));
    auto bound = [&](std::uint64_t base) {
      return chance(0.05) ? (chance(0.5) ? 0 : kTableBoundMax + 1) : u64(1, 2 * base);
    };
    auto window = [&](TimeUs base) {
      return chance(0.05) ? (chance(0.5) ? TimeUs{0} : kWindowMaxUs + 1) : i64(kUsPerMinute, 2 * base);
    };
    const EngineConfig& base = sc_->config;
    c.accounts_max = bound(base.accounts_max);
    c.orders_max = bound(base.orders_max);
    c.ids_max = bound(base.ids_max);
    c.id_window_us = window(base.id_window_us);
    c.order_retention_us = window(base.order_retention_us);
    c.rejected_ids_max = bound(base.rejected_ids_max);
    c.rejected_id_window_us = window(base.rejected_id_window_us);
    return c;
  }

  Command fresh_command() {
    const double r = unit() * 100.0;
    if (r < 22) return credit();
    if (r < 31) return accrue();
    if (r < 39) {
      ConfirmAccrual c;
      c.id = fresh_id();
      c.order = accrual_order(false);
      return c;
    }
    if (r < 42) {
      CancelAccrual c;
      c.id = fresh_id();
      c.order = accrual_order(false);
      return c;
    }
    if (r < 54) return hold();
    if (r < 63) return capture();
    if (r < 67) {
      Release c;
      c.id = fresh_id();
      c.order = hold_order(false);
      return c;
    }
    if (r < 75) return spend();
    if (r < 83) return refund();
    if (r < 87) {
      ReverseAccrual c;
      c.id = fresh_id();
      c.order = accrual_order(true);
      return c;
    }
    if (r < 87.15) {
      RevokeCampaign c;
      c.id = fresh_id();
      c.seller = seller();
      c.campaign = chance(0.15) ? 0 : pick(sc_->campaigns);
      return c;
    }
    if (r < 89.5) return set_policy();
    if (r < 89.55) return set_limits();
    if (r < 91) return referral();
    return Sweep{};
  }

  static void set_id(Command& command, const Id128& id) {
    std::visit(
        [&](auto& c) {
          if constexpr (requires { c.id; }) c.id = id;
        },
        command);
  }
  static Id128 get_id(const Command& command) {
    return std::visit(
        [](const auto& c) -> Id128 {
          if constexpr (requires { c.id; }) {
            return c.id;
          } else {
            return Id128{};
          }
        },
        command);
  }

  Command next_command() {
    const double r = unit();
    // An exact repeat of a recent command (same id, same body).
    if (r < 0.05 && !recent_.empty()) {
      const std::size_t back = std::min<std::size_t>(recent_.size(), 30);
      Command again = recent_[recent_.size() - 1 - u64(0, back - 1)];
      // Sometimes the body differs only in a credit's reason: still another body.
      if (auto* credit_cmd = std::get_if<Credit>(&again); credit_cmd != nullptr && chance(0.1)) {
        credit_cmd->reason ^= 1u << u64(0, 31);
      }
      return again;
    }
    Command command = fresh_command();
    if (command.index() == std::variant_size_v<Command> - 1) return command;  // sweep
    // A recent id on another body: id_reused while live, applied once forgotten.
    if (r < 0.07 && !recent_.empty()) set_id(command, get_id(pick_recent_command()));
    // Id zero.
    if (r >= 0.07 && r < 0.08) set_id(command, Id128{});
    return command;
  }
  const Command& pick_recent_command() { return recent_[u64(0, recent_.size() - 1)]; }

  // Bonuses held, then their accrual reversed (the account owes), then the hold released,
  // partly captured or left to time out: every way of returning meets the debt. Sometimes
  // across a month boundary, so the reversal's earn allowance rule meets both months.
  void add_debt_story(Scenario& s) {
    const SellerId seller_id = seller();
    const BuyerId buyer_id = buyer();
    Accrue accrue_cmd;
    accrue_cmd.id = fresh_id();
    accrue_cmd.order = new_order();
    accrue_cmd.seller = seller_id;
    accrue_cmd.buyer = buyer_id;
    accrue_cmd.amount = u64(1, 500);
    push(s, accrue_cmd);
    advance();
    push(s, ConfirmAccrual{fresh_id(), accrue_cmd.order});
    const Amount available = shadow_->balance(seller_id, buyer_id, now_).available;
    if (available == 0) return;
    Hold hold_cmd;
    hold_cmd.id = fresh_id();
    hold_cmd.order = new_order();
    hold_cmd.seller = seller_id;
    hold_cmd.buyer = buyer_id;
    hold_cmd.amount = u64(1, available);
    hold_cmd.goods_total = 10'000'000'000;  // 100 M roubles: the spend cap is never in the way
    hold_cmd.timeout_us = i64(kUsPerMinute, kUsPerHour);
    advance();
    push(s, hold_cmd);
    if (chance(0.2)) now_ += i64(20, 40) * kUsPerDay;  // likely into the next month
    advance();
    push(s, ReverseAccrual{fresh_id(), accrue_cmd.order});
    advance();
    const double r = unit();
    if (r < 0.4) {
      push(s, Release{fresh_id(), hold_cmd.order});
    } else if (r < 0.8) {
      push(s, Capture{fresh_id(), hold_cmd.order, u64(1, hold_cmd.amount)});
    } else {
      now_ += hold_cmd.timeout_us;  // the next sweep or command times it out
    }
  }

  // A burst that fills one account to kAccountLotsMax lots and runs into account_lots_full
  // (credit and confirm_accrual).
  void add_flood(Scenario& s) {
    const SellerId flood_seller = s.sellers[0];
    const BuyerId flood_buyer = s.buyers[0];
    SetPolicy policy;
    policy.id = fresh_id();
    policy.seller = flood_seller;
    policy.fields = SetPolicy::kBalanceMax | SetPolicy::kEarnMonthMax;
    policy.balance_max = kAmountMax;
    policy.earn_month_max = kAmountMax;
    advance();
    push(s, policy);
    Accrue accrue_cmd;
    accrue_cmd.id = fresh_id();
    accrue_cmd.order = s.orders.back();
    accrue_cmd.seller = flood_seller;
    accrue_cmd.buyer = flood_buyer;
    accrue_cmd.amount = 7;
    accrue_cmd.life = LotLife::forever();
    advance();
    push(s, accrue_cmd);
    for (std::uint32_t i = 0; i < kAccountLotsMax + 10; ++i) {
      Credit c;
      c.id = fresh_id();
      c.seller = flood_seller;
      c.buyer = flood_buyer;
      c.amount = u64(1, 3);
      c.life = chance(0.5) ? LotLife::forever() : LotLife::ttl_of(i64(kUsPerDay, 300 * kUsPerDay));
      now_ += i64(1, 1000);
      push(s, c);
      if (i % 500 == 499) mark_check(s.steps.back());
    }
    ConfirmAccrual confirm;
    confirm.id = fresh_id();
    confirm.order = accrue_cmd.order;
    now_ += i64(1, 1000);
    push(s, confirm);
    Spend spend_cmd;
    spend_cmd.id = fresh_id();
    spend_cmd.order = s.orders.back();
    spend_cmd.seller = flood_seller;
    spend_cmd.buyer = flood_buyer;
    spend_cmd.amount = 500;
    spend_cmd.goods_total = 10'000'000;
    now_ += i64(1, 1000);
    push(s, spend_cmd);
    mark_check(s.steps.back());
  }

  // One account's pending and debt are driven near 2^32 - 1: four pending accruals of
  // kAmountMax, a fifth is `overflow`; five confirmations in five calendar months, each spent
  // in full; then reversals make debt until the fifth is `overflow`.
  void add_big_figures(Scenario& s) {
    const SellerId seller_id = s.sellers[1];
    const BuyerId buyer_id = s.buyers[2];
    std::vector<OrderId> accruals;
    std::vector<OrderId> spends;
    for (int i = 0; i < 5; ++i) {
      accruals.push_back(rng_());  // not in the pool: surely free
      spends.push_back(rng_());
    }
    auto step = [&](const Command& c) {
      now_ += i64(1, 1000);
      push(s, c);
    };
    SetPolicy policy;
    policy.id = fresh_id();
    policy.seller = seller_id;
    policy.fields = SetPolicy::kBalanceMax | SetPolicy::kEarnMonthMax | SetPolicy::kSpendShare;
    policy.spend_share_bp = kSpendShareBpMax;
    policy.balance_max = kAmountMax;
    policy.earn_month_max = kAmountMax;
    step(policy);
    auto accrue_big = [&](OrderId order) {
      Accrue a;
      a.id = fresh_id();
      a.order = order;
      a.seller = seller_id;
      a.buyer = buyer_id;
      a.amount = kAmountMax;
      a.life = LotLife::forever();
      step(a);
    };
    for (std::size_t i = 0; i < 5; ++i) accrue_big(accruals[i]);  // the fifth: overflow
    for (std::size_t i = 0; i < 5; ++i) {
      ConfirmAccrual confirm;
      confirm.id = fresh_id();
      confirm.order = accruals[i];
      step(confirm);
      if (i == 0) accrue_big(accruals[4]);  // fits now
      const Amount available = shadow_->balance(seller_id, buyer_id, now_).available;
      if (available > 0) {
        Spend spend_cmd;
        spend_cmd.id = fresh_id();
        spend_cmd.order = spends[i];
        spend_cmd.seller = seller_id;
        spend_cmd.buyer = buyer_id;
        spend_cmd.amount = std::min<Amount>(available, kAmountMax);
        spend_cmd.goods_total = 300'000'000'000;
        step(spend_cmd);
      }
      mark_check(s.steps.back());
      now_ += 32 * kUsPerDay;  // the next calendar month: the earn cap starts over
    }
    for (std::size_t i = 0; i < 5; ++i) {
      ReverseAccrual reverse;
      reverse.id = fresh_id();
      reverse.order = accruals[i];
      step(reverse);
    }
    mark_check(s.steps.back());
  }

  std::uint64_t seed_;
  std::mt19937_64 rng_;
  const Scenario* sc_ = nullptr;
  TimeUs now_ = 0;
  double scale_ = 1.0;
  bool flood_done_ = false;
  bool big_done_ = false;
  std::deque<Command> recent_;
  std::deque<OrderId> hold_orders_;     // used by recent hold/spend commands
  std::deque<OrderId> accrual_orders_;  // used by recent accrue commands
  std::deque<OrderId> open_holds_;      // per the shadow
  std::deque<OrderId> captured_;
  std::deque<OrderId> pending_;
  std::deque<OrderId> confirmed_;
  std::optional<ReferenceLedger> shadow_;
  std::deque<TimeUs> targets_;
  std::vector<TimeUs> absolutes_;
};

// ---------------------------------------------------------------------------------------
// Coverage

struct Coverage {
  std::array<std::array<std::uint64_t, kCodeCount>, std::variant_size_v<Command>> codes{};
  std::map<std::string, std::uint64_t> events;
  std::map<std::string, std::uint64_t> notes;  // the model's paths (ReferenceLedger::notes)

  void count(const Command& command, const Result& r) {
    const std::size_t kind = command.index();
    codes[kind][static_cast<std::size_t>(r.code)] += 1;
    if (r.flags & Result::kRepeat) events["repeat"] += 1;
    if (r.flags & Result::kRepeat) return;
    const std::string name = kKindNames[kind];
    if (r.flags & Result::kCappedBalance) events[name + " capped_balance"] += 1;
    if (r.flags & Result::kCappedEarn) events[name + " capped_earn"] += 1;
    if (!r.ok()) return;
    if (r.aux > 0) events[name + " aux>0"] += 1;
    if (r.expired > 0) events[name + " expired>0"] += 1;
    if (r.amount == 0) events[name + " amount=0"] += 1;
  }

  std::uint64_t code_total(Code code) const {
    std::uint64_t n = 0;
    for (const auto& row : codes) n += row[static_cast<std::size_t>(code)];
    return n;
  }

  void print() const {
    std::printf("\nCoverage: results per command kind\n");
    for (std::size_t kind = 0; kind < codes.size(); ++kind) {
      std::uint64_t total = 0;
      for (std::uint64_t n : codes[kind]) total += n;
      std::printf("  %-16s %9" PRIu64 " :", kKindNames[kind], total);
      for (std::size_t code = 0; code < kCodeCount; ++code) {
        if (codes[kind][code] == 0) continue;
        std::printf(" %s=%" PRIu64, std::string(code_name(static_cast<Code>(code))).c_str(),
                    codes[kind][code]);
      }
      std::printf("\n");
    }
    std::printf("Coverage: codes never seen:");
    for (std::size_t code = 0; code < kCodeCount; ++code) {
      if (code_total(static_cast<Code>(code)) == 0) {
        std::printf(" %s", std::string(code_name(static_cast<Code>(code))).c_str());
      }
    }
    std::printf("\nCoverage: events\n");
    for (const auto& [name, n] : events) std::printf("  %-32s %9" PRIu64 "\n", name.c_str(), n);
    std::printf("Coverage: paths of the rules taken (reference model)\n");
    for (const auto& [name, n] : notes) std::printf("  %-52s %9" PRIu64 "\n", name.c_str(), n);
  }
};

// ---------------------------------------------------------------------------------------
// Running a scenario on both ledgers

struct Mismatch {
  std::size_t index = 0;  // the step after which it showed
  std::string what;
};

// Compares every read of both ledgers as of `now`.
std::optional<std::string> compare_reads(const Scenario& s, const Ledger& engine,
                                         const ReferenceLedger& model, TimeUs now) {
  std::ostringstream o;
  auto differ = [&](const std::string& what, const std::string& e, const std::string& m) {
    o << what << " differs at read now=" << now << "\n  engine: " << e << "\n  model:  " << m;
    return o.str();
  };

  if (engine.account_count() != model.account_count()) {
    return differ("account_count", std::to_string(engine.account_count()),
                  std::to_string(model.account_count()));
  }
  // Every account the model has, and a few pairs that should not exist.
  std::vector<std::pair<SellerId, BuyerId>> pairs = model.accounts();
  for (std::size_t i = 0; i < 8; ++i) {
    const std::size_t k = static_cast<std::size_t>(splitmix64(static_cast<std::uint64_t>(now) + i));
    pairs.emplace_back(s.sellers[k % s.sellers.size()], s.buyers[(k >> 20) % s.buyers.size()]);
  }
  std::vector<LotView> el;
  for (const auto& pair : pairs) {
    const SellerId seller = pair.first;
    const BuyerId buyer = pair.second;
    auto where = [&] {
      return "(seller " + std::to_string(seller) + ", buyer " + std::to_string(buyer) + ")";
    };
    const AccountView eb = engine.balance(seller, buyer, now);
    const AccountView mb = model.balance(seller, buyer, now);
    if (eb != mb) return differ("balance" + where(), str(eb), str(mb));
    el.clear();
    engine.lots(seller, buyer, now, el);
    const std::vector<LotView> ml = model.lots(seller, buyer, now);
    if (el != ml) return differ("lots" + where(), str(el), str(ml));
  }

  const std::array<Kopecks, 4> totals = {0, 150, 12'345, 1'000'000};
  const TimeUs soon = (now / 7) % 2 == 0 ? kUsPerHour : 3 * kUsPerDay;
  // Wallets and carts: all buyers of a small universe, else the hot ones and a rotating few.
  std::vector<BuyerId> buyers = s.buyers;
  if (buyers.size() > 40) {
    buyers.resize(5);
    for (std::size_t i = 0; i < 35; ++i) {
      buyers.push_back(s.buyers[splitmix64(static_cast<std::uint64_t>(now) ^ (i << 40)) % s.buyers.size()]);
    }
  }
  std::vector<CartLine> lines;
  for (std::size_t i = 0; i < s.sellers.size() && i < 6; ++i) {
    lines.push_back({s.sellers[i], totals[(static_cast<std::size_t>(now) + i) % totals.size()]});
  }
  lines.push_back({s.sellers[0], 7'777});  // the same seller twice
  lines.push_back({987'654'321, 50'000});  // a seller nobody has bonuses of
  for (BuyerId buyer : buyers) {
    std::vector<CartEntry> ec;
    engine.cart(buyer, lines, soon, now, ec);
    const std::vector<CartEntry> mc = model.cart(buyer, lines, soon, now);
    if (ec != mc) return differ("cart(buyer " + std::to_string(buyer) + ")", str(ec), str(mc));
    std::vector<AccountView> ew;
    engine.wallet(buyer, now, ew);
    const std::vector<AccountView> mw = model.wallet(buyer, now);
    if (ew != mw) return differ("wallet(buyer " + std::to_string(buyer) + ")", str(ew), str(mw));
  }

  for (SellerId seller : s.sellers) {
    for (TimeUs within : {kUsPerHour, 3 * kUsPerDay, 400 * kUsPerDay}) {
      const std::uint32_t limit = within == kUsPerHour ? 1 : 3;
      std::vector<ExpiringEntry> all;
      ExpiringCursor cursor;
      std::size_t pages = 0;
      std::string page_error;
      while (true) {
        ExpiringPage page = engine.expiring(seller, within, cursor, limit, now);
        if (page.entries.size() > limit) page_error = "a page has more entries than the limit";
        all.insert(all.end(), page.entries.begin(), page.entries.end());
        if (page.done) break;
        cursor = page.next;
        if (++pages > 1'000'000) {
          page_error = "paging does not end";
          break;
        }
      }
      std::sort(all.begin(), all.end(),
                [](const ExpiringEntry& a, const ExpiringEntry& b) { return a.buyer < b.buyer; });
      for (std::size_t i = 1; i < all.size(); ++i) {
        if (all[i].buyer == all[i - 1].buyer) page_error = "a buyer appears twice";
      }
      const std::vector<ExpiringEntry> me = model.expiring(seller, within, now);
      const std::string what = "expiring(seller " + std::to_string(seller) + ", within " +
                               std::to_string(within) + ", limit " + std::to_string(limit) + ")";
      if (!page_error.empty()) return differ(what + ": " + page_error, str(all), str(me));
      if (all != me) return differ(what, str(all), str(me));
    }
    // Segments: every kind walked page by page, against the reference's whole answer.
    std::vector<SegmentQuery> queries;
    for (TimeUs period : {kUsPerHour, 3 * kUsPerDay, 60 * kUsPerDay}) {
      queries.push_back({seller, SegmentKind::inactive, 0, period});
      queries.push_back({seller, SegmentKind::bought_within, 0, period});
    }
    for (CampaignId campaign : s.campaigns) queries.push_back({seller, SegmentKind::unspent, campaign, 0});
    for (const SegmentQuery& q : queries) {
      std::vector<BuyerId> all;
      SegmentCursor cursor;
      const std::uint32_t limit = q.period_us == kUsPerHour ? 1 : 4;
      for (std::size_t pages = 0;; ++pages) {
        const SegmentPage page = engine.segment(q, cursor, limit, now);
        if (page.buyers.size() > limit || pages > 1'000'000) {
          return differ("segment: a page past its limit, or no end", "", "");
        }
        all.insert(all.end(), page.buyers.begin(), page.buyers.end());
        if (page.done) break;
        cursor = page.next;
      }
      std::sort(all.begin(), all.end());
      const std::vector<BuyerId> mine = model.segment(q, now);
      if (all != mine) {
        auto text = [](const std::vector<BuyerId>& v) {
          std::ostringstream t;
          for (BuyerId b : v) t << ' ' << b;
          return t.str();
        };
        std::ostringstream what;
        what << "segment(seller " << seller << ", kind " << static_cast<int>(q.kind)
             << ", campaign " << q.campaign << ", period " << q.period_us << ")";
        return differ(what.str(), text(all), text(mine));
      }
    }
    const SellerStats es = engine.seller_stats(seller);
    const SellerStats ms = model.seller_stats(seller);
    if (es != ms) return differ("seller_stats(" + std::to_string(seller) + ")", str(es), str(ms));
    for (CampaignId campaign : s.campaigns) {
      const CampaignStats ecs = engine.campaign_stats(seller, campaign);
      const CampaignStats mcs = model.campaign_stats(seller, campaign);
      if (ecs != mcs) {
        return differ("campaign_stats(" + std::to_string(seller) + ", " + std::to_string(campaign) + ")",
                      str(ecs), str(mcs));
      }
    }
    // The month reports of this month and the two before it.
    const std::uint16_t this_month = calendar_month(now);
    for (std::uint16_t month = this_month >= 2 ? this_month - 2 : 0; month <= this_month; ++month) {
      const MonthReport em = engine.month_report(seller, month);
      const MonthReport mm = model.month_report(seller, month);
      if (em != mm) {
        return differ("month_report(" + std::to_string(seller) + ", " + std::to_string(month) + ")",
                      str(em), str(mm));
      }
    }
    const Policy ep = engine.policy(seller);
    const Policy mp = model.policy(seller);
    if (ep != mp) return differ("policy(" + std::to_string(seller) + ")", str(ep), str(mp));
  }
  const SellerStats et = engine.total_stats();
  const SellerStats mt = model.total_stats();
  if (et != mt) return differ("total_stats", str(et), str(mt));
  if (std::optional<std::string> audit = engine.audit()) return "engine audit: " + *audit;
  return std::nullopt;
}

struct RunOptions {
  bool trace = false;
  std::size_t check_every = 0;  // also compare reads every this many steps (0: only marked)
  Coverage* coverage = nullptr;
};

// The statement check: every event's figures follow from the previous event of its
// account by the rule of its kind (engine/ledger_event.h), and an account's held,
// pending and debt after its last event are what the reference says. So the events of
// an account add up to its balance.
class EventChain {
 public:
  std::optional<std::string> check(const std::vector<LedgerEvent>& events, TimeUs now,
                                   const ReferenceLedger& model) {
    for (const LedgerEvent& e : events) {
      LedgerEvent& last = last_[{e.seller, e.buyer}];
      if (auto problem = follows(last, e, now)) return problem;
      last = e;
    }
    for (const LedgerEvent& e : events) {
      const LedgerEvent& last = last_[{e.seller, e.buyer}];
      const AccountView v = model.balance(e.seller, e.buyer, now);
      if (last.held_after != v.held || last.pending_after != v.pending ||
          last.debt_after != v.debt || last.balance_after < v.available) {
        return "event figures of (" + std::to_string(e.seller) + ", " + std::to_string(e.buyer) +
               ") differ from the model: " + str(v);
      }
    }
    return std::nullopt;
  }

 private:
  static std::optional<std::string> follows(const LedgerEvent& last, const LedgerEvent& e,
                                            TimeUs now) {
    using K = LedgerEvent::Kind;
    std::int64_t balance = last.balance_after;
    std::int64_t debt = last.debt_after;
    const auto amount = static_cast<std::int64_t>(e.amount);
    switch (e.kind) {
      case K::credited: case K::confirmed: case K::released: case K::timed_out: case K::refunded:
        balance += amount - e.debt_part - e.expired_part;
        debt -= e.debt_part;
        break;
      case K::reversed:
        balance -= amount - e.debt_part;
        debt += e.debt_part;
        break;
      case K::held: case K::expired: case K::revoked: balance -= amount; break;
      case K::accrued: case K::cancelled: case K::spent: break;
    }
    if (e.time_us != now || balance != e.balance_after || debt != e.debt_after) {
      return std::string("event ") + event_kind_name(e.kind) + " " + std::to_string(e.amount) +
             " of (" + std::to_string(e.seller) + ", " + std::to_string(e.buyer) +
             ") does not follow: balance " + std::to_string(last.balance_after) + " -> " +
             std::to_string(e.balance_after) + ", debt " + std::to_string(last.debt_after) +
             " -> " + std::to_string(e.debt_after);
    }
    return std::nullopt;
  }

  std::map<std::pair<SellerId, BuyerId>, LedgerEvent> last_;
};

std::optional<Mismatch> run(const Scenario& s, const std::vector<Step>& steps,
                            const RunOptions& options) {
  Ledger engine(s.config);
  engine.record_events(true);
  EventChain chain;
  ReferenceLedger model(s.config);
  for (std::size_t i = 0; i < steps.size(); ++i) {
    const Step& step = steps[i];
    const Result er = engine.apply(step.command, step.now);
    const Result mr = model.apply(step.command, step.now);
    if (options.trace) {
      std::printf("#%zu now=%" PRId64 " %s -> %s%s\n", i, step.now, str(step.command).c_str(),
                  str(er).c_str(), er == mr ? "" : (" MODEL " + str(mr)).c_str());
    }
    if (options.coverage != nullptr) options.coverage->count(step.command, mr);
    if (er != mr) {
      return Mismatch{i, "result differs\n  engine: " + str(er) + "\n  model:  " + str(mr)};
    }
    if (auto problem = chain.check(engine.events(), step.now, model)) return Mismatch{i, *problem};
    // The account the command names, if any, right away.
    const std::optional<std::pair<SellerId, BuyerId>> named = std::visit(
        [](const auto& c) -> std::optional<std::pair<SellerId, BuyerId>> {
          if constexpr (requires { c.buyer; }) {
            return std::pair(c.seller, c.buyer);
          } else {
            return std::nullopt;
          }
        },
        step.command);
    if (named) {
      const AccountView eb = engine.balance(named->first, named->second, step.now);
      const AccountView mb = model.balance(named->first, named->second, step.now);
      if (eb != mb) {
        return Mismatch{i, "balance of the command's account differs\n  engine: " + str(eb) +
                               "\n  model:  " + str(mb)};
      }
    }
    const bool last = i + 1 == steps.size();
    const bool periodic = options.check_every != 0 && (i + 1) % options.check_every == 0;
    if (step.check || periodic || (last && options.check_every != 0)) {
      if (auto diff = compare_reads(s, engine, model, step.check ? step.read_now : step.now)) {
        return Mismatch{i, *diff};
      }
    }
  }
  if (options.coverage != nullptr) {
    for (const auto& [name, n] : model.notes()) options.coverage->notes[name] += n;
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------
// Reporting and shrinking

std::string describe_steps(const std::vector<Step>& steps, std::size_t from, std::size_t to) {
  std::ostringstream o;
  for (std::size_t i = from; i < to && i < steps.size(); ++i) {
    o << "  #" << i << " now=" << steps[i].now << " " << str(steps[i].command) << "\n";
  }
  return o.str();
}

// Delta debugging (complement removal) over the steps up to the failing one.
std::vector<Step> shrink(const Scenario& s, std::vector<Step> steps) {
  RunOptions options;
  options.check_every = 25;
  auto fails = [&](const std::vector<Step>& candidate) {
    return run(s, candidate, options).has_value();
  };
  const auto start = std::chrono::steady_clock::now();
  std::size_t n = 2;
  while (steps.size() >= 2) {
    if (std::chrono::steady_clock::now() - start > std::chrono::seconds(180)) break;
    const std::size_t chunk = (steps.size() + n - 1) / n;
    bool reduced = false;
    for (std::size_t i = 0; i < n && i * chunk < steps.size(); ++i) {
      std::vector<Step> candidate(steps.begin(), steps.begin() + static_cast<std::ptrdiff_t>(i * chunk));
      const std::size_t end = std::min(steps.size(), (i + 1) * chunk);
      candidate.insert(candidate.end(), steps.begin() + static_cast<std::ptrdiff_t>(end), steps.end());
      if (!candidate.empty() && fails(candidate)) {
        steps = std::move(candidate);
        n = std::max<std::size_t>(n - 1, 2);
        reduced = true;
        break;
      }
    }
    if (!reduced) {
      if (n >= steps.size()) break;
      n = std::min(steps.size(), 2 * n);
    }
  }
  return steps;
}

std::uint64_t env_u64(const char* name, std::uint64_t fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  return std::strtoull(v, nullptr, 0);
}

// ---------------------------------------------------------------------------------------
// Tests

TEST(ModelTest, CalendarMonthIsMoscowTime) {
  // 2024-01-31 20:59:59 UTC is 23:59:59 in Moscow: January; a second later, February.
  const TimeUs jan31_2059 = (1'706'734'799) * kUsPerSecond;
  EXPECT_EQ(ReferenceLedger::calendar_month(jan31_2059), 2024 * 12 + 0);
  EXPECT_EQ(ReferenceLedger::calendar_month(jan31_2059 + kUsPerSecond), 2024 * 12 + 1);
  // 2024-02-29 (leap day) 12:00 UTC: February; 2024-12-31 21:00 UTC: January 2025.
  EXPECT_EQ(ReferenceLedger::calendar_month(1'709'208'000 * kUsPerSecond), 2024 * 12 + 1);
  EXPECT_EQ(ReferenceLedger::calendar_month(1'735'678'800 * kUsPerSecond), 2025 * 12 + 0);
  EXPECT_EQ(ReferenceLedger::calendar_month(0), 1970 * 12 + 0);
}

// apply_batch is apply() one by one: on the model test's streams, cut into batches of
// random sizes (1 to 3 prefetch windows and a bit), every result, every write's events and
// the final state hash are those of a ledger applying one at a time; and after each batch
// balances() answers for every account what balance() does.
TEST(ModelTest, BatchedApplyIsApplyOneByOne) {
  const std::uint64_t base_seed =
      env_u64("MODEL_SEED", 0xBA7C000000000000ull + static_cast<std::uint64_t>(std::time(nullptr)));
  std::printf("model_test: batched: MODEL_SEED=%" PRIu64 "\n", base_seed);
  std::uint64_t commands = 0;
  for (std::uint64_t seed = base_seed; commands < 300'000 && !HasFailure(); ++seed) {
    const Scenario s = Generator(seed).make();
    Ledger single(s.config);
    Ledger batched(s.config);
    single.record_events(true);
    batched.record_events(true);
    std::mt19937_64 rng(seed);
    for (std::size_t start = 0; start < s.steps.size();) {
      const std::size_t size =
          std::min<std::size_t>(s.steps.size() - start, 1 + rng() % (3 * Ledger::kApplyWindow + 5));
      batched.apply_batch(
          size,
          [&](std::size_t i) {
            const Step& step = s.steps[start + i];
            return std::pair<const Command&, TimeUs>(step.command, step.now);
          },
          [&](std::size_t i, const Result& r) {
            const Step& step = s.steps[start + i];
            const Result expected = single.apply(step.command, step.now);
            ASSERT_EQ(str(r), str(expected))
                << "seed " << seed << " (MODEL_SEED=" << seed << "), command #" << start + i
                << ": " << str(step.command);
            ASSERT_EQ(batched.events(), single.events()) << "seed " << seed << ", #" << start + i;
          });
      if (HasFailure()) return;
      start += size;
      // balances() is balance() on each: 40 accounts of the scenario at random (some that
      // do not exist, some twice), in one call, against the one-by-one ledger.
      const TimeUs now = s.steps[start - 1].now;
      std::vector<std::pair<SellerId, BuyerId>> keys;
      for (int k = 0; k < 40; ++k) {
        keys.emplace_back(s.sellers[rng() % s.sellers.size()], s.buyers[rng() % s.buyers.size()]);
      }
      batched.balances(
          keys.size(), now, [&](std::size_t i) { return keys[i]; },
          [&](std::size_t i, const AccountView& v) {
            ASSERT_EQ(str(v), str(single.balance(keys[i].first, keys[i].second, now)))
                << "seed " << seed << ", after #" << start - 1;
          });
      if (HasFailure()) return;
    }
    ASSERT_EQ(batched.state_hash(), single.state_hash()) << "seed " << seed;
    commands += s.steps.size();
  }
}

TEST(ModelTest, RandomStreamsAgreeWithReference) {
  const std::uint64_t default_seed = 0xB0005EED00000000ull + static_cast<std::uint64_t>(std::time(nullptr));
  const std::uint64_t base_seed = env_u64("MODEL_SEED", default_seed);
#if defined(__SANITIZE_ADDRESS__)
  const std::uint64_t default_commands = 2'000'000;   // ASan+UBSan: ~16 s per million
#elif defined(NDEBUG)
  const std::uint64_t default_commands = 10'000'000;  // about 35-40 s in a Release build
#else
  const std::uint64_t default_commands = 1'000'000;   // unoptimized builds are ~10x slower
#endif
  const std::uint64_t target = env_u64("MODEL_COMMANDS", default_commands);
  const bool shrink_on_failure = env_u64("MODEL_SHRINK", 0) != 0;
  const bool trace = env_u64("MODEL_TRACE", 0) != 0;
  std::printf("model_test: MODEL_SEED=%" PRIu64 " MODEL_COMMANDS=%" PRIu64 "\n", base_seed, target);

  Coverage coverage;
  std::uint64_t commands = 0;
  std::uint64_t seeds = 0;
  std::uint64_t floods = 0;
  const auto start = std::chrono::steady_clock::now();
  for (std::uint64_t seed = base_seed; commands < target; ++seed) {
    const Scenario s = Generator(seed).make();
    floods += flood_seed(seed) ? 1 : 0;
    RunOptions options;
    options.trace = trace;
    options.coverage = &coverage;
    const std::optional<Mismatch> mismatch = run(s, s.steps, options);
    commands += s.steps.size();
    ++seeds;
    if (!mismatch) continue;

    const std::size_t i = mismatch->index;
    std::ostringstream o;
    o << "MISMATCH: seed " << seed << " (replay: MODEL_SEED=" << seed
      << " MODEL_COMMANDS=1 [MODEL_SHRINK=1] [MODEL_TRACE=1]), command #" << i << " of "
      << s.steps.size() << "\n  now=" << s.steps[i].now << " " << str(s.steps[i].command) << "\n"
      << mismatch->what << "\nconfig: accounts_max=" << s.config.accounts_max
      << " orders_max=" << s.config.orders_max << " ids_max=" << s.config.ids_max
      << " id_window_us=" << s.config.id_window_us
      << " rejected_ids_max=" << s.config.rejected_ids_max
      << " rejected_id_window_us=" << s.config.rejected_id_window_us
      << " order_retention_us=" << s.config.order_retention_us << "\nlast commands:\n"
      << describe_steps(s.steps, i >= 25 ? i - 25 : 0, i + 1);
    if (shrink_on_failure) {
      const std::vector<Step> prefix(s.steps.begin(), s.steps.begin() + static_cast<std::ptrdiff_t>(i + 1));
      const std::vector<Step> small = shrink(s, prefix);
      RunOptions again;
      again.check_every = 25;
      const std::optional<Mismatch> m = run(s, small, again);
      o << "shrunk to " << small.size() << " commands:\n" << describe_steps(small, 0, small.size());
      if (m) o << "which fail at #" << m->index << ": " << m->what << "\n";
    }
    ADD_FAILURE() << o.str();
    break;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("model_test: %" PRIu64 " commands, %" PRIu64 " seeds (%" PRIu64
              " with a lot flood) from MODEL_SEED=%" PRIu64 " in %.1f s\n",
              commands, seeds, floods, base_seed, seconds);
  coverage.print();

  // A full-length run must have reached every code and the interesting outcomes.
  if (target >= 1'000'000 && !HasFailure()) {
    for (std::size_t code = 0; code < kCodeCount; ++code) {
      if (static_cast<Code>(code) == Code::shards_disagree) continue;  // the server's, not the engine's
      if (code_name(static_cast<Code>(code)) == "unknown") continue;    // a number left free
      EXPECT_GT(coverage.code_total(static_cast<Code>(code)), 0u)
          << "code never produced: " << code_name(static_cast<Code>(code));
    }
    auto kind_code = [&](std::size_t kind, Code code) {
      return coverage.codes[kind][static_cast<std::size_t>(code)];
    };
    constexpr std::size_t kCredit = 0, kConfirm = 2, kCapture = 5, kRelease = 6, kRefund = 8;
    EXPECT_GT(kind_code(kConfirm, Code::account_lots_full), 0u);
    EXPECT_GT(kind_code(kCapture, Code::hold_timed_out), 0u);
    EXPECT_GT(kind_code(kRelease, Code::hold_timed_out), 0u);
    EXPECT_GT(kind_code(kRefund, Code::ok), 0u);
    EXPECT_GT(kind_code(kCapture, Code::zero_amount), 0u) << "capture of 0 is not all";
    EXPECT_GT(kind_code(kRefund, Code::zero_amount), 0u) << "refund of 0 is not all";
    EXPECT_GT(kind_code(kCapture, Code::overflow), 0u);
    EXPECT_GT(kind_code(kRefund, Code::overflow), 0u);
    EXPECT_GT(kind_code(kCredit, Code::account_lots_full), 0u);
    EXPECT_GT(kind_code(9, Code::overflow), 0u) << "reverse_accrual overflow (debt past 32 bits)";
    for (const char* event :
         {"repeat", "credit capped_balance", "credit capped_earn", "confirm_accrual capped_earn",
          "credit aux>0", "confirm_accrual aux>0", "refund aux>0", "reverse_accrual aux>0",
          "capture aux>0", "sweep aux>0", "sweep amount=0", "revoke_campaign amount=0",
          "release aux>0", "refund expired>0", "release expired>0", "capture expired>0"}) {
      EXPECT_GT(coverage.events[event], 0u) << "never happened: " << event;
    }
    for (const char* path :
         {"capture: fragment split, the rest returns flagged", "spenders: buyer counted",
          "spenders: buyer already counted", "recipients: buyer already counted",
          "return: piece of an expired fragment expires",
          "return: piece of a revoked campaign expires", "return: lot recreated, spent_from set",
          "credit: invalid reason", "sales: an order spent from two campaigns",
          "referral: both credited", "referral: no room for its accounts",
          "referral: referrer is the friend",
          "return: piece repays debt", "result: part returned, part expired",
          "reverse: gives the month's earn allowance back",
          "reverse: confirmed in another month, allowance stays",
          "credit: repays debt past the earn cap",
          "reverse: takes from its own lot", "reverse: own lot expired",
          "sweep: settles a lot of the current minute", "sweep: hold timed out, deadline == now",
          "capture: times the hold out, deadline == now", "orders: a hold's retention ends exactly now",
          "accrue: pending would pass 32 bits", "credit: new month resets earned",
          "capture: all of the hold", "refund: all", "refund: all that is left after a part"}) {
      EXPECT_GT(coverage.notes[path], 0u) << "rule path never taken: " << path;
    }
  }
}

}  // namespace
}  // namespace bonus::test
