// StateCodec: the state of a Ledger as bytes, in two shapes that share one record
// format (docs/state-format.md gives both with byte offsets):
//
// - the whole state as one byte string (encode/decode), canonical: two ledgers that
//   answer every query alike encode to the same bytes (records sorted by key; orders
//   and ids past their retention left out), so a hash of it compares two ledgers;
// - one record per key (give_changes, with StateLoader to read them back), for stores
//   that keep a record per key, like the checkpoint's LMDB: keys are big-endian, so
//   byte order is numeric order, and only what changed since the last take is given.
//
// Decoding checks every length, range and cross-reference; a damaged or foreign input
// is refused with a message, never half-loaded.
//
// Stateless; callable from any thread on a Ledger that thread owns.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace bonus {

class Ledger;
namespace state_bytes {
class Writer;
}

// The record tables, in the order records are given and must be loaded.
enum class StateTable : std::uint8_t { sellers, accounts, campaigns, holds, accruals, ids };
inline constexpr std::size_t kStateTableCount = 6;
const char* state_table_name(StateTable table);

// Receives records from StateCodec::give_changes.
class StateSink {
 public:
  virtual ~StateSink() = default;
  virtual void put(StateTable table, std::string_view key, std::string_view value) = 0;
  virtual void erase(StateTable table, std::string_view key) = 0;
};

class StateCodec {
 public:
  // Bytes of the limits block: EngineConfig's seven fields and the count of SetLimits
  // applied, in every header (docs/state-format.md).
  static constexpr std::size_t kLimitsBytes = 8 * 8;
  static constexpr char kMagic[8] = {'B', 'O', 'N', 'U', 'S', 'S', 'T', '1'};
  // 2: campaigns count buyers, accruals keep what they earned, results what expired;
  // the config (limits) is state. 3: both. 4: rates and tiers and month reports in the
  // seller record, purchases in the account record, an accrual's price, a lot's seq_flags
  // keep the credit's reason in bits 29..22 (seq has 22 bits), campaigns their revoked
  // amount and sales. Version 3 still loads (as version 4 with none of these:
  // docs/state-format.md, "Version 3"); other versions are refused by name.
  static constexpr std::uint32_t kVersion = 4;
  static constexpr std::uint32_t kVersionOldest = 3;
  // Bytes of the header record (encode_header).
  static constexpr std::size_t kHeaderBytes = 8 + 8 + 8 * kStateTableCount + 88 + kLimitsBytes;

  static std::string encode(const Ledger& ledger);

  // Loads `bytes` into `ledger`. REQUIRES: `ledger` is freshly constructed.
  // Returns an error message, or nothing on success.
  [[nodiscard]] static std::optional<std::string> decode(std::string_view bytes, Ledger& ledger);

  // The ledger's header record: format version, time of the last write, the number of
  // records in each table, the totals and the limits (config). Written with every batch of changes.
  static std::string encode_header(const Ledger& ledger);

  // Gives `sink` every record changed since the last forget_changes() (or since
  // track_changes()), table by table in StateTable order: first the erased keys, then
  // the changed records, each in ascending key order. The changes are kept until
  // forget_changes(): a store that failed to keep them can be given them again.
  // REQUIRES: ledger.tracking_changes().
  static void give_changes(const Ledger& ledger, StateSink& sink);
  static void forget_changes(Ledger& ledger);

 private:
  static void put_limits(state_bytes::Writer& w, const Ledger& ledger);
};

}  // namespace bonus
