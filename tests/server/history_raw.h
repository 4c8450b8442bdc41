// Test helpers for the history store's file (docs/history-format.md) through LMDB itself,
// for writing what HistoryStore would not: RawEnv (one write transaction on the file,
// committed when it goes), be() for big-endian key fields, and write_format_1(), which
// writes a history the way bonusd did before format 2. The file must not be open in a
// HistoryStore of this process meanwhile (LMDB allows one environment a file a process).
// Test-thread only.
#pragma once

#include <gtest/gtest.h>
#include <lmdb.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "engine/ledger_event.h"

namespace bonus::server {

class RawEnv {
 public:
  explicit RawEnv(const std::string& dir) {
    EXPECT_EQ(mdb_env_create(&env_), 0);
    mdb_env_set_maxdbs(env_, 5);
    mdb_env_set_mapsize(env_, 1u << 30);
    EXPECT_EQ(mdb_env_open(env_, dir.c_str(), 0, 0600), 0);
    EXPECT_EQ(mdb_txn_begin(env_, nullptr, 0, &txn_), 0);
  }
  ~RawEnv() {
    EXPECT_EQ(mdb_txn_commit(txn_), 0);
    mdb_env_close(env_);
  }
  RawEnv(const RawEnv&) = delete;
  RawEnv& operator=(const RawEnv&) = delete;

  MDB_dbi db(const char* name) {
    MDB_dbi dbi = 0;
    EXPECT_EQ(mdb_dbi_open(txn_, name, MDB_CREATE, &dbi), 0);
    return dbi;
  }
  bool has(const char* name) {
    MDB_dbi dbi = 0;
    return mdb_dbi_open(txn_, name, 0, &dbi) == 0;
  }
  // Empties the database `name` (and deletes it when `remove`).
  void drop(const char* name, bool remove) { EXPECT_EQ(mdb_drop(txn_, db(name), remove ? 1 : 0), 0); }
  void put(MDB_dbi dbi, const std::string& key, const void* value, std::size_t size) {
    MDB_val k{key.size(), const_cast<char*>(key.data())};
    MDB_val v{size, const_cast<void*>(value)};
    ASSERT_EQ(mdb_put(txn_, dbi, &k, &v, 0), 0);
  }
  void del(MDB_dbi dbi, const std::string& key) {
    MDB_val k{key.size(), const_cast<char*>(key.data())};
    ASSERT_EQ(mdb_del(txn_, dbi, &k, nullptr), 0);
  }
  std::uint64_t u64(MDB_dbi dbi, const std::string& key) {
    MDB_val k{key.size(), const_cast<char*>(key.data())};
    MDB_val v;
    std::uint64_t out = 0;
    if (mdb_get(txn_, dbi, &k, &v) == 0 && v.mv_size == sizeof(out)) {
      std::memcpy(&out, v.mv_data, sizeof(out));
    }
    return out;
  }
  // Every event of a format-2 store's "event" database, in log order.
  std::vector<HistoryEntry> events() {
    std::vector<HistoryEntry> out;
    MDB_cursor* cursor = nullptr;
    EXPECT_EQ(mdb_cursor_open(txn_, db("event"), &cursor), 0);
    MDB_val k, v;
    for (int rc = mdb_cursor_get(cursor, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT)) {
      EXPECT_EQ(k.mv_size, 12u);
      EXPECT_EQ(v.mv_size, sizeof(LedgerEvent));
      if (k.mv_size != 12 || v.mv_size != sizeof(LedgerEvent)) break;
      const auto* key = static_cast<const unsigned char*>(k.mv_data);
      HistoryEntry h;
      for (int i = 0; i < 8; ++i) h.position = (h.position << 8) | key[i];
      for (int i = 8; i < 12; ++i) h.index = (h.index << 8) | key[i];
      std::memcpy(&h.event, v.mv_data, sizeof(LedgerEvent));
      out.push_back(h);
    }
    mdb_cursor_close(cursor);
    return out;
  }

 private:
  MDB_env* env_ = nullptr;
  MDB_txn* txn_ = nullptr;
};

inline std::string be(std::uint64_t v, int bytes) {
  std::string out;
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
  return out;
}

// The keys of an event's "account" and "order" entries (the same in formats 1 and 2).
inline std::string account_key_of(const HistoryEntry& h) {
  return be(h.event.seller, 8) + be(h.event.buyer, 8) + be(~h.position, 8) +
         be(~h.index & 0xFFFF'FFFFu, 4);
}
inline std::string order_key_of(const HistoryEntry& h) {
  return be(h.event.ref, 8) + be(h.position, 8) + be(h.index, 4);
}

// A history of format 1, as bonusd wrote it before format 2: the event as the value of
// its "account" (and "order") entry, and a "time" entry for trimming; meta format 1.
inline void write_format_1(RawEnv& raw, const std::vector<HistoryEntry>& events,
                           std::uint64_t position) {
  const MDB_dbi meta = raw.db("meta");
  const MDB_dbi account = raw.db("account");
  const MDB_dbi order = raw.db("order");
  const MDB_dbi time = raw.db("time");
  const std::uint64_t format = 1;
  raw.put(meta, "format", &format, sizeof(format));
  raw.put(meta, "position", &position, sizeof(position));
  for (const HistoryEntry& h : events) {
    const LedgerEvent& e = h.event;
    raw.put(account, account_key_of(h), &e, sizeof(e));
    const std::uint64_t order_ref = e.names_order() ? e.ref : 0;
    if (order_ref != 0) {
      raw.put(order, order_key_of(h), &e, sizeof(e));
    }
    struct {
      TimeUs time_us;
      std::uint64_t seller, buyer, order;
    } trim{e.time_us, e.seller, e.buyer, order_ref};
    raw.put(time, be(h.position, 8) + be(h.index, 4), &trim, sizeof(trim));
  }
}

// Turns a format-2 store (bonusd stopped) back into format 1 with the same events.
inline void downgrade_to_format_1(const std::string& dir) {
  RawEnv raw(dir);
  const std::vector<HistoryEntry> events = raw.events();
  const std::uint64_t position = raw.u64(raw.db("meta"), "position");
  raw.drop("event", true);
  raw.drop("account", false);
  raw.drop("order", false);
  write_format_1(raw, events, position);
}

}  // namespace bonus::server
