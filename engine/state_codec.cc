#include "engine/state_codec.h"

#include <xxhash.h>

#include <algorithm>
#include <cstring>
#include <tuple>
#include <vector>

#include "engine/ledger.h"
#include "engine/state_bytes.h"
#include "engine/state_loader.h"

namespace bonus {

using state_bytes::key_of;
using state_bytes::Reader;
using state_bytes::Writer;

const char* state_table_name(StateTable table) {
  switch (table) {
    case StateTable::sellers: return "sellers";
    case StateTable::accounts: return "accounts";
    case StateTable::campaigns: return "campaigns";
    case StateTable::holds: return "holds";
    case StateTable::accruals: return "accruals";
    case StateTable::ids: return "ids";
  }
  return "?";
}

namespace {

constexpr std::uint32_t tag(const char (&name)[5]) {
  return std::uint32_t(std::uint8_t(name[0])) | std::uint32_t(std::uint8_t(name[1])) << 8 |
         std::uint32_t(std::uint8_t(name[2])) << 16 | std::uint32_t(std::uint8_t(name[3])) << 24;
}
// Blob section tags, in StateTable order, then the totals.
constexpr std::uint32_t kSectionTags[kStateTableCount] = {tag("SELR"), tag("ACCT"), tag("CAMP"),
                                                          tag("HOLD"), tag("ACRL"), tag("IDS_")};
constexpr std::uint32_t kTotals = tag("TOTL");
// The smallest record of each table, to bound a section's count by what is left (as
// in version 3, whose records are the shortest).
constexpr std::size_t kRecordMinBytes[kStateTableCount] = {128, 48, 112, 88, 72, 56};

// The record values (docs/state-format.md).
void put_record(Writer& w, const Seller& s) {
  w.put(s.seller);
  w.put(s.policy.spend_share_bp);
  w.put(s.policy.rate_bp);
  w.put(s.policy.balance_max);
  w.put(s.policy.earn_month_max);
  w.put(s.policy.lot_life_us);
  w.counters(s.counters);
  w.put(s.policy.tier_window_days);
  w.put(s.policy.tier_count);
  for (std::uint32_t k = 0; k < s.policy.tier_count; ++k) {
    w.put(s.policy.tiers[k].threshold_kopecks);
    w.put(s.policy.tiers[k].rate_bp);
    w.put(std::uint32_t{0});
  }
  w.put(static_cast<std::uint32_t>(s.months.size()));
  w.put(std::uint32_t{0});
  for (const MonthReport& m : s.months) w.month(m);
}

// An account's record with its purchases (none: `purchases` null).
void put_record(Writer& w, const Account& a, const Purchases* purchases) {
  w.put(a.seller);
  w.put(a.buyer);
  for (std::uint32_t v : {a.held, a.pending, a.debt, a.earned, a.lot_seq_next, a.sweep_bucket}) {
    w.put(v);
  }
  w.put(a.earned_month);
  w.put(static_cast<std::uint16_t>(a.lot_count()));
  w.put(std::uint32_t{0});
  for (const Lot& lot : a.lots()) w.lot(lot);
  w.put(purchases == nullptr ? TimeUs{0} : purchases->last_us);
  w.put(static_cast<std::uint32_t>(purchases == nullptr ? 0 : purchases->days.size()));
  w.put(std::uint32_t{0});
  if (purchases == nullptr) return;
  for (const PurchaseDay& d : purchases->days) {
    w.put(d.day);
    w.put(d.kopecks);
  }
}

void put_record(Writer& w, const Campaign& c) {
  w.put(c.seller);
  w.put(c.campaign);
  w.put(std::uint32_t{c.revoked});
  w.put(static_cast<std::uint32_t>(c.recipients.size()));
  w.counters(c.counters);
  for (std::uint32_t entry : c.recipients.entries()) w.put(entry);
  w.put(c.revoked_amount);
  w.put(c.sales_orders);
  w.put(c.sales_kopecks);
}

void put_record(Writer& w, const HoldOrder& h) {
  w.put(h.order);
  w.put(h.seller);
  w.put(h.buyer);
  w.put(h.account);
  w.put(static_cast<std::uint32_t>(h.state));
  w.put(h.goods_total);
  w.put(h.deadline_us);
  w.put(h.finished_us);
  w.put(h.amount);
  w.put(h.captured);
  w.put(h.refunded);
  w.put(static_cast<std::uint64_t>(h.fragments.size()));
  for (const Lot& f : h.fragments) w.lot(f);
}

void put_record(Writer& w, const AccrualOrder& a) {
  w.put(a.order);
  w.put(a.seller);
  w.put(a.buyer);
  w.put(a.account);
  w.put(std::uint8_t(a.state));
  w.put(std::uint8_t(a.life.kind));
  w.put(std::uint16_t{0});
  w.put(a.life.value);
  w.put(a.finished_us);
  w.put(a.amount);
  w.put(a.credited);
  w.put(a.lot_seq);
  w.put(a.earned);
  w.put(a.price);
}

void put_record(Writer& w, const IdEntry& e) {
  w.put(e.id.hi);
  w.put(e.id.lo);
  w.put(e.body_hash);
  w.put(e.time_us);
  w.put(e.result);
}

// `records` with their keys, sorted by key.
template <typename T>
std::vector<std::pair<std::string, const T*>> by_key(const std::vector<const T*>& records) {
  std::vector<std::pair<std::string, const T*>> keyed(records.size());
  for (std::size_t i = 0; i < records.size(); ++i) {
    key_of(*records[i], keyed[i].first);
    keyed[i].second = records[i];
  }
  std::sort(keyed.begin(), keyed.end());
  return keyed;
}

// The records of `table` that `keep`, sorted by key.
template <typename T, typename Keep>
std::vector<const T*> sorted_records(const KeyedTable<T>& table, Keep&& keep) {
  std::vector<const T*> records;
  table.for_each([&](const T& r) {
    if (keep(r)) records.push_back(&r);
  });
  std::vector<const T*> out;
  out.reserve(records.size());
  for (const auto& [key, r] : by_key(records)) out.push_back(r);
  return out;
}

template <typename T>
void put_section(Writer& w, StateTable table, const std::vector<const T*>& records) {
  w.put(kSectionTags[static_cast<int>(table)]);
  w.put(std::uint32_t{0});
  w.put(std::uint64_t{records.size()});
  for (const T* r : records) put_record(w, *r);
}

// A keyed table's changes to the sink: erased keys, then changed records, by key.
template <typename T>
void give_table_changes(const KeyedTable<T>& table, StateTable which, StateSink& sink) {
  std::vector<const T*> live;
  std::vector<typename KeyedTable<T>::Key> erased;
  table.collect_changes(live, erased);
  std::vector<std::string> keys;
  for (const auto& key : erased) {
    T probe;
    if constexpr (std::is_same_v<T, Campaign>) {
      probe.seller = key.seller;
      probe.campaign = key.campaign;
    } else if constexpr (std::is_same_v<T, Seller>) {
      probe.seller = key;
    } else if constexpr (std::is_same_v<T, IdEntry>) {
      probe.id = key;
    } else {
      probe.order = key;
    }
    key_of(probe, keys.emplace_back());
  }
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  for (const std::string& key : keys) sink.erase(which, key);

  std::string value;
  for (const auto& [key, r] : by_key(live)) {
    value.clear();
    Writer w(value);
    put_record(w, *r);
    sink.put(which, key, value);
  }
}

constexpr std::size_t kBlobHeaderBytes = 8 + 4 + 4 + 8 + StateCodec::kLimitsBytes;
constexpr std::size_t kChecksumBytes = 8;

}  // namespace

void StateCodec::put_limits(state_bytes::Writer& w, const Ledger& l) {
  const EngineConfig& c = l.config_;
  w.put(c.accounts_max);
  w.put(c.orders_max);
  w.put(c.ids_max);
  w.put(c.id_window_us);
  w.put(c.order_retention_us);
  w.put(c.rejected_ids_max);
  w.put(c.rejected_id_window_us);
  w.put(l.limits_changes_);
}

std::string StateCodec::encode(const Ledger& l) {
  std::string out;
  Writer w(out);
  out.append(kMagic, sizeof(kMagic));
  w.put(kVersion);
  w.put(std::uint32_t{0});
  w.put(l.last_now_);
  put_limits(w, l);

  const TimeUs now = l.last_now_;
  auto all = [](const auto&) { return true; };
  put_section(w, StateTable::sellers, sorted_records(l.sellers_, all));
  w.put(kSectionTags[static_cast<int>(StateTable::accounts)]);
  w.put(std::uint32_t{0});
  w.put(std::uint64_t{l.accounts_.size()});
  for (std::uint32_t i = 0; i < l.accounts_.size(); ++i) {
    put_record(w, l.accounts_[i], l.purchases_.find(i));
  }
  put_section(w, StateTable::campaigns, sorted_records(l.campaigns_, all));
  put_section(w, StateTable::holds, sorted_records(l.holds_, [&](const HoldOrder& h) {
                return l.hold_live(h, now);
              }));
  put_section(w, StateTable::accruals, sorted_records(l.accruals_, [&](const AccrualOrder& a) {
                return l.accrual_live(a, now);
              }));
  put_section(w, StateTable::ids,
              sorted_records(l.ids_, [&](const IdEntry& e) { return l.id_live(e, now); }));

  w.put(kTotals);
  w.put(std::uint32_t{0});
  w.put(std::uint64_t{1});
  w.counters(l.totals_);
  w.put(XXH3_64bits(out.data(), out.size()));
  return out;
}

std::optional<std::string> StateCodec::decode(std::string_view bytes, Ledger& l) {
  if (bytes.size() < kBlobHeaderBytes + kChecksumBytes) return "state: too short to be a state";
  if (std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) != 0) return "state: bad magic";
  const std::string_view body = bytes.substr(0, bytes.size() - kChecksumBytes);
  std::uint64_t checksum = 0;
  std::memcpy(&checksum, bytes.data() + body.size(), sizeof(checksum));
  if (checksum != XXH3_64bits(body.data(), body.size())) return "state: checksum mismatch";

  Reader r(body.substr(sizeof(kMagic)));
  const auto version = r.get<std::uint32_t>();
  if (version != kVersion && version != kVersionOldest) {
    return "state: format version " + std::to_string(version) +
           " is not supported (this build reads " + std::to_string(kVersionOldest) + " to " +
           std::to_string(kVersion) + ")";
  }
  r.get<std::uint32_t>();
  StateLoader loader(l);
  loader.set_version(version);
  loader.set_last_time(r.get<TimeUs>());
  if (auto error = loader.set_limits_from(r)) return error;

  for (std::size_t t = 0; t < kStateTableCount; ++t) {
    const auto table = static_cast<StateTable>(t);
    const auto got = r.get<std::uint32_t>();
    r.get<std::uint32_t>();
    const auto count = r.get<std::uint64_t>();
    if (r.failed() || got != kSectionTags[t] || count > r.left() / kRecordMinBytes[t]) {
      return std::string("state: invalid ") + state_table_name(table) + " section";
    }
    for (std::uint64_t n = 0; n < count; ++n) {
      if (auto error = loader.next(table, r)) return error;
    }
  }
  const auto totals = r.get<std::uint32_t>();
  r.get<std::uint32_t>();
  if (totals != kTotals || r.get<std::uint64_t>() != 1) return "state: invalid totals section";
  loader.set_totals_from(r);
  if (r.failed()) return "state: invalid totals section";
  if (r.left() != 0) return "state: " + std::to_string(r.left()) + " unexpected bytes at the end";
  return loader.finish();
}

std::string StateCodec::encode_header(const Ledger& l) {
  std::string out;
  Writer w(out);
  w.put(kVersion);
  w.put(std::uint32_t{0});
  w.put(l.last_now_);
  for (std::uint64_t n : {l.sellers_.size(), l.accounts_.size(), l.campaigns_.size(),
                          l.holds_.size(), l.accruals_.size(), l.ids_.size()}) {
    w.put(n);
  }
  w.counters(l.totals_);
  put_limits(w, l);
  return out;
}

void StateCodec::give_changes(const Ledger& l, StateSink& sink) {
  give_table_changes(l.sellers_, StateTable::sellers, sink);

  std::vector<std::uint32_t> accounts = l.accounts_.changes().marked();
  std::sort(accounts.begin(), accounts.end());
  std::string key;
  std::string value;
  for (std::uint32_t i : accounts) {
    key_of(i, key);
    value.clear();
    Writer w(value);
    put_record(w, l.accounts_[i], l.purchases_.find(i));
    sink.put(StateTable::accounts, key, value);
  }

  give_table_changes(l.campaigns_, StateTable::campaigns, sink);
  give_table_changes(l.holds_, StateTable::holds, sink);
  give_table_changes(l.accruals_, StateTable::accruals, sink);
  give_table_changes(l.ids_, StateTable::ids, sink);
}

void StateCodec::forget_changes(Ledger& l) {
  l.sellers_.clear_changes();
  l.accounts_.clear_changes();
  l.campaigns_.clear_changes();
  l.holds_.clear_changes();
  l.accruals_.clear_changes();
  l.ids_.clear_changes();
}

}  // namespace bonus
