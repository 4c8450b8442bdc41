#include "server/auth_file.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "engine/assert.h"

namespace bonus::server {
namespace {

constexpr std::size_t kNameBytesMax = 64;

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool parse_hash(std::string_view hex, TokenHash& out) {
  if (hex.size() != out.size() * 2) return false;
  for (std::size_t i = 0; i < out.size(); ++i) {
    const int hi = hex_digit(hex[2 * i]), lo = hex_digit(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<std::uint8_t>(hi * 16 + lo);
  }
  return true;
}

}  // namespace

bool is_token_name(std::string_view name) {
  if (name.empty() || name.size() > kNameBytesMax) return false;
  for (const char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '@' || c == '-';
    if (!ok) return false;
  }
  return true;
}

namespace {

std::vector<std::string> fields_of(std::string_view line) {
  std::istringstream in{std::string(line)};
  std::vector<std::string> fields;
  for (std::string f; in >> f;) fields.push_back(std::move(f));
  return fields;
}

// One non-blank line without its comment into `out`; an error without the line number.
std::string parse_line(std::string_view line, AuthEntry& out) {
  const std::vector<std::string> f = fields_of(line);
  if (f.size() != 3) {
    return "expected `<sha256-hex> <role> <name>`, got " + std::to_string(f.size()) + " fields";
  }
  if (!parse_hash(f[0], out.hash)) {
    return "the first field must be 64 hex digits (the token's SHA-256), got `" +
           f[0].substr(0, 80) + "`";
  }
  const auto role = parse_role(f[1]);
  if (!role) {
    return "unknown role `" + f[1].substr(0, 40) +
           "` (reader, checkout, batch, seller-admin, admin)";
  }
  out.role = *role;
  if (!is_token_name(f[2]))
    return "bad name `" + f[2].substr(0, 80) + "`: 1..64 of [A-Za-z0-9._@-]";
  out.name = f[2];
  return {};
}

std::string mode_problem(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return path + ": cannot stat: " + std::strerror(errno);
  if (!S_ISREG(st.st_mode)) return path + ": not a regular file";
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof(mode), "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return path + " is open to its group or to others (mode " + mode +
           "); it names who may do what: chmod 600 " + path;
  }
  if (static_cast<std::uint64_t>(st.st_size) > AuthFile::kFileBytesMax) {
    return path + ": " + std::to_string(st.st_size) + " bytes, more than an auth file may hold (" +
           std::to_string(AuthFile::kFileBytesMax) + ")";
  }
  return {};
}

}  // namespace

TokenHash hash_token(std::string_view token) {
  TokenHash out{};
  unsigned int size = 0;
  const int ok = EVP_Digest(token.data(), token.size(), out.data(), &size, EVP_sha256(), nullptr);
  BONUS_ASSERT(ok == 1 && size == out.size());
  return out;
}

std::string auth_file_line(std::string_view token, std::string_view role, std::string_view name) {
  return to_hex(hash_token(token)) + " " + std::string(role) + " " + std::string(name);
}

std::string to_hex(const TokenHash& hash) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(hash.size() * 2);
  for (const std::uint8_t b : hash) {
    out += kDigits[b >> 4];
    out += kDigits[b & 15];
  }
  return out;
}

std::variant<std::shared_ptr<const AuthFile>, std::string> AuthFile::parse(std::string_view text) {
  auto file = std::make_shared<AuthFile>();
  std::set<TokenHash> hashes;
  std::set<std::string> names;
  std::size_t number = 0;
  for (std::size_t at = 0; at <= text.size();) {
    const std::size_t end = std::min(text.find('\n', at), text.size());
    std::string_view line = text.substr(at, end - at);
    at = end + 1;
    ++number;
    if (const auto hash = line.find('#'); hash != std::string_view::npos)
      line = line.substr(0, hash);
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    AuthEntry entry;
    const std::string where = "line " + std::to_string(number) + ": ";
    if (std::string error = parse_line(line, entry); !error.empty()) return where + error;
    if (file->entries_.size() == kTokensMax) {
      return where + "more than " + std::to_string(kTokensMax) + " tokens";
    }
    if (!hashes.insert(entry.hash).second) return where + "this token's hash is already listed";
    if (!names.insert(entry.name).second)
      return where + "the name " + entry.name + " is already used";
    file->entries_.push_back(std::move(entry));
  }
  return std::shared_ptr<const AuthFile>(std::move(file));
}

std::variant<std::shared_ptr<const AuthFile>, std::string> AuthFile::load(const std::string& path) {
  if (std::string problem = mode_problem(path); !problem.empty()) return "auth file " + problem;
  std::ifstream in(path, std::ios::binary);
  if (!in) return "auth file " + path + ": cannot open: " + std::strerror(errno);
  std::string text(kFileBytesMax + 1, '\0');  // a file that grew since stat: cut and refused
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > kFileBytesMax)
    return "auth file " + path + ": larger than " + std::to_string(kFileBytesMax) + " bytes";
  auto parsed = parse(text);
  if (auto* error = std::get_if<std::string>(&parsed)) return "auth file " + path + ": " + *error;
  return parsed;
}

const AuthEntry* AuthFile::find_hash(const TokenHash& hash) const {
  const AuthEntry* found = nullptr;
  for (const AuthEntry& e : entries_) {
    const bool same = CRYPTO_memcmp(e.hash.data(), hash.data(), hash.size()) == 0;
    found = same ? &e : found;  // every entry is compared, match or not
  }
  return found;
}

}  // namespace bonus::server
