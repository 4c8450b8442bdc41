#include "engine/state_codec.h"

#include <xxhash.h>

#include <algorithm>
#include <bit>
#include <tuple>
#include <cstring>
#include <type_traits>
#include <vector>

#include "engine/ledger.h"

namespace bonus {
namespace {

static_assert(std::endian::native == std::endian::little,
              "the state format is little-endian; add byte swaps for this target");

constexpr std::uint32_t tag(const char (&name)[5]) {
  return std::uint32_t(std::uint8_t(name[0])) | std::uint32_t(std::uint8_t(name[1])) << 8 |
         std::uint32_t(std::uint8_t(name[2])) << 16 | std::uint32_t(std::uint8_t(name[3])) << 24;
}
constexpr std::uint32_t kSellers = tag("SELR");
constexpr std::uint32_t kAccounts = tag("ACCT");
constexpr std::uint32_t kCampaigns = tag("CAMP");
constexpr std::uint32_t kHolds = tag("HOLD");
constexpr std::uint32_t kAccruals = tag("ACRL");
constexpr std::uint32_t kIds = tag("IDS_");
constexpr std::uint32_t kTotals = tag("TOTL");

class Writer {
 public:
  explicit Writer(std::string& out) : out_(out) {}
  template <typename T>
  void put(T v) {
    static_assert(std::is_trivially_copyable_v<T>);
    char b[sizeof(T)];
    std::memcpy(b, &v, sizeof(T));
    out_.append(b, sizeof(T));
  }
  void section(std::uint32_t t, std::uint64_t count) {
    put(t);
    put(std::uint32_t{0});
    put(count);
  }
  void lot(const Lot& l) {
    put(l.expires_at_us);
    put(l.origin);
    put(l.amount);
    put(l.seq_flags);
  }
  void counters(const Counters& c) {
    for (Amount v : {c.issued, c.accrued, c.spent, c.expired, c.refunded, c.reversed, c.held,
                     c.pending, c.debt, c.recipients, c.spenders}) {
      put(v);
    }
  }

 private:
  std::string& out_;
};

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool failed() const { return failed_; }
  std::size_t left() const { return in_.size() - pos_; }
  template <typename T>
  T get() {
    T v{};
    if (left() < sizeof(T)) {
      failed_ = true;
      return v;
    }
    std::memcpy(&v, in_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  // Reads a section header; fails unless it is `t` and `count` records of at least
  // `record_min` bytes can fit in what is left.
  std::uint64_t section(std::uint32_t t, std::size_t record_min) {
    const auto got = get<std::uint32_t>();
    get<std::uint32_t>();
    const auto count = get<std::uint64_t>();
    if (failed_ || got != t || (record_min > 0 && count > left() / record_min)) failed_ = true;
    return failed_ ? 0 : count;
  }
  Lot lot() {
    Lot l;
    l.expires_at_us = get<TimeUs>();
    l.origin = get<std::uint64_t>();
    l.amount = get<std::uint32_t>();
    l.seq_flags = get<std::uint32_t>();
    return l;
  }
  Counters counters() {
    Counters c;
    for (Amount* v : {&c.issued, &c.accrued, &c.spent, &c.expired, &c.refunded, &c.reversed,
                      &c.held, &c.pending, &c.debt, &c.recipients, &c.spenders}) {
      *v = get<Amount>();
    }
    return c;
  }

 private:
  std::string_view in_;
  std::size_t pos_ = 0;
  bool failed_ = false;
};

template <typename T, typename Key>
std::vector<const T*> sorted_by_key(const KeyedTable<T>& table, Key&& key) {
  std::vector<const T*> out;
  table.for_each([&](const T& r) { out.push_back(&r); });
  std::sort(out.begin(), out.end(), [&](const T* a, const T* b) { return key(*a) < key(*b); });
  return out;
}

constexpr std::size_t kHeaderBytes = 8 + 4 + 4 + 8;
constexpr std::size_t kChecksumBytes = 8;

}  // namespace

std::string StateCodec::encode(const Ledger& l) {
  std::string out;
  Writer w(out);
  out.append(kMagic, sizeof(kMagic));
  w.put(kVersion);
  w.put(std::uint32_t{0});
  w.put(l.last_now_);

  const auto sellers = sorted_by_key(l.sellers_, [](const Seller& s) { return s.seller; });
  w.section(kSellers, sellers.size());
  for (const Seller* s : sellers) {
    w.put(s->seller);
    w.put(s->policy.spend_share_bp);
    w.put(std::uint32_t{0});
    w.put(s->policy.balance_max);
    w.put(s->policy.earn_month_max);
    w.put(s->policy.lot_life_us);
    w.counters(s->counters);
  }

  w.section(kAccounts, l.accounts_.size());
  for (std::uint32_t i = 0; i < l.accounts_.size(); ++i) {
    const Account& a = l.accounts_[i];
    w.put(a.seller);
    w.put(a.buyer);
    for (std::uint32_t v : {a.held, a.pending, a.debt, a.earned, a.lot_seq_next, a.sweep_bucket}) {
      w.put(v);
    }
    w.put(a.earned_month);
    w.put(static_cast<std::uint16_t>(a.lot_count()));
    w.put(std::uint32_t{0});
    for (const Lot& lot : a.lots()) w.lot(lot);
  }

  const auto campaigns = sorted_by_key(
      l.campaigns_, [](const Campaign& c) { return std::pair(c.seller, c.campaign); });
  w.section(kCampaigns, campaigns.size());
  for (const Campaign* c : campaigns) {
    w.put(c->seller);
    w.put(c->campaign);
    w.put(std::uint32_t{c->revoked});
    w.put(static_cast<std::uint32_t>(c->recipients.size()));
    w.counters(c->counters);
    for (std::uint32_t i : c->recipients) w.put(i);
  }

  const TimeUs now = l.last_now_;
  std::vector<const HoldOrder*> holds;
  for (const HoldOrder* h : sorted_by_key(l.holds_, [](const HoldOrder& h) { return h.order; })) {
    if (l.hold_live(*h, now)) holds.push_back(h);
  }
  w.section(kHolds, holds.size());
  for (const HoldOrder* h : holds) {
    w.put(h->order);
    w.put(h->seller);
    w.put(h->buyer);
    w.put(h->account);
    w.put(static_cast<std::uint32_t>(h->state));
    w.put(h->goods_total);
    w.put(h->deadline_us);
    w.put(h->finished_us);
    w.put(h->amount);
    w.put(h->captured);
    w.put(h->refunded);
    w.put(static_cast<std::uint64_t>(h->fragments.size()));
    for (const Lot& f : h->fragments) w.lot(f);
  }

  std::vector<const AccrualOrder*> accruals;
  for (const AccrualOrder* a :
       sorted_by_key(l.accruals_, [](const AccrualOrder& a) { return a.order; })) {
    if (l.accrual_live(*a, now)) accruals.push_back(a);
  }
  w.section(kAccruals, accruals.size());
  for (const AccrualOrder* a : accruals) {
    w.put(a->order);
    w.put(a->seller);
    w.put(a->buyer);
    w.put(a->account);
    w.put(std::uint8_t(a->state));
    w.put(std::uint8_t(a->life.kind));
    w.put(std::uint16_t{0});
    w.put(a->life.value);
    w.put(a->finished_us);
    w.put(a->amount);
    w.put(a->credited);
    w.put(a->lot_seq);
    w.put(std::uint32_t{0});
  }

  std::vector<const IdEntry*> ids;
  for (const IdEntry* e :
       sorted_by_key(l.ids_, [](const IdEntry& e) { return std::pair(e.id.hi, e.id.lo); })) {
    if (l.id_live(*e, now)) ids.push_back(e);
  }
  w.section(kIds, ids.size());
  for (const IdEntry* e : ids) {
    w.put(e->id.hi);
    w.put(e->id.lo);
    w.put(e->body_hash);
    w.put(e->time_us);
    w.put(e->result);
  }

  w.section(kTotals, 1);
  w.counters(l.totals_);
  w.put(XXH3_64bits(out.data(), out.size()));
  return out;
}

std::optional<std::string> StateCodec::decode(std::string_view bytes, Ledger& l) {
  if (bytes.size() < kHeaderBytes + kChecksumBytes) return "state: too short to be a state";
  if (std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) != 0) return "state: bad magic";
  const std::string_view body = bytes.substr(0, bytes.size() - kChecksumBytes);
  std::uint64_t checksum = 0;
  std::memcpy(&checksum, bytes.data() + body.size(), sizeof(checksum));
  if (checksum != XXH3_64bits(body.data(), body.size())) return "state: checksum mismatch";

  Reader r(body.substr(sizeof(kMagic)));
  const auto version = r.get<std::uint32_t>();
  if (version != kVersion) {
    return "state: format version " + std::to_string(version) + " is not supported (this build reads " +
           std::to_string(kVersion) + ")";
  }
  r.get<std::uint32_t>();
  l.last_now_ = r.get<TimeUs>();
  auto bad = [](const char* what) { return std::string("state: invalid ") + what; };

  for (std::uint64_t n = r.section(kSellers, 128); n-- > 0;) {
    Seller s;
    s.seller = r.get<SellerId>();
    s.policy.spend_share_bp = r.get<std::uint32_t>();
    r.get<std::uint32_t>();
    s.policy.balance_max = r.get<Amount>();
    s.policy.earn_month_max = r.get<Amount>();
    s.policy.lot_life_us = r.get<TimeUs>();
    s.counters = r.counters();
    if (r.failed() || l.sellers_.find(s.seller) != nullptr || s.policy.spend_share_bp == 0 ||
        s.policy.spend_share_bp > kSpendShareBpMax || s.policy.lot_life_us <= 0) {
      return bad("seller record");
    }
    l.sellers_.insert(s.seller, [&](Seller& into) { into = s; });
  }

  for (std::uint64_t n = r.section(kAccounts, 48); n-- > 0;) {
    const auto seller = r.get<SellerId>();
    const auto buyer = r.get<BuyerId>();
    if (r.failed() || l.accounts_.find(seller, buyer) != AccountTable::kNone ||
        l.accounts_.size() >= UINT32_MAX - 1) {
      return bad("account record");
    }
    const std::uint32_t i = l.accounts_.create(seller, buyer);
    Account& a = l.accounts_[i];
    for (std::uint32_t* v : {&a.held, &a.pending, &a.debt, &a.earned, &a.lot_seq_next,
                             &a.sweep_bucket}) {
      *v = r.get<std::uint32_t>();
    }
    a.earned_month = r.get<std::uint16_t>();
    const auto lot_count = r.get<std::uint16_t>();
    r.get<std::uint32_t>();
    if (r.failed() || lot_count > kAccountLotsMax || lot_count * sizeof(Lot) > r.left()) {
      return bad("account record");
    }
    for (std::uint16_t k = 0; k < lot_count; ++k) {
      const Lot lot = r.lot();
      if (lot.amount == 0 || lot.seq() >= a.lot_seq_next ||
          (a.lot_count() > 0 && !a.lots()[a.lot_count() - 1].before(lot))) {
        return bad("lot");
      }
      a.insert_lot(lot);
    }
    if (a.sweep_bucket != Account::kNoBucket) l.expiry_.restore(a.sweep_bucket, i);
  }

  for (std::uint64_t n = r.section(kCampaigns, 112); n-- > 0;) {
    Campaign c;
    c.seller = r.get<SellerId>();
    c.campaign = r.get<CampaignId>();
    const auto revoked = r.get<std::uint32_t>();
    const auto recipients = r.get<std::uint32_t>();
    c.counters = r.counters();
    if (r.failed() || revoked > 1 || recipients > r.left() / 4 ||
        l.campaigns_.find(c.key()) != nullptr) {
      return bad("campaign record");
    }
    c.revoked = revoked == 1;
    c.recipients.resize(recipients);
    for (std::uint32_t& i : c.recipients) {
      i = r.get<std::uint32_t>();
      if (i >= l.accounts_.size() || l.accounts_[i].seller != c.seller) return bad("campaign recipient");
    }
    l.campaigns_.insert(c.key(), [&](Campaign& into) { into = std::move(c); });
  }

  std::vector<std::pair<TimeUs, OrderId>> finished;
  for (std::uint64_t n = r.section(kHolds, 88); n-- > 0;) {
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
        l.accounts_[h.account].buyer != h.buyer || l.holds_.find(h.order) != nullptr) {
      return bad("hold record");
    }
    h.state = static_cast<HoldOrder::State>(state);
    for (std::uint64_t k = 0; k < fragments; ++k) h.fragments.push_back(r.lot());
    if (h.state == HoldOrder::State::held) {
      if (h.deadline_us != kTimeNever) l.deadlines_.emplace(h.deadline_us, h.order);
    } else {
      finished.emplace_back(h.finished_us, h.order);
    }
    l.holds_.insert(h.order, [&](HoldOrder& into) { into = std::move(h); });
  }
  std::sort(finished.begin(), finished.end());
  l.finished_holds_.assign(finished.begin(), finished.end());

  finished.clear();
  for (std::uint64_t n = r.section(kAccruals, 72); n-- > 0;) {
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
    r.get<std::uint32_t>();
    if (r.failed() || state > 3 || kind > 3 || a.account >= l.accounts_.size() ||
        l.accounts_[a.account].seller != a.seller || l.accounts_[a.account].buyer != a.buyer ||
        l.accruals_.find(a.order) != nullptr) {
      return bad("accrual record");
    }
    a.state = static_cast<AccrualOrder::State>(state);
    if (a.state != AccrualOrder::State::pending) finished.emplace_back(a.finished_us, a.order);
    l.accruals_.insert(a.order, [&](AccrualOrder& into) { into = a; });
  }
  std::sort(finished.begin(), finished.end());
  l.finished_accruals_.assign(finished.begin(), finished.end());

  std::vector<std::pair<TimeUs, Id128>> id_times;
  for (std::uint64_t n = r.section(kIds, 56); n-- > 0;) {
    IdEntry e;
    e.id.hi = r.get<std::uint64_t>();
    e.id.lo = r.get<std::uint64_t>();
    e.body_hash = r.get<std::uint64_t>();
    e.time_us = r.get<TimeUs>();
    e.result = r.get<Result>();
    if (r.failed() || e.id.zero() || l.ids_.find(e.id) != nullptr ||
        static_cast<std::uint16_t>(e.result.code) >= kCodeCount) {
      return bad("id record");
    }
    id_times.emplace_back(e.time_us, e.id);
    l.ids_.insert(e.id, [&](IdEntry& into) { into = e; });
  }
  std::sort(id_times.begin(), id_times.end(), [](const auto& x, const auto& y) {
    return std::tie(x.first, x.second.hi, x.second.lo) < std::tie(y.first, y.second.hi, y.second.lo);
  });
  l.id_times_.assign(id_times.begin(), id_times.end());

  if (r.section(kTotals, 88) != 1) return bad("totals section");
  l.totals_ = r.counters();
  if (r.failed()) return bad("totals section");
  if (r.left() != 0) return "state: " + std::to_string(r.left()) + " unexpected bytes at the end";
  if (auto problem = l.audit()) return "state: loaded state fails audit: " + *problem;
  return std::nullopt;
}

}  // namespace bonus
