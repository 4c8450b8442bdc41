// Ledger: the reads. All are const and evaluate "as of now": a lot expired by `now`
// is never counted, swept or not.
#include <algorithm>

#include "engine/calendar.h"
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

TierPlace Ledger::tier_of(std::uint32_t i, const Policy& policy, TimeUs now) const {
  if (policy.tier_count == 0) return tier_place(policy, 0);
  return tier_place(policy, purchases_.in_window(i, policy.tier_window_days, now));
}

AccountView Ledger::amounts_of(const Account& a, TimeUs now) const {
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

AccountView Ledger::view_of(const Account& a, std::uint32_t i, const Policy& policy,
                            TimeUs now) const {
  AccountView v = amounts_of(a, now);
  if (const Purchases* p = purchases_.find(i)) {
    v.last_purchase_us = p->last_us;
    v.purchases_kopecks = PurchaseTable::in_window(*p, policy.tier_window_days, now);
  }
  const TierPlace place = tier_place(policy, v.purchases_kopecks);
  v.tier = place.tier;
  v.rate_bp = place.rate_bp;
  v.next_tier_kopecks = place.next_tier_kopecks;
  return v;
}

AccountView Ledger::balance(SellerId seller, BuyerId buyer, TimeUs now) const {
  return balance_at(accounts_.find(seller, buyer), seller, buyer, now);
}

AccountView Ledger::balance_at(std::uint32_t i, SellerId seller, BuyerId buyer, TimeUs now) const {
  if (i == AccountTable::kNone) {
    AccountView v;
    v.seller = seller;
    v.buyer = buyer;
    const TierPlace place = tier_place(policy_of(seller), 0);
    v.rate_bp = place.rate_bp;
    v.next_tier_kopecks = place.next_tier_kopecks;
    return v;
  }
  return view_of(accounts_[i], i, now);
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
  const std::uint16_t month = calendar_month(now);
  // The lines' accounts are one buyer's: their misses overlap, level by level.
  for (int phase = 0; phase < kPrefetchPhases; ++phase) {
    for (const CartLine& line : lines) prefetch_account(line.seller, buyer, phase);
  }
  for (const CartLine& line : lines) {
    CartEntry e;
    e.seller = line.seller;
    const Policy& policy = policy_of(line.seller);
    const std::uint32_t i = accounts_.find(line.seller, buyer);
    AccountView v;
    if (i != AccountTable::kNone) {
      const Account& a = accounts_[i];
      // The tier only: the purchases are looked up only when the seller has tiers (an
      // account's record probe per line otherwise, for nothing the cart shows).
      v = amounts_of(a, now);
      const TierPlace place = tier_of(i, policy, now);
      v.tier = place.tier;
      v.rate_bp = place.rate_bp;
      e.available = v.available;
      e.spendable = std::min(v.available, spend_cap(policy, line.goods_total));
      e.pending = v.pending;
      e.expiring_soon = expiring_within(a, now, horizon).first;
      e.next_expiry_us = v.next_expiry_us;
      // The month's allowance is this month's: a past month's `earned` is over.
      const Amount earned = a.earned_month == month ? a.earned : 0;
      e.earn_month_room = policy.earn_month_max > earned ? policy.earn_month_max - earned : 0;
    } else {
      const TierPlace place = tier_place(policy, 0);
      v.tier = place.tier;
      v.rate_bp = place.rate_bp;
      e.earn_month_room = policy.earn_month_max;
    }
    const Amount balance = v.available + v.held;
    e.balance_room = policy.balance_max > balance ? policy.balance_max - balance : 0;
    e.tier = v.tier;
    e.rate_bp = v.rate_bp;
    // As deposit() would at confirmation: debt first, then the caps.
    const Amount by_rate = earn_by_rate(std::min(line.goods_total, kGoodsTotalMax), v.rate_bp);
    const Amount rest = by_rate - std::min<Amount>(v.debt, by_rate);
    e.earn = std::min({rest, e.earn_month_room, e.balance_room});
    out.push_back(e);
  }
}

void Ledger::wallet(BuyerId buyer, TimeUs now, std::vector<AccountView>& out) const {
  out.clear();
  accounts_.for_buyer(buyer, [&](std::uint32_t i, const Account& a) {
    const AccountView v = view_of(a, i, now);
    if (v.available > 0 || v.held > 0 || v.pending > 0 || v.debt > 0) out.push_back(v);
  });
  std::sort(out.begin(), out.end(),
            [](const AccountView& x, const AccountView& y) { return x.seller < y.seller; });
}

ExpiringPage Ledger::expiring(SellerId seller, TimeUs within_us, ExpiringCursor cursor,
                              std::uint32_t limit, TimeUs now) const {
  ExpiringPage page;
  const TimeUs horizon = horizon_of(now, within_us);
  std::uint32_t scanned = 0;
  const bool known = seller_accounts_.walk(seller, cursor.after_account, [&](std::uint32_t i) {
    if ((limit != 0 && page.entries.size() == limit) || scanned == kReadScanMax) {
      page.done = false;
      return false;
    }
    ++scanned;
    const Account& a = accounts_[i];
    // Lots are in expiry order: the first one says whether any expires in the window.
    if (a.lot_count() > 0 && a.lots()[0].expires_at_us <= horizon) {
      const auto [amount, first] = expiring_within(a, now, horizon);
      if (amount > 0) page.entries.push_back(ExpiringEntry{a.buyer, amount, first});
    }
    page.next = ExpiringCursor{0, i};
    return true;
  });
  // A cursor not at one of this seller's accounts: nothing (never another seller's buyers).
  if (!known || page.done) page.next = ExpiringCursor{};
  return page;
}

SegmentPage Ledger::segment(const SegmentQuery& q, SegmentCursor cursor, std::uint32_t limit,
                            TimeUs now) const {
  SegmentPage page;
  auto full = [&](std::uint32_t scanned) {
    return (limit != 0 && page.buyers.size() == limit) || scanned == kReadScanMax;
  };
  if (q.kind == SegmentKind::unspent) {
    const Campaign* c = campaigns_.find(CampaignKey{q.seller, q.campaign});
    if (c == nullptr) return page;
    const auto entries = c->recipients.entries();
    std::uint32_t pos = cursor.after == UINT32_MAX ? 0 : cursor.after + 1;
    if (cursor.after != UINT32_MAX && cursor.after >= entries.size()) return page;
    for (std::uint32_t scanned = 0; pos < entries.size(); ++pos) {
      if (full(scanned)) {
        page.done = false;
        break;
      }
      ++scanned;
      if ((entries[pos] & RecipientSet::kSpent) == 0) {
        page.buyers.push_back(accounts_[entries[pos] & RecipientSet::kAccountMask].buyer);
      }
      page.next = SegmentCursor{pos};
    }
    if (page.done) page.next = SegmentCursor{};
    return page;
  }
  // inactive: bought, last before `since`; bought_within: last at or after `since`.
  const TimeUs period = q.period_us < 0 ? 0 : q.period_us;
  const TimeUs since = now < INT64_MIN + period ? INT64_MIN : now - period;
  std::uint32_t scanned = 0;
  const bool known = seller_accounts_.walk(q.seller, cursor.after, [&](std::uint32_t i) {
    if (full(scanned)) {
      page.done = false;
      return false;
    }
    ++scanned;
    const TimeUs last = purchases_.last_us(i);
    const bool in = q.kind == SegmentKind::inactive ? last != 0 && last < since
                                                    : last != 0 && last >= since && last <= now;
    if (in) page.buyers.push_back(accounts_[i].buyer);
    page.next = SegmentCursor{i};
    return true;
  });
  if (!known || page.done) page.next = SegmentCursor{};
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
