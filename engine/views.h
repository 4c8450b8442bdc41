// Answers to the ledger's queries: plain values, filled by Ledger's const methods.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/types.h"

namespace bonus {

// One account as of a moment: expired lots are never counted.
struct AccountView {
  SellerId seller = 0;
  BuyerId buyer = 0;
  Amount available = 0;  // spendable now: lots not expired
  Amount held = 0;       // reserved by open holds
  Amount pending = 0;    // accrued, not yet confirmed
  Amount debt = 0;       // owed after reverse_accrual
  TimeUs next_expiry_us = kTimeNever;  // soonest expiry of an available lot
  Amount next_expiry_amount = 0;       // what expires at that moment
  bool exists = false;                 // the account has ever been created
  // Rates and tiers (docs/engine.md): the buyer's confirmed purchases with the seller in
  // the policy's window, the tier they reach (0: the base rate) and its rate (0: the
  // seller set none), and what is still needed for the next tier (0: at the top).
  std::uint32_t tier = 0;
  std::uint32_t rate_bp = 0;
  Kopecks purchases_kopecks = 0;
  Kopecks next_tier_kopecks = 0;
  TimeUs last_purchase_us = 0;  // the last confirmed accrual; 0: none

  friend bool operator==(const AccountView&, const AccountView&) = default;
};

struct LotView {
  enum class Origin : std::uint8_t { campaign = 0, order = 1 };
  Amount amount = 0;
  TimeUs expires_at_us = kTimeNever;
  Origin origin = Origin::campaign;
  std::uint64_t origin_id = 0;  // campaign id (0: none) or order id
  std::uint8_t reason = 0;      // the credit's reason (engine/reason.h); 0 for cashback

  friend bool operator==(const LotView&, const LotView&) = default;
};

struct CartLine {
  SellerId seller = 0;
  Kopecks goods_total = 0;
};

struct CartEntry {
  SellerId seller = 0;
  Amount available = 0;
  Amount spendable = 0;       // min(available, the seller's spend cap for goods_total)
  Amount pending = 0;         // will be accrued
  Amount expiring_soon = 0;   // of available, expiring within the query's window
  TimeUs next_expiry_us = kTimeNever;
  // What buying the line would earn, were it confirmed now: goods_total at the buyer's
  // rate (`rate_bp` of `tier`), less debt it would repay, cut by the caps.
  Amount earn = 0;
  std::uint32_t tier = 0;
  std::uint32_t rate_bp = 0;  // 0: the seller set no rate (earn 0)
  Amount earn_month_room = 0;  // of this month's earn allowance, left
  Amount balance_room = 0;     // room under the balance cap (available + held)

  friend bool operator==(const CartEntry&, const CartEntry&) = default;
};

struct ExpiringEntry {
  BuyerId buyer = 0;
  Amount amount = 0;                 // expiring within the window
  TimeUs first_expiry_us = kTimeNever;

  friend bool operator==(const ExpiringEntry&, const ExpiringEntry&) = default;
};

// Where the next page of `expiring` starts; a default cursor starts at the beginning.
// Pages walk the seller's accounts in creation order: `after_account` is the last one a
// page looked at. `bucket` is not read (cursors of earlier builds walked expiry buckets);
// pages set it to 0.
struct ExpiringCursor {
  std::int64_t bucket = INT64_MIN;
  std::uint32_t after_account = UINT32_MAX;  // UINT32_MAX: from the seller's first account
};

struct ExpiringPage {
  std::vector<ExpiringEntry> entries;
  ExpiringCursor next;
  bool done = true;  // no more pages
};

// Segments: a seller's buyers picked for a mailing (docs/engine.md, Reads).
enum class SegmentKind : std::uint8_t {
  inactive = 0,       // last purchase before now - period_us ("sleeping"); never-bought: not
  unspent = 1,        // received a lot of `campaign` and spent from none
  bought_within = 2,  // last purchase in [now - period_us, now]
};
inline constexpr std::uint8_t kSegmentKindCount = 3;

struct SegmentQuery {
  SellerId seller = 0;
  SegmentKind kind = SegmentKind::inactive;
  CampaignId campaign = 0;  // unspent only
  TimeUs period_us = 0;     // inactive, bought_within: > 0
  friend bool operator==(const SegmentQuery&, const SegmentQuery&) = default;
};

// Where the next page starts: the last account (inactive, bought_within) or recipient
// position (unspent) a page looked at; UINT32_MAX: the beginning.
struct SegmentCursor {
  std::uint32_t after = UINT32_MAX;
  friend bool operator==(const SegmentCursor&, const SegmentCursor&) = default;
};

struct SegmentPage {
  std::vector<BuyerId> buyers;
  SegmentCursor next;
  bool done = true;
};

struct SellerStats {
  Amount issued = 0;    // credited into lots (credits and confirmed accruals)
  Amount accrued = 0;   // the part of issued that came from confirmed accruals
  Amount spent = 0;
  Amount expired = 0;   // expiry sweeps, revokes, returns into expired lots
  Amount refunded = 0;
  Amount reversed = 0;  // taken back by reverse_accrual, plus debt repaid
  Amount held = 0;
  Amount pending = 0;
  Amount debt = 0;
  // issued - spent + refunded - expired - reversed: in lots (including lots expired
  // but not yet swept) plus held.
  Amount outstanding = 0;

  friend bool operator==(const SellerStats&, const SellerStats&) = default;
};

struct CampaignStats {
  Amount issued = 0;
  Amount spent = 0;
  Amount expired = 0;  // by lapse: lots whose life ended (not what a revoke took)
  Amount refunded = 0;
  Amount reversed = 0;
  // issued - spent + refunded - expired - revoked_amount - reversed
  Amount outstanding = 0;
  std::uint64_t recipients = 0;   // buyers that received a lot of the campaign
  std::uint64_t spenders = 0;     // of those, buyers that spent from one
  bool revoked = false;
  Amount revoked_amount = 0;      // expired by the revoke (lots taken, pieces returning)
  // The orders that spent bonuses of the campaign (captures and spends), each once, and
  // the sum of their goods totals: the sales the campaign brought. Refunds do not
  // subtract. Cost as a share of those sales: spent × 100 / sales_kopecks.
  std::uint64_t sales_orders = 0;
  Kopecks sales_kopecks = 0;

  friend bool operator==(const CampaignStats&, const CampaignStats&) = default;
};

}  // namespace bonus
