// PurchaseTable: each account's confirmed purchases with its seller, by calendar day,
// for the tiers of docs/engine.md ("Rates and tiers"), and its last purchase time (for
// segments). A side table keyed by account index: only accounts that ever had an
// accrual confirmed have a record (the Account record stays 72 bytes).
//
// Memory per account with purchases: the 40-byte record in a slab, about 9 bytes of
// index and 16 bytes per day with purchases in the last kTierWindowDaysMax days; and a
// bit per account up to the highest with purchases (which ones have a record).
// Single-threaded; owned by the Ledger.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "engine/calendar.h"
#include "engine/hash.h"
#include "engine/keyed_table.h"
#include "engine/limits.h"
#include "engine/types.h"

namespace bonus {

// Purchases of one calendar day (calendar_day), in kopecks.
struct PurchaseDay {
  std::int64_t day = 0;
  Kopecks kopecks = 0;
  friend bool operator==(const PurchaseDay&, const PurchaseDay&) = default;
};

struct Purchases {
  std::uint32_t account = 0;
  TimeUs last_us = 0;  // the last confirmation
  std::vector<PurchaseDay> days;  // ascending, none older than kTierWindowDaysMax, none 0

  std::uint32_t key() const { return account; }
  static std::uint64_t hash(std::uint32_t account) { return mix64(account); }
};

class PurchaseTable {
 public:
  // A confirmed purchase of `price_kopecks` at `now` (0 still records the time): days
  // older than any window could reach are dropped.
  void add(std::uint32_t account, Kopecks price_kopecks, TimeUs now) {
    Purchases* p = has(account) ? table_.find(account) : nullptr;
    if (p == nullptr) {
      p = &table_.insert(account, [&](Purchases& into) { into.account = account; });
      mark(account);
    }
    p->last_us = now;
    const std::int64_t day = calendar_day(now);
    std::size_t old = 0;
    while (old < p->days.size() && p->days[old].day <= day - kTierWindowDaysMax) ++old;
    p->days.erase(p->days.begin(), p->days.begin() + static_cast<std::ptrdiff_t>(old));
    if (price_kopecks == 0) return;
    if (!p->days.empty() && p->days.back().day == day) {
      p->days.back().kopecks += price_kopecks;
    } else {
      p->days.push_back({day, price_kopecks});
    }
  }

  // A returned purchase confirmed at `confirmed_us` leaves its day (if still kept).
  void remove(std::uint32_t account, Kopecks price_kopecks, TimeUs confirmed_us) {
    Purchases* p = has(account) ? table_.find(account) : nullptr;
    if (p == nullptr || price_kopecks == 0) return;
    const std::int64_t day = calendar_day(confirmed_us);
    for (std::size_t k = 0; k < p->days.size(); ++k) {
      if (p->days[k].day != day) continue;
      const Kopecks take = p->days[k].kopecks < price_kopecks ? p->days[k].kopecks : price_kopecks;
      p->days[k].kopecks -= take;
      if (p->days[k].kopecks == 0) p->days.erase(p->days.begin() + static_cast<std::ptrdiff_t>(k));
      return;
    }
  }

  // Purchases in the `window_days` calendar days ending with the day of `now`.
  Kopecks in_window(std::uint32_t account, std::uint32_t window_days, TimeUs now) const {
    const Purchases* p = find(account);
    return p == nullptr ? 0 : in_window(*p, window_days, now);
  }
  static Kopecks in_window(const Purchases& p, std::uint32_t window_days, TimeUs now) {
    const std::int64_t first = calendar_day(now) - window_days + 1;
    Kopecks sum = 0;
    for (auto d = p.days.rbegin(); d != p.days.rend() && d->day >= first; ++d) sum += d->kopecks;
    return sum;
  }

  // The last confirmed purchase of the account; 0: none.
  TimeUs last_us(std::uint32_t account) const {
    const Purchases* p = find(account);
    return p == nullptr ? 0 : p->last_us;
  }

  const Purchases* find(std::uint32_t account) const {
    return has(account) ? table_.find(account) : nullptr;
  }
  // Loading: the account's record as stored. REQUIRES: none for the account yet.
  void restore(std::uint32_t account, TimeUs last_us, std::vector<PurchaseDay> days) {
    table_.insert(account, [&](Purchases& into) {
      into.account = account;
      into.last_us = last_us;
      into.days = std::move(days);
    });
    mark(account);
  }

  std::uint64_t size() const { return table_.size(); }
  std::uint64_t memory_bytes() const {
    std::uint64_t days = 0;
    table_.for_each([&](const Purchases& p) { days += p.days.capacity() * sizeof(PurchaseDay); });
    return table_.memory_bytes() + days + has_.capacity() * sizeof(std::uint64_t);
  }

  // Prefetching ahead of a batch: `step` 0 the account's index slot, 1 its record.
  void prefetch(std::uint32_t account, int step) const {
    if (!has(account)) return;
    if (step == 0) {
      table_.prefetch(account);
    } else {
      table_.prefetch_record(account);
    }
  }

 private:
  // A bit per account index: whether it has a record. Most reads are of accounts without
  // purchases; the bit (an array that stays in cache) spares them the index probe.
  bool has(std::uint32_t account) const {
    const std::size_t word = account / 64;
    return word < has_.size() && (has_[word] >> (account % 64) & 1) != 0;
  }
  void mark(std::uint32_t account) {
    const std::size_t word = account / 64;
    if (word >= has_.size()) has_.resize(word + 1 + word / 2);
    has_[word] |= std::uint64_t{1} << (account % 64);
  }

  KeyedTable<Purchases> table_;
  std::vector<std::uint64_t> has_;
};

}  // namespace bonus
