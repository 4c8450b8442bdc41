// Manifest: the settings that change what a command does, kept with the data in
// <data>/manifest, so that the state is a function of the log and not of the flags of
// the day (server/README.md, "The manifest"). It holds the shard count and the engine's
// limits (EngineConfig): as they were at log position 0 (the config a replay from the
// start begins with) and as they are after the last SetLimits the manifest has seen.
//
// The file is 152 bytes, little-endian, checksummed and versioned; it is replaced
// atomically (temporary file, fdatasync, rename, fsync of the directory). Stateless
// functions; any thread (the Server serializes its writes).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "engine/command.h"
#include "engine/ledger_config.h"

namespace bonus::server {

struct Manifest {
  static constexpr char kMagic[8] = {'B', 'O', 'N', 'U', 'S', 'M', 'F', '1'};
  static constexpr std::uint32_t kVersion = 1;
  static constexpr std::size_t kBytes = 8 + 4 + 4 + 8 + 56 + 56 + 8 + 8;
  static constexpr const char* kFileName = "manifest";

  std::uint32_t shards = 0;
  std::uint64_t limits_changes = 0;  // SetLimits applied up to `current`
  EngineConfig initial;              // the limits at log position 0
  EngineConfig current;              // the limits after `limits_changes` SetLimits

  friend bool operator==(const Manifest&, const Manifest&) = default;
};

std::string encode_manifest(const Manifest& manifest);
// The manifest in `bytes`, or a message saying what is wrong (size, magic, version,
// checksum, a value out of range); `path` names the file in it.
std::variant<Manifest, std::string> decode_manifest(std::string_view bytes, const std::string& path);

// Reads <dir>/manifest into `out`; `out` stays empty when there is no such file.
[[nodiscard]] std::optional<std::string> read_manifest(const std::string& dir,
                                                       std::optional<Manifest>& out);
// Replaces <dir>/manifest atomically and durably.
[[nodiscard]] std::optional<std::string> write_manifest(const std::string& dir,
                                                        const Manifest& manifest);

// The bonusd flag of a SetLimits field, for messages: "--ids-max"; for fields without a
// bonusd flag, the bonusctl one ("--order-retention-s").
const char* limit_flag(SetLimits::Field field);
// The field's value in the flag's unit (windows in seconds, shown with a fraction when
// not whole).
std::string limit_value_text(const EngineConfig& config, SetLimits::Field field);
// The flag of the first limit out of range (config_valid), or nullptr when all are in it.
const char* invalid_limit_flag(const EngineConfig& config);
// One line: every limit as name=value.
std::string limits_text(const EngineConfig& config);

// The flags bonusd was given explicitly (`given`: SetLimits::Field bits; `shards_given`)
// against what the data directory stores. An error naming the first flag that differs,
// its value, the stored one and how to change it on purpose; nothing when all agree.
[[nodiscard]] std::optional<std::string> check_flags(const EngineConfig& flags, std::uint32_t given,
                                                     std::uint32_t shards, bool shards_given,
                                                     const Manifest& stored,
                                                     const EngineConfig& stored_limits);

}  // namespace bonus::server
