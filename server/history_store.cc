#include "server/history_store.h"

#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <mutex>

#include <spdlog/spdlog.h>

#include "engine/assert.h"
#include "server/lmdb_file.h"
#include "server/private_files.h"

namespace bonus::server {
namespace {

std::string lmdb_error(const char* what, int rc) {
  return std::string("history: ") + what + ": " + mdb_strerror(rc);
}

MDB_val val(std::string_view s) { return MDB_val{s.size(), const_cast<char*>(s.data())}; }
std::string_view view(const MDB_val& v) { return {static_cast<const char*>(v.mv_data), v.mv_size}; }

std::uint64_t get_be(std::string_view in, std::size_t at, int bytes) {
  std::uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | static_cast<unsigned char>(in[at + i]);
  return v;
}

// A key of big-endian fields, up to N bytes, on the stack: LMDB's byte order is then
// their numeric order, and so is operator< (string_view compares as unsigned bytes).
template <std::size_t N>
class Key {
 public:
  Key& put(std::uint64_t v, int bytes) {
    for (int i = bytes - 1; i >= 0; --i) bytes_[size_++] = static_cast<char>((v >> (8 * i)) & 0xFF);
    return *this;
  }
  std::string_view view() const { return {bytes_.data(), size_}; }
  friend bool operator<(const Key& a, const Key& b) { return a.view() < b.view(); }

 private:
  std::array<char, N> bytes_{};
  std::size_t size_ = 0;
};

constexpr std::size_t kAccountKeyBytes = 28;
constexpr std::size_t kOrderKeyBytes = 20;
constexpr std::size_t kEventKeyBytes = 12;
using AccountKey = Key<kAccountKeyBytes>;
using OrderKey = Key<kOrderKeyBytes>;
using EventKey = Key<kEventKeyBytes>;

AccountKey account_prefix(SellerId seller, BuyerId buyer) {
  return AccountKey{}.put(seller, 8).put(buyer, 8);
}
// Inverted position and index: newest first under a forward cursor.
AccountKey account_key(SellerId seller, BuyerId buyer, std::uint64_t position,
                       std::uint32_t index) {
  return account_prefix(seller, buyer).put(~position, 8).put(~index & 0xFFFF'FFFFu, 4);
}
OrderKey order_prefix(OrderId order) { return OrderKey{}.put(order, 8); }
OrderKey order_key(OrderId order, std::uint64_t position, std::uint32_t index) {
  return order_prefix(order).put(position, 8).put(index, 4);
}
EventKey event_key(std::uint64_t position, std::uint32_t index) {
  return EventKey{}.put(position, 8).put(index, 4);
}

// Format 1's "time" value: what trimming needed to find an event's other entries. Read
// only by the upgrade to format 2.
struct TrimRecordV1 {
  TimeUs time_us = 0;
  SellerId seller = 0;
  BuyerId buyer = 0;
  OrderId order = 0;  // 0: no "order" entry
};
static_assert(sizeof(TrimRecordV1) == 32 &&
              std::has_unique_object_representations_v<TrimRecordV1>);

// An index entry's value: none (a pointer all the same, for memcpy's sake).
MDB_val nothing() {
  static char none = 0;
  return MDB_val{0, &none};
}

template <typename T>
std::string_view bytes_of(const T& v) {
  return {reinterpret_cast<const char*>(&v), sizeof(v)};
}

// A stored event, checked on the way out as on the way in.
bool event_valid(const LedgerEvent& e) {
  const auto kind = static_cast<std::uint8_t>(e.kind);
  return kind >= 1 && kind <= LedgerEvent::kKindMax &&
         static_cast<std::uint8_t>(e.ref_kind) <= 2 && e.debt_part <= e.amount &&
         e.expired_part <= e.amount;
}

struct ReadTxn {
  MDB_txn* txn = nullptr;
  ~ReadTxn() {
    if (txn != nullptr) mdb_txn_abort(txn);
  }
};

struct Meta {
  static constexpr const char* kFormat = "format";
  static constexpr const char* kPosition = "position";
  static constexpr const char* kCompleteFrom = "complete_from";
  static constexpr const char* kTrimmedBefore = "trimmed_before_us";
};

int put_u64(MDB_txn* txn, MDB_dbi db, const char* key, std::uint64_t v) {
  MDB_val k = val(key);
  MDB_val d = val(bytes_of(v));
  return mdb_put(txn, db, &k, &d, 0);
}

}  // namespace

HistoryStore::Opened HistoryStore::open(const std::string& dir, std::uint64_t map_bytes_max) {
  if (auto error = create_private_directories(dir)) return "history: " + *error;
  std::unique_ptr<HistoryStore> store(new HistoryStore(dir));
  if (int rc = mdb_env_create(&store->env_); rc != 0) return lmdb_error("mdb_env_create", rc);
  mdb_env_set_maxdbs(store->env_, 5);  // format 1's "time" as well, while upgrading
  store->map_bytes_max_ = map_bytes_max;
  store->map_bytes_ = std::min(map_bytes_max, std::max(kMapBytesFirst, store->file_bytes() * 2));
  if (auto error = open_lmdb_env(store->env_, dir, store->map_bytes_, "history")) {
    return *error + " (move the directory aside to start a new history)";
  }
  MDB_txn* txn = nullptr;
  if (int rc = mdb_txn_begin(store->env_, nullptr, 0, &txn); rc != 0) return lmdb_error("begin", rc);
  int rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &store->meta_);
  if (rc == 0) rc = mdb_dbi_open(txn, "event", MDB_CREATE, &store->event_);
  if (rc == 0) rc = mdb_dbi_open(txn, "account", MDB_CREATE, &store->account_);
  if (rc == 0) rc = mdb_dbi_open(txn, "order", MDB_CREATE, &store->order_);
  if (rc != 0) {
    mdb_txn_abort(txn);
    return lmdb_error("open databases", rc);
  }
  MDB_val k = val(Meta::kFormat);
  MDB_val v;
  rc = mdb_get(txn, store->meta_, &k, &v);
  std::uint64_t format = 0;
  if (rc == 0 && v.mv_size == sizeof(format)) std::memcpy(&format, v.mv_data, sizeof(format));
  if (rc == MDB_NOTFOUND || (rc == 0 && format == 1)) {
    // A new store, or one of format 1 to upgrade: from this commit on a build that reads
    // only format 1 refuses the file, and a "time" database left says the upgrade is not
    // finished (finish_upgrade goes on with it).
    rc = put_u64(txn, store->meta_, Meta::kFormat, kFormatVersion);
  } else if (rc == 0 && format != kFormatVersion) {
    mdb_txn_abort(txn);
    return "history: " + dir + " has format " + std::to_string(format) + ", this build reads " +
           std::to_string(kFormatVersion) + " and upgrades 1" +
           " (move the directory aside to start a new history)";
  }
  if (rc != 0) {
    mdb_txn_abort(txn);
    return lmdb_error("format", rc);
  }
  if (int c = mdb_txn_commit(txn); c != 0) return lmdb_error("commit", c);
  if (auto error = store->finish_upgrade()) return *error;
  if (auto error = store->read_info()) return *error;
  return store;
}

std::optional<std::string> HistoryStore::finish_upgrade() {
  std::uint64_t moved_total = 0;
  for (bool done = false; !done;) {
    std::uint64_t moved = 0;
    std::string damaged;  // what is wrong with the format-1 file, when it is
    auto error = in_write([&](MDB_txn* txn) -> int {
      moved = 0;
      damaged.clear();
      MDB_dbi time = 0;
      int rc = mdb_dbi_open(txn, "time", 0, &time);
      if (rc == MDB_NOTFOUND) {
        done = true;  // format 2 from the start, or upgraded
        return 0;
      }
      if (rc != 0) return rc;
      // Resume after the last event moved: the upgrade is the only writer of "event" until
      // it ends.
      MDB_cursor* events = nullptr;
      MDB_cursor* times = nullptr;
      if (rc = mdb_cursor_open(txn, event_, &events); rc != 0) return rc;
      MDB_val k, v;
      rc = mdb_cursor_get(events, &k, &v, MDB_LAST);
      mdb_cursor_close(events);
      std::string last = rc == 0 ? std::string(view(k)) : std::string();
      if (rc != 0 && rc != MDB_NOTFOUND) return rc;
      if (rc = mdb_cursor_open(txn, time, &times); rc != 0) return rc;
      k = val(last);
      rc = mdb_cursor_get(times, &k, &v, last.empty() ? MDB_FIRST : MDB_SET_RANGE);
      if (rc == 0 && view(k) == last) rc = mdb_cursor_get(times, &k, &v, MDB_NEXT);
      for (; rc == 0 && moved < kUpgradeChunkEvents;
           rc = mdb_cursor_get(times, &k, &v, MDB_NEXT)) {
        TrimRecordV1 t;
        if (k.mv_size != kEventKeyBytes || v.mv_size != sizeof(t)) {
          damaged = "a \"time\" entry of the wrong size";
          rc = MDB_CORRUPTED;
          break;
        }
        std::memcpy(&t, v.mv_data, sizeof(t));
        const std::string_view tk = view(k);
        const std::uint64_t position = get_be(tk, 0, 8);
        const auto index = static_cast<std::uint32_t>(get_be(tk, 8, 4));
        const AccountKey ak = account_key(t.seller, t.buyer, position, index);
        MDB_val a = val(ak.view());
        MDB_val e;
        rc = mdb_get(txn, account_, &a, &e);
        // Format 1 wrote an event's entries in one transaction and trimmed them together:
        // one missing is damage, never the end of the table.
        if (rc == MDB_NOTFOUND || (rc == 0 && e.mv_size != sizeof(LedgerEvent))) {
          damaged = "the event at position " + std::to_string(position) + " index " +
                    std::to_string(index) + " has no \"account\" entry of an event's size";
          rc = MDB_CORRUPTED;
        }
        if (rc != 0) break;
        MDB_val empty = nothing();
        if (rc = mdb_put(txn, event_, &k, &e, MDB_APPEND); rc != 0) break;
        if (rc = mdb_put(txn, account_, &a, &empty, 0); rc != 0) break;
        if (t.order != 0) {
          const OrderKey ok = order_key(t.order, position, index);
          MDB_val o = val(ok.view());
          if (rc = mdb_put(txn, order_, &o, &empty, 0); rc != 0) break;
        }
        ++moved;
      }
      mdb_cursor_close(times);
      if (rc == MDB_NOTFOUND) {
        done = true;
        return mdb_drop(txn, time, 1);
      }
      return rc;
    });
    if (error) {
      return "history: upgrading " + dir_ + " from format 1 to " +
             std::to_string(kFormatVersion) + ": " + (damaged.empty() ? *error : damaged) +
             " (after " +
             std::to_string(moved_total) +
             " events; move the directory aside to start a new history)";
    }
    moved_total += moved;
  }
  if (moved_total > 0) {
    spdlog::info("history: {} upgraded from format 1 to {}: {} events", dir_, kFormatVersion,
                 moved_total);
  }
  return std::nullopt;
}

HistoryStore::~HistoryStore() {
  if (env_ != nullptr) mdb_env_close(env_);
}

std::uint64_t HistoryStore::file_bytes() const { return lmdb_file_bytes(dir_); }

HistoryInfo HistoryStore::info() const {
  std::shared_lock lock(info_mutex_);
  return info_;
}

template <typename F>
std::optional<std::string> HistoryStore::in_read(F&& body) const {
  std::shared_lock grow(grow_mutex_);
  ReadTxn r;
  if (int rc = mdb_txn_begin(env_, nullptr, MDB_RDONLY, &r.txn); rc != 0) {
    return lmdb_error("begin", rc);
  }
  return body(r.txn);
}

std::optional<std::string> HistoryStore::read_info() {
  HistoryInfo info;
  auto error = in_read([&](MDB_txn* txn) -> std::optional<std::string> {
    auto get = [&](const char* key, std::uint64_t& out) -> std::optional<std::string> {
      MDB_val k = val(key);
      MDB_val v;
      const int rc = mdb_get(txn, meta_, &k, &v);
      if (rc == MDB_NOTFOUND) return std::nullopt;
      if (rc != 0) return lmdb_error(key, rc);
      if (v.mv_size != sizeof(out)) return "history: meta " + std::string(key) + " is damaged";
      std::memcpy(&out, v.mv_data, sizeof(out));
      return std::nullopt;
    };
    std::uint64_t trimmed = 0;
    if (auto e = get(Meta::kPosition, info.position)) return e;
    if (auto e = get(Meta::kCompleteFrom, info.complete_from)) return e;
    if (auto e = get(Meta::kTrimmedBefore, trimmed)) return e;
    info.trimmed_before_us = static_cast<TimeUs>(trimmed);
    return std::nullopt;
  });
  if (error) return error;
  std::unique_lock lock(info_mutex_);
  info_ = info;
  return std::nullopt;
}

template <typename F>
std::optional<std::string> HistoryStore::in_write(F&& body) {
  for (int attempt = 0;; ++attempt) {
    MDB_txn* txn = nullptr;
    if (int rc = mdb_txn_begin(env_, nullptr, 0, &txn); rc != 0) return lmdb_error("begin", rc);
    int rc = body(txn);
    if (rc == 0) {
      rc = mdb_txn_commit(txn);
    } else {
      mdb_txn_abort(txn);
    }
    if (rc == 0) return read_info();
    if (rc != MDB_MAP_FULL || attempt > 0 || map_bytes_ >= map_bytes_max_) {
      return lmdb_error(rc == MDB_MAP_FULL ? "map full (the history bound)" : "write", rc);
    }
    std::unique_lock grow(grow_mutex_);
    map_bytes_ = std::min(map_bytes_max_, map_bytes_ * 2);
    if (int g = mdb_env_set_mapsize(env_, map_bytes_); g != 0) return lmdb_error("map size", g);
  }
}

std::optional<std::string> HistoryStore::write(std::span<const HistoryEntry> entries,
                                               std::uint64_t position) {
  const HistoryInfo before = info();
  // Each event is stored once, appended in log order; the indexes' keys go in sorted, so
  // that a flush walks each index's pages once in order rather than at random.
  std::vector<AccountKey> accounts;
  std::vector<OrderKey> orders;
  accounts.reserve(entries.size());
  for (const HistoryEntry& h : entries) {
    BONUS_ASSERT(h.position > before.position && h.position <= position);
    BONUS_ASSERT(event_valid(h.event));
    const LedgerEvent& e = h.event;
    accounts.push_back(account_key(e.seller, e.buyer, h.position, h.index));
    if (e.names_order()) orders.push_back(order_key(e.ref, h.position, h.index));
  }
  std::sort(accounts.begin(), accounts.end());
  std::sort(orders.begin(), orders.end());
  return in_write([&](MDB_txn* txn) -> int {
    for (const HistoryEntry& h : entries) {
      const EventKey ek = event_key(h.position, h.index);
      MDB_val k = val(ek.view());
      MDB_val v = val(bytes_of(h.event));
      if (int rc = mdb_put(txn, event_, &k, &v, MDB_APPEND); rc != 0) return rc;
    }
    MDB_val empty = nothing();
    for (const AccountKey& ak : accounts) {
      MDB_val k = val(ak.view());
      if (int rc = mdb_put(txn, account_, &k, &empty, 0); rc != 0) return rc;
    }
    for (const OrderKey& ok : orders) {
      MDB_val k = val(ok.view());
      if (int rc = mdb_put(txn, order_, &k, &empty, 0); rc != 0) return rc;
    }
    return put_u64(txn, meta_, Meta::kPosition, position);
  });
}

std::optional<std::string> HistoryStore::mark_gap(std::uint64_t complete_from) {
  return in_write([&](MDB_txn* txn) -> int {
    if (int rc = put_u64(txn, meta_, Meta::kCompleteFrom, complete_from); rc != 0) return rc;
    const std::uint64_t position = std::max(info().position, complete_from - 1);
    return put_u64(txn, meta_, Meta::kPosition, position);
  });
}

std::optional<std::string> HistoryStore::trim(TimeUs before_us, std::uint32_t budget,
                                              std::uint64_t& erased, bool& more) {
  erased = 0;
  more = false;
  return in_write([&](MDB_txn* txn) -> int {
    erased = 0;
    more = false;
    MDB_cursor* cursor = nullptr;
    if (int rc = mdb_cursor_open(txn, event_, &cursor); rc != 0) return rc;
    MDB_val k, v;
    int rc = mdb_cursor_get(cursor, &k, &v, MDB_FIRST);
    for (; rc == 0; rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT)) {
      LedgerEvent e;
      if (v.mv_size != sizeof(e) || k.mv_size != kEventKeyBytes) {
        rc = MDB_CORRUPTED;
        break;
      }
      std::memcpy(&e, v.mv_data, sizeof(e));
      if (e.time_us >= before_us) break;
      if (erased == budget) {
        more = true;
        break;
      }
      const std::string_view ek = view(k);
      const std::uint64_t position = get_be(ek, 0, 8);
      const auto index = static_cast<std::uint32_t>(get_be(ek, 8, 4));
      const AccountKey ak = account_key(e.seller, e.buyer, position, index);
      MDB_val a = val(ak.view());
      if (int d = mdb_del(txn, account_, &a, nullptr); d != 0 && d != MDB_NOTFOUND) {
        rc = d;
        break;
      }
      if (e.names_order()) {
        const OrderKey ok = order_key(e.ref, position, index);
        MDB_val o = val(ok.view());
        if (int d = mdb_del(txn, order_, &o, nullptr); d != 0 && d != MDB_NOTFOUND) {
          rc = d;
          break;
        }
      }
      if (int d = mdb_cursor_del(cursor, 0); d != 0) {
        rc = d;
        break;
      }
      ++erased;
    }
    mdb_cursor_close(cursor);
    if (rc != 0 && rc != MDB_NOTFOUND) return rc;
    // Only once every older event is gone: then nothing before it is left.
    if (more) return 0;
    return put_u64(txn, meta_, Meta::kTrimmedBefore, static_cast<std::uint64_t>(before_us));
  });
}

std::optional<std::string> HistoryStore::page(MDB_dbi index, std::string_view prefix,
                                              std::string_view first_key, std::uint32_t limit,
                                              HistoryPage& out) const {
  BONUS_ASSERT(limit >= 1 && limit <= kPageEntriesMax);
  out.entries.clear();
  out.done = true;
  out.next = HistoryCursor{};
  out.info = info();
  const bool by_account = index == account_;
  return in_read([&](MDB_txn* txn) -> std::optional<std::string> {
    MDB_cursor* cursor = nullptr;
    if (int rc = mdb_cursor_open(txn, index, &cursor); rc != 0) return lmdb_error("cursor", rc);
    MDB_val k = val(first_key);
    MDB_val v;
    int rc = mdb_cursor_get(cursor, &k, &v, MDB_SET_RANGE);
    // The resume key itself was on the last page: skip it.
    if (rc == 0 && view(k) == first_key && first_key.size() > prefix.size()) {
      rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT);
    }
    std::optional<std::string> error;
    for (; rc == 0; rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT)) {
      const std::string_view key = view(k);
      if (key.substr(0, prefix.size()) != prefix) break;
      if (out.entries.size() == limit) {
        out.done = false;
        break;
      }
      if (key.size() != (by_account ? kAccountKeyBytes : kOrderKeyBytes) || v.mv_size != 0) {
        error = "history: a damaged index entry (key or value size)";
        break;
      }
      HistoryEntry h;
      h.position = get_be(key, prefix.size(), 8);
      h.index = static_cast<std::uint32_t>(get_be(key, prefix.size() + 8, 4));
      if (by_account) {
        h.position = ~h.position;
        h.index = ~h.index;
      }
      const EventKey ek = event_key(h.position, h.index);
      MDB_val ekv = val(ek.view());
      MDB_val ev;
      rc = mdb_get(txn, event_, &ekv, &ev);
      auto where = [&] {
        return " at position " + std::to_string(h.position) + " index " + std::to_string(h.index);
      };
      if (rc == MDB_NOTFOUND) {
        error = "history: an index names a missing event" + where();
        break;
      }
      if (rc != 0) break;
      if (ev.mv_size == sizeof(LedgerEvent)) std::memcpy(&h.event, ev.mv_data, sizeof(LedgerEvent));
      // The event must be valid and be the one its index entry says it is.
      const bool belongs = by_account
                               ? account_prefix(h.event.seller, h.event.buyer).view() == prefix
                               : h.event.names_order() && order_prefix(h.event.ref).view() == prefix;
      if (ev.mv_size != sizeof(LedgerEvent) || !event_valid(h.event) || !belongs) {
        error = "history: a damaged event" + where();
        break;
      }
      out.next = HistoryCursor{h.position, h.index};
      out.entries.push_back(h);
    }
    mdb_cursor_close(cursor);
    if (error) return error;
    if (rc != 0 && rc != MDB_NOTFOUND) return lmdb_error("read", rc);
    return std::nullopt;
  });
}

std::optional<std::string> HistoryStore::account_page(SellerId seller, BuyerId buyer,
                                                      HistoryCursor from, std::uint32_t limit,
                                                      HistoryPage& out) const {
  const AccountKey prefix = account_prefix(seller, buyer);
  const AccountKey first =
      from.start() ? prefix : account_key(seller, buyer, from.position, from.index);
  return page(account_, prefix.view(), first.view(), limit, out);
}

std::optional<std::string> HistoryStore::order_page(OrderId order, HistoryCursor from,
                                                    std::uint32_t limit, HistoryPage& out) const {
  const OrderKey prefix = order_prefix(order);
  const OrderKey first = from.start() ? prefix : order_key(order, from.position, from.index);
  return page(order_, prefix.view(), first.view(), limit, out);
}

std::optional<std::string> HistoryStore::count(std::uint64_t& out) const {
  return in_read([&](MDB_txn* txn) -> std::optional<std::string> {
    MDB_stat st;
    if (int rc = mdb_stat(txn, event_, &st); rc != 0) return lmdb_error("stat", rc);
    out = st.ms_entries;
    return std::nullopt;
  });
}

}  // namespace bonus::server
