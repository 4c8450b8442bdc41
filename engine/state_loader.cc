#include "engine/state_loader.h"

#include <algorithm>
#include <cstring>
#include <tuple>

#include "engine/command_checks.h"
#include "engine/ledger.h"
#include "engine/reason.h"
#include "engine/state_bytes.h"

namespace bonus {

using state_bytes::key_of;
using state_bytes::Reader;

std::optional<std::string> StateLoader::header(std::string_view value) {
  Reader r(value);
  const auto version = r.get<std::uint32_t>();
  if (r.failed() || version < StateCodec::kVersionOldest || version > StateCodec::kVersion) {
    return "state header: format version " + std::to_string(version) +
           " is not supported (this build reads " + std::to_string(StateCodec::kVersionOldest) +
           " to " + std::to_string(StateCodec::kVersion) + ")";
  }
  version_ = version;
  r.get<std::uint32_t>();
  set_last_time(r.get<TimeUs>());
  for (std::uint64_t& n : counts_) n = r.get<std::uint64_t>();
  set_totals_from(r);
  const std::size_t limits_bytes = StateCodec::kLimitsBytes;
  const bool sized = !r.failed() && r.left() == limits_bytes;
  if (sized) {
    if (auto error = set_limits_from(r)) return "state header: " + error->substr(7);
  }
  if (!sized || r.failed() || r.left() != 0) {
    return "state header: " + std::to_string(value.size()) + " bytes, expected " +
           std::to_string(StateCodec::kHeaderBytes - StateCodec::kLimitsBytes + limits_bytes);
  }
  have_header_ = true;
  // Room for what is coming, so the indexes do not grow (and rehash) as it loads. The
  // counts come from a checked header; the configured bounds cap what they may reserve.
  Ledger& l = ledger_;
  l.sellers_.reserve(std::min<std::uint64_t>(counts_[0], 1u << 20));
  l.accounts_.reserve(std::min<std::uint64_t>(counts_[1], l.config_.accounts_max));
  l.campaigns_.reserve(std::min<std::uint64_t>(counts_[2], 1u << 20));
  l.holds_.reserve(std::min<std::uint64_t>(counts_[3], l.config_.orders_max));
  l.accruals_.reserve(std::min<std::uint64_t>(counts_[4], l.config_.orders_max));
  l.ids_.reserve(
      std::min<std::uint64_t>(counts_[5], l.config_.ids_max + l.config_.rejected_ids_max));
  return std::nullopt;
}

StateLoader::StateLoader(Ledger& ledger) : ledger_(ledger) {
  ledger.seller_now_ = nullptr;  // The tables are about to be filled anew.
}

void StateLoader::set_last_time(TimeUs last_time_us) { ledger_.last_now_ = last_time_us; }

void StateLoader::set_totals_from(Reader& r) { ledger_.totals_ = r.counters(); }

std::optional<std::string> StateLoader::set_limits_from(Reader& r) {
  EngineConfig c;
  c.accounts_max = r.get<std::uint64_t>();
  c.orders_max = r.get<std::uint64_t>();
  c.ids_max = r.get<std::uint64_t>();
  c.id_window_us = r.get<TimeUs>();
  c.order_retention_us = r.get<TimeUs>();
  c.rejected_ids_max = r.get<std::uint64_t>();
  c.rejected_id_window_us = r.get<TimeUs>();
  const auto changes = r.get<std::uint64_t>();
  if (r.failed()) return std::string("state: the limits block is cut short");
  if (!config_valid(c)) return std::string("state: the limits block is out of range (damaged)");
  ledger_.config_ = c;
  ledger_.limits_changes_ = changes;
  return std::nullopt;
}

std::optional<std::string> StateLoader::record(StateTable table, std::string_view key,
                                               std::string_view value) {
  Reader r(value);
  expected_key_ = key;
  problem_.reset();
  if (!restore(table, r) || r.left() != 0) {
    if (problem_) return problem_;
    return std::string("state: invalid ") + state_table_name(table) + " record (" +
           std::to_string(value.size()) + " bytes)";
  }
  return std::nullopt;
}

std::optional<std::string> StateLoader::next(StateTable table, Reader& r) {
  expected_key_.reset();
  problem_.reset();
  if (!restore(table, r)) {
    if (problem_) return problem_;
    return std::string("state: invalid ") + state_table_name(table) + " record";
  }
  return std::nullopt;
}

void StateLoader::prefetch(StateTable table, std::string_view value) const {
  if (value.size() < 16) return;
  std::uint64_t a = 0;
  std::uint64_t b = 0;
  std::memcpy(&a, value.data(), 8);
  std::memcpy(&b, value.data() + 8, 8);
  if (table == StateTable::accounts) ledger_.accounts_.prefetch(a, b);
  if (table == StateTable::ids) ledger_.ids_.prefetch(Id128{a, b});
}

bool StateLoader::lot_fits(const Lot& lot, SellerId seller, BuyerId buyer) {
  if (version_ < 4) {
    // Version 3 gave seq bits 0..29; what is now the reason must be 0 there.
    if ((lot.seq_flags & Lot::kReasonMask) == 0) return true;
    problem_ = "state: account (seller " + std::to_string(seller) + ", buyer " +
               std::to_string(buyer) + ") has a lot with sequence number " +
               std::to_string(lot.seq_flags & (Lot::kSpentFrom - 1)) +
               ", past the 22 bits of format version 4: this build cannot load the "
               "version 3 state";
    return false;
  }
  return reason_valid(lot.reason()) && (!lot.order_origin() || lot.reason() == 0);
}

bool StateLoader::ended_as_v3(const Reader& r) const {
  return version_ < 4 || (expected_key_.has_value() && r.left() == 0);
}

bool StateLoader::admit(StateTable table) {
  if (expected_key_ && *expected_key_ != key_) {
    problem_ = std::string("state: a ") + state_table_name(table) +
               " record is stored under another record's key";
    return false;
  }
  // Keys strictly ascending: no record twice, so inserts need no duplicate check.
  const int t = static_cast<int>(table);
  if (t < table_ || (t == table_ && key_ <= last_key_)) {
    problem_ = std::string("state: ") + state_table_name(table) + " records out of order";
    return false;
  }
  table_ = t;
  last_key_ = key_;
  ++loaded_[t];
  return true;
}

bool StateLoader::restore(StateTable table, Reader& r) {
  Ledger& l = ledger_;
  switch (table) {
    case StateTable::sellers: {
      Seller s;
      s.seller = r.get<SellerId>();
      s.policy.spend_share_bp = r.get<std::uint32_t>();
      s.policy.rate_bp = r.get<std::uint32_t>();
      s.policy.balance_max = r.get<Amount>();
      s.policy.earn_month_max = r.get<Amount>();
      s.policy.lot_life_us = r.get<TimeUs>();
      s.counters = r.counters();
      const bool v4 = !ended_as_v3(r);
      if (v4) {
        s.policy.tier_window_days = r.get<std::uint32_t>();
        s.policy.tier_count = r.get<std::uint32_t>();
        if (s.policy.tier_count > kPolicyTiersMax) return false;
        for (std::uint32_t k = 0; k < s.policy.tier_count; ++k) {
          s.policy.tiers[k].threshold_kopecks = r.get<Kopecks>();
          s.policy.tiers[k].rate_bp = r.get<std::uint32_t>();
          if (r.get<std::uint32_t>() != 0) return false;
        }
      }
      if (v4) {
        const auto months = r.get<std::uint32_t>();
        r.get<std::uint32_t>();
        if (r.failed() || months > MonthReport::kMonthsKept) return false;
        for (std::uint32_t k = 0; k < months; ++k) {
          const MonthReport m = r.month();
          // Oldest first, each month once, all within the kept window of the newest.
          if (r.failed() || (!s.months.empty() && s.months.back().month >= m.month)) return false;
          s.months.push_back(m);
        }
        if (!s.months.empty() &&
            s.months.front().month + MonthReport::kMonthsKept <= s.months.back().month) {
          return false;
        }
      }
      if (r.failed() || !policy_valid(s.policy)) return false;
      key_of(s, key_);
      if (!admit(table)) return false;
      l.sellers_.insert(s.seller, [&](Seller& into) { into = std::move(s); });
      return true;
    }
    case StateTable::accounts: {
      const auto seller = r.get<SellerId>();
      const auto buyer = r.get<BuyerId>();
      if (r.failed() || l.accounts_.size() >= UINT32_MAX - 1) return false;
      key_of(static_cast<std::uint32_t>(l.accounts_.size()), key_);
      if (!admit(table)) return false;
      // Account keys are indexes, so ascending keys do not rule out a (seller, buyer)
      // pair twice: that needs the lookup.
      if (l.accounts_.find(seller, buyer) != AccountTable::kNone) return false;
      const std::uint32_t i = l.create_account(seller, buyer);
      Account& a = l.accounts_[i];
      for (std::uint32_t* v :
           {&a.held, &a.pending, &a.debt, &a.earned, &a.lot_seq_next, &a.sweep_bucket}) {
        *v = r.get<std::uint32_t>();
      }
      a.earned_month = r.get<std::uint16_t>();
      const auto lot_count = r.get<std::uint16_t>();
      r.get<std::uint32_t>();
      if (r.failed() || lot_count > kAccountLotsMax || lot_count * sizeof(Lot) > r.left()) {
        return false;
      }
      for (std::uint16_t k = 0; k < lot_count; ++k) {
        const Lot lot = r.lot();
        if (!lot_fits(lot, seller, buyer)) return false;
        if (lot.amount == 0 || lot.seq() >= a.lot_seq_next ||
            (a.lot_count() > 0 && !a.lots()[a.lot_count() - 1].before(lot))) {
          return false;
        }
        a.insert_lot(lot);
      }
      if (!ended_as_v3(r)) {
        const auto last_us = r.get<TimeUs>();
        const auto days = r.get<std::uint32_t>();
        r.get<std::uint32_t>();
        if (r.failed() || days > r.left() / sizeof(PurchaseDay) || (days > 0 && last_us == 0)) {
          return false;
        }
        std::vector<PurchaseDay> kept(days);
        for (std::uint32_t k = 0; k < days; ++k) {
          kept[k].day = r.get<std::int64_t>();
          kept[k].kopecks = r.get<Kopecks>();
          if (kept[k].kopecks == 0 || (k > 0 && kept[k - 1].day >= kept[k].day)) return false;
        }
        if (last_us != 0) l.purchases_.restore(i, last_us, std::move(kept));
      }
      if (a.sweep_bucket != Account::kNoBucket) l.expiry_.restore(a.sweep_bucket, i);
      return true;
    }
    case StateTable::campaigns: {
      Campaign c;
      c.seller = r.get<SellerId>();
      c.campaign = r.get<CampaignId>();
      const auto revoked = r.get<std::uint32_t>();
      const auto recipients = r.get<std::uint32_t>();
      c.counters = r.counters();
      if (r.failed() || revoked > 1 || recipients > r.left() / 4) return false;
      c.revoked = revoked == 1;
      for (std::uint32_t n = 0; n < recipients; ++n) {
        const auto entry = r.get<std::uint32_t>();
        const std::uint32_t i = entry & RecipientSet::kAccountMask;
        if (i >= l.accounts_.size() || l.accounts_[i].seller != c.seller ||
            !c.recipients.restore(entry)) {
          return false;
        }
      }
      if (c.counters.recipients != c.recipients.size() ||
          c.counters.spenders != c.recipients.spender_count()) {
        return false;
      }
      // A record written by version 3 (an LMDB record, whose length is known) ends here:
      // its campaign has no revoked amount or sales (0).
      if (!ended_as_v3(r)) {
        c.revoked_amount = r.get<Amount>();
        c.sales_orders = r.get<std::uint64_t>();
        c.sales_kopecks = r.get<Kopecks>();
        if (r.failed()) return false;
      }
      key_of(c, key_);
      if (!admit(table)) return false;
      l.campaigns_.insert(c.key(), [&](Campaign& into) { into = std::move(c); });
      return true;
    }
    case StateTable::holds: {
      HoldOrder h;
      h.order = r.get<OrderId>();
      h.seller = r.get<SellerId>();
      h.buyer = r.get<BuyerId>();
      h.account = r.get<std::uint32_t>();
      const auto state = r.get<std::uint32_t>();
      h.goods_total = r.get<Kopecks>();
      h.deadline_us = r.get<TimeUs>();
      h.finished_us = r.get<TimeUs>();
      h.amount = r.get<Amount>();
      h.captured = r.get<Amount>();
      h.refunded = r.get<Amount>();
      const auto fragments = r.get<std::uint64_t>();
      if (r.failed() || state > 3 || fragments > r.left() / sizeof(Lot) ||
          h.account >= l.accounts_.size() || l.accounts_[h.account].seller != h.seller ||
          l.accounts_[h.account].buyer != h.buyer) {
        return false;
      }
      key_of(h, key_);
      if (!admit(table)) return false;
      h.state = static_cast<HoldOrder::State>(state);
      for (std::uint64_t k = 0; k < fragments; ++k) {
        h.fragments.push_back(r.lot());
        if (!lot_fits(h.fragments.back(), h.seller, h.buyer)) return false;
      }
      if (h.state == HoldOrder::State::held) {
        if (h.deadline_us != kTimeNever) l.deadlines_.emplace(h.deadline_us, h.order);
      } else {
        finished_holds_.emplace_back(h.finished_us, h.order);
      }
      l.holds_.insert(h.order, [&](HoldOrder& into) { into = std::move(h); });
      return true;
    }
    case StateTable::accruals: {
      AccrualOrder a;
      a.order = r.get<OrderId>();
      a.seller = r.get<SellerId>();
      a.buyer = r.get<BuyerId>();
      a.account = r.get<std::uint32_t>();
      const auto state = r.get<std::uint8_t>();
      const auto kind = r.get<std::uint8_t>();
      r.get<std::uint16_t>();
      a.life.kind = static_cast<LotLife::Kind>(kind);
      a.life.value = r.get<TimeUs>();
      a.finished_us = r.get<TimeUs>();
      a.amount = r.get<Amount>();
      a.credited = r.get<Amount>();
      a.lot_seq = r.get<std::uint32_t>();
      a.earned = r.get<std::uint32_t>();
      if (!ended_as_v3(r)) a.price = r.get<Kopecks>();
      if (r.failed() || a.price > kGoodsTotalMax || state > 3 || kind > 3 ||
          a.earned > a.credited ||
          a.account >= l.accounts_.size() ||
          l.accounts_[a.account].seller != a.seller || l.accounts_[a.account].buyer != a.buyer) {
        return false;
      }
      a.state = static_cast<AccrualOrder::State>(state);
      if (a.state != AccrualOrder::State::pending) finished_accruals_.emplace_back(a.finished_us, a.order);
      key_of(a, key_);
      if (!admit(table)) return false;
      l.accruals_.insert(a.order, [&](AccrualOrder& into) { into = a; });
      return true;
    }
    case StateTable::ids: {
      IdEntry e;
      e.id.hi = r.get<std::uint64_t>();
      e.id.lo = r.get<std::uint64_t>();
      e.body_hash = r.get<std::uint64_t>();
      e.time_us = r.get<TimeUs>();
      e.result = r.get<Result>();
      if (r.failed() || e.id.zero() || static_cast<std::uint16_t>(e.result.code) >= kCodeCount) {
        return false;
      }
      key_of(e, key_);
      if (!admit(table)) return false;
      const std::uint32_t at =
          l.ids_.insert_hashed(IdEntry::hash(e.id), [&](IdEntry& into) { into = e; });
      id_times_[Ledger::id_rejected(e)].emplace_back(e.time_us, at);
      return true;
    }
  }
  return false;
}

std::optional<std::string> StateLoader::finish() {
  Ledger& l = ledger_;
  std::sort(finished_holds_.begin(), finished_holds_.end());
  l.finished_holds_.assign(finished_holds_.begin(), finished_holds_.end());
  std::sort(finished_accruals_.begin(), finished_accruals_.end());
  l.finished_accruals_.assign(finished_accruals_.begin(), finished_accruals_.end());
  for (const bool rejected : {false, true}) {
    auto& times = id_times_[rejected];
    std::sort(times.begin(), times.end());
    l.id_times_[rejected].assign(times.begin(), times.end());
    l.id_count_[rejected] = times.size();
  }
  if (have_header_) {
    for (std::size_t t = 0; t < kStateTableCount; ++t) {
      if (loaded_[t] != counts_[t]) {
        return std::string("state: ") + std::to_string(loaded_[t]) + " " +
               state_table_name(static_cast<StateTable>(t)) + " records, the header says " +
               std::to_string(counts_[t]);
      }
    }
  }
  if (auto problem = l.audit()) return "state: loaded state fails audit: " + *problem;
  return std::nullopt;
}

}  // namespace bonus
