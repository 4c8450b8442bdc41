// Ledger: the parts every write shares: time, idempotency, lookups, retention, audit.
#include "engine/ledger.h"

#include <xxhash.h>

#include <algorithm>
#include <map>
#include <sstream>

#include "engine/assert.h"
#include "engine/calendar.h"
#include "engine/command_id.h"
#include "engine/partition.h"
#include "engine/state_codec.h"

namespace bonus {

Ledger::Ledger(const EngineConfig& config) : config_(config) {}

Result Ledger::apply(const Command& command, TimeUs now, const WriteHint& hint) {
  BONUS_ASSERT(now > last_now_);
  BONUS_ASSERT(now <= kTimeMaxUs);
  last_now_ = now;
  if (calendar_day(now) != month_day_) {
    month_day_ = calendar_day(now);
    month_now_ = calendar_month(now);
  }
  seller_now_ = nullptr;  // Found again in this write (which marks it changed).
  swept_holds_.clear();
  events_.clear();
  prune(now, 8);
  if (const Sweep* s = std::get_if<Sweep>(&command)) return sweep(*s, now);

  const Id128 id = command_id(command);
  if (id.zero()) return Result::of(Code::id_zero);
  const std::uint64_t body = command_body_hash(command);
  const std::uint64_t id_hash =
      hint.id_hash != 0 && hint.id == id ? hint.id_hash : IdEntry::hash(id);
  if (const std::uint32_t at = ids_.find_index(id, id_hash); at != HashIndex::kNone) {
    const IdEntry& entry = ids_.at(at);
    if (id_live(entry, now)) {
      if (entry.body_hash != body) return Result::of(Code::id_reused);
      Result repeat = entry.result;
      repeat.flags |= Result::kRepeat;
      return repeat;
    }
    forget_id(at);  // Past its window: forgotten.
  }
  // A SetLimits is never ids_full: it is how an operator raises ids_max.
  if (id_count_[0] >= config_.ids_max && !std::holds_alternative<SetLimits>(command)) {
    prune(now, SIZE_MAX);
    if (id_count_[0] >= config_.ids_max) return Result::of(Code::ids_full);
  }
  hinted_account_ = hint.account;
  const Result result = apply_write(command, now);
  hinted_account_ = AccountTable::kNone;
  remember_id(IdEntry{id, body, now, result}, id_hash, now);
  return result;
}

// Applied commands' ids count towards ids_max; rejected ones have a bounded table of
// their own (a rejection past it is answered but not remembered), so cheap invalid
// commands can never fill the room that applied writes need.
void Ledger::remember_id(const IdEntry& entry, std::uint64_t hash, TimeUs now) {
  const bool rejected = id_rejected(entry);
  if (rejected && id_count_[1] >= config_.rejected_ids_max) {
    prune(now, SIZE_MAX);
    if (id_count_[1] >= config_.rejected_ids_max) return;
  }
  const std::uint32_t at = ids_.insert_hashed(hash, [&](IdEntry& e) { e = entry; });
  id_times_[rejected].emplace_back(entry.time_us, at);
  ++id_count_[rejected];
}

void Ledger::forget_id(std::uint32_t at) {
  const bool rejected = id_rejected(ids_.at(at));
  BONUS_ASSERT(id_count_[rejected] > 0);
  --id_count_[rejected];
  ids_.erase_index(at);  // Its queue entry, if still queued, no longer matches it.
}

Result Ledger::apply_write(const Command& command, TimeUs now) {
  return std::visit(
      [&](const auto& c) -> Result {
        using T = std::decay_t<decltype(c)>;
        if constexpr (std::is_same_v<T, Credit>) return credit(c, now);
        if constexpr (std::is_same_v<T, Accrue>) return accrue(c, now);
        if constexpr (std::is_same_v<T, ConfirmAccrual>) return confirm_accrual(c, now);
        if constexpr (std::is_same_v<T, CancelAccrual>) return cancel_accrual(c, now);
        if constexpr (std::is_same_v<T, Hold>) return hold(c, now);
        if constexpr (std::is_same_v<T, Capture>) return capture(c, now);
        if constexpr (std::is_same_v<T, Release>) return release(c, now);
        if constexpr (std::is_same_v<T, Spend>) return spend(c, now);
        if constexpr (std::is_same_v<T, Refund>) return refund(c, now);
        if constexpr (std::is_same_v<T, ReverseAccrual>) return reverse_accrual(c, now);
        if constexpr (std::is_same_v<T, RevokeCampaign>) return revoke_campaign(c, now);
        if constexpr (std::is_same_v<T, SetPolicy>) return set_policy(c, now);
        if constexpr (std::is_same_v<T, Sweep>) return sweep(c, now);
        if constexpr (std::is_same_v<T, SetLimits>) return set_limits(c, now);
        if constexpr (std::is_same_v<T, Referral>) return referral(c, now);
      },
      command);
}

void Ledger::set_partition(std::uint32_t index, std::uint32_t count) {
  BONUS_ASSERT(count > 0 && index < count);
  partition_index_ = index;
  partition_count_ = count;
}

bool Ledger::owns(BuyerId buyer) const {
  return partition_count_ == 1 || partition_of(buyer, partition_count_) == partition_index_;
}

MonthReport& Ledger::month_of(Seller& seller) {
  const std::uint16_t month = month_now_;
  std::vector<MonthReport>& months = seller.months;
  if (months.empty() || months.back().month != month) {
    // Time only moves forward, so a new month is the newest; what falls out of the
    // kept window goes (at most a few records: one per month that had activity).
    const auto old = std::find_if(months.begin(), months.end(), [&](const MonthReport& m) {
      return m.month + MonthReport::kMonthsKept > month;
    });
    months.erase(months.begin(), old);
    months.push_back(MonthReport{});
    months.back().month = month;
  }
  return months.back();
}

void Ledger::add_flows(MonthReport& month, const Counters& before, const Counters& after) {
  month.confirmed += after.accrued - before.accrued;
  month.spent += after.spent - before.spent;
  month.refunded += after.refunded - before.refunded;
  month.reversed += after.reversed - before.reversed;
  month.expired += after.expired - before.expired;
}

std::uint32_t Ledger::find_account(SellerId seller, BuyerId buyer) const {
  // Accounts are never removed, so an index that names this account still does.
  if (hinted_account_ != AccountTable::kNone) {
    const Account& a = accounts_[hinted_account_];
    if (a.seller == seller && a.buyer == buyer) return hinted_account_;
  }
  return accounts_.find(seller, buyer);
}

Seller& Ledger::seller_of(SellerId seller) {
  if (seller_now_ != nullptr && seller_now_->seller == seller) return *seller_now_;
  Seller* s = sellers_.find(seller);
  if (s == nullptr) s = &sellers_.insert(seller, [&](Seller& into) { into.seller = seller; });
  seller_now_ = s;
  return *s;
}

static const Policy kDefaultPolicy{};

const Policy& Ledger::policy_of(SellerId seller) const {
  if (seller_now_ != nullptr && seller_now_->seller == seller) return seller_now_->policy;
  const Seller* s = sellers_.find(seller);
  return s != nullptr ? s->policy : kDefaultPolicy;
}

const Policy& Ledger::policy_of(SellerId seller) {
  if (seller_now_ != nullptr && seller_now_->seller == seller) return seller_now_->policy;
  Seller* s = sellers_.find(seller);  // marks it changed, as seller_of() would
  if (s == nullptr) return kDefaultPolicy;
  seller_now_ = s;
  return s->policy;
}

Campaign& Ledger::campaign_of(SellerId seller, CampaignId campaign) {
  const CampaignKey key{seller, campaign};
  if (Campaign* c = campaigns_.find(key)) return *c;
  return campaigns_.insert(key, [&](Campaign& c) {
    c.seller = seller;
    c.campaign = campaign;
  });
}

bool Ledger::campaign_revoked(SellerId seller, CampaignId campaign) const {
  if (campaign == 0) return false;
  const Campaign* c = campaigns_.find(CampaignKey{seller, campaign});
  return c != nullptr && c->revoked;
}

bool Ledger::hold_live(const HoldOrder& hold, TimeUs now) const {
  return hold.state == HoldOrder::State::held ||
         hold.finished_us > now - config_.order_retention_us;
}

bool Ledger::accrual_live(const AccrualOrder& accrual, TimeUs now) const {
  return accrual.state == AccrualOrder::State::pending ||
         accrual.finished_us > now - config_.order_retention_us;
}

bool Ledger::id_rejected(const IdEntry& entry) { return entry.result.code != Code::ok; }

TimeUs Ledger::id_window_us(bool rejected) const {
  return rejected ? config_.rejected_id_window_us : config_.id_window_us;
}

bool Ledger::id_live(const IdEntry& entry, TimeUs now) const {
  return entry.time_us > now - id_window_us(id_rejected(entry));
}

std::optional<IdMemory> Ledger::id_memory(const Id128& id, TimeUs now) const {
  const IdEntry* e = ids_.find(id);
  if (e == nullptr || !id_live(*e, now)) return std::nullopt;
  return IdMemory{e->body_hash, e->time_us, id_rejected(*e)};
}

TimeUs Ledger::order_finished_us(OrderId order, bool hold, TimeUs now) const {
  if (hold) {
    const HoldOrder* h = holds_.find(order);
    if (h == nullptr || !hold_live(*h, now)) return 0;
    return h->state == HoldOrder::State::held ? kTimeNever : h->finished_us;
  }
  const AccrualOrder* a = accruals_.find(order);
  if (a == nullptr || !accrual_live(*a, now)) return 0;
  return a->state == AccrualOrder::State::pending ? kTimeNever : a->finished_us;
}

HoldOrder* Ledger::live_hold(OrderId order, TimeUs now) {
  HoldOrder* h = holds_.find(order);
  return h != nullptr && hold_live(*h, now) ? h : nullptr;
}

AccrualOrder* Ledger::live_accrual(OrderId order, TimeUs now) {
  AccrualOrder* a = accruals_.find(order);
  return a != nullptr && accrual_live(*a, now) ? a : nullptr;
}

void Ledger::prune(TimeUs now, std::size_t budget) {
  const TimeUs order_horizon = now - config_.order_retention_us;
  for (std::size_t n = 0; n < budget && !finished_holds_.empty(); ++n) {
    const auto [time, order] = finished_holds_.front();
    if (time > order_horizon) break;
    finished_holds_.pop_front();
    const std::uint64_t hash = HoldOrder::hash(order);
    const std::uint32_t at = holds_.find_index(order, hash);
    if (at == HashIndex::kNone) continue;
    const HoldOrder& h = holds_.at(at);
    if (h.state != HoldOrder::State::held && h.finished_us == time) holds_.erase_index(at, hash);
  }
  for (std::size_t n = 0; n < budget && !finished_accruals_.empty(); ++n) {
    const auto [time, order] = finished_accruals_.front();
    if (time > order_horizon) break;
    finished_accruals_.pop_front();
    const std::uint64_t hash = AccrualOrder::hash(order);
    const std::uint32_t at = accruals_.find_index(order, hash);
    if (at == HashIndex::kNone) continue;
    const AccrualOrder& a = accruals_.at(at);
    if (a.state != AccrualOrder::State::pending && a.finished_us == time) {
      accruals_.erase_index(at, hash);
    }
  }
  for (const bool rejected : {false, true}) {
    const TimeUs id_horizon = now - id_window_us(rejected);
    auto& times = id_times_[rejected];
    for (std::size_t n = 0; n < budget && !times.empty(); ++n) {
      const auto [time, at] = times.front();
      if (time > id_horizon) break;
      times.pop_front();
      // Still the entry queued (an id forgotten early leaves a default record, or its
      // slot reused by a later write: every write's time is its own).
      const IdEntry& e = ids_.at(at);
      if (e.time_us == time && id_rejected(e) == rejected) forget_id(at);
    }
  }
}

void Ledger::track_changes() {
  accounts_.track_changes();
  holds_.track_changes();
  accruals_.track_changes();
  ids_.track_changes();
  sellers_.track_changes();
  campaigns_.track_changes();
}

bool Ledger::tracking_changes() const { return accounts_.tracking_changes(); }

std::uint64_t Ledger::state_hash() const {
  const std::string bytes = StateCodec::encode(*this);
  return XXH3_64bits(bytes.data(), bytes.size());
}

std::uint64_t Ledger::account_memory_bytes() const {
  return accounts_.memory_bytes() + expiry_.memory_bytes() + purchases_.memory_bytes() +
         seller_accounts_.memory_bytes();
}

// ---------------------------------------------------------------------------------
// Audit: recompute every counter from the records it summarises.

namespace {

struct Sums {
  Amount lots = 0;
  Amount held = 0;
  Amount pending = 0;
  Amount debt = 0;
};

std::string describe(const char* what, std::uint64_t who, const char* field,
                     Amount expected, Amount actual) {
  std::ostringstream s;
  s << what << " " << who << ": " << field << " is " << actual << ", records say "
    << expected;
  return s.str();
}

}  // namespace

std::optional<std::string> Ledger::audit() const {
  std::map<SellerId, Sums> sellers;
  std::map<std::pair<SellerId, CampaignId>, Amount> campaigns;  // lots + held fragments
  std::vector<Amount> held_by_account(accounts_.size(), 0);
  std::vector<Amount> pending_by_account(accounts_.size(), 0);
  Sums total;

  for (std::uint32_t i = 0; i < accounts_.size(); ++i) {
    const Account& a = accounts_[i];
    Sums& s = sellers[a.seller];
    const Lot* previous = nullptr;
    for (const Lot& lot : a.lots()) {
      if (lot.amount == 0) return describe("account", i, "a lot amount", 1, 0);
      if (previous != nullptr && !previous->before(lot)) {
        return describe("account", i, "lot order", 1, 0);
      }
      previous = &lot;
      s.lots += lot.amount;
      total.lots += lot.amount;
      if (lot.campaign() != 0) campaigns[{a.seller, lot.campaign()}] += lot.amount;
    }
    s.held += a.held;
    s.pending += a.pending;
    s.debt += a.debt;
    total.held += a.held;
    total.pending += a.pending;
    total.debt += a.debt;
  }
  std::optional<std::string> problem;
  holds_.for_each([&](const HoldOrder& h) {
    if (h.state != HoldOrder::State::held) return;
    Amount sum = 0;
    for (const Lot& f : h.fragments) {
      sum += f.amount;
      if (f.campaign() != 0) campaigns[{h.seller, f.campaign()}] += f.amount;
    }
    if (sum != h.amount && !problem) problem = describe("hold", h.order, "amount", sum, h.amount);
    held_by_account[h.account] += h.amount;
  });
  accruals_.for_each([&](const AccrualOrder& a) {
    if (a.state == AccrualOrder::State::pending) pending_by_account[a.account] += a.amount;
  });
  if (problem) return problem;
  for (std::uint32_t i = 0; i < accounts_.size(); ++i) {
    if (accounts_[i].held != held_by_account[i]) {
      return describe("account", i, "held", held_by_account[i], accounts_[i].held);
    }
    if (accounts_[i].pending != pending_by_account[i]) {
      return describe("account", i, "pending", pending_by_account[i], accounts_[i].pending);
    }
  }

  auto check = [&](const char* what, std::uint64_t who, const Counters& c,
                   const Sums& s) -> std::optional<std::string> {
    if (c.outstanding() != s.lots + s.held) {
      return describe(what, who, "issued-spent+refunded-expired-reversed", s.lots + s.held,
                      c.outstanding());
    }
    if (c.held != s.held) return describe(what, who, "held", s.held, c.held);
    if (c.pending != s.pending) return describe(what, who, "pending", s.pending, c.pending);
    if (c.debt != s.debt) return describe(what, who, "debt", s.debt, c.debt);
    return std::nullopt;
  };
  Counters seller_sum;
  sellers_.for_each([&](const Seller& s) {
    if (problem) return;
    const auto it = sellers.find(s.seller);
    problem = check("seller", s.seller, s.counters, it == sellers.end() ? Sums{} : it->second);
    seller_sum.issued += s.counters.issued;
    seller_sum.spent += s.counters.spent;
    seller_sum.refunded += s.counters.refunded;
    seller_sum.expired += s.counters.expired;
    seller_sum.reversed += s.counters.reversed;
  });
  if (problem) return problem;
  for (const auto& [seller, sums] : sellers) {
    if (sellers_.find(seller) == nullptr && (sums.lots | sums.held | sums.pending | sums.debt)) {
      return describe("seller", seller, "record", 1, 0);
    }
  }
  if (auto p = check("total", 0, totals_, total)) return p;
  if (seller_sum.outstanding() != totals_.outstanding()) {
    return describe("total", 0, "sum over sellers", seller_sum.outstanding(),
                    totals_.outstanding());
  }
  campaigns_.for_each([&](const Campaign& c) {
    if (problem) return;
    const auto it = campaigns.find({c.seller, c.campaign});
    const Amount actual = it == campaigns.end() ? 0 : it->second;
    if (c.counters.outstanding() != actual) {
      problem = describe("campaign", c.campaign, "outstanding", actual, c.counters.outstanding());
    } else if (c.counters.recipients != c.recipients.size()) {
      problem = describe("campaign", c.campaign, "recipients", c.recipients.size(),
                         c.counters.recipients);
    } else if (c.counters.spenders != c.recipients.spender_count()) {
      problem = describe("campaign", c.campaign, "spenders", c.recipients.spender_count(),
                         c.counters.spenders);
    } else if (c.revoked_amount > c.counters.expired || (c.revoked_amount > 0 && !c.revoked)) {
      problem = describe("campaign", c.campaign, "revoked amount (at most expired)",
                         c.counters.expired, c.revoked_amount);
    }
  });
  return problem;
}

}  // namespace bonus
