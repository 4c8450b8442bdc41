// ReferenceLedger: docs/engine.md written out as directly as possible. Section names in the
// comments are the document's.
#include "tests/engine/reference_ledger.h"

#include <algorithm>
#include <cstring>
#include <type_traits>

#include "engine/limits.h"

namespace bonus::test {
namespace {

Result result_of(Code code) { return Result::of(code); }

Result ok_result(Amount amount, Amount aux) {
  Result r;
  r.amount = amount;
  r.aux = aux;
  return r;
}

// "amount == 0 -> zero_amount, then amount > kAmountMax -> overflow".
Code check_amount(Amount amount) {
  if (amount == 0) return Code::zero_amount;
  if (amount > kAmountMax) return Code::overflow;
  return Code::ok;
}

Id128 id_of(const Command& command) {
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

// "same command type and same bytes".
bool same_body(const Command& a, const Command& b) {
  if (a.index() != b.index()) return false;
  return std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        return std::memcmp(&x, &std::get<T>(b), sizeof(T)) == 0;
      },
      a);
}

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

// now + policy life, for the `policy_default` life kind; false when that passes
// kTimeMaxUs (`overflow`).
bool policy_expiry(const Policy& policy, TimeUs now, TimeUs& expires_at) {
  if (policy.lot_life_us == kTimeNever) {
    expires_at = kTimeNever;
    return true;
  }
  if (policy.lot_life_us > kTimeMaxUs - now) return false;
  expires_at = now + policy.lot_life_us;
  return true;
}

}  // namespace

ReferenceLedger::ReferenceLedger(const EngineConfig& config) : config_(config) {}

std::int64_t ReferenceLedger::calendar_month(TimeUs now) {
  // Civil date from days since 1970-01-01 (H. Hinnant's algorithm), in UTC+3.
  std::int64_t days = floor_div(now + kCalendarOffsetUs, kUsPerDay);
  days += 719468;
  const std::int64_t era = floor_div(days, 146097);
  const std::int64_t doe = days - era * 146097;                                 // [0, 146096]
  const std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;  // [0, 399]
  std::int64_t year = yoe + era * 400;
  const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);  // [0, 365]
  const std::int64_t mp = (5 * doy + 2) / 153;                       // [0, 11], March first
  const std::int64_t month = mp < 10 ? mp + 3 : mp - 9;              // [1, 12]
  if (month <= 2) ++year;
  return year * 12 + (month - 1);
}

// ---------------------------------------------------------------------------------------
// Idempotency

Result ReferenceLedger::apply(const Command& command, TimeUs now) {
  now_ = now;
  if (const auto* sweep = std::get_if<Sweep>(&command)) return write(*sweep, now);

  const Id128 id = id_of(command);
  // 1. id == 0.
  if (id.zero()) return result_of(Code::id_zero);
  // 2. A remembered live id (only live ids are kept).
  forget_dead_ids(now);
  const IdKey key{id.hi, id.lo};
  if (auto it = ids_.find(key); it != ids_.end()) {
    if (same_body(it->second.command, command)) {
      Result repeat = it->second.result;
      repeat.flags = static_cast<std::uint8_t>(repeat.flags | Result::kRepeat);
      return repeat;
    }
    return result_of(Code::id_reused);
  }
  // 4. A new id with the applied ids' table full.
  //    A set_limits is never ids_full: it is how an operator raises ids_max.
  if (id_counts_[0] >= config_.ids_max && !std::holds_alternative<SetLimits>(command)) {
    return result_of(Code::ids_full);
  }
  // 3. Apply; remember the id in its class: applied (ok) or rejected (any other code),
  //    a rejected one only while its own table has room.
  const Result result = std::visit([&](const auto& c) { return write(c, now); }, command);
  const bool rejected = result.code != Code::ok;
  if (rejected && id_counts_[1] >= config_.rejected_ids_max) {
    note("ids: a rejection not remembered, its table is full");
    return result;
  }
  ids_[key] = IdEntry{now, command, result};
  id_times_[rejected].emplace_back(now, key);
  ++id_counts_[rejected];
  return result;
}

void ReferenceLedger::forget_dead_ids(TimeUs now) {
  // An id is live while entry.time + its class's window > now.
  for (const bool rejected : {false, true}) {
    const TimeUs window = rejected ? config_.rejected_id_window_us : config_.id_window_us;
    auto& times = id_times_[rejected];
    while (!times.empty() && !(times.front().first + window > now)) {
      if (times.front().first + window == now) note("ids: a window ends exactly now");
      ids_.erase(times.front().second);
      --id_counts_[rejected];
      times.pop_front();
    }
  }
}

// ---------------------------------------------------------------------------------------
// Lookups

ReferenceLedger::Account* ReferenceLedger::find_account(SellerId seller, BuyerId buyer) {
  auto it = accounts_.find({seller, buyer});
  return it == accounts_.end() ? nullptr : &it->second;
}

const ReferenceLedger::Account* ReferenceLedger::find_account(SellerId seller,
                                                              BuyerId buyer) const {
  auto it = accounts_.find({seller, buyer});
  return it == accounts_.end() ? nullptr : &it->second;
}

Policy ReferenceLedger::policy(SellerId seller) const {
  auto it = policies_.find(seller);
  return it == policies_.end() ? Policy{} : it->second;
}

// "Open holds and pending accruals are never forgotten"; a finished order is live while
// finished_at + order_retention_us > now.
bool ReferenceLedger::hold_live(const HoldOrder& hold, TimeUs now) const {
  if (hold.state == HoldState::open) return true;
  return hold.finished_at + config_.order_retention_us > now;
}

bool ReferenceLedger::accrual_live(const AccrualOrder& accrual, TimeUs now) const {
  if (accrual.state == AccrualState::pending) return true;
  return accrual.finished_at + config_.order_retention_us > now;
}

ReferenceLedger::HoldOrder* ReferenceLedger::live_hold(OrderId order, TimeUs now) {
  auto it = holds_.find(order);
  if (it != holds_.end() && it->second.state != HoldState::open &&
      it->second.finished_at + config_.order_retention_us == now) {
    note("orders: a hold's retention ends exactly now");
  }
  if (it == holds_.end() || !hold_live(it->second, now)) return nullptr;
  return &it->second;
}

ReferenceLedger::AccrualOrder* ReferenceLedger::live_accrual(OrderId order, TimeUs now) {
  auto it = accruals_.find(order);
  if (it != accruals_.end() && it->second.state != AccrualState::pending &&
      it->second.finished_at + config_.order_retention_us == now) {
    note("orders: an accrual's retention ends exactly now");
  }
  if (it == accruals_.end() || !accrual_live(it->second, now)) return nullptr;
  return &it->second;
}

std::uint64_t ReferenceLedger::live_holds(TimeUs now) const {
  std::uint64_t n = 0;
  for (const auto& [order, hold] : holds_) n += hold_live(hold, now) ? 1 : 0;
  return n;
}

std::uint64_t ReferenceLedger::live_accruals(TimeUs now) const {
  std::uint64_t n = 0;
  for (const auto& [order, accrual] : accruals_) n += accrual_live(accrual, now) ? 1 : 0;
  return n;
}

bool ReferenceLedger::campaign_revoked(SellerId seller, CampaignId campaign) const {
  if (campaign == 0) return false;
  auto it = campaigns_.find({seller, campaign});
  return it != campaigns_.end() && it->second.revoked;
}

Amount ReferenceLedger::available(const Account& account, TimeUs now) {
  Amount sum = 0;
  for (const Lot& lot : account.lots) {
    if (!lot.expired(now)) sum += lot.amount;
  }
  return sum;
}

void ReferenceLedger::insert_lot(Account& account, const Lot& lot) {
  auto before = [](const Lot& a, const Lot& b) {
    return std::pair(a.expires_at, a.seq) < std::pair(b.expires_at, b.seq);
  };
  account.lots.insert(std::upper_bound(account.lots.begin(), account.lots.end(), lot, before),
                      lot);
}

ReferenceLedger::Lot* ReferenceLedger::lot_by_seq(Account& account, std::uint32_t seq) {
  for (Lot& lot : account.lots) {
    if (lot.seq == seq) return &lot;
  }
  return nullptr;
}

// ---------------------------------------------------------------------------------------
// Statistics

void ReferenceLedger::add(Stat stat, SellerId seller, CampaignId campaign, Amount x) {
  auto bump = [&](SellerStats& s) {
    switch (stat) {
      case Stat::issued: s.issued += x; break;
      case Stat::accrued: s.accrued += x; break;
      case Stat::spent: s.spent += x; break;
      case Stat::expired: s.expired += x; break;
      case Stat::refunded: s.refunded += x; break;
      case Stat::reversed: s.reversed += x; break;
      case Stat::held: s.held += x; break;
      case Stat::pending: s.pending += x; break;
      case Stat::debt: s.debt += x; break;
      case Stat::revoked: s.expired += x; break;
    }
  };
  bump(sellers_[seller]);
  bump(totals_);
  // The month's flows: confirmations (accrued), spent, refunded, reversed, expired.
  MonthReport& m = month_of(seller);
  switch (stat) {
    case Stat::accrued: m.confirmed += x; break;
    case Stat::spent: m.spent += x; break;
    case Stat::refunded: m.refunded += x; break;
    case Stat::reversed: m.reversed += x; break;
    case Stat::expired:
    case Stat::revoked: m.expired += x; break;
    default: break;  // issued: by reason at the credit; stocks are not flows
  }
  if (campaign == 0) return;
  CampaignStats& c = campaigns_[{seller, campaign}];
  switch (stat) {
    case Stat::issued: c.issued += x; break;
    case Stat::spent: c.spent += x; break;
    case Stat::expired: c.expired += x; break;
    case Stat::refunded: c.refunded += x; break;
    case Stat::reversed: c.reversed += x; break;
    case Stat::revoked: c.revoked_amount += x; break;
    default: break;  // accrued, held, pending, debt: seller and total only
  }
}

MonthReport& ReferenceLedger::month_of(SellerId seller) {
  const std::int64_t month = calendar_month(now_) - 1970 * 12;
  MonthReport& m = months_[{seller, month}];
  m.month = static_cast<std::uint16_t>(month);
  return m;
}

MonthReport ReferenceLedger::month_report(SellerId seller, std::uint16_t month) const {
  auto it = months_.find({seller, month});
  MonthReport m = it == months_.end() ? MonthReport{} : it->second;
  m.month = month;
  return m;
}

void ReferenceLedger::sub(Stat stat, SellerId seller, Amount x) {
  auto drop = [&](SellerStats& s) {
    switch (stat) {
      case Stat::held: s.held -= x; break;
      case Stat::pending: s.pending -= x; break;
      case Stat::debt: s.debt -= x; break;
      default: break;  // the flow counters only grow
    }
  };
  drop(sellers_[seller]);
  drop(totals_);
}

// ---------------------------------------------------------------------------------------
// credit

Result ReferenceLedger::write(const Credit& c, TimeUs now) {
  if (Code code = check_amount(c.amount); code != Code::ok) return result_of(code);
  // "reason: 0..5 defined, 6..15 reserved, 16..255 the seller's own; else invalid_reason".
  if ((c.reason >= 6 && c.reason <= 15) || c.reason > 255) {
    note("credit: invalid reason");
    return result_of(Code::invalid_reason);
  }

  TimeUs expires_at = kTimeNever;
  if (Code code = credit_expiry(c.seller, c.campaign, c.life, now, expires_at); code != Code::ok) {
    return result_of(code);
  }

  Account* account = find_account(c.seller, c.buyer);
  if (account == nullptr && accounts_.size() >= config_.accounts_max) {
    return result_of(Code::accounts_full);
  }
  if (account != nullptr && account->lots.size() >= kAccountLotsMax) {
    return result_of(Code::account_lots_full);
  }
  if (account == nullptr) account = &accounts_[{c.seller, c.buyer}];

  const Result result = credit_steps(c.seller, c.buyer, *account, c.amount, expires_at,
                                     /*order_origin=*/false, c.campaign, c.reason, now, nullptr);
  // "credited by reason": none, mailing, gift, apology, referral, manual, a seller's own.
  month_of(c.seller).credited[c.reason <= 5 ? c.reason : 6] += result.amount;
  return result;
}

// A credit's checks after its amounts: "life -> expires_at" (policy_default = now + policy
// life, ttl = now + value, absolute = value, never), then "campaign revoked".
Code ReferenceLedger::credit_expiry(SellerId seller, CampaignId campaign, const LotLife& life,
                                    TimeUs now, TimeUs& expires_at) const {
  switch (life.kind) {
    case LotLife::Kind::policy_default:
      if (!policy_expiry(policy(seller), now, expires_at)) return Code::overflow;
      break;
    case LotLife::Kind::ttl:
      if (life.value <= 0) return Code::invalid_expiry;
      if (life.value > kTimeMaxUs - now) return Code::overflow;
      expires_at = now + life.value;
      break;
    case LotLife::Kind::absolute:
      if (life.value <= now) return Code::expiry_in_past;
      expires_at = life.value;
      break;
    case LotLife::Kind::never:
      expires_at = kTimeNever;
      break;
    default:
      return Code::invalid_expiry;  // not a kind; never generated by the test
  }
  return campaign_revoked(seller, campaign) ? Code::campaign_revoked : Code::ok;
}

// The effect of a credit (also of a confirmation, with an order origin).
Result ReferenceLedger::credit_steps(SellerId seller, BuyerId buyer, Account& account,
                                     Amount amount, TimeUs expires_at, bool order_origin,
                                     std::uint64_t origin, std::uint32_t reason, TimeUs now,
                                     std::optional<std::uint32_t>* lot_seq) {
  // Month.
  const std::int64_t month = calendar_month(now);
  if (account.month != month) {
    if (account.month != -1 && account.earned > 0) note("credit: new month resets earned");
    account.month = month;
    account.earned = 0;
  }

  // Debt first: repaying is not earning, the caps bound only the rest.
  const Amount repaid = std::min(account.debt, amount);
  account.debt -= repaid;
  sub(Stat::debt, seller, repaid);
  const Amount rest = amount - repaid;

  // Caps.
  const Policy p = policy(seller);
  const Amount in_account = available(account, now) + account.held;
  const Amount balance_room = p.balance_max > in_account ? p.balance_max - in_account : 0;
  const Amount earn_room = p.earn_month_max > account.earned ? p.earn_month_max - account.earned : 0;
  const Amount lot_amount = std::min({rest, balance_room, earn_room});
  const Amount credited = repaid + lot_amount;

  Result result = ok_result(credited, repaid);
  if (balance_room < rest) result.flags |= Result::kCappedBalance;
  if (earn_room < rest) result.flags |= Result::kCappedEarn;
  if (repaid > 0 && earn_room < amount && earn_room >= rest) {
    note("credit: repays debt past the earn cap");
  }

  // Earned.
  account.earned += lot_amount;

  // The lot.
  const CampaignId campaign = order_origin ? 0 : origin;
  if (credited > 0 && lot_amount == 0) note("credit: all of it repaid debt, no lot");
  if (lot_amount > 0) {
    Lot lot;
    lot.amount = lot_amount;
    lot.expires_at = expires_at;
    lot.order_origin = order_origin;
    lot.origin = origin;
    lot.seq = account.next_seq++;
    lot.reason = reason;
    insert_lot(account, lot);
    if (lot_seq != nullptr) *lot_seq = lot.seq;
    if (campaign != 0) {
      auto [it, fresh] = campaign_buyers_[{seller, campaign}].emplace(buyer, false);
      if (fresh) {
        campaigns_[{seller, campaign}].recipients += 1;
      } else {
        note("recipients: buyer already counted");
      }
    }
  }

  // Stats.
  add(Stat::issued, seller, campaign, credited);
  add(Stat::reversed, seller, campaign, repaid);
  return result;
}

// ---------------------------------------------------------------------------------------
// accrue, confirm_accrual, cancel_accrual

Result ReferenceLedger::write(const Accrue& c, TimeUs now) {
  if (c.price > kGoodsTotalMax) return result_of(Code::invalid_price);
  if (c.amount != 0 || c.price == 0) {
    if (Code code = check_amount(c.amount); code != Code::ok) return result_of(code);
  }
  if (c.life.kind == LotLife::Kind::absolute) return result_of(Code::invalid_expiry);
  if (c.life.kind == LotLife::Kind::ttl && c.life.value <= 0) {
    return result_of(Code::invalid_expiry);
  }
  if (live_accrual(c.order, now) != nullptr) return result_of(Code::order_exists);
  if (live_accruals(now) >= config_.orders_max) return result_of(Code::orders_full);
  Account* account = find_account(c.seller, c.buyer);
  if (account == nullptr && accounts_.size() >= config_.accounts_max) {
    return result_of(Code::accounts_full);
  }
  // "amount 0 with a price: the price at the buyer's rate now, rounded down".
  Amount amount = c.amount;
  std::uint32_t rate_bp = 0;
  if (amount == 0) {
    AccountView v;
    tier_fields(c.seller, account, now, v);
    if (v.rate_bp == 0) {
      note("accrue: by price with no rate");
      return result_of(Code::invalid_price);
    }
    rate_bp = v.rate_bp;
    amount = c.price * rate_bp / 10'000 / 100;
    note(v.tier > 0 ? "accrue: by price at a tier's rate" : "accrue: by price at the base rate");
    if (amount == 0) note("accrue: by price earns nothing");
    if (amount > kAmountMax) return result_of(Code::overflow);
  }
  if (account != nullptr && account->pending + amount > kAccountAmountMax) {
    note("accrue: pending would pass 32 bits");
    return result_of(Code::overflow);
  }
  if (account == nullptr) account = &accounts_[{c.seller, c.buyer}];

  AccrualOrder accrual;
  accrual.seller = c.seller;
  accrual.buyer = c.buyer;
  accrual.amount = amount;
  accrual.life = c.life;
  accrual.price = c.price;
  if (accruals_.count(c.order) != 0) note("orders: forgotten accrual id used again");
  accruals_[c.order] = accrual;  // replaces a forgotten accrual with this id, if any
  account->pending += amount;
  add(Stat::pending, c.seller, 0, amount);
  month_of(c.seller).accrued += amount;  // "accrued (pending accruals made)"
  return ok_result(amount, rate_bp);
}

Result ReferenceLedger::write(const ConfirmAccrual& c, TimeUs now) {
  AccrualOrder* accrual = live_accrual(c.order, now);
  if (accrual == nullptr) return result_of(Code::unknown_order);
  if (accrual->state == AccrualState::confirmed || accrual->state == AccrualState::reversed) {
    return result_of(Code::accrual_already_confirmed);
  }
  if (accrual->state == AccrualState::cancelled) return result_of(Code::accrual_cancelled);
  Account& account = *find_account(accrual->seller, accrual->buyer);
  if (account.lots.size() >= kAccountLotsMax) return result_of(Code::account_lots_full);

  TimeUs expires_at = kTimeNever;
  switch (accrual->life.kind) {
    case LotLife::Kind::ttl:
      if (accrual->life.value > kTimeMaxUs - now) return result_of(Code::overflow);
      expires_at = now + accrual->life.value;
      break;
    case LotLife::Kind::never:
      expires_at = kTimeNever;
      break;
    default:  // policy_default (absolute was rejected by accrue)
      if (!policy_expiry(policy(accrual->seller), now, expires_at)) {
        return result_of(Code::overflow);
      }
      break;
  }

  account.pending -= accrual->amount;
  sub(Stat::pending, accrual->seller, accrual->amount);
  const Result result =
      credit_steps(accrual->seller, accrual->buyer, account, accrual->amount, expires_at,
                   /*order_origin=*/true, c.order, /*reason=*/0, now, &accrual->lot);
  add(Stat::accrued, accrual->seller, 0, result.amount);
  accrual->credited = result.amount;
  accrual->earned = result.amount - result.aux;
  accrual->state = AccrualState::confirmed;
  accrual->finished_at = now;
  account.last_purchase = now;
  if (accrual->price > 0) account.purchases.emplace_back(now, accrual->price);
  return result;
}

Result ReferenceLedger::write(const CancelAccrual& c, TimeUs now) {
  AccrualOrder* accrual = live_accrual(c.order, now);
  if (accrual == nullptr) return result_of(Code::unknown_order);
  if (accrual->state == AccrualState::confirmed || accrual->state == AccrualState::reversed) {
    return result_of(Code::accrual_already_confirmed);
  }
  if (accrual->state == AccrualState::cancelled) return result_of(Code::accrual_cancelled);
  Account& account = *find_account(accrual->seller, accrual->buyer);
  account.pending -= accrual->amount;
  sub(Stat::pending, accrual->seller, accrual->amount);
  accrual->state = AccrualState::cancelled;
  accrual->finished_at = now;
  return ok_result(accrual->amount, 0);
}

// ---------------------------------------------------------------------------------------
// hold, capture, release, spend, refund

Code ReferenceLedger::check_spend(SellerId seller, BuyerId buyer, Amount amount,
                                  Kopecks goods_total, OrderId order, TimeUs now,
                                  bool is_hold, TimeUs timeout_us) const {
  if (Code code = check_amount(amount); code != Code::ok) return code;
  if (goods_total > kGoodsTotalMax) return Code::overflow;
  if (is_hold && (timeout_us < 0 || timeout_us > kHoldTimeoutMaxUs)) {
    return Code::invalid_timeout;
  }
  if (auto it = holds_.find(order); it != holds_.end() && hold_live(it->second, now)) {
    return Code::order_exists;
  }
  if (amount > spend_cap(policy(seller), goods_total)) return Code::over_spend_cap;
  const Account* account = find_account(seller, buyer);
  if (account == nullptr || available(*account, now) < amount) {
    return Code::insufficient_bonuses;
  }
  if (live_holds(now) >= config_.orders_max) return Code::orders_full;
  return Code::ok;
}

// Takes `amount` from the unexpired lots in lot order; each piece taken is a fragment.
std::vector<ReferenceLedger::Lot> ReferenceLedger::take_fragments(Account& account,
                                                                  Amount amount, TimeUs now) {
  std::vector<Lot> fragments;
  Amount left = amount;
  for (std::size_t i = 0; i < account.lots.size() && left > 0;) {
    Lot& lot = account.lots[i];
    if (lot.expired(now)) {
      note(lot.expires_at == now ? "take: skips a lot expiring exactly now"
                                 : "take: skips an expired lot");
      ++i;
      continue;
    }
    const Amount take = std::min(left, lot.amount);
    if (lot.spent_from) note("take: from a lot already spent from");
    Lot fragment = lot;
    fragment.amount = take;
    fragments.push_back(fragment);
    lot.amount -= take;
    left -= take;
    if (lot.amount == 0) {
      account.lots.erase(account.lots.begin() + static_cast<std::ptrdiff_t>(i));
    } else {
      ++i;
    }
  }
  return fragments;
}

Result ReferenceLedger::write(const Hold& c, TimeUs now) {
  if (Code code = check_spend(c.seller, c.buyer, c.amount, c.goods_total, c.order, now,
                              /*is_hold=*/true, c.timeout_us);
      code != Code::ok) {
    return result_of(code);
  }
  Account& account = *find_account(c.seller, c.buyer);
  HoldOrder hold;
  hold.seller = c.seller;
  hold.buyer = c.buyer;
  hold.amount = c.amount;
  hold.goods_total = c.goods_total;
  hold.deadline = now + (c.timeout_us == 0 ? kHoldTimeoutDefaultUs : c.timeout_us);
  hold.fragments = take_fragments(account, c.amount, now);
  account.held += c.amount;
  add(Stat::held, c.seller, 0, c.amount);
  if (holds_.count(c.order) != 0) note("orders: forgotten hold id used again");
  holds_[c.order] = hold;  // replaces a forgotten order with this id, if any
  return ok_result(c.amount, 0);
}

// "Returning a fragment piece".
void ReferenceLedger::return_piece(SellerId seller, Account& account, const Lot& fragment,
                                   Amount x, TimeUs now, Returned& out) {
  out.amount += x;
  if (fragment.expired(now) || campaign_revoked(seller, fragment.campaign())) {
    note(fragment.expired(now) ? "return: piece of an expired fragment expires"
                               : "return: piece of a revoked campaign expires");
    add(fragment.expired(now) ? Stat::expired : Stat::revoked, seller, fragment.campaign(), x);
    out.expired += x;
    return;
  }
  // Debt first, whatever returns the piece (refund, release, capture's rest, time-out).
  const Amount r = std::min(account.debt, x);
  account.debt -= r;
  sub(Stat::debt, seller, r);
  add(Stat::reversed, seller, fragment.campaign(), r);
  if (r > 0) note("return: piece repays debt");
  out.repaid += r;
  const Amount rest = x - r;
  if (rest > 0) {
    if (Lot* lot = lot_by_seq(account, fragment.seq)) {
      note("return: added to its lot");
      lot->amount += rest;
    } else {
      note(fragment.spent_from ? "return: lot recreated, spent_from set"
                               : "return: lot recreated, spent_from clear");
      Lot recreated = fragment;  // same expiry, origin, seq, flag
      recreated.amount = rest;
      insert_lot(account, recreated);
    }
  }
}

Result ReferenceLedger::returned_result(const Returned& r) {
  Result result = ok_result(r.amount, r.repaid);
  result.expired = static_cast<std::uint32_t>(r.expired);
  if (r.expired > 0 && r.expired < r.amount) note("result: part returned, part expired");
  return result;
}

// The effect of capture (also of spend, for the whole hold).
ReferenceLedger::Returned ReferenceLedger::capture_hold(HoldOrder& hold, Amount amount,
                                                        TimeUs now, BuyerId buyer) {
  Account& account = *find_account(hold.seller, hold.buyer);

  // The first `amount` bonuses of the fragments are spent, the rest is returned. A fragment
  // spent from (fully or in part) gets its spent_from flag set: so does its unspent rest.
  std::vector<Lot> spent;  // the pieces as they were held (flag as taken from the lot)
  std::vector<Lot> rest;
  Amount left = amount;
  for (const Lot& fragment : hold.fragments) {
    const Amount take = std::min(left, fragment.amount);
    left -= take;
    if (take > 0) {
      Lot piece = fragment;
      piece.amount = take;
      spent.push_back(piece);
    }
    if (fragment.amount > take) {
      Lot piece = fragment;
      piece.amount = fragment.amount - take;
      if (take > 0) {
        note("capture: fragment split, the rest returns flagged");
        piece.spent_from = true;
      }
      rest.push_back(piece);
    }
  }

  account.held -= hold.amount;
  sub(Stat::held, hold.seller, hold.amount);
  for (const Lot& piece : spent) add(Stat::spent, hold.seller, piece.campaign(), piece.amount);

  // Spenders: buyers, each counted once per campaign. The lot a piece came from is
  // flagged spent_from (when it is still there).
  for (const Lot& piece : spent) {
    if (piece.campaign() == 0) continue;
    if (Lot* lot = lot_by_seq(account, piece.seq)) lot->spent_from = true;
    bool& spender = campaign_buyers_[{hold.seller, piece.campaign()}][buyer];
    if (spender) {
      note("spenders: buyer already counted");
      continue;
    }
    note("spenders: buyer counted");
    spender = true;
    campaigns_[{hold.seller, piece.campaign()}].spenders += 1;
  }

  // The month's orders with bonuses and their goods total.
  month_of(hold.seller).orders += 1;
  month_of(hold.seller).orders_goods_kopecks += hold.goods_total;
  // Sales: the order's goods total, once for each campaign it spent from.
  std::map<CampaignId, bool> sold;
  for (const Lot& piece : spent) {
    if (piece.campaign() != 0) sold[piece.campaign()] = true;
  }
  if (sold.size() > 1) note("sales: an order spent from two campaigns");
  for (const auto& [campaign, yes] : sold) {
    CampaignStats& s = campaigns_[{hold.seller, campaign}];
    s.sales_orders += 1;
    s.sales_kopecks += hold.goods_total;
  }

  Returned returned;
  for (const Lot& piece : rest) {
    return_piece(hold.seller, account, piece, piece.amount, now, returned);
  }

  for (Lot& piece : spent) piece.spent_from = true;
  hold.fragments = spent;
  hold.captured = amount;
  hold.refunded = 0;
  hold.state = HoldState::captured;
  hold.finished_at = now;
  return returned;
}

ReferenceLedger::Returned ReferenceLedger::return_all(HoldOrder& hold, TimeUs now) {
  Account& account = *find_account(hold.seller, hold.buyer);
  Returned returned;
  for (const Lot& fragment : hold.fragments) {
    return_piece(hold.seller, account, fragment, fragment.amount, now, returned);
  }
  hold.fragments.clear();
  account.held -= hold.amount;
  sub(Stat::held, hold.seller, hold.amount);
  hold.finished_at = now;
  return returned;
}

ReferenceLedger::Returned ReferenceLedger::time_out(HoldOrder& hold, TimeUs now) {
  hold.state = HoldState::timed_out;
  return return_all(hold, now);
}

Result ReferenceLedger::write(const Capture& c, TimeUs now) {
  HoldOrder* hold = live_hold(c.order, now);
  if (hold == nullptr) return result_of(Code::unknown_order);
  if (hold->state == HoldState::captured) return result_of(Code::order_already_captured);
  if (hold->state == HoldState::released) return result_of(Code::order_released);
  if (hold->state == HoldState::timed_out) return result_of(Code::hold_timed_out);
  if (now >= hold->deadline) {
    note(now == hold->deadline ? "capture: times the hold out, deadline == now"
                               : "capture: times the hold out");
    time_out(*hold, now);
    return result_of(Code::hold_timed_out);
  }
  if (c.amount == 0) return result_of(Code::zero_amount);
  const bool all = c.amount == kAmountAll;
  if (!all && c.amount > kAmountMax) return result_of(Code::overflow);
  if (!all && c.amount > hold->amount) return result_of(Code::capture_exceeds_hold);

  if (all) note("capture: all of the hold");
  const Amount amount = all ? hold->amount : c.amount;
  const Returned released = capture_hold(*hold, amount, now, hold->buyer);
  Result result = ok_result(amount, released.amount);
  result.expired = static_cast<std::uint32_t>(released.expired);
  return result;
}

Result ReferenceLedger::write(const Release& c, TimeUs now) {
  HoldOrder* hold = live_hold(c.order, now);
  if (hold == nullptr) return result_of(Code::unknown_order);
  if (hold->state == HoldState::captured) return result_of(Code::order_already_captured);
  if (hold->state == HoldState::released) return result_of(Code::order_released);
  if (hold->state == HoldState::timed_out) return result_of(Code::hold_timed_out);
  if (now >= hold->deadline) {
    time_out(*hold, now);
    return result_of(Code::hold_timed_out);
  }
  hold->state = HoldState::released;
  return returned_result(return_all(*hold, now));
}

Result ReferenceLedger::write(const Spend& c, TimeUs now) {
  if (Code code = check_spend(c.seller, c.buyer, c.amount, c.goods_total, c.order, now,
                              /*is_hold=*/false, 0);
      code != Code::ok) {
    return result_of(code);
  }
  // Hold ...
  Account& account = *find_account(c.seller, c.buyer);
  HoldOrder hold;
  hold.seller = c.seller;
  hold.buyer = c.buyer;
  hold.amount = c.amount;
  hold.goods_total = c.goods_total;
  hold.deadline = now;  // never looked at: the order is captured at once
  hold.fragments = take_fragments(account, c.amount, now);
  account.held += c.amount;
  add(Stat::held, c.seller, 0, c.amount);
  // ... and capture of the whole amount.
  capture_hold(hold, c.amount, now, c.buyer);
  holds_[c.order] = hold;
  return ok_result(c.amount, 0);
}

Result ReferenceLedger::write(const Refund& c, TimeUs now) {
  HoldOrder* hold = live_hold(c.order, now);
  if (hold == nullptr) return result_of(Code::unknown_order);
  if (hold->state != HoldState::captured) return result_of(Code::order_not_captured);
  if (c.amount == 0) return result_of(Code::zero_amount);
  const bool all = c.amount == kAmountAll;
  if (!all && c.amount > kAmountMax) return result_of(Code::overflow);
  const Amount left = hold->captured - hold->refunded;
  if (left == 0 || (!all && c.amount > left)) return result_of(Code::refund_exceeds_captured);

  if (all) note(hold->refunded > 0 ? "refund: all that is left after a part" : "refund: all");
  const Amount amount = all ? left : c.amount;
  Account& account = *find_account(hold->seller, hold->buyer);
  Amount remaining = amount;
  Returned returned;
  // The spent fragments in reverse order: the latest-expiring first.
  for (std::size_t i = hold->fragments.size(); i-- > 0 && remaining > 0;) {
    Lot& fragment = hold->fragments[i];
    const Amount take = std::min(remaining, fragment.amount);
    if (take == 0) continue;
    fragment.amount -= take;
    remaining -= take;
    add(Stat::refunded, hold->seller, fragment.campaign(), take);
    return_piece(hold->seller, account, fragment, take, now, returned);
  }
  hold->refunded += amount;
  return returned_result(returned);
}

// ---------------------------------------------------------------------------------------
// reverse_accrual, revoke_campaign, set_policy, sweep

Result ReferenceLedger::write(const ReverseAccrual& c, TimeUs now) {
  AccrualOrder* accrual = live_accrual(c.order, now);
  if (accrual == nullptr) return result_of(Code::unknown_order);
  if (accrual->state == AccrualState::pending) return result_of(Code::accrual_not_confirmed);
  if (accrual->state == AccrualState::cancelled) return result_of(Code::accrual_cancelled);
  if (accrual->state == AccrualState::reversed) return result_of(Code::accrual_already_reversed);
  Account& account = *find_account(accrual->seller, accrual->buyer);
  if (account.debt + accrual->credited > kAccountAmountMax) return result_of(Code::overflow);

  Amount remaining = accrual->credited;
  auto take_from = [&](std::size_t i) {
    Lot& lot = account.lots[i];
    const Amount take = std::min(remaining, lot.amount);
    lot.amount -= take;
    remaining -= take;
    add(Stat::reversed, accrual->seller, lot.campaign(), take);
    if (lot.amount == 0) account.lots.erase(account.lots.begin() + static_cast<std::ptrdiff_t>(i));
  };
  // First the accrual's own lot, if it is still there and unexpired ...
  if (accrual->lot.has_value() && remaining > 0) {
    for (std::size_t i = 0; i < account.lots.size(); ++i) {
      if (account.lots[i].seq == *accrual->lot) {
        if (!account.lots[i].expired(now)) {
          note("reverse: takes from its own lot");
          take_from(i);
        } else {
          note("reverse: own lot expired");
        }
        break;
      }
    }
  }
  // ... then the other unexpired lots in lot order.
  for (std::size_t i = 0; i < account.lots.size() && remaining > 0;) {
    if (account.lots[i].expired(now)) {
      ++i;
      continue;
    }
    const std::size_t before = account.lots.size();
    note("reverse: takes from another lot");
    take_from(i);
    if (account.lots.size() == before) ++i;
  }
  const Amount missing = remaining;
  if (missing > 0) note("reverse: debt");
  account.debt += missing;
  add(Stat::debt, accrual->seller, 0, missing);
  // "A reversed accrual gives its month's earn allowance back": only when confirmed in
  // this calendar month (and the account's earned is this month's).
  const std::int64_t month = calendar_month(now);
  if (account.month == month && calendar_month(accrual->finished_at) == month) {
    if (accrual->earned > 0) note("reverse: gives the month's earn allowance back");
    account.earned -= accrual->earned;
  } else if (accrual->earned > 0) {
    note("reverse: confirmed in another month, allowance stays");
  }
  // "A reversal takes its price back out of the purchases of its confirmation day."
  for (auto it = account.purchases.begin(); it != account.purchases.end(); ++it) {
    if (it->first == accrual->finished_at && it->second == accrual->price) {
      note("reverse: removes a purchase");
      account.purchases.erase(it);
      break;
    }
  }
  accrual->state = AccrualState::reversed;  // finished_at stays the confirmation's
  return ok_result(accrual->credited, missing);
}

Result ReferenceLedger::write(const RevokeCampaign& c, TimeUs now) {
  if (c.campaign == 0) return result_of(Code::invalid_campaign);
  Amount expired = 0;
  for (auto& [key, account] : accounts_) {
    if (key.first != c.seller) continue;
    std::vector<Lot> kept;
    for (const Lot& lot : account.lots) {
      if (lot.campaign() == c.campaign) {
        note(lot.expired(now) ? "revoke: removes an expired lot" : "revoke: removes a lot");
        expired += lot.amount;
        // A lot already past its life lapsed; a live one is revoked.
        add(lot.expired(now) ? Stat::expired : Stat::revoked, c.seller, c.campaign, lot.amount);
      } else {
        kept.push_back(lot);
      }
    }
    account.lots = kept;
  }
  campaigns_[{c.seller, c.campaign}].revoked = true;
  return ok_result(expired, 0);
}

// ---------------------------------------------------------------------------------------
// referral: two credits with reason referral under one id (one ledger owns both buyers).

Result ReferenceLedger::write(const Referral& c, TimeUs now) {
  if (c.referrer == c.friend_buyer) {
    note("referral: referrer is the friend");
    return result_of(Code::invalid_referral);
  }
  if (Code code = check_amount(c.referrer_amount); code != Code::ok) return result_of(code);
  if (Code code = check_amount(c.friend_amount); code != Code::ok) return result_of(code);
  TimeUs expires_at = kTimeNever;
  if (Code code = credit_expiry(c.seller, c.campaign, c.life, now, expires_at); code != Code::ok) {
    return result_of(code);
  }
  Account* referrer = find_account(c.seller, c.referrer);
  Account* fresh = find_account(c.seller, c.friend_buyer);
  const std::size_t new_accounts = (referrer == nullptr) + (fresh == nullptr);
  if (referrer != nullptr && referrer->lots.size() >= kAccountLotsMax) {
    return result_of(Code::account_lots_full);
  }
  if (fresh != nullptr && fresh->lots.size() >= kAccountLotsMax) {
    return result_of(Code::account_lots_full);
  }
  // "Account missing and table full": only a referral that needs an account is refused.
  if (new_accounts > 0 && accounts_.size() + new_accounts > config_.accounts_max) {
    note("referral: no room for its accounts");
    return result_of(Code::accounts_full);
  }
  Result result;
  const BuyerId buyers[2] = {c.referrer, c.friend_buyer};
  const Amount amounts[2] = {c.referrer_amount, c.friend_amount};
  for (int k = 0; k < 2; ++k) {
    Account& account = accounts_[{c.seller, buyers[k]}];
    const Result part = credit_steps(c.seller, buyers[k], account, amounts[k], expires_at,
                                     /*order_origin=*/false, c.campaign, /*reason=*/4, now,
                                     nullptr);
    month_of(c.seller).credited[4] += part.amount;
    result.flags = static_cast<std::uint8_t>(result.flags | part.flags);
    (k == 0 ? result.amount : result.aux) = part.amount;
  }
  note("referral: both credited");
  return result;
}

Result ReferenceLedger::write(const SetPolicy& c, TimeUs /*now*/) {
  const std::uint32_t known = SetPolicy::kSpendShare | SetPolicy::kBalanceMax |
                              SetPolicy::kEarnMonthMax | SetPolicy::kLotLife | SetPolicy::kRate |
                              SetPolicy::kTiers | SetPolicy::kTierWindow;
  if (c.fields == 0 || (c.fields & ~known) != 0) return result_of(Code::invalid_policy);
  if ((c.fields & SetPolicy::kSpendShare) &&
      (c.spend_share_bp < 1 || c.spend_share_bp > kSpendShareBpMax)) {
    return result_of(Code::invalid_policy);
  }
  if ((c.fields & SetPolicy::kBalanceMax) && (c.balance_max < 1 || c.balance_max > kAmountMax)) {
    return result_of(Code::invalid_policy);
  }
  if ((c.fields & SetPolicy::kEarnMonthMax) &&
      (c.earn_month_max < 1 || c.earn_month_max > kAmountMax)) {
    return result_of(Code::invalid_policy);
  }
  if ((c.fields & SetPolicy::kLotLife) && !(c.lot_life_us > 0 || c.lot_life_us == kTimeNever)) {
    return result_of(Code::invalid_policy);
  }
  if ((c.fields & SetPolicy::kRate) && (c.rate_bp < 1 || c.rate_bp > 10'000)) {
    return result_of(Code::invalid_policy);
  }
  if ((c.fields & SetPolicy::kTierWindow) && (c.tier_window_days < 1 || c.tier_window_days > 730)) {
    return result_of(Code::invalid_policy);
  }
  // Tiers: at most 8, thresholds rising from above 0, rates 1..10000; unused entries zero.
  const std::uint32_t count = (c.fields & SetPolicy::kTiers) ? c.tier_count : 0;
  if (c.tier_count > 8 || c.reserved != 0 || count != c.tier_count) {
    return result_of(Code::invalid_policy);
  }
  for (std::uint32_t k = 0; k < 8; ++k) {
    const PolicyTier& t = c.tiers[k];
    if (k >= count) {
      if (t.threshold_kopecks != 0 || t.rate_bp != 0 || t.reserved != 0) {
        return result_of(Code::invalid_policy);
      }
      continue;
    }
    const bool rising = k == 0 ? t.threshold_kopecks > 0
                               : t.threshold_kopecks > c.tiers[k - 1].threshold_kopecks;
    if (!rising || t.threshold_kopecks > kGoodsTotalMax || t.rate_bp < 1 || t.rate_bp > 10'000 ||
        t.reserved != 0) {
      return result_of(Code::invalid_policy);
    }
  }
  Policy p = policy(c.seller);
  if (c.fields & SetPolicy::kSpendShare) p.spend_share_bp = c.spend_share_bp;
  if (c.fields & SetPolicy::kBalanceMax) p.balance_max = c.balance_max;
  if (c.fields & SetPolicy::kEarnMonthMax) p.earn_month_max = c.earn_month_max;
  if (c.fields & SetPolicy::kLotLife) p.lot_life_us = c.lot_life_us;
  if (c.fields & SetPolicy::kRate) p.rate_bp = c.rate_bp;
  if (c.fields & SetPolicy::kTierWindow) p.tier_window_days = c.tier_window_days;
  if (c.fields & SetPolicy::kTiers) {
    p.tier_count = c.tier_count;
    for (std::uint32_t k = 0; k < 8; ++k) p.tiers[k] = c.tiers[k];
  }
  // "Tiers need a base rate."
  if (p.tier_count > 0 && p.rate_bp == 0) {
    note("set_policy: tiers without a rate");
    return result_of(Code::invalid_policy);
  }
  if (p.tier_count > 0) note("set_policy: tiers");
  policies_[c.seller] = p;
  return ok_result(0, 0);
}

// The limits change as written; every named field must be in range.
Result ReferenceLedger::write(const SetLimits& c, TimeUs now) {
  const bool tables_ok = [&] {
    const std::uint64_t bounds[] = {c.accounts_max, c.orders_max, c.ids_max, c.rejected_ids_max};
    const std::uint32_t bits[] = {SetLimits::kAccountsMax, SetLimits::kOrdersMax, SetLimits::kIdsMax,
                                  SetLimits::kRejectedIdsMax};
    for (int i = 0; i < 4; ++i) {
      if ((c.fields & bits[i]) && (bounds[i] < 1 || bounds[i] > (1ull << 32))) return false;
    }
    return true;
  }();
  const bool windows_ok = [&] {
    const TimeUs windows[] = {c.id_window_us, c.order_retention_us, c.rejected_id_window_us};
    const std::uint32_t bits[] = {SetLimits::kIdWindow, SetLimits::kOrderRetention,
                                  SetLimits::kRejectedIdWindow};
    for (int i = 0; i < 3; ++i) {
      if ((c.fields & bits[i]) && (windows[i] < 1 || windows[i] > 100 * 365 * kUsPerDay)) return false;
    }
    return true;
  }();
  if (c.fields == 0 || c.fields > 127 || c.reserved != 0 || !tables_ok || !windows_ok) {
    return result_of(Code::invalid_limits);
  }
  // Finished orders past their retention are forgotten before the retention changes (ids
  // past their window were forgotten on the way in): a longer one brings none back.
  std::erase_if(holds_, [&](const auto& h) { return !hold_live(h.second, now); });
  std::erase_if(accruals_, [&](const auto& a) { return !accrual_live(a.second, now); });
  if (c.fields & SetLimits::kAccountsMax) config_.accounts_max = c.accounts_max;
  if (c.fields & SetLimits::kOrdersMax) config_.orders_max = c.orders_max;
  if (c.fields & SetLimits::kIdsMax) config_.ids_max = c.ids_max;
  if (c.fields & SetLimits::kIdWindow) config_.id_window_us = c.id_window_us;
  if (c.fields & SetLimits::kOrderRetention) config_.order_retention_us = c.order_retention_us;
  if (c.fields & SetLimits::kRejectedIdsMax) config_.rejected_ids_max = c.rejected_ids_max;
  if (c.fields & SetLimits::kRejectedIdWindow) config_.rejected_id_window_us = c.rejected_id_window_us;
  return ok_result(0, 0);
}

// The model ignores `limit`: it always does all the work due.
Result ReferenceLedger::write(const Sweep& /*c*/, TimeUs now) {
  Amount expired = 0;
  Amount timed_out = 0;

  // Open holds with deadline <= now, by (deadline, order id).
  std::vector<std::pair<TimeUs, OrderId>> due;
  for (const auto& [order, hold] : holds_) {
    if (hold.state == HoldState::open && hold.deadline <= now) due.emplace_back(hold.deadline, order);
  }
  std::sort(due.begin(), due.end());
  for (const auto& [deadline, order] : due) {
    note(deadline == now ? "sweep: hold timed out, deadline == now" : "sweep: hold timed out");
    expired += time_out(holds_.at(order), now).expired;
    ++timed_out;
  }

  // Accounts with a lot expiring before the current minute bucket began.
  const TimeUs bucket_start = floor_div(now, kExpiryBucketUs) * kExpiryBucketUs;
  for (auto& [key, account] : accounts_) {
    const bool due_account = std::any_of(account.lots.begin(), account.lots.end(),
                                         [&](const Lot& lot) { return lot.expires_at < bucket_start; });
    if (!due_account) continue;
    note("sweep: account settled");
    std::vector<Lot> kept;
    for (const Lot& lot : account.lots) {
      if (lot.expired(now)) {
        if (lot.expires_at >= bucket_start) note("sweep: settles a lot of the current minute");
        expired += lot.amount;
        add(Stat::expired, key.first, lot.campaign(), lot.amount);
      } else {
        kept.push_back(lot);
      }
    }
    account.lots = kept;
  }
  return ok_result(expired, timed_out);
}

// ---------------------------------------------------------------------------------------
// Reads

std::int64_t ReferenceLedger::calendar_day(TimeUs now) {
  return floor_div(now + kCalendarOffsetUs, kUsPerDay);
}

void ReferenceLedger::tier_fields(SellerId seller, const Account* account, TimeUs now,
                                  AccountView& v) const {
  const Policy p = policy(seller);
  v.purchases_kopecks = 0;
  if (account != nullptr) {
    v.last_purchase_us = account->last_purchase;
    for (const auto& [at, price] : account->purchases) {
      // The window: the tier_window_days calendar days ending with today.
      if (calendar_day(at) > calendar_day(now) - p.tier_window_days) v.purchases_kopecks += price;
    }
  }
  v.tier = 0;
  v.rate_bp = p.rate_bp;
  v.next_tier_kopecks = 0;
  for (std::uint32_t k = 0; k < p.tier_count; ++k) {
    if (v.purchases_kopecks >= p.tiers[k].threshold_kopecks) {
      v.tier = k + 1;
      v.rate_bp = p.tiers[k].rate_bp;
    } else {
      v.next_tier_kopecks = p.tiers[k].threshold_kopecks - v.purchases_kopecks;
      break;
    }
  }
}

AccountView ReferenceLedger::view_of(SellerId seller, BuyerId buyer, const Account& account,
                                     TimeUs now) const {
  AccountView v;
  v.seller = seller;
  v.buyer = buyer;
  v.exists = true;
  v.available = available(account, now);
  v.held = account.held;
  v.pending = account.pending;
  v.debt = account.debt;
  // Next expiry: the soonest expires_at of an unexpired lot, and the sum of the unexpired
  // lots expiring exactly then (with only never-expiring lots: kTimeNever and 0).
  for (const Lot& lot : account.lots) {
    if (!lot.expired(now)) v.next_expiry_us = std::min(v.next_expiry_us, lot.expires_at);
  }
  for (const Lot& lot : account.lots) {
    if (v.next_expiry_us != kTimeNever && !lot.expired(now) && lot.expires_at == v.next_expiry_us) {
      v.next_expiry_amount += lot.amount;
    }
  }
  tier_fields(seller, &account, now, v);
  return v;
}

AccountView ReferenceLedger::balance(SellerId seller, BuyerId buyer, TimeUs now) const {
  const Account* account = find_account(seller, buyer);
  if (account == nullptr) {
    AccountView v;
    v.seller = seller;
    v.buyer = buyer;
    tier_fields(seller, nullptr, now, v);
    return v;
  }
  return view_of(seller, buyer, *account, now);
}

std::vector<LotView> ReferenceLedger::lots(SellerId seller, BuyerId buyer, TimeUs now) const {
  std::vector<LotView> out;
  const Account* account = find_account(seller, buyer);
  if (account == nullptr) return out;
  for (const Lot& lot : account->lots) {
    if (lot.expired(now)) continue;
    LotView v;
    v.amount = lot.amount;
    v.expires_at_us = lot.expires_at;
    v.origin = lot.order_origin ? LotView::Origin::order : LotView::Origin::campaign;
    v.origin_id = lot.origin;
    v.reason = static_cast<std::uint8_t>(lot.reason);
    out.push_back(v);
  }
  return out;
}

std::vector<CartEntry> ReferenceLedger::cart(BuyerId buyer, std::span<const CartLine> lines,
                                             TimeUs soon_us, TimeUs now) const {
  std::vector<CartEntry> out;
  for (const CartLine& line : lines) {
    CartEntry e;
    e.seller = line.seller;
    const Policy p = policy(line.seller);
    const Account* found = find_account(line.seller, buyer);
    AccountView tv;
    tier_fields(line.seller, found, now, tv);
    // "earn: goods_total at the rate, less the debt it would repay, cut by what is left of
    // the month's allowance and the room under the balance cap".
    const Amount earned =
        found != nullptr && found->month == calendar_month(now) ? found->earned : 0;
    const Amount held_and_available = found != nullptr ? available(*found, now) + found->held : 0;
    e.earn_month_room = p.earn_month_max > earned ? p.earn_month_max - earned : 0;
    e.balance_room = p.balance_max > held_and_available ? p.balance_max - held_and_available : 0;
    e.tier = tv.tier;
    e.rate_bp = tv.rate_bp;
    const Amount raw = std::min(line.goods_total, kGoodsTotalMax) * tv.rate_bp / 10'000 / 100;
    const Amount debt = found != nullptr ? found->debt : 0;
    const Amount after_debt = raw > debt ? raw - debt : 0;
    e.earn = std::min({after_debt, e.earn_month_room, e.balance_room});
    if (const Account* account = found) {
      const AccountView v = view_of(line.seller, buyer, *account, now);
      e.available = v.available;
      e.spendable = std::min(v.available, spend_cap(policy(line.seller), line.goods_total));
      e.pending = v.pending;
      e.next_expiry_us = v.next_expiry_us;
      for (const Lot& lot : account->lots) {
        if (!lot.expired(now) && lot.expires_at <= now + soon_us) e.expiring_soon += lot.amount;
      }
    }
    out.push_back(e);
  }
  return out;
}

std::vector<AccountView> ReferenceLedger::wallet(BuyerId buyer, TimeUs now) const {
  std::vector<AccountView> out;  // accounts_ is ordered by (seller, buyer): by seller here
  for (const auto& [key, account] : accounts_) {
    if (key.second != buyer) continue;
    const AccountView v = view_of(key.first, key.second, account, now);
    if (v.available > 0 || v.held > 0 || v.pending > 0 || v.debt > 0) out.push_back(v);
  }
  return out;
}

std::vector<ExpiringEntry> ReferenceLedger::expiring(SellerId seller, TimeUs within_us,
                                                     TimeUs now) const {
  std::vector<ExpiringEntry> out;  // by buyer, as accounts_ is ordered
  for (const auto& [key, account] : accounts_) {
    if (key.first != seller) continue;
    ExpiringEntry e;
    e.buyer = key.second;
    for (const Lot& lot : account.lots) {
      if (lot.expires_at > now && lot.expires_at <= now + within_us) {
        e.amount += lot.amount;
        e.first_expiry_us = std::min(e.first_expiry_us, lot.expires_at);
      }
    }
    if (e.amount > 0) out.push_back(e);
  }
  return out;
}

std::vector<BuyerId> ReferenceLedger::segment(const SegmentQuery& q, TimeUs now) const {
  std::vector<BuyerId> out;  // by buyer, as the maps are ordered
  if (q.kind == SegmentKind::unspent) {
    // "received a lot of the campaign and spent from none".
    const auto it = campaign_buyers_.find({q.seller, q.campaign});
    if (it == campaign_buyers_.end()) return out;
    for (const auto& [buyer, spent] : it->second) {
      if (!spent) out.push_back(buyer);
    }
    return out;
  }
  for (const auto& [key, account] : accounts_) {
    if (key.first != q.seller || account.last_purchase == 0) continue;  // never bought: out
    const bool sleeping = account.last_purchase < now - q.period_us;
    if (q.kind == SegmentKind::inactive ? sleeping : !sleeping) out.push_back(key.second);
  }
  return out;
}

SellerStats ReferenceLedger::seller_stats(SellerId seller) const {
  auto it = sellers_.find(seller);
  SellerStats s = it == sellers_.end() ? SellerStats{} : it->second;
  s.outstanding = s.issued - s.spent + s.refunded - s.expired - s.reversed;
  return s;
}

SellerStats ReferenceLedger::total_stats() const {
  SellerStats s = totals_;
  s.outstanding = s.issued - s.spent + s.refunded - s.expired - s.reversed;
  return s;
}

CampaignStats ReferenceLedger::campaign_stats(SellerId seller, CampaignId campaign) const {
  auto it = campaigns_.find({seller, campaign});
  CampaignStats s = it == campaigns_.end() ? CampaignStats{} : it->second;
  s.outstanding = s.issued - s.spent + s.refunded - s.expired - s.revoked_amount - s.reversed;
  return s;
}

}  // namespace bonus::test
