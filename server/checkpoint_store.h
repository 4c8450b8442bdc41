// CheckpointStore: the server's checkpoints in LMDB (<data>/checkpoint/data.mdb). It
// keeps every record of every shard's ledger, one LMDB entry per record, and the log
// position the records are consistent with. A checkpoint writes what changed since the
// previous one, in key order, in one write transaction, so it is all there or none of
// it is; loading reads a shard back through StateLoader, checking every record. The
// layout (databases, keys, values, versions) is written down in docs/checkpoint-format.md.
//
// Threads: loads may run on several threads at once (each in its own read transaction,
// MDB_NOTLS); writes come from one thread (the checkpointer's), never while a load runs:
// a write may grow LMDB's map, which needs no transaction open in the process. info()
// changes with each write: read it before the writer starts, or on the writer's thread.
#pragma once

#include <lmdb.h>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "engine/state_codec.h"

namespace bonus {
class Ledger;
}

namespace bonus::server {

// What is in the store: nothing yet, or a checkpoint as of `position`.
struct CheckpointInfo {
  bool present = false;
  std::uint64_t position = 0;  // the last journal record the checkpoint includes
  std::uint32_t shards = 0;
};

struct CheckpointWriteStats {
  std::uint64_t records_put = 0;
  std::uint64_t records_erased = 0;
  std::uint64_t accounts_put = 0;
  std::uint64_t value_bytes = 0;
};

class CheckpointStore {
 public:
  // The store's own format version (meta "format"); the records inside carry the
  // engine's StateCodec::kVersion in each shard header. Other versions are refused.
  static constexpr std::uint32_t kFormatVersion = 1;
  static constexpr std::uint64_t kMapBytesDefault = 1ull << 40;
  static constexpr std::uint32_t kShardsMax = 256;  // LMDB opens every database up front

  using Opened = std::variant<std::unique_ptr<CheckpointStore>, std::string>;
  // Opens (creating when missing) the store in `dir` and reads what it holds.
  // `map_bytes` bounds the file (LMDB's map size, grown on demand up to it).
  // The map starts at `map_bytes_first` or twice the file, whichever is larger.
  static Opened open(const std::string& dir, std::uint64_t map_bytes = kMapBytesDefault,
                     std::uint64_t map_bytes_first = 1ull << 30);
  ~CheckpointStore();
  CheckpointStore(const CheckpointStore&) = delete;
  CheckpointStore& operator=(const CheckpointStore&) = delete;

  const CheckpointInfo& info() const { return info_; }
  const std::string& dir() const { return dir_; }

  // Loads shard `shard` of the checkpoint into `ledger`, freshly constructed. Any
  // thread. An error names the shard, the table and what is wrong.
  [[nodiscard]] std::optional<std::string> load(std::uint32_t shard, Ledger& ledger) const;

  // Writes, in one durable transaction, every record the shards' ledgers changed since
  // the previous write (StateCodec::give_changes), their headers, and `position`; once
  // it is committed, the ledgers forget those changes. On failure nothing of it is in
  // the store and the ledgers keep their changes, so a later write can try again.
  // REQUIRES: ledgers track changes; position >= info().position.
  [[nodiscard]] std::optional<std::string> write(std::uint64_t position,
                                                 std::span<Ledger* const> ledgers,
                                                 CheckpointWriteStats& stats);

  // Bytes of the data file.
  std::uint64_t file_bytes() const;

 private:
  using ShardTables = std::array<MDB_dbi, kStateTableCount>;

  explicit CheckpointStore(std::string dir) : dir_(std::move(dir)) {}
  std::optional<std::string> read_info();
  std::optional<std::string> write_once(std::uint64_t position, std::span<Ledger* const> ledgers,
                                        CheckpointWriteStats& stats, int& rc_out);
  // Opens (creating) the databases of shards [tables_.size(), shards) in `txn`.
  std::optional<std::string> open_shards(MDB_txn* txn, std::uint32_t shards);

  std::string dir_;
  MDB_env* env_ = nullptr;
  MDB_dbi meta_ = 0;
  std::uint64_t map_bytes_ = 0;      // LMDB's map now
  std::uint64_t map_bytes_max_ = 0;  // what it may grow to
  std::vector<ShardTables> tables_;  // per shard; opened at open() or by the first write
  CheckpointInfo info_;
};

}  // namespace bonus::server
