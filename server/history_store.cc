#include "server/history_store.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <mutex>

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

void put_be(std::string& out, std::uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}
std::uint64_t get_be(std::string_view in, std::size_t at, int bytes) {
  std::uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | static_cast<unsigned char>(in[at + i]);
  return v;
}

constexpr std::size_t kAccountKeyBytes = 28;
constexpr std::size_t kOrderKeyBytes = 20;
constexpr std::size_t kTimeKeyBytes = 12;

std::string account_prefix(SellerId seller, BuyerId buyer) {
  std::string k;
  put_be(k, seller, 8);
  put_be(k, buyer, 8);
  return k;
}
// Inverted position and index: newest first under a forward cursor.
std::string account_key(const LedgerEvent& e, std::uint64_t position, std::uint32_t index) {
  std::string k = account_prefix(e.seller, e.buyer);
  put_be(k, ~position, 8);
  put_be(k, ~index & 0xFFFF'FFFFu, 4);
  return k;
}
std::string order_prefix(OrderId order) {
  std::string k;
  put_be(k, order, 8);
  return k;
}
std::string order_key(OrderId order, std::uint64_t position, std::uint32_t index) {
  std::string k = order_prefix(order);
  put_be(k, position, 8);
  put_be(k, index, 4);
  return k;
}
std::string time_key(std::uint64_t position, std::uint32_t index) {
  std::string k;
  put_be(k, position, 8);
  put_be(k, index, 4);
  return k;
}

// The "time" database's value: what trimming needs to find the event's other entries.
struct TrimRecord {
  TimeUs time_us = 0;
  SellerId seller = 0;
  BuyerId buyer = 0;
  OrderId order = 0;  // 0: no "order" entry
};
static_assert(sizeof(TrimRecord) == 32 && std::has_unique_object_representations_v<TrimRecord>);

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
  mdb_env_set_maxdbs(store->env_, 4);
  store->map_bytes_max_ = map_bytes_max;
  store->map_bytes_ = std::min(map_bytes_max, std::max(kMapBytesFirst, store->file_bytes() * 2));
  if (auto error = open_lmdb_env(store->env_, dir, store->map_bytes_, "history")) {
    return *error + " (move the directory aside to start a new history)";
  }
  MDB_txn* txn = nullptr;
  if (int rc = mdb_txn_begin(store->env_, nullptr, 0, &txn); rc != 0) return lmdb_error("begin", rc);
  int rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &store->meta_);
  if (rc == 0) rc = mdb_dbi_open(txn, "account", MDB_CREATE, &store->account_);
  if (rc == 0) rc = mdb_dbi_open(txn, "order", MDB_CREATE, &store->order_);
  if (rc == 0) rc = mdb_dbi_open(txn, "time", MDB_CREATE, &store->time_);
  if (rc != 0) {
    mdb_txn_abort(txn);
    return lmdb_error("open databases", rc);
  }
  MDB_val k = val(Meta::kFormat);
  MDB_val v;
  rc = mdb_get(txn, store->meta_, &k, &v);
  if (rc == MDB_NOTFOUND) {
    const std::uint64_t format = kFormatVersion;
    rc = put_u64(txn, store->meta_, Meta::kFormat, format);
  } else if (rc == 0) {
    std::uint64_t format = 0;
    if (v.mv_size == sizeof(format)) std::memcpy(&format, v.mv_data, sizeof(format));
    if (format != kFormatVersion) {
      mdb_txn_abort(txn);
      return "history: " + dir + " has format " + std::to_string(format) + ", this build reads " +
             std::to_string(kFormatVersion) + " (move the directory aside to start a new history)";
    }
  }
  if (rc != 0) {
    mdb_txn_abort(txn);
    return lmdb_error("format", rc);
  }
  if (int c = mdb_txn_commit(txn); c != 0) return lmdb_error("commit", c);
  if (auto error = store->read_info()) return *error;
  return store;
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
  return in_write([&](MDB_txn* txn) -> int {
    for (const HistoryEntry& h : entries) {
      BONUS_ASSERT(h.position > before.position && h.position <= position);
      BONUS_ASSERT(event_valid(h.event));
      const LedgerEvent& e = h.event;
      const std::string ak = account_key(e, h.position, h.index);
      MDB_val k = val(ak);
      MDB_val v = val(bytes_of(e));
      if (int rc = mdb_put(txn, account_, &k, &v, 0); rc != 0) return rc;
      TrimRecord t{e.time_us, e.seller, e.buyer, e.names_order() ? e.ref : 0};
      if (e.names_order()) {
        const std::string ok = order_key(e.ref, h.position, h.index);
        k = val(ok);
        v = val(bytes_of(e));
        if (int rc = mdb_put(txn, order_, &k, &v, 0); rc != 0) return rc;
      }
      const std::string tk = time_key(h.position, h.index);
      k = val(tk);
      v = val(bytes_of(t));
      // Log order: always at the end of the "time" database.
      if (int rc = mdb_put(txn, time_, &k, &v, MDB_APPEND); rc != 0) return rc;
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
    if (int rc = mdb_cursor_open(txn, time_, &cursor); rc != 0) return rc;
    MDB_val k, v;
    int rc = mdb_cursor_get(cursor, &k, &v, MDB_FIRST);
    for (; rc == 0; rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT)) {
      TrimRecord t;
      if (v.mv_size != sizeof(t) || k.mv_size != kTimeKeyBytes) {
        rc = MDB_CORRUPTED;
        break;
      }
      std::memcpy(&t, v.mv_data, sizeof(t));
      if (t.time_us >= before_us) break;
      if (erased == budget) {
        more = true;
        break;
      }
      const std::string_view tk = view(k);
      const std::uint64_t position = get_be(tk, 0, 8);
      const auto index = static_cast<std::uint32_t>(get_be(tk, 8, 4));
      LedgerEvent key_of;
      key_of.seller = t.seller;
      key_of.buyer = t.buyer;
      const std::string ak = account_key(key_of, position, index);
      MDB_val a = val(ak);
      if (int d = mdb_del(txn, account_, &a, nullptr); d != 0 && d != MDB_NOTFOUND) {
        rc = d;
        break;
      }
      if (t.order != 0) {
        const std::string ok = order_key(t.order, position, index);
        MDB_val o = val(ok);
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

std::optional<std::string> HistoryStore::page(MDB_dbi db, std::string_view prefix,
                                              std::string_view first_key, std::uint32_t limit,
                                              HistoryPage& out) const {
  BONUS_ASSERT(limit >= 1 && limit <= kPageEntriesMax);
  out.entries.clear();
  out.done = true;
  out.next = HistoryCursor{};
  out.info = info();
  const bool by_account = prefix.size() == 16;
  return in_read([&](MDB_txn* txn) -> std::optional<std::string> {
    MDB_cursor* cursor = nullptr;
    if (int rc = mdb_cursor_open(txn, db, &cursor); rc != 0) return lmdb_error("cursor", rc);
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
      HistoryEntry h;
      if (key.size() != (by_account ? kAccountKeyBytes : kOrderKeyBytes) ||
          v.mv_size != sizeof(LedgerEvent)) {
        error = "history: a damaged entry (key or value size)";
        break;
      }
      std::memcpy(&h.event, v.mv_data, sizeof(LedgerEvent));
      h.position = get_be(key, prefix.size(), 8);
      h.index = static_cast<std::uint32_t>(get_be(key, prefix.size() + 8, 4));
      if (by_account) {
        h.position = ~h.position;
        h.index = ~h.index;
      }
      if (!event_valid(h.event)) {
        error = "history: a damaged event at position " + std::to_string(h.position);
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
  const std::string prefix = account_prefix(seller, buyer);
  std::string first = prefix;
  if (!from.start()) {
    LedgerEvent e;
    e.seller = seller;
    e.buyer = buyer;
    first = account_key(e, from.position, from.index);
  }
  return page(account_, prefix, first, limit, out);
}

std::optional<std::string> HistoryStore::order_page(OrderId order, HistoryCursor from,
                                                    std::uint32_t limit, HistoryPage& out) const {
  const std::string prefix = order_prefix(order);
  const std::string first = from.start() ? prefix : order_key(order, from.position, from.index);
  return page(order_, prefix, first, limit, out);
}

std::optional<std::string> HistoryStore::count(std::uint64_t& out) const {
  return in_read([&](MDB_txn* txn) -> std::optional<std::string> {
    MDB_stat st;
    if (int rc = mdb_stat(txn, time_, &st); rc != 0) return lmdb_error("stat", rc);
    out = st.ms_entries;
    return std::nullopt;
  });
}

}  // namespace bonus::server
