// StateLoader: builds a Ledger from the records of docs/state-format.md, one at a time:
// the header record, then each table's records in StateTable order with keys ascending.
// StateCodec::decode reads the whole-state blob through it, and the checkpoint store
// reads LMDB through it. Every record is checked (length, ranges, references to
// accounts, key order, that the key matches the record) and finish() checks the record
// counts against the header and runs the ledger's audit: a damaged or partial input is
// refused with a message naming the table and key, never half-loaded silently.
//
// Owned by the caller, on the thread that owns the ledger being loaded.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/lot.h"
#include "engine/state_codec.h"
#include "engine/types.h"

namespace bonus {

class Ledger;
namespace state_bytes {
class Reader;
}

class StateLoader {
 public:
  // REQUIRES: `ledger` is freshly constructed and outlives the loader.
  explicit StateLoader(Ledger& ledger);

  [[nodiscard]] std::optional<std::string> header(std::string_view value);
  // A record and its key (as give_changes gave them).
  [[nodiscard]] std::optional<std::string> record(StateTable table, std::string_view key,
                                                  std::string_view value);
  // A hint that `value` of `table` comes soon: brings its index slots into the cache
  // (loading is a stream of independent inserts, each a cache miss otherwise).
  void prefetch(StateTable table, std::string_view value) const;
  // Rebuilds the ledger's derived indexes, checks the counts, audits.
  [[nodiscard]] std::optional<std::string> finish();

  // For StateCodec::decode, which has no header record and no keys: the next record
  // read from `r` (which holds more after it), the time and the totals.
  [[nodiscard]] std::optional<std::string> next(StateTable table, state_bytes::Reader& r);
  void set_last_time(TimeUs last_time_us);
  // The format version of the records (decode reads it from the blob; header() sets it).
  void set_version(std::uint32_t version) { version_ = version; }
  void set_totals_from(state_bytes::Reader& r);
  // The limits block (StateCodec::kLimitsBytes): the ledger's config and its count of
  // SetLimits; an error when the config is out of range (config_valid).
  [[nodiscard]] std::optional<std::string> set_limits_from(state_bytes::Reader& r);

 private:
  // Reads one record of `table` into the ledger; false if it is invalid (problem_ says
  // why when it is more than the record's bytes).
  bool restore(StateTable table, state_bytes::Reader& r);
  // With key_ set to the record's key, before it is inserted: the key is the expected
  // one (if any), the tables come in order and keys ascend within each.
  bool admit(StateTable table);
  // Whether a stored lot (or hold fragment) of the account is valid in the format
  // version being read; a version 3 lot whose seq needs more than 22 bits sets problem_.
  bool lot_fits(const Lot& lot, SellerId seller, BuyerId buyer);
  // Whether the record being read ends where its version 3 layout ended (`r` is at that
  // point): under a version 3 header always; under a version 4 header an LMDB record
  // (whose length is known) written before its checkpoint moved to version 4 and not
  // rewritten since. docs/state-format.md, "Version 3".
  bool ended_as_v3(const state_bytes::Reader& r) const;

  Ledger& ledger_;
  bool have_header_ = false;
  std::uint32_t version_ = StateCodec::kVersion;  // the header's (decode: always current)
  std::uint64_t counts_[kStateTableCount] = {};
  std::uint64_t loaded_[kStateTableCount] = {};
  int table_ = -1;        // of the last record
  std::string last_key_;  // of the last record
  std::string key_;       // the key of the record being restored
  std::optional<std::string_view> expected_key_;  // record(): the key it was stored under
  std::optional<std::string> problem_;
  // Finished orders and ids, by time, for the ledger's retention queues.
  std::vector<std::pair<TimeUs, OrderId>> finished_holds_;
  std::vector<std::pair<TimeUs, OrderId>> finished_accruals_;
  std::vector<std::pair<TimeUs, std::uint32_t>> id_times_[2];  // applied, rejected; index in ids_
};

}  // namespace bonus
