// Ledger: the writes. Each follows its section of docs/engine.md: checks in the order
// written there (the first failing one is the result, and nothing changes), then effects.
#include <algorithm>

#include "engine/assert.h"
#include "engine/calendar.h"
#include "engine/command_checks.h"
#include "engine/ledger.h"
#include "engine/reason.h"
#include "engine/saturating_add.h"

namespace bonus {
namespace {

// now + duration, or false when that would pass kTimeMaxUs.
bool add_time(TimeUs now, TimeUs duration_us, TimeUs& out) {
  if (duration_us > kTimeMaxUs - now) return false;
  out = now + duration_us;
  return true;
}

Amount available_of(const Account& account, TimeUs now) {
  Amount sum = 0;
  for (const Lot& lot : account.lots()) {
    if (!lot.expired(now)) sum += lot.amount;
  }
  return sum;
}

}  // namespace

Code Ledger::lot_expiry(const LotLife& life, const Policy& policy, TimeUs now,
                        TimeUs& out) const {
  switch (life.kind) {
    case LotLife::Kind::policy_default:
      if (policy.lot_life_us == kTimeNever) {
        out = kTimeNever;
        return Code::ok;
      }
      return add_time(now, policy.lot_life_us, out) ? Code::ok : Code::overflow;
    case LotLife::Kind::ttl:
      if (life.value <= 0) return Code::invalid_expiry;
      return add_time(now, life.value, out) ? Code::ok : Code::overflow;
    case LotLife::Kind::absolute:
      if (life.value <= now) return Code::expiry_in_past;
      out = life.value;
      return Code::ok;
    case LotLife::Kind::never:
      out = kTimeNever;
      return Code::ok;
  }
  return Code::invalid_expiry;
}

std::uint32_t Ledger::create_account(SellerId seller, BuyerId buyer) {
  const std::uint32_t i = accounts_.create(seller, buyer);
  seller_accounts_.add(seller, i);
  return i;
}

Code Ledger::credit_expiry(SellerId seller, CampaignId campaign, const LotLife& life, TimeUs now,
                           TimeUs& out) {
  if (Code e = lot_expiry(life, policy_of(seller), now, out); e != Code::ok) return e;
  return campaign_revoked(seller, campaign) ? Code::campaign_revoked : Code::ok;
}

bool Ledger::accounts_full() const {
  return accounts_.size() >= std::min(config_.accounts_max, kAccountCountMax);
}

bool Ledger::lots_full(const Account& account) const {
  return account.lot_count() >= kAccountLotsMax || account.lot_seq_next > kLotSeqMax;
}

bool Ledger::orders_full(bool holds, TimeUs now) {
  auto size = [&] { return holds ? holds_.size() : accruals_.size(); };
  if (size() < config_.orders_max) return false;
  prune(now, SIZE_MAX);  // Only live orders count against the bound.
  return size() >= config_.orders_max;
}

void Ledger::add_lot(Account& account, std::uint32_t account_index, const Lot& lot) {
  account.insert_lot(lot);
  expiry_.on_lot_added(account, account_index, lot.expires_at_us);
}

void Ledger::record(const Account& account, LedgerEvent::Kind kind, Amount amount,
                    std::uint64_t ref, Amount debt_part, TimeUs now) {
  Amount balance = 0;
  for (const Lot& lot : account.lots()) balance += lot.amount;
  BONUS_ASSERT(balance <= kAccountAmountMax && debt_part <= amount && amount <= kAccountAmountMax);
  LedgerEvent& e = events_.emplace_back();
  e.seller = account.seller;
  e.buyer = account.buyer;
  e.ref = ref;
  e.time_us = now;
  e.amount = amount;
  e.debt_part = static_cast<std::uint32_t>(debt_part);
  e.balance_after = static_cast<std::uint32_t>(balance);
  e.held_after = account.held;
  e.pending_after = account.pending;
  e.debt_after = account.debt;
  e.kind = kind;
  // Credits and revocations name a campaign; an expiry names its lot's origin (the
  // caller sets it); every other event names an order.
  const bool campaign = kind == LedgerEvent::Kind::credited || kind == LedgerEvent::Kind::revoked ||
                        kind == LedgerEvent::Kind::expired;
  e.ref_kind = !campaign ? LedgerEvent::Ref::order
               : ref != 0 ? LedgerEvent::Ref::campaign
                          : LedgerEvent::Ref::none;
}

void Ledger::record_returned(const Account& account, LedgerEvent::Kind kind, OrderId order,
                             const Returned& returned, TimeUs now) {
  record(account, kind, returned.amount, order, returned.repaid, now);
  events_.back().expired_part = static_cast<std::uint32_t>(returned.expired);
}

// ---------------------------------------------------------------------------------
// Credits and accruals.

Result Ledger::deposit(std::uint32_t account_index, Amount amount, const Lot& shape,
                       TimeUs now, std::uint32_t* lot_seq) {
  Account& a = accounts_[account_index];
  const Policy& policy = seller_of(a.seller).policy;
  const std::uint16_t month = month_now_;  // calendar_month(now)
  if (a.earned_month != month) {
    a.earned_month = month;
    a.earned = 0;
  }
  // Debt is repaid first; repaying is neither earning nor holding, so the caps bound
  // only the rest, the part that becomes a lot.
  const Amount repaid = std::min<Amount>(a.debt, amount);
  const Amount rest = amount - repaid;
  const Amount balance = available_of(a, now) + a.held;
  const Amount balance_room = policy.balance_max > balance ? policy.balance_max - balance : 0;
  const Amount earn_room = policy.earn_month_max > a.earned ? policy.earn_month_max - a.earned : 0;
  Result r;
  if (balance_room < rest) r.flags |= Result::kCappedBalance;
  if (earn_room < rest) r.flags |= Result::kCappedEarn;
  const Amount earned = std::min({rest, balance_room, earn_room});
  const Amount credited = repaid + earned;
  a.earned += static_cast<std::uint32_t>(earned);
  a.debt -= static_cast<std::uint32_t>(repaid);

  const CampaignId campaign = shape.campaign();
  count(a.seller, campaign, [&](Counters& k) {
    k.issued += credited;
    k.reversed += repaid;
  });
  if (repaid > 0) count(a.seller, 0, [&](Counters& k) { k.debt -= repaid; });
  if (earned > 0) {
    Lot lot = shape;
    lot.amount = static_cast<std::uint32_t>(earned);
    lot.seq_flags = (shape.seq_flags & ~Lot::kSeqMask) | a.lot_seq_next++;
    if (lot_seq != nullptr) *lot_seq = lot.seq();
    add_lot(a, account_index, lot);
    if (campaign != 0) {
      Campaign& c = campaign_of(a.seller, campaign);
      if (c.recipients.add(account_index)) ++c.counters.recipients;
    }
  }
  r.amount = credited;
  r.aux = repaid;
  if (recording_) {
    record(a, shape.order_origin() ? LedgerEvent::Kind::confirmed : LedgerEvent::Kind::credited,
           credited, shape.origin, repaid, now);
    events_.back().reason = shape.reason();  // 0 for cashback
  }
  return r;
}

Result Ledger::credit(const Credit& c, TimeUs now) {
  if (Code e = check_amount(c.amount); e != Code::ok) return Result::of(e);
  if (Code e = check_reason(c.reason); e != Code::ok) return Result::of(e);
  TimeUs expires_at_us = 0;
  if (Code e = credit_expiry(c.seller, c.campaign, c.life, now, expires_at_us); e != Code::ok) {
    return Result::of(e);
  }
  std::uint32_t i = find_account(c.seller, c.buyer);
  if (i == AccountTable::kNone && accounts_full()) {
    return Result::of(Code::accounts_full);
  }
  if (i != AccountTable::kNone && lots_full(accounts_[i])) {
    return Result::of(Code::account_lots_full);
  }
  if (i == AccountTable::kNone) i = create_account(c.seller, c.buyer);
  Lot lot;
  lot.expires_at_us = expires_at_us;
  lot.origin = c.campaign;
  lot.seq_flags = c.reason << Lot::kReasonShift;
  const Result r = deposit(i, c.amount, lot, now, nullptr);
  month_of(seller_of(c.seller)).credited[MonthReport::bucket_of(c.reason)] += r.amount;
  return r;
}

Result Ledger::referral(const Referral& c, TimeUs now) {
  // Checks that every partition answers alike first (the command alone, the seller-wide
  // policy and revocations), then the owned accounts' room: only those can differ
  // between shards (docs/engine.md, referral).
  if (c.referrer == c.friend_buyer) return Result::of(Code::invalid_referral);
  if (Code e = check_amount(c.referrer_amount); e != Code::ok) return Result::of(e);
  if (Code e = check_amount(c.friend_amount); e != Code::ok) return Result::of(e);
  TimeUs expires_at_us = 0;
  if (Code e = credit_expiry(c.seller, c.campaign, c.life, now, expires_at_us); e != Code::ok) {
    return Result::of(e);
  }
  const BuyerId buyers[2] = {c.referrer, c.friend_buyer};
  std::uint64_t new_accounts = 0;
  for (const BuyerId b : buyers) {
    if (!owns(b)) continue;
    const std::uint32_t i = find_account(c.seller, b);
    if (i == AccountTable::kNone) {
      ++new_accounts;
    } else if (lots_full(accounts_[i])) {
      return Result::of(Code::account_lots_full);
    }
  }
  if (new_accounts > 0 &&
      accounts_.size() + new_accounts > std::min(config_.accounts_max, kAccountCountMax)) {
    return Result::of(Code::accounts_full);
  }
  Lot lot;
  lot.expires_at_us = expires_at_us;
  lot.origin = c.campaign;
  lot.seq_flags = static_cast<std::uint32_t>(Reason::referral) << Lot::kReasonShift;
  Result r;
  const Amount amounts[2] = {c.referrer_amount, c.friend_amount};
  for (int k = 0; k < 2; ++k) {
    if (!owns(buyers[k])) continue;
    std::uint32_t i = find_account(c.seller, buyers[k]);
    if (i == AccountTable::kNone) i = create_account(c.seller, buyers[k]);
    const Result part = deposit(i, amounts[k], lot, now, nullptr);
    month_of(seller_of(c.seller)).credited[MonthReport::kReferral] += part.amount;
    r.flags |= part.flags;
    (k == 0 ? r.amount : r.aux) = part.amount;
  }
  return r;
}

Result Ledger::accrue(const Accrue& c, TimeUs now) {
  if (Code e = check_before_order(c); e != Code::ok) return Result::of(e);
  const std::uint64_t order_hash = AccrualOrder::hash(c.order);  // hashed once for the write
  if (const std::uint32_t at = accruals_.find_index(c.order, order_hash);
      at != HashIndex::kNone && accrual_live(accruals_.at(at), now)) {
    return Result::of(Code::order_exists);
  }
  if (orders_full(false, now)) return Result::of(Code::orders_full);
  std::uint32_t i = find_account(c.seller, c.buyer);
  if (i == AccountTable::kNone && accounts_full()) {
    return Result::of(Code::accounts_full);
  }
  Amount amount = c.amount;
  std::uint32_t rate_bp = 0;
  if (amount == 0) {
    // By price: the buyer's rate now (an account not created yet has no purchases).
    const Policy& policy = policy_of(c.seller);
    rate_bp = i == AccountTable::kNone ? tier_place(policy, 0).rate_bp
                                       : tier_of(i, policy, now).rate_bp;
    if (rate_bp == 0) return Result::of(Code::invalid_price);
    amount = earn_by_rate(c.price, rate_bp);
    if (amount > kAmountMax) return Result::of(Code::overflow);
  }
  if (i != AccountTable::kNone && accounts_[i].pending + amount > kAccountAmountMax) {
    return Result::of(Code::overflow);
  }
  if (i == AccountTable::kNone) i = create_account(c.seller, c.buyer);
  // Found again: orders_full() may have pruned it.
  if (const std::uint32_t dead = accruals_.find_index(c.order, order_hash);
      dead != HashIndex::kNone) {
    accruals_.erase_index(dead);
  }
  accruals_.insert_hashed(order_hash, [&](AccrualOrder& o) {
    o.order = c.order;
    o.seller = c.seller;
    o.buyer = c.buyer;
    o.account = i;
    o.life = c.life;
    o.amount = amount;
    o.price = c.price;
  });
  accounts_[i].pending += static_cast<std::uint32_t>(amount);
  count(c.seller, 0, [&](Counters& k) { k.pending += amount; });
  month_of(seller_of(c.seller)).accrued += amount;
  if (recording_) record(accounts_[i], LedgerEvent::Kind::accrued, amount, c.order, 0, now);
  Result r;
  r.amount = amount;
  r.aux = rate_bp;
  return r;
}

void Ledger::finish_accrual(AccrualOrder& accrual, AccrualOrder::State state, TimeUs now) {
  accrual.state = state;
  accrual.finished_us = now;
  finished_accruals_.emplace_back(now, accrual.order);
  Account& a = accounts_[accrual.account];
  a.pending -= static_cast<std::uint32_t>(accrual.amount);
  count(accrual.seller, 0, [&](Counters& k) { k.pending -= accrual.amount; });
}

Result Ledger::confirm_accrual(const ConfirmAccrual& c, TimeUs now) {
  AccrualOrder* o = live_accrual(c.order, now);
  if (o == nullptr) return Result::of(Code::unknown_order);
  if (o->state == AccrualOrder::State::cancelled) return Result::of(Code::accrual_cancelled);
  if (o->state != AccrualOrder::State::pending) {
    return Result::of(Code::accrual_already_confirmed);
  }
  if (lots_full(accounts_[o->account])) return Result::of(Code::account_lots_full);
  TimeUs expires_at_us = 0;
  if (Code e = lot_expiry(o->life, policy_of(o->seller), now, expires_at_us); e != Code::ok) {
    return Result::of(e);
  }
  finish_accrual(*o, AccrualOrder::State::confirmed, now);
  purchases_.add(o->account, o->price, now);
  Lot lot;  // Cashback: no reason.
  lot.expires_at_us = expires_at_us;
  lot.origin = o->order;
  lot.seq_flags = Lot::kOrderOrigin;
  const Result r = deposit(o->account, o->amount, lot, now, &o->lot_seq);
  o->credited = r.amount;
  o->earned = static_cast<std::uint32_t>(r.amount - r.aux);
  count(o->seller, 0, [&](Counters& k) { k.accrued += r.amount; });
  return r;
}

Result Ledger::cancel_accrual(const CancelAccrual& c, TimeUs now) {
  AccrualOrder* o = live_accrual(c.order, now);
  if (o == nullptr) return Result::of(Code::unknown_order);
  if (o->state == AccrualOrder::State::cancelled) return Result::of(Code::accrual_cancelled);
  if (o->state != AccrualOrder::State::pending) {
    return Result::of(Code::accrual_already_confirmed);
  }
  finish_accrual(*o, AccrualOrder::State::cancelled, now);
  if (recording_) {
    record(accounts_[o->account], LedgerEvent::Kind::cancelled, o->amount, o->order, 0, now);
  }
  Result r;
  r.amount = o->amount;
  return r;
}

Result Ledger::reverse_accrual(const ReverseAccrual& c, TimeUs now) {
  AccrualOrder* o = live_accrual(c.order, now);
  if (o == nullptr) return Result::of(Code::unknown_order);
  switch (o->state) {
    case AccrualOrder::State::pending: return Result::of(Code::accrual_not_confirmed);
    case AccrualOrder::State::cancelled: return Result::of(Code::accrual_cancelled);
    case AccrualOrder::State::reversed: return Result::of(Code::accrual_already_reversed);
    case AccrualOrder::State::confirmed: break;
  }
  Account& a = accounts_[o->account];
  if (a.debt + o->credited > kAccountAmountMax) return Result::of(Code::overflow);

  Amount left = o->credited;
  auto take = [&](std::uint32_t pos) {
    Lot& lot = a.lots()[pos];
    const Amount t = std::min<Amount>(lot.amount, left);
    left -= t;
    count(a.seller, lot.campaign(), [&](Counters& k) { k.reversed += t; });
    lot.amount -= static_cast<std::uint32_t>(t);
    const bool emptied = lot.amount == 0;
    if (emptied) a.erase_lot(pos);
    return emptied;
  };
  // Its own lot first, then the others, soonest-expiring first.
  if (const std::uint32_t pos = a.find_lot(o->lot_seq);
      left > 0 && pos < a.lot_count() && !a.lots()[pos].expired(now)) {
    take(pos);
  }
  for (std::uint32_t pos = 0; left > 0 && pos < a.lot_count();) {
    if (a.lots()[pos].expired(now) || !take(pos)) ++pos;
  }
  a.debt += static_cast<std::uint32_t>(left);
  count(a.seller, 0, [&](Counters& k) { k.debt += left; });
  give_back_earned(a, *o);
  purchases_.remove(o->account, o->price, o->finished_us);
  o->state = AccrualOrder::State::reversed;
  if (recording_) record(a, LedgerEvent::Kind::reversed, o->credited, o->order, left, now);
  Result r;
  r.amount = o->credited;
  r.aux = left;
  return r;
}

void Ledger::give_back_earned(Account& account, const AccrualOrder& accrual) {
  // Only this month's allowance comes back: a past month's is over, and what the
  // accrual earned then never counted against this one.
  const std::uint16_t month = month_now_;  // calendar_month(now)
  if (account.earned_month != month || calendar_month(accrual.finished_us) != month) return;
  BONUS_ASSERT(account.earned >= accrual.earned);
  account.earned -= accrual.earned;
}

// ---------------------------------------------------------------------------------
// Holds, captures, spends, refunds.

Code Ledger::check_hold(SellerId seller, BuyerId buyer, OrderId order, Amount amount,
                        Kopecks goods_total, TimeUs now) {
  if (live_hold(order, now) != nullptr) return Code::order_exists;
  if (amount > spend_cap(policy_of(seller), goods_total)) return Code::over_spend_cap;
  const std::uint32_t i = find_account(seller, buyer);
  if (i == AccountTable::kNone || available_of(accounts_[i], now) < amount) {
    return Code::insufficient_bonuses;
  }
  if (orders_full(true, now)) return Code::orders_full;
  return Code::ok;
}

HoldOrder& Ledger::open_hold(OrderId order, std::uint32_t account_index, Amount amount,
                             Kopecks goods_total, TimeUs deadline_us, TimeUs now) {
  const std::uint64_t order_hash = HoldOrder::hash(order);  // hashed once for both
  if (const std::uint32_t dead = holds_.find_index(order, order_hash); dead != HashIndex::kNone) {
    holds_.erase_index(dead);
  }
  Account& a = accounts_[account_index];
  HoldOrder& h = holds_.touch(holds_.insert_hashed(order_hash, [&](HoldOrder& o) {
    o.order = order;
    o.seller = a.seller;
    o.buyer = a.buyer;
    o.account = account_index;
    o.goods_total = goods_total;
    o.deadline_us = deadline_us;
    o.amount = amount;
  }));
  // Take from unexpired lots in lot order; emptied lots go.
  Amount left = amount;
  for (std::uint32_t pos = 0; left > 0 && pos < a.lot_count();) {
    Lot& lot = a.lots()[pos];
    if (lot.expired(now)) {
      ++pos;
      continue;
    }
    const std::uint32_t t = static_cast<std::uint32_t>(std::min<Amount>(lot.amount, left));
    Lot piece = lot;
    piece.amount = t;
    h.fragments.push_back(piece);
    left -= t;
    lot.amount -= t;
    if (lot.amount == 0) {
      a.erase_lot(pos);
    } else {
      ++pos;
    }
  }
  BONUS_ASSERT(left == 0);
  a.held += static_cast<std::uint32_t>(amount);
  count(a.seller, 0, [&](Counters& k) { k.held += amount; });
  if (recording_) record(a, LedgerEvent::Kind::held, amount, order, 0, now);
  return h;
}

void Ledger::return_piece(Account& account, std::uint32_t account_index, const Lot& piece,
                          Amount amount, TimeUs now, Returned& out) {
  out.amount += amount;
  const CampaignId campaign = piece.campaign();
  const bool lapsed = piece.expired(now);
  if (lapsed || campaign_revoked(account.seller, campaign)) {
    count(account.seller, campaign, [&](Counters& k) { k.expired += amount; });
    if (!lapsed) campaign_of(account.seller, campaign).revoked_amount += amount;
    out.expired += amount;
    return;
  }
  const Amount repaid = std::min<Amount>(account.debt, amount);
  account.debt -= static_cast<std::uint32_t>(repaid);
  count(account.seller, campaign, [&](Counters& k) { k.reversed += repaid; });
  count(account.seller, 0, [&](Counters& k) { k.debt -= repaid; });
  out.repaid += repaid;
  const std::uint32_t rest = static_cast<std::uint32_t>(amount - repaid);
  if (rest == 0) return;
  const std::uint32_t pos = account.find_lot(piece.seq());
  if (pos < account.lot_count()) {
    account.lots()[pos].amount += rest;
  } else {
    Lot lot = piece;
    lot.amount = rest;
    add_lot(account, account_index, lot);
  }
}

Ledger::Returned Ledger::close_hold(HoldOrder& hold, HoldOrder::State state, TimeUs now) {
  Account& a = accounts_[hold.account];
  Returned returned;
  for (const Lot& f : hold.fragments) {
    if (f.amount == 0) continue;
    return_piece(a, hold.account, f, f.amount, now, returned);
  }
  a.held -= static_cast<std::uint32_t>(hold.amount);
  count(hold.seller, 0, [&](Counters& k) { k.held -= hold.amount; });
  hold.fragments.clear();
  hold.state = state;
  hold.finished_us = now;
  finished_holds_.emplace_back(now, hold.order);
  if (recording_ && state != HoldOrder::State::captured) {
    record_returned(a, state == HoldOrder::State::timed_out ? LedgerEvent::Kind::timed_out
                                                            : LedgerEvent::Kind::released,
                    hold.order, returned, now);
  }
  return returned;
}

Ledger::Returned Ledger::capture_hold(HoldOrder& hold, Amount amount, TimeUs now) {
  Account& a = accounts_[hold.account];
  // The pieces go into a scratch vector that then trades places with the hold's
  // fragments (emptied by close_hold): no allocation once both have grown.
  std::vector<Lot>& spent = spent_scratch_;
  spent.clear();
  Amount left = amount;
  for (Lot& f : hold.fragments) {
    if (left == 0) break;
    const std::uint32_t t = static_cast<std::uint32_t>(std::min<Amount>(f.amount, left));
    left -= t;
    f.amount -= t;
    Lot piece = f;
    piece.amount = t;
    const CampaignId campaign = piece.campaign();
    count(hold.seller, campaign, [&](Counters& k) { k.spent += t; });
    // A piece already flagged comes from a buyer who is counted as a spender.
    if (campaign != 0 && !piece.spent_from()) {
      const std::uint32_t pos = a.find_lot(piece.seq());
      if (pos < a.lot_count()) a.lots()[pos].seq_flags |= Lot::kSpentFrom;
      Campaign& c = campaign_of(hold.seller, campaign);
      if (c.recipients.mark_spent(hold.account)) ++c.counters.spenders;
    }
    // The spent piece, and the rest of its fragment when that returns, carry the flag.
    f.seq_flags |= Lot::kSpentFrom;
    piece.seq_flags |= Lot::kSpentFrom;
    spent.push_back(piece);
  }
  count_sales(hold, spent);
  MonthReport& month = month_of(seller_of(hold.seller));
  ++month.orders;
  month.orders_goods_kopecks = saturating_add(month.orders_goods_kopecks, hold.goods_total);
  const Returned released = close_hold(hold, HoldOrder::State::captured, now);
  hold.fragments.swap(spent);
  hold.captured = amount;
  // The rest's return first, then the spend: each event's figures are then the account's
  // after it (the spend itself moves no figure but `held`, which the capture empties).
  if (recording_) {
    if (released.amount > 0) record_returned(a, LedgerEvent::Kind::released, hold.order, released, now);
    record(a, LedgerEvent::Kind::spent, amount, hold.order, 0, now);
  }
  return released;
}

void Ledger::count_sales(const HoldOrder& hold, std::span<const Lot> spent) {
  // Sorted so that a campaign spent from in several fragments counts once: O(n log n)
  // for a hold over many lots.
  std::vector<CampaignId>& campaigns = campaign_scratch_;
  campaigns.clear();
  for (const Lot& piece : spent) {
    if (piece.campaign() != 0) campaigns.push_back(piece.campaign());
  }
  std::sort(campaigns.begin(), campaigns.end());
  campaigns.erase(std::unique(campaigns.begin(), campaigns.end()), campaigns.end());
  for (const CampaignId campaign : campaigns) {
    Campaign& c = campaign_of(hold.seller, campaign);
    ++c.sales_orders;
    // Saturates: 185 orders at kGoodsTotalMax would pass 2^64 kopecks.
    c.sales_kopecks = saturating_add(c.sales_kopecks, hold.goods_total);
  }
}

Result Ledger::hold(const Hold& c, TimeUs now) {
  if (Code e = check_before_order(c); e != Code::ok) return Result::of(e);
  const TimeUs timeout_us = c.timeout_us == 0 ? kHoldTimeoutDefaultUs : c.timeout_us;
  if (Code e = check_hold(c.seller, c.buyer, c.order, c.amount, c.goods_total, now);
      e != Code::ok) {
    return Result::of(e);
  }
  TimeUs deadline_us = kTimeNever;
  add_time(now, timeout_us, deadline_us);
  const std::uint32_t i = find_account(c.seller, c.buyer);
  open_hold(c.order, i, c.amount, c.goods_total, deadline_us, now);
  deadlines_.emplace(deadline_us, c.order);
  Result r;
  r.amount = c.amount;
  return r;
}

Result Ledger::spend(const Spend& c, TimeUs now) {
  if (Code e = check_before_order(c); e != Code::ok) return Result::of(e);
  if (Code e = check_hold(c.seller, c.buyer, c.order, c.amount, c.goods_total, now);
      e != Code::ok) {
    return Result::of(e);
  }
  const std::uint32_t i = find_account(c.seller, c.buyer);
  HoldOrder& h = open_hold(c.order, i, c.amount, c.goods_total, kTimeNever, now);
  capture_hold(h, c.amount, now);
  Result r;
  r.amount = c.amount;
  return r;
}

HoldOrder* Ledger::open_hold_for(OrderId order, TimeUs now, Code& code) {
  HoldOrder* h = live_hold(order, now);
  code = Code::ok;
  if (h == nullptr) {
    code = Code::unknown_order;
  } else if (h->state == HoldOrder::State::captured) {
    code = Code::order_already_captured;
  } else if (h->state == HoldOrder::State::released) {
    code = Code::order_released;
  } else if (h->state == HoldOrder::State::timed_out) {
    code = Code::hold_timed_out;
  } else if (now >= h->deadline_us) {
    // Past its deadline but not swept yet: it times out now.
    close_hold(*h, HoldOrder::State::timed_out, now);
    code = Code::hold_timed_out;
  }
  return code == Code::ok ? h : nullptr;
}

Result Ledger::capture(const Capture& c, TimeUs now) {
  Code code;
  HoldOrder* h = open_hold_for(c.order, now, code);
  if (h == nullptr) return Result::of(code);
  if (Code e = check_amount_or_all(c.amount); e != Code::ok) return Result::of(e);
  const Amount amount = c.amount == kAmountAll ? h->amount : c.amount;
  if (amount > h->amount) return Result::of(Code::capture_exceeds_hold);
  const Returned released = capture_hold(*h, amount, now);
  Result r;
  r.amount = amount;
  r.aux = released.amount;
  r.expired = static_cast<std::uint32_t>(released.expired);
  return r;
}

Result Ledger::release(const Release& c, TimeUs now) {
  Code code;
  HoldOrder* h = open_hold_for(c.order, now, code);
  if (h == nullptr) return Result::of(code);
  return close_hold(*h, HoldOrder::State::released, now).result();
}

Result Ledger::refund(const Refund& c, TimeUs now) {
  HoldOrder* h = live_hold(c.order, now);
  if (h == nullptr) return Result::of(Code::unknown_order);
  if (h->state != HoldOrder::State::captured) return Result::of(Code::order_not_captured);
  if (Code e = check_amount_or_all(c.amount); e != Code::ok) return Result::of(e);
  const Amount left = h->captured - h->refunded;
  const Amount amount = c.amount == kAmountAll ? left : c.amount;
  if (left == 0 || amount > left) return Result::of(Code::refund_exceeds_captured);

  Account& a = accounts_[h->account];
  Amount to_return = amount;
  Returned returned;
  // The latest-expiring spent fragments come back first.
  for (auto f = h->fragments.rbegin(); to_return > 0 && f != h->fragments.rend(); ++f) {
    const Amount t = std::min<Amount>(f->amount, to_return);
    if (t == 0) continue;
    to_return -= t;
    f->amount -= static_cast<std::uint32_t>(t);
    count(h->seller, f->campaign(), [&](Counters& k) { k.refunded += t; });
    return_piece(a, h->account, *f, t, now, returned);
  }
  BONUS_ASSERT(to_return == 0 && returned.amount == amount);
  h->refunded += amount;
  if (recording_) record_returned(a, LedgerEvent::Kind::refunded, h->order, returned, now);
  return returned.result();
}

// ---------------------------------------------------------------------------------
// Seller-wide writes and the sweep.

Result Ledger::revoke_campaign(const RevokeCampaign& c, TimeUs now) {
  if (c.campaign == 0) return Result::of(Code::invalid_campaign);
  Campaign& campaign = campaign_of(c.seller, c.campaign);
  Amount expired = 0;
  Amount revoked = 0;  // of `expired`, lots still alive: a lot past its life had lapsed
  for (const std::uint32_t entry : campaign.recipients.entries()) {
    Account& a = accounts_[entry & RecipientSet::kAccountMask];
    Amount taken = 0;
    for (std::uint32_t pos = a.lot_count(); pos-- > 0;) {
      const Lot& lot = a.lots()[pos];
      if (lot.campaign() != c.campaign) continue;
      taken += lot.amount;
      if (!lot.expired(now)) revoked += lot.amount;
      a.erase_lot(pos);
    }
    expired += taken;
    if (recording_ && taken > 0) record(a, LedgerEvent::Kind::revoked, taken, c.campaign, 0, now);
  }
  campaign.revoked = true;
  campaign.revoked_amount += revoked;
  count(c.seller, c.campaign, [&](Counters& k) { k.expired += expired; });
  Result r;
  r.amount = expired;
  return r;
}

Result Ledger::set_policy(const SetPolicy& c, TimeUs) {
  if (!set_policy_valid(c)) return Result::of(Code::invalid_policy);
  Policy p = policy_of(c.seller);
  if (c.fields & SetPolicy::kSpendShare) p.spend_share_bp = c.spend_share_bp;
  if (c.fields & SetPolicy::kBalanceMax) p.balance_max = c.balance_max;
  if (c.fields & SetPolicy::kEarnMonthMax) p.earn_month_max = c.earn_month_max;
  if (c.fields & SetPolicy::kLotLife) p.lot_life_us = c.lot_life_us;
  if (c.fields & SetPolicy::kRate) p.rate_bp = c.rate_bp;
  if (c.fields & SetPolicy::kTierWindow) p.tier_window_days = c.tier_window_days;
  if (c.fields & SetPolicy::kTiers) {
    p.tier_count = c.tier_count;
    std::copy(std::begin(c.tiers), std::end(c.tiers), std::begin(p.tiers));
  }
  // Tiers raise a base rate: a policy with tiers and no rate has no rate below them.
  if (p.tier_count > 0 && p.rate_bp == 0) return Result::of(Code::invalid_policy);
  seller_of(c.seller).policy = p;
  return Result{};
}

Result Ledger::set_limits(const SetLimits& c, TimeUs now) {
  if (!set_limits_valid(c)) return Result::of(Code::invalid_limits);
  // What is past its window or retention now is forgotten for good, so that a longer
  // window cannot bring back an id or order that a prune may or may not have reached.
  prune(now, SIZE_MAX);
  config_ = apply_limits(config_, c);
  ++limits_changes_;
  BONUS_ASSERT(config_valid(config_));
  return Result{};
}

void Ledger::settle(Account& account, TimeUs now) {
  while (account.lot_count() > 0 && account.lots()[0].expired(now)) {
    const Lot lot = account.lots()[0];
    count(account.seller, lot.campaign(), [&](Counters& k) { k.expired += lot.amount; });
    account.erase_lot(0);
    if (recording_) {
      record(account, LedgerEvent::Kind::expired, lot.amount, lot.origin, 0, now);
      if (lot.order_origin()) events_.back().ref_kind = LedgerEvent::Ref::order;
    }
  }
}

Result Ledger::sweep(const Sweep& c, TimeUs now) {
  const Amount expired_before = totals_.expired;
  std::uint64_t work = 0;
  bool more = false;
  auto budget_left = [&] { return c.limit == 0 || work < c.limit; };

  Amount timed_out = 0;
  while (!deadlines_.empty() && deadlines_.top().first <= now) {
    const auto [deadline, order] = deadlines_.top();
    HoldOrder* h = holds_.find(order);
    if (h != nullptr && h->state == HoldOrder::State::held && h->deadline_us == deadline) {
      if (!budget_left()) {
        more = true;
        break;
      }
      close_hold(*h, HoldOrder::State::timed_out, now);
      swept_holds_.push_back(order);
      ++timed_out;
      ++work;
    }
    deadlines_.pop();
  }

  // Accounts registered in finished minute buckets; those with a lot in a finished
  // bucket are settled, the rest (registered early: the lot went) only re-registered.
  const std::uint32_t bucket_end = ExpiryIndex::bucket_of(now);
  const TimeUs finished_before = TimeUs{bucket_end} * kExpiryBucketUs;
  ExpiryIndex::Cursor cursor;
  while (!more && expiry_.first_before(bucket_end, cursor)) {
    std::vector<std::uint32_t>& accounts = *cursor.accounts;
    for (; *cursor.done < accounts.size(); ++*cursor.done) {
      const std::uint32_t i = accounts[*cursor.done];
      Account& a = accounts_[i];
      if (a.sweep_bucket != cursor.bucket) continue;  // Stale entry.
      if (!budget_left()) {
        more = true;
        break;
      }
      if (a.lot_count() > 0 && a.lots()[0].expires_at_us < finished_before) settle(a, now);
      expiry_.reregister(a, i);
      ++work;
    }
    if (!more) expiry_.drop(cursor.bucket);
  }
  prune(now, c.limit == 0 ? SIZE_MAX : c.limit);

  Result r;
  if (more) r.flags |= Result::kMore;
  r.amount = totals_.expired - expired_before;
  r.aux = timed_out;
  return r;
}

}  // namespace bonus
