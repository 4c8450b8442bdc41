// Commands: every write the ledger applies, as plain structs, and the Command variant.
// Each struct has no padding (fields are explicit, reserved ones zero), so a command's
// bytes are its body: the idempotency check compares a hash of exactly these bytes.
// The order of alternatives in Command is part of the checkpoint format: append only.
#pragma once

#include <cstdint>
#include <type_traits>
#include <variant>

#include "engine/limits.h"
#include "engine/lot_life.h"
#include "engine/policy.h"
#include "engine/types.h"

namespace bonus {

// New lot of `amount` for (seller, buyer). Caps cut it to what fits (result says so);
// a debt left by reverse_accrual is repaid first.
struct Credit {
  Id128 id;
  SellerId seller = 0;
  BuyerId buyer = 0;
  Amount amount = 0;
  CampaignId campaign = 0;  // 0: no campaign
  LotLife life;
  std::uint32_t reason = 0;  // engine/reason.h: 0..5 defined, 16..255 the seller's own
  std::uint32_t reserved = 0;
};

// Pending cashback for an order: visible, not spendable. `life` applies from
// confirmation (ttl, never or the policy default; absolute is `invalid_expiry`).
// `amount` 0 with a `price`: the amount is the price at the buyer's rate now (tier
// from its purchases in the window). The price, if any, counts in the buyer's
// purchases from confirmation on.
struct Accrue {
  Id128 id;
  OrderId order = 0;
  SellerId seller = 0;
  BuyerId buyer = 0;
  Amount amount = 0;
  LotLife life;
  Kopecks price = 0;  // 0..kGoodsTotalMax
};
static_assert(sizeof(Accrue) == 72);  // its journal body (server/README.md)

// Order picked up: the pending accrual becomes a lot, caps applied, life starting now.
struct ConfirmAccrual {
  Id128 id;
  OrderId order = 0;
};

// Order cancelled before pickup: the pending accrual is removed.
struct CancelAccrual {
  Id128 id;
  OrderId order = 0;
};

// Reserve `amount` for an order, soonest-expiring lots first. The seller's spend cap
// applies to `goods_total`. Released by itself `timeout_us` after now (0: default).
struct Hold {
  Id128 id;
  OrderId order = 0;
  SellerId seller = 0;
  BuyerId buyer = 0;
  Amount amount = 0;
  Kopecks goods_total = 0;
  TimeUs timeout_us = 0;
};

// Order paid: spend `amount` of the hold (kAmountAll, the default: all of it), release
// the rest. An amount of 0 is `zero_amount`.
struct Capture {
  Id128 id;
  OrderId order = 0;
  Amount amount = kAmountAll;
};

// Order abandoned: held bonuses go back to their lots.
struct Release {
  Id128 id;
  OrderId order = 0;
};

// Hold and capture in one step (point of sale).
struct Spend {
  Id128 id;
  OrderId order = 0;
  SellerId seller = 0;
  BuyerId buyer = 0;
  Amount amount = 0;
  Kopecks goods_total = 0;
};

// Captured order returned: `amount` (kAmountAll, the default: all not yet refunded) goes
// back to the lots it came from; into an expired lot it counts as refunded and expired at
// once. An amount of 0 is `zero_amount`.
struct Refund {
  Id128 id;
  OrderId order = 0;
  Amount amount = kAmountAll;
};

// Confirmed cashback of a returned order is taken back; what cannot be taken
// becomes debt that later credits and refunds repay first.
struct ReverseAccrual {
  Id128 id;
  OrderId order = 0;
};

// A seller cancels a mailing: its unspent bonuses expire now; later credits under
// the campaign are rejected.
struct RevokeCampaign {
  Id128 id;
  SellerId seller = 0;
  CampaignId campaign = 0;
};

// Per-seller policy; only the fields named in `fields` change.
struct SetPolicy {
  enum Field : std::uint32_t {
    kSpendShare = 1,
    kBalanceMax = 2,
    kEarnMonthMax = 4,
    kLotLife = 8,
    kRate = 16,
    kTiers = 32,
    kTierWindow = 64,
  };
  static constexpr std::uint32_t kFieldsAll = 127;
  Id128 id;
  SellerId seller = 0;
  std::uint32_t fields = 0;
  std::uint32_t spend_share_bp = 0;  // 1..10000 basis points of the goods total
  Amount balance_max = 0;            // 1..kAmountMax
  Amount earn_month_max = 0;         // 1..kAmountMax
  TimeUs lot_life_us = 0;            // > 0, or kTimeNever
  std::uint32_t rate_bp = 0;         // 1..kRateBpMax
  std::uint32_t tier_window_days = 0;  // 1..kTierWindowDaysMax
  std::uint32_t tier_count = 0;      // 0..kPolicyTiersMax (0: no tiers)
  std::uint32_t reserved = 0;
  // Thresholds ascending from above 0, rates 1..kRateBpMax; entries past tier_count zero.
  PolicyTier tiers[kPolicyTiersMax] = {};
};
static_assert(sizeof(SetPolicy) == 200);  // its journal body (server/README.md)

// The periodic tick (issued by the server, not by clients; no id): releases timed-out
// holds and moves expired lots into the statistics. Does at most `limit` units of
// work (0: no limit); the result's `more` flag says whether work is left.
struct Sweep {
  std::uint32_t limit = 0;
  std::uint32_t reserved = 0;
};

// An operator changes the ledger's bounds (EngineConfig) on purpose, at this log
// position: only the fields named in `fields` change (EngineConfig::apply gives the
// config after it; EngineConfig::valid the ranges). Seller-wide: every shard applies it.
// A bound lowered below what is in use keeps what is there and refuses new entries
// until use falls below it; a shorter window forgets what is past it at once.
struct SetLimits {
  enum Field : std::uint32_t {
    kAccountsMax = 1,
    kOrdersMax = 2,
    kIdsMax = 4,
    kIdWindow = 8,
    kOrderRetention = 16,
    kRejectedIdsMax = 32,
    kRejectedIdWindow = 64,
  };
  static constexpr std::uint32_t kFieldsAll = 127;
  Id128 id;
  std::uint32_t fields = 0;
  std::uint32_t reserved = 0;
  std::uint64_t accounts_max = 0;
  std::uint64_t orders_max = 0;
  std::uint64_t ids_max = 0;
  TimeUs id_window_us = 0;
  TimeUs order_retention_us = 0;
  std::uint64_t rejected_ids_max = 0;
  TimeUs rejected_id_window_us = 0;
  friend bool operator==(const SetLimits&, const SetLimits&) = default;
};
static_assert(sizeof(SetLimits) == 80);  // its journal body (server/README.md)

// A buyer brought a friend: the referrer gets `referrer_amount`, the friend
// `friend_amount`, each as a credit with reason referral (4), under one id. Seller-wide in
// the server: every shard applies it and credits the buyers its partition owns
// (Ledger::set_partition), so each is credited exactly once and a retry is a repeat for
// both. Result: amount = the referrer's credited, aux = the friend's (after caps).
struct Referral {
  Id128 id;
  SellerId seller = 0;
  BuyerId referrer = 0;
  BuyerId friend_buyer = 0;
  Amount referrer_amount = 0;
  Amount friend_amount = 0;
  CampaignId campaign = 0;  // 0: no campaign
  LotLife life;
};
static_assert(sizeof(Referral) == 80);  // its journal body (server/README.md)

using Command = std::variant<Credit, Accrue, ConfirmAccrual, CancelAccrual, Hold, Capture,
                             Release, Spend, Refund, ReverseAccrual, RevokeCampaign,
                             SetPolicy, Sweep, SetLimits, Referral>;

template <typename T>
inline constexpr bool kNoPadding = std::has_unique_object_representations_v<T>;
static_assert(kNoPadding<Credit> && kNoPadding<Accrue> && kNoPadding<ConfirmAccrual> &&
              kNoPadding<CancelAccrual> && kNoPadding<Hold> && kNoPadding<Capture> &&
              kNoPadding<Release> && kNoPadding<Spend> && kNoPadding<Refund> &&
              kNoPadding<ReverseAccrual> && kNoPadding<RevokeCampaign> &&
              kNoPadding<SetPolicy> && kNoPadding<Sweep> && kNoPadding<SetLimits> &&
              kNoPadding<Referral>);

}  // namespace bonus
