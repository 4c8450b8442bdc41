// MonthReport: one seller's bonus flows in one calendar month of the marketplace
// calendar (engine/calendar.h, as the earn cap's month), kept in the seller's record for
// the current month and the 24 before it (Ledger::month_report reads one).
//
// A plain value; owned by its Seller record (in the Ledger), or a read's answer.
#pragma once

#include <cstdint>

#include "engine/saturating_add.h"
#include "engine/types.h"

namespace bonus {

struct MonthReport {
  // Credits by reason (engine/reason.h): none, mailing, gift, apology, referral, manual,
  // and a seller's own codes (16..255) together.
  enum Bucket : std::uint32_t { kNone, kMailing, kGift, kApology, kReferral, kManual, kOwn };
  static constexpr std::uint32_t kBuckets = 7;
  // Months kept: the current one and the 24 before it.
  static constexpr std::uint32_t kMonthsKept = 25;

  static std::uint32_t bucket_of(std::uint32_t reason) {
    return reason < kOwn ? reason : kOwn;
  }

  std::uint16_t month = 0;  // calendar month index (months since 1970-01)
  Amount accrued = 0;       // pending accruals made (accrue amounts)
  Amount confirmed = 0;     // credited by confirmations (after caps, debt repaid included)
  Amount credited[kBuckets] = {};  // credited by credits (after caps), by reason
  Amount spent = 0;
  Amount refunded = 0;
  Amount reversed = 0;      // taken back by reverse_accrual, plus debt repaid
  Amount expired = 0;       // swept, revoked, or returned into an expired lot
  std::uint64_t orders = 0;        // captured orders (captures and spends)
  Kopecks orders_goods_kopecks = 0;  // their goods totals (saturating)

  // Adds `other`'s flows (not its month): the server sums the shards' parts (a buyer's
  // accounts and orders live on one shard, so the parts are apart).
  void add(const MonthReport& other) {
    accrued += other.accrued;
    confirmed += other.confirmed;
    for (std::uint32_t k = 0; k < kBuckets; ++k) credited[k] += other.credited[k];
    spent += other.spent;
    refunded += other.refunded;
    reversed += other.reversed;
    expired += other.expired;
    orders += other.orders;
    orders_goods_kopecks = saturating_add(orders_goods_kopecks, other.orders_goods_kopecks);
  }

  friend bool operator==(const MonthReport&, const MonthReport&) = default;
};

}  // namespace bonus
