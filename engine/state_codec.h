// StateCodec: the whole state of a Ledger as bytes and back, exactly. This is the
// engine-level record format that checkpoints store; docs/state-format.md gives the
// layout with byte offsets.
//
// Encoding is canonical: two ledgers that answer every query alike encode to the same
// bytes (records are sorted by key; orders and ids past their retention are left out),
// so a hash of the encoding compares two ledgers. Decoding checks every length, range
// and cross-reference and the trailing checksum; a damaged or foreign input is refused
// with a message, never half-loaded.
//
// Stateless; callable from any thread on a Ledger that thread owns.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace bonus {

class Ledger;

class StateCodec {
 public:
  static constexpr char kMagic[8] = {'B', 'O', 'N', 'U', 'S', 'S', 'T', '1'};
  static constexpr std::uint32_t kVersion = 1;

  static std::string encode(const Ledger& ledger);

  // Loads `bytes` into `ledger`. REQUIRES: `ledger` is freshly constructed.
  // Returns an error message, or nothing on success.
  [[nodiscard]] static std::optional<std::string> decode(std::string_view bytes, Ledger& ledger);
};

}  // namespace bonus
