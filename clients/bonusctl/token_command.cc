// bonusctl admin token new: a fresh random token and the auth-file line that grants it
// (server/auth_file.h). Needs no server: the token is made here and shown once.
#include <openssl/rand.h>

#include <cstdio>

#include "clients/bonusctl/context.h"
#include "clients/bonusctl/json_writer.h"
#include "server/auth_file.h"
#include "server/role.h"

namespace bonus::ctl {
namespace {

constexpr std::size_t kTokenRandomBytes = 32;  // 256 bits: not guessable, even online

// base64url without padding (RFC 4648 §5): safe in shells, URLs and environment variables.
std::string base64url(const unsigned char* bytes, std::size_t size) {
  static constexpr char kDigits[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  std::uint32_t bits = 0;
  int held = 0;
  for (std::size_t i = 0; i < size; ++i) {
    bits = (bits << 8) | bytes[i];
    held += 8;
    while (held >= 6) {
      held -= 6;
      out += kDigits[(bits >> held) & 63];
    }
  }
  if (held > 0) out += kDigits[(bits << (6 - held)) & 63];
  return out;
}

}  // namespace

int run_token_new(Context& context) {
  const std::string& role_text = context.text("role");
  const auto role = server::parse_role(role_text);
  if (!role) {
    throw UsageError("--role " + role_text +
                     ": want reader, checkout, batch, seller-admin or admin");
  }
  const std::string& name = context.text("name");
  if (!server::is_token_name(name)) {
    throw UsageError("--name " + name + ": want 1..64 of [A-Za-z0-9._@-]");
  }
  unsigned char random[kTokenRandomBytes];
  if (RAND_bytes(random, sizeof(random)) != 1) {
    std::fprintf(stderr, "bonusctl: admin token new: no random bytes from OpenSSL\n");
    return kExitRejected;
  }
  const std::string token = "bt_" + base64url(random, sizeof(random));
  const std::string line = server::auth_file_line(token, server::role_name(*role), name);
  if (context.json()) {
    JsonWriter json;
    json.begin_object().field("token", token).field("line", line).end_object();
    context.print(json.text());
    return kExitApplied;
  }
  context.print("token  " + token);
  context.print("line   " + line);
  std::fprintf(stderr,
               "Add the line to bonusd's --auth-file (mode 0600) and send bonusd SIGHUP; give "
               "the token to its holder (BONUS_TOKEN=...). It is shown only this once.\n");
  return kExitApplied;
}

}  // namespace bonus::ctl
