// The Ledger's records other than accounts: orders (holds and accruals), remembered
// write ids, sellers and campaigns. Plain structs kept in KeyedTables.
//
// Single-threaded; owned by the Ledger.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/hash.h"
#include "engine/lot.h"
#include "engine/lot_life.h"
#include "engine/month_report.h"
#include "engine/policy.h"
#include "engine/recipient_set.h"
#include "engine/result.h"
#include "engine/types.h"
#include "engine/views.h"

namespace bonus {

// A hold or a one-step spend, by order id.
struct HoldOrder {
  enum class State : std::uint8_t { held = 0, captured = 1, released = 2, timed_out = 3 };

  OrderId order = 0;
  SellerId seller = 0;
  BuyerId buyer = 0;
  std::uint32_t account = 0;
  State state = State::held;
  Kopecks goods_total = 0;
  TimeUs deadline_us = 0;
  TimeUs finished_us = 0;  // when it left `held`
  Amount amount = 0;       // held
  Amount captured = 0;
  Amount refunded = 0;
  // Held: the fragments reserved, in lot order. Captured: the fragments spent.
  std::vector<Lot> fragments;

  OrderId key() const { return order; }
  static std::uint64_t hash(OrderId order) { return mix64(order); }
};

// A cashback accrual, by order id.
struct AccrualOrder {
  enum class State : std::uint8_t { pending = 0, confirmed = 1, cancelled = 2, reversed = 3 };

  OrderId order = 0;
  SellerId seller = 0;
  BuyerId buyer = 0;
  std::uint32_t account = 0;
  State state = State::pending;
  LotLife life;
  TimeUs finished_us = 0;  // when it was confirmed or cancelled
  Amount amount = 0;       // accrued
  Amount credited = 0;     // at confirmation, after caps
  std::uint32_t lot_seq = UINT32_MAX;  // the lot it created, if any
  // Of `credited`, what counted against the month's earn allowance (not what repaid
  // debt); a reversal in the same month gives it back.
  std::uint32_t earned = 0;
  Kopecks price = 0;  // counts in the buyer's purchases from confirmation to reversal

  OrderId key() const { return order; }
  static std::uint64_t hash(OrderId order) { return mix64(order); }
};

// A remembered write id: the body's hash and the result it got.
struct IdEntry {
  Id128 id;
  std::uint64_t body_hash = 0;
  TimeUs time_us = 0;
  Result result;

  Id128 key() const { return id; }
  static std::uint64_t hash(const Id128& id) { return hash_id(id); }
};

// What a ledger remembers of a write id (Ledger::id_memory).
struct IdMemory {
  std::uint64_t body_hash = 0;
  TimeUs time_us = 0;     // when the command that left it was applied
  bool rejected = false;  // that command was rejected: the shorter window applies
};

// Running totals kept per seller, per campaign and for the whole ledger.
struct Counters {
  Amount issued = 0;
  Amount accrued = 0;
  Amount spent = 0;
  Amount expired = 0;
  Amount refunded = 0;
  Amount reversed = 0;
  Amount held = 0;
  Amount pending = 0;
  Amount debt = 0;
  std::uint64_t recipients = 0;  // campaigns only: buyers that received a lot of it
  std::uint64_t spenders = 0;    // campaigns only: of those, buyers that spent from one

  // issued - spent + refunded - expired - reversed.
  Amount outstanding() const { return issued + refunded - spent - expired - reversed; }
  friend bool operator==(const Counters&, const Counters&) = default;
};

struct Seller {
  SellerId seller = 0;
  Policy policy;
  Counters counters;
  // The months with activity, oldest first, within MonthReport::kMonthsKept of the
  // newest (older ones go when a new month starts): 128 bytes each in the state.
  std::vector<MonthReport> months;

  SellerId key() const { return seller; }
  static std::uint64_t hash(SellerId seller) { return mix64(seller); }
};

struct CampaignKey {
  SellerId seller = 0;
  CampaignId campaign = 0;
  friend bool operator==(const CampaignKey&, const CampaignKey&) = default;
};

struct Campaign {
  SellerId seller = 0;
  CampaignId campaign = 0;
  bool revoked = false;
  Counters counters;
  // Of counters.expired, what the revoke expired (lots it took, pieces returning after).
  Amount revoked_amount = 0;
  // The orders that spent from the campaign's lots, each once, and their goods totals.
  std::uint64_t sales_orders = 0;
  Kopecks sales_kopecks = 0;
  // The accounts that received a lot of this campaign, each once, and which of them
  // spent from one: `counters.recipients` and `counters.spenders` count them (buyers,
  // not lots), and revoke finds the campaign's lots through them. Kept after a revoke:
  // held fragments of the campaign may still be captured.
  RecipientSet recipients;

  CampaignKey key() const { return {seller, campaign}; }
  static std::uint64_t hash(const CampaignKey& k) { return hash_pair(k.seller, k.campaign); }
};

}  // namespace bonus
