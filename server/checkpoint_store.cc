#include "server/checkpoint_store.h"

#include <sys/stat.h>
#include <xxhash.h>

#include <cstring>
#include <filesystem>

#include "engine/ledger.h"
#include "engine/state_loader.h"
#include "server/lmdb_file.h"
#include "server/private_files.h"

namespace bonus::server {
namespace {

constexpr const char* kTableNames[kStateTableCount] = {"sellers",  "accounts", "campaigns",
                                                      "holds",    "accruals", "ids"};
constexpr std::size_t kChecksumBytes = 4;

std::string lmdb_error(const char* what, int rc) {
  return std::string("checkpoint: ") + what + ": " + mdb_strerror(rc);
}

MDB_val val(std::string_view s) { return MDB_val{s.size(), const_cast<char*>(s.data())}; }
std::string_view view(const MDB_val& v) { return {static_cast<const char*>(v.mv_data), v.mv_size}; }

// The value's checksum: low 32 bits of XXH3-64 of the value, seeded with XXH3-64 of the
// key seeded with the shard, so a damaged value and a value under another key or in
// another shard's database are all caught.
std::uint32_t checksum(std::uint32_t shard, std::string_view key, std::string_view value) {
  const std::uint64_t seed = XXH3_64bits_withSeed(key.data(), key.size(), shard);
  return static_cast<std::uint32_t>(XXH3_64bits_withSeed(value.data(), value.size(), seed));
}

void seal(std::uint32_t shard, std::string_view key, std::string& value) {
  const std::uint32_t sum = checksum(shard, key, value);
  value.append(reinterpret_cast<const char*>(&sum), sizeof(sum));
}

// The value without its checksum, or nullopt when the checksum does not match.
std::optional<std::string_view> unseal(std::uint32_t shard, std::string_view key,
                                       std::string_view value) {
  if (value.size() < kChecksumBytes) return std::nullopt;
  const std::string_view body = value.substr(0, value.size() - kChecksumBytes);
  std::uint32_t sum = 0;
  std::memcpy(&sum, value.data() + body.size(), sizeof(sum));
  if (sum != checksum(shard, key, body)) return std::nullopt;
  return body;
}

std::string header_key(std::uint32_t shard) { return "header." + std::to_string(shard); }

std::string table_name(std::uint32_t shard, std::size_t table) {
  return std::string(kTableNames[table]) + "." + std::to_string(shard);
}

template <typename T>
std::string fixed(T v) {
  return std::string(reinterpret_cast<const char*>(&v), sizeof(v));
}

// Read transaction, aborted when it goes out of scope.
struct ReadTxn {
  MDB_txn* txn = nullptr;
  ~ReadTxn() {
    if (txn != nullptr) mdb_txn_abort(txn);
  }
};

// Puts a shard's changed records into its databases in the write transaction. Keys
// come in ascending order per table; those past the database's last key go in with
// MDB_APPEND, which fills pages instead of splitting them in half.
class LmdbSink : public StateSink {
 public:
  LmdbSink(MDB_txn* txn, const std::array<MDB_dbi, kStateTableCount>& tables, std::uint32_t shard,
           CheckpointWriteStats& stats)
      : txn_(txn), tables_(tables), shard_(shard), stats_(stats) {
    for (std::size_t t = 0; t < kStateTableCount && !error; ++t) {
      MDB_cursor* cursor = nullptr;
      int rc = mdb_cursor_open(txn_, tables_[t], &cursor);
      MDB_val k;
      MDB_val v;
      if (rc == 0) rc = mdb_cursor_get(cursor, &k, &v, MDB_LAST);
      if (rc == 0) last_[t].assign(view(k));
      if (rc != 0 && rc != MDB_NOTFOUND) error = lmdb_error("last key", rc);
      if (cursor != nullptr) mdb_cursor_close(cursor);
    }
  }

  void put(StateTable table, std::string_view key, std::string_view value) override {
    if (error) return;
    const auto t = static_cast<std::size_t>(table);
    value_.assign(value);
    seal(shard_, key, value_);
    MDB_val k = val(key);
    MDB_val v = val(value_);
    const bool append = last_[t].empty() || key > std::string_view(last_[t]);
    if (int rc = mdb_put(txn_, tables_[t], &k, &v, append ? MDB_APPEND : 0); rc != 0) {
      error = lmdb_error("put", rc);
      error_rc = rc;
      return;
    }
    if (append) last_[t].assign(key);
    ++stats_.records_put;
    if (table == StateTable::accounts) ++stats_.accounts_put;
    stats_.value_bytes += value_.size();
  }

  void erase(StateTable table, std::string_view key) override {
    if (error) return;
    MDB_val k = val(key);
    const int rc = mdb_del(txn_, tables_[static_cast<int>(table)], &k, nullptr);
    if (rc != 0 && rc != MDB_NOTFOUND) {
      error = lmdb_error("delete", rc);
      error_rc = rc;
      return;
    }
    ++stats_.records_erased;
  }

  std::optional<std::string> error;
  int error_rc = 0;

 private:
  MDB_txn* txn_;
  const std::array<MDB_dbi, kStateTableCount>& tables_;
  std::uint32_t shard_;
  CheckpointWriteStats& stats_;
  std::string last_[kStateTableCount];  // each database's last key
  std::string value_;
};

}  // namespace

CheckpointStore::Opened CheckpointStore::open(const std::string& dir, std::uint64_t map_bytes,
                                              std::uint64_t map_bytes_first) {
  if (auto error = create_private_directories(dir)) return "checkpoint: " + *error;
  std::unique_ptr<CheckpointStore> store(new CheckpointStore(dir));
  if (int rc = mdb_env_create(&store->env_); rc != 0) return lmdb_error("mdb_env_create", rc);
  mdb_env_set_maxdbs(store->env_, kStateTableCount * kShardsMax + 1);
  // The map starts at twice the file (at least map_bytes_first) and grows when a checkpoint needs
  // more, up to `map_bytes`: reserving the whole bound up front fails where address
  // space is limited (sanitizers, ulimit -v).
  store->map_bytes_max_ = map_bytes;
  store->map_bytes_ = std::min(map_bytes, std::max(map_bytes_first, store->file_bytes() * 2));
  if (auto error = open_lmdb_env(store->env_, dir, store->map_bytes_, "checkpoint")) return *error;
  MDB_txn* txn = nullptr;
  if (int rc = mdb_txn_begin(store->env_, nullptr, 0, &txn); rc != 0) {
    return lmdb_error("begin", rc);
  }
  if (int rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &store->meta_); rc != 0) {
    mdb_txn_abort(txn);
    return lmdb_error("open meta", rc);
  }
  if (int rc = mdb_txn_commit(txn); rc != 0) return lmdb_error("commit", rc);
  if (auto error = store->read_info()) return *error;
  if (store->info_.present) {
    // Every shard's databases now, so that loads on several threads need not open any.
    if (int rc = mdb_txn_begin(store->env_, nullptr, 0, &txn); rc != 0) {
      return lmdb_error("begin", rc);
    }
    if (auto error = store->open_shards(txn, store->info_.shards)) {
      mdb_txn_abort(txn);
      return *error;
    }
    if (int rc = mdb_txn_commit(txn); rc != 0) return lmdb_error("commit", rc);
  }
  return store;
}

std::optional<std::string> CheckpointStore::open_shards(MDB_txn* txn, std::uint32_t shards) {
  for (auto s = static_cast<std::uint32_t>(tables_.size()); s < shards; ++s) {
    ShardTables tables{};
    for (std::size_t t = 0; t < kStateTableCount; ++t) {
      if (int rc = mdb_dbi_open(txn, table_name(s, t).c_str(), MDB_CREATE, &tables[t]); rc != 0) {
        return lmdb_error(("open " + table_name(s, t)).c_str(), rc);
      }
    }
    tables_.push_back(tables);
  }
  return std::nullopt;
}

CheckpointStore::~CheckpointStore() {
  if (env_ != nullptr) mdb_env_close(env_);
}

std::optional<std::string> CheckpointStore::read_info() {
  ReadTxn r;
  if (int rc = mdb_txn_begin(env_, nullptr, MDB_RDONLY, &r.txn); rc != 0) {
    return lmdb_error("begin", rc);
  }
  auto get = [&](const char* name, MDB_val& out) {
    MDB_val k = val(name);
    return mdb_get(r.txn, meta_, &k, &out);
  };
  MDB_val format;
  int rc = get("format", format);
  if (rc == MDB_NOTFOUND) {
    info_ = {};
    return std::nullopt;  // an empty store: no checkpoint yet
  }
  if (rc != 0) return lmdb_error("read meta", rc);
  std::uint32_t version = 0;
  if (format.mv_size != sizeof(version)) return "checkpoint: meta \"format\" is damaged";
  std::memcpy(&version, format.mv_data, sizeof(version));
  if (version != kFormatVersion) {
    return "checkpoint: " + dir_ + " has format version " + std::to_string(version) +
           "; this build reads version " + std::to_string(kFormatVersion) +
           " (start the build that wrote it, or move the directory away to rebuild from a "
           "full journal)";
  }
  MDB_val position;
  MDB_val shards;
  if (get("position", position) != 0 || position.mv_size != 8 || get("shards", shards) != 0 ||
      shards.mv_size != 4) {
    return "checkpoint: meta \"position\" or \"shards\" is missing or damaged";
  }
  info_.present = true;
  std::memcpy(&info_.position, position.mv_data, 8);
  std::memcpy(&info_.shards, shards.mv_data, 4);
  if (info_.shards == 0 || info_.shards > kShardsMax) {
    return "checkpoint: meta says " + std::to_string(info_.shards) + " shards";
  }
  return std::nullopt;
}

std::optional<std::string> CheckpointStore::load(std::uint32_t shard, Ledger& ledger) const {
  const std::string where = "checkpoint shard " + std::to_string(shard) + ": ";
  ReadTxn r;
  if (int rc = mdb_txn_begin(env_, nullptr, MDB_RDONLY, &r.txn); rc != 0) {
    return lmdb_error("begin", rc);
  }
  StateLoader loader(ledger);
  const std::string hkey = header_key(shard);
  MDB_val k = val(hkey);
  MDB_val v;
  if (int rc = mdb_get(r.txn, meta_, &k, &v); rc != 0) {
    return where + "no header record (" + mdb_strerror(rc) + ")";
  }
  const auto header = unseal(shard, hkey, view(v));
  if (!header) return where + "header record fails its checksum";
  if (auto error = loader.header(*header)) return where + *error;
  if (shard >= tables_.size()) return where + "no such shard in the checkpoint";

  for (std::size_t t = 0; t < kStateTableCount; ++t) {
    MDB_cursor* cursor = nullptr;
    if (int rc = mdb_cursor_open(r.txn, tables_[shard][t], &cursor); rc != 0) {
      return lmdb_error("cursor", rc);
    }
    // A window of records read ahead: the views stay valid for the transaction, and the
    // loader prefetches each record's index slots kAhead records before inserting it,
    // so the cache misses overlap instead of coming one after another.
    constexpr std::size_t kAhead = 32;
    std::pair<std::string_view, std::string_view> window[kAhead];
    const auto table = static_cast<StateTable>(t);
    std::optional<std::string> error;
    std::size_t read = 0;
    std::size_t done = 0;
    int rc = mdb_cursor_get(cursor, &k, &v, MDB_FIRST);
    while (!error && (rc == 0 || done < read)) {
      if (rc == 0 && read - done < kAhead) {
        window[read++ % kAhead] = {view(k), view(v)};
        loader.prefetch(table, view(v));
        rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT);
        continue;
      }
      const auto& [key, value] = window[done++ % kAhead];
      const auto body = unseal(shard, key, value);
      if (!body) {
        error = where + kTableNames[t] + " record fails its checksum";
      } else if ((error = loader.record(table, key, *body))) {
        *error = where + *error;
      }
    }
    mdb_cursor_close(cursor);
    if (error) return error;
    if (rc != 0 && rc != MDB_NOTFOUND) return where + lmdb_error(kTableNames[t], rc);
  }
  if (auto error = loader.finish()) return where + *error;
  return std::nullopt;
}

std::optional<std::string> CheckpointStore::write(std::uint64_t position,
                                                  std::span<Ledger* const> ledgers,
                                                  CheckpointWriteStats& stats) {
  for (;;) {
    CheckpointWriteStats attempt;
    int rc = 0;
    auto error = write_once(position, ledgers, attempt, rc);
    if (!error) {
      stats = attempt;
      return std::nullopt;
    }
    // The map is grown on demand: nothing of the attempt is in the store, and the ledgers
    // still hold their changes, so it can simply be made again.
    if (rc != MDB_MAP_FULL || map_bytes_ >= map_bytes_max_) return error;
    map_bytes_ = std::min(map_bytes_max_, map_bytes_ * 2);
    if (int grown = mdb_env_set_mapsize(env_, map_bytes_); grown != 0) {
      return lmdb_error("map size", grown);
    }
  }
}

std::optional<std::string> CheckpointStore::write_once(std::uint64_t position,
                                                       std::span<Ledger* const> ledgers,
                                                       CheckpointWriteStats& stats, int& rc_out) {
  MDB_txn* txn = nullptr;
  if (int rc = mdb_txn_begin(env_, nullptr, 0, &txn); rc != 0) {
    rc_out = rc;
    return lmdb_error("begin", rc);
  }
  auto put_meta = [&](const std::string& key, std::string value) {
    MDB_val k = val(key);
    MDB_val v = val(value);
    return mdb_put(txn, meta_, &k, &v, 0);
  };
  std::optional<std::string> error = open_shards(txn, static_cast<std::uint32_t>(ledgers.size()));
  for (std::uint32_t s = 0; s < ledgers.size() && !error; ++s) {
    LmdbSink sink(txn, tables_[s], s, stats);
    StateCodec::give_changes(*ledgers[s], sink);
    error = sink.error;
    rc_out = sink.error_rc;
    if (error) break;
    const std::string key = header_key(s);
    std::string header = StateCodec::encode_header(*ledgers[s]);
    seal(s, key, header);
    if (int rc = put_meta(key, std::move(header)); rc != 0) {
      error = lmdb_error("put header", rc);
      rc_out = rc;
    }
  }
  if (!error) {
    int rc = put_meta("position", fixed(position));
    if (rc == 0) rc = put_meta("shards", fixed(static_cast<std::uint32_t>(ledgers.size())));
    if (rc == 0) rc = put_meta("format", fixed(kFormatVersion));
    if (rc != 0) {
      error = lmdb_error("put meta", rc);
      rc_out = rc;
    }
  }
  if (error) {
    mdb_txn_abort(txn);
    // Handles opened in an aborted transaction are closed with it.
    tables_.resize(std::min<std::size_t>(tables_.size(), info_.present ? info_.shards : 0));
    return error;
  }
  if (int rc = mdb_txn_commit(txn); rc != 0) {
    rc_out = rc;
    return lmdb_error("commit", rc);
  }
  for (Ledger* ledger : ledgers) StateCodec::forget_changes(*ledger);
  info_ = CheckpointInfo{true, position, static_cast<std::uint32_t>(ledgers.size())};
  return std::nullopt;
}

std::uint64_t CheckpointStore::file_bytes() const { return lmdb_file_bytes(dir_); }

}  // namespace bonus::server
