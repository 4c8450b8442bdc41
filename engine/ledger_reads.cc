// Ledger: the reads. All are const and evaluate "as of now": a lot expired by `now`
// is never counted, swept or not.
#include <algorithm>

#include "engine/ledger.h"

namespace bonus {
namespace {

SellerStats stats_of(const Counters& c) {
  SellerStats s;
  s.issued = c.issued;
  s.accrued = c.accrued;
  s.spent = c.spent;
  s.expired = c.expired;
  s.refunded = c.refunded;
  s.reversed = c.reversed;
  s.held = c.held;
  s.pending = c.pending;
  s.debt = c.debt;
  s.outstanding = c.outstanding();
  return s;
}

// Sum of unexpired lots expiring in (now, horizon], and the first such expiry.
std::pair<Amount, TimeUs> expiring_within(const Account& account, TimeUs now, TimeUs horizon) {
  Amount sum = 0;
  TimeUs first = kTimeNever;
  for (const Lot& lot : account.lots()) {
    if (lot.expires_at_us > horizon) break;
    if (lot.expired(now)) continue;
    sum += lot.amount;
    first = std::min(first, lot.expires_at_us);
  }
  return {sum, first};
}

TimeUs horizon_of(TimeUs now, TimeUs within_us) {
  if (within_us <= 0) return now;
  return within_us > kTimeMaxUs - now ? kTimeMaxUs : now + within_us;
}

// time + wait_us, or kTimeNever past it.
TimeUs after(TimeUs time, TimeUs wait_us) {
  return wait_us >= kTimeNever - time ? kTimeNever : time + wait_us;
}

}  // namespace

TimeUs Ledger::next_due_us() const {
  TimeUs due = kTimeNever;
  if (!deadlines_.empty()) due = deadlines_.top().first;
  // The sweep takes a bucket once it is over: from the first microsecond of the next.
  expiry_.for_buckets_from(0, [&](std::uint32_t bucket, const auto&) {
    due = std::min(due, (TimeUs{bucket} + 1) * kExpiryBucketUs);
    return false;
  });
  if (!finished_holds_.empty()) {
    due = std::min(due, after(finished_holds_.front().first, config_.order_retention_us));
  }
  if (!finished_accruals_.empty()) {
    due = std::min(due, after(finished_accruals_.front().first, config_.order_retention_us));
  }
  for (const bool rejected : {false, true}) {
    if (id_times_[rejected].empty()) continue;
    due = std::min(due, after(id_times_[rejected].front().first, id_window_us(rejected)));
  }
  return due;
}

AccountView Ledger::view_of(const Account& a, TimeUs now) const {
  AccountView v;
  v.seller = a.seller;
  v.buyer = a.buyer;
  v.held = a.held;
  v.pending = a.pending;
  v.debt = a.debt;
  v.exists = true;
  for (const Lot& lot : a.lots()) {
    if (lot.expired(now)) continue;
    v.available += lot.amount;
    if (v.next_expiry_us == kTimeNever && lot.expires_at_us != kTimeNever) {
      v.next_expiry_us = lot.expires_at_us;
    }
    if (lot.expires_at_us == v.next_expiry_us && lot.expires_at_us != kTimeNever) {
      v.next_expiry_amount += lot.amount;
    }
  }
  return v;
}

AccountView Ledger::balance(SellerId seller, BuyerId buyer, TimeUs now) const {
  const std::uint32_t i = accounts_.find(seller, buyer);
  if (i == AccountTable::kNone) {
    AccountView v;
    v.seller = seller;
    v.buyer = buyer;
    return v;
  }
  return view_of(accounts_[i], now);
}

void Ledger::lots(SellerId seller, BuyerId buyer, TimeUs now, std::vector<LotView>& out) const {
  out.clear();
  const std::uint32_t i = accounts_.find(seller, buyer);
  if (i == AccountTable::kNone) return;
  for (const Lot& lot : accounts_[i].lots()) {
    if (lot.expired(now)) continue;
    out.push_back(LotView{lot.amount, lot.expires_at_us,
                          lot.order_origin() ? LotView::Origin::order : LotView::Origin::campaign,
                          lot.origin, static_cast<std::uint8_t>(lot.reason())});
  }
}

void Ledger::cart(BuyerId buyer, std::span<const CartLine> lines, TimeUs soon_us, TimeUs now,
                  std::vector<CartEntry>& out) const {
  out.clear();
  const TimeUs horizon = horizon_of(now, soon_us);
  for (const CartLine& line : lines) {
    CartEntry e;
    e.seller = line.seller;
    const std::uint32_t i = accounts_.find(line.seller, buyer);
    if (i != AccountTable::kNone) {
      const Account& a = accounts_[i];
      const AccountView v = view_of(a, now);
      e.available = v.available;
      e.spendable = std::min(v.available, spend_cap(policy_of(line.seller), line.goods_total));
      e.pending = v.pending;
      e.expiring_soon = expiring_within(a, now, horizon).first;
      e.next_expiry_us = v.next_expiry_us;
    }
    out.push_back(e);
  }
}

void Ledger::wallet(BuyerId buyer, TimeUs now, std::vector<AccountView>& out) const {
  out.clear();
  accounts_.for_buyer(buyer, [&](std::uint32_t, const Account& a) {
    const AccountView v = view_of(a, now);
    if (v.available > 0 || v.held > 0 || v.pending > 0 || v.debt > 0) out.push_back(v);
  });
  std::sort(out.begin(), out.end(),
            [](const AccountView& x, const AccountView& y) { return x.seller < y.seller; });
}

ExpiringPage Ledger::expiring(SellerId seller, TimeUs within_us, ExpiringCursor cursor,
                              std::uint32_t limit, TimeUs now) const {
  ExpiringPage page;
  const TimeUs horizon = horizon_of(now, within_us);
  const std::int64_t last_bucket = ExpiryIndex::bucket_of(horizon);
  std::vector<std::pair<std::uint32_t, ExpiringEntry>> found;
  expiry_.for_buckets_from(cursor.bucket, [&](std::uint32_t bucket,
                                              const std::vector<std::uint32_t>& accounts) {
    if (bucket > last_bucket) return false;
    found.clear();
    for (const std::uint32_t i : accounts) {
      const Account& a = accounts_[i];
      if (a.sweep_bucket != bucket || a.seller != seller) continue;
      if (bucket == cursor.bucket && cursor.after_account != UINT32_MAX &&
          i <= cursor.after_account) {
        continue;
      }
      const auto [amount, first] = expiring_within(a, now, horizon);
      if (amount > 0) found.push_back({i, ExpiringEntry{a.buyer, amount, first}});
    }
    std::sort(found.begin(), found.end(),
              [](const auto& x, const auto& y) { return x.first < y.first; });
    found.erase(std::unique(found.begin(), found.end(),
                            [](const auto& x, const auto& y) { return x.first == y.first; }),
                found.end());
    for (const auto& [i, entry] : found) {
      if (limit != 0 && page.entries.size() == limit) {
        page.done = false;
        return false;
      }
      page.entries.push_back(entry);
      page.next = ExpiringCursor{bucket, i};
    }
    return true;
  });
  if (page.done) page.next = ExpiringCursor{};
  return page;
}

SellerStats Ledger::seller_stats(SellerId seller) const {
  const Seller* s = sellers_.find(seller);
  return s == nullptr ? SellerStats{} : stats_of(s->counters);
}

SellerStats Ledger::total_stats() const { return stats_of(totals_); }

CampaignStats Ledger::campaign_stats(SellerId seller, CampaignId campaign) const {
  CampaignStats s;
  const Campaign* c = campaigns_.find(CampaignKey{seller, campaign});
  if (c == nullptr) return s;
  s.issued = c->counters.issued;
  s.spent = c->counters.spent;
  s.expired = c->counters.expired - c->revoked_amount;
  s.refunded = c->counters.refunded;
  s.reversed = c->counters.reversed;
  s.outstanding = c->counters.outstanding();
  s.recipients = c->counters.recipients;
  s.spenders = c->counters.spenders;
  s.revoked = c->revoked;
  s.revoked_amount = c->revoked_amount;
  s.sales_orders = c->sales_orders;
  s.sales_kopecks = c->sales_kopecks;
  return s;
}

MonthReport Ledger::month_report(SellerId seller, std::uint16_t month) const {
  MonthReport report;
  report.month = month;
  if (const Seller* s = sellers_.find(seller)) {
    for (const MonthReport& m : s->months) {
      if (m.month == month) report = m;
    }
  }
  return report;
}

Policy Ledger::policy(SellerId seller) const { return policy_of(seller); }

}  // namespace bonus
