// AuthFile: the tokens bonusd accepts (`--auth-file PATH`) and the role each grants.
//
// The file, one token a line; `#` starts a comment, blank lines are skipped:
//   <sha256>  <role>  <name>
//   sha256: 64 hex digits, the SHA-256 of the token's bytes (never the token itself)
//   role:   reader | checkout | batch | seller-admin | admin
//   name:   1..64 of [A-Za-z0-9._@-], unique in the file (it names the client in logs)
// A file with a bad line, a repeated hash or a repeated name is refused whole, naming
// the line. `bonusctl admin token new` prints a fresh token and its line.
//
// Immutable once loaded; the server holds the current one by shared_ptr on the network
// thread and swaps it on SIGHUP. Lookups are safe from any thread.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "server/role.h"

namespace bonus::server {

using TokenHash = std::array<std::uint8_t, 32>;

// SHA-256 of the token's bytes (OpenSSL EVP).
TokenHash hash_token(std::string_view token);
// 64 lower-case hex digits.
std::string to_hex(const TokenHash& hash);
// The auth file's line that grants `token` the role named `role` under `name` (no '\n'):
// "<sha256-hex> <role> <name>".
std::string auth_file_line(std::string_view token, std::string_view role, std::string_view name);

// Whether `name` is a good token name: 1..64 of [A-Za-z0-9._@-].
bool is_token_name(std::string_view name);

struct AuthEntry {
  TokenHash hash{};
  Role role = Role::none;
  std::string name;
};

class AuthFile {
 public:
  // Bounds: a hello compares with every entry, and the file is read whole.
  static constexpr std::size_t kTokensMax = 10'000;
  static constexpr std::uint64_t kFileBytesMax = 4u << 20;

  // Reads and parses `path`. Refused when it is missing, not a regular file, or open to
  // its group or to others (any of mode 077: it names who may do what), larger than
  // kFileBytesMax, and for every parse error below; the message names the path.
  static std::variant<std::shared_ptr<const AuthFile>, std::string> load(const std::string& path);
  // Parses the file's text; an error names the line ("line 3: ..."), also the line of
  // the token past kTokensMax.
  static std::variant<std::shared_ptr<const AuthFile>, std::string> parse(std::string_view text);

  // The entry whose hash is the presented token's, or null. The hash is compared with
  // every entry in constant time (CRYPTO_memcmp, no early exit), so the time taken says
  // nothing about which entry, or how much of one, matched.
  const AuthEntry* find(std::string_view token) const { return find_hash(hash_token(token)); }
  const AuthEntry* find_hash(const TokenHash& hash) const;

  const std::vector<AuthEntry>& entries() const { return entries_; }

 private:
  std::vector<AuthEntry> entries_;
};

}  // namespace bonus::server
