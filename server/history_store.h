// HistoryStore: the ledger's events (engine/ledger_event.h), for statements, in their
// own LMDB environment (<data>/history/data.mdb), apart from the checkpoint so that a
// statement read never contends with a checkpoint's write and history can be turned off
// or moved aside alone. Written by the checkpointer from its replicas; read by the history
// reader's thread (server/history_reader.h). Layout, format 2 (docs/history-format.md):
//   "event":   position BE8 | index BE4                            -> LedgerEvent
//              (each event once, appended in log order, which is time order: trimming
//              walks it from the start)
//   "account": seller BE8 | buyer BE8 | ~position BE8 | ~index BE4  -> nothing
//              (a forward cursor gives an account's events newest first: one range read,
//              then each event looked up in "event")
//   "order":   order BE8 | position BE8 | index BE4                -> nothing
//              (events whose ref is an order, oldest first)
//   "meta":    format, position (every event at or below it is written), complete_from
//              (events before it may be missing), trimmed_before_us.
// A store of format 1 (the event in "account" and "order", a "time" table for trimming) is
// upgraded in place when opened.
// An event is identified by (position, index): the journal position of the command that
// made it and its place among that command's events (over every replica, in shard
// order). Replay makes the same events, so a restart skips those at or below `position`.
//
// Threads: writes (write, trim, mark_gap) from one thread, the checkpointer's; reads from
// any thread, each in its own read transaction. Growing the map needs no transaction
// open in the process: reads hold grow_mutex_ shared, the grow holds it alone.
#pragma once

#include <lmdb.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "engine/ledger_event.h"

namespace bonus::server {

struct HistoryInfo {
  std::uint64_t position = 0;       // every event up to this log position is written
  std::uint64_t complete_from = 0;  // events before this position may be missing (0: none)
  TimeUs trimmed_before_us = 0;     // events before this ledger time were trimmed
};

struct HistoryPage {
  std::vector<HistoryEntry> entries;
  HistoryCursor next;  // meaningless when done
  bool done = true;
  HistoryInfo info;    // what the page reflects
};

class HistoryStore {
 public:
  static constexpr std::uint32_t kFormatVersion = 2;
  static constexpr std::uint64_t kMapBytesMax = 1ull << 40;
  static constexpr std::uint64_t kMapBytesFirst = 256ull << 20;
  static constexpr std::uint32_t kPageEntriesMax = 1000;  // a page's bound (limit 0: this)
  // Events moved a transaction by the upgrade from format 1: LMDB's dirty pages stay
  // bounded however large the history.
  static constexpr std::uint64_t kUpgradeChunkEvents = 16'384;

  using Opened = std::variant<std::unique_ptr<HistoryStore>, std::string>;
  // Opens (creating when missing) the store in `dir`, upgrading one of format 1 in place
  // (resumed by the next open if cut off). A store of another format, or a damaged file,
  // is an error naming the directory: bonusd does not start on it.
  static Opened open(const std::string& dir, std::uint64_t map_bytes_max = kMapBytesMax);
  ~HistoryStore();
  HistoryStore(const HistoryStore&) = delete;
  HistoryStore& operator=(const HistoryStore&) = delete;

  // Any thread. As of the last write.
  HistoryInfo info() const;
  const std::string& dir() const { return dir_; }

  // Writes `entries` (each above info().position, in log order) and sets the position to
  // `position`, in one durable transaction. On failure nothing of it is written.
  [[nodiscard]] std::optional<std::string> write(std::span<const HistoryEntry> entries,
                                                 std::uint64_t position);
  // Records that events before `complete_from` may be missing (history was off, or
  // failed, while the checkpoint went past it) and moves the position up to
  // complete_from - 1. Durable.
  [[nodiscard]] std::optional<std::string> mark_gap(std::uint64_t complete_from);
  // Erases up to `budget` of the oldest events whose time is before `before_us`;
  // `erased` says how many went, `more` whether older ones are left. Durable.
  [[nodiscard]] std::optional<std::string> trim(TimeUs before_us, std::uint32_t budget,
                                                std::uint64_t& erased, bool& more);

  // An account's events, newest first, at most `limit` (1..kPageEntriesMax) after `from`.
  [[nodiscard]] std::optional<std::string> account_page(SellerId seller, BuyerId buyer,
                                                        HistoryCursor from, std::uint32_t limit,
                                                        HistoryPage& out) const;
  // An order's events, oldest first, at most `limit` after `from`.
  [[nodiscard]] std::optional<std::string> order_page(OrderId order, HistoryCursor from,
                                                      std::uint32_t limit,
                                                      HistoryPage& out) const;
  // Events in the store (the "event" database's entries). Any thread.
  [[nodiscard]] std::optional<std::string> count(std::uint64_t& out) const;
  std::uint64_t file_bytes() const;

 private:
  explicit HistoryStore(std::string dir) : dir_(std::move(dir)) {}
  [[nodiscard]] std::optional<std::string> read_info();
  // Moves format 1's events into "event", a chunk a transaction, and drops "time".
  [[nodiscard]] std::optional<std::string> finish_upgrade();
  // Runs `body` in a write transaction and commits; on MDB_MAP_FULL grows the map and
  // runs it once more.
  template <typename F>
  [[nodiscard]] std::optional<std::string> in_write(F&& body);
  template <typename F>
  [[nodiscard]] std::optional<std::string> in_read(F&& body) const;
  // A page of `index` ("account" or "order"), each entry's event read from "event".
  [[nodiscard]] std::optional<std::string> page(MDB_dbi index, std::string_view prefix,
                                                std::string_view first_key, std::uint32_t limit,
                                                HistoryPage& out) const;

  std::string dir_;
  MDB_env* env_ = nullptr;
  MDB_dbi meta_ = 0, event_ = 0, account_ = 0, order_ = 0;
  std::uint64_t map_bytes_ = 0;
  std::uint64_t map_bytes_max_ = 0;
  mutable std::shared_mutex grow_mutex_;
  mutable std::shared_mutex info_mutex_;
  HistoryInfo info_;  // guarded by info_mutex_
};

}  // namespace bonus::server
