// bonusctl and tokens: `admin token new` (no server needed) whose line, added to an auth
// file, grants its token the role; --token and BONUS_TOKEN (the flag wins).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "tests/clients/auth_fixture.h"
#include "tests/clients/run_bonusctl.h"

namespace bonus::test {
namespace {

// bonusctl args... with BONUS_TOKEN set to `env_token` (unset when empty).
Ran ctl(const std::string& dir, std::vector<std::string> args, const std::string& env_token = "") {
  return run_bonusctl(dir, std::move(args), {{"BONUS_TOKEN", env_token}});
}

// The string value of `"key": "..."` in one line of JSON.
std::string json_string(const std::string& text, const std::string& key) {
  const std::string needle = "\"" + key + "\": \"";
  const auto at = text.find(needle);
  if (at == std::string::npos) return "<missing " + key + ">";
  const auto from = at + needle.size();
  return text.substr(from, text.find('"', from) - from);
}

#define EXPECT_RAN(ran, expected_code) \
  EXPECT_EQ((ran).code, expected_code) << "stdout:\n" << (ran).out << "stderr:\n" << (ran).err

class BonusctlAuth : public AuthFixture {
 protected:
  std::string server() const { return "127.0.0.1:" + std::to_string(server_.port()); }
};

TEST_F(BonusctlAuth, TokenNewNeedsNoServerAndItsLineGrantsTheRole) {
  // No server anywhere: --server names a port nobody listens on.
  const Ran made = ctl(dir_, {"--server", "127.0.0.1:1", "--json", "admin", "token", "new",
                              "--role", "checkout", "--name", "till-9"});
  EXPECT_RAN(made, 0);
  const std::string token = json_string(made.out, "token");
  const std::string line = json_string(made.out, "line");
  EXPECT_EQ(token.rfind("bt_", 0), 0u);
  EXPECT_EQ(token.size(), 3u + 43u);  // 32 random bytes in base64url
  EXPECT_EQ(line, auth_line(token, "checkout", "till-9").substr(0, line.size()));
  EXPECT_EQ(line.size(), 64u + std::string(" checkout till-9").size());

  start_with("# made by bonusctl\n" + line + "\n");
  EXPECT_RAN(ctl(dir_, {"--server", server(), "--token", token, "balance", "--seller", "1",
                        "--buyer", "2"}),
             0);
  EXPECT_RAN(ctl(dir_, {"--server", server(), "--token", token, "hold", "--order", "5", "--seller",
                        "1", "--buyer", "2", "--amount", "1", "--goods-total", "10"}),
             1);  // served: rejected by the ledger (nothing to hold), not refused
  const Ran admin = ctl(dir_, {"--server", server(), "--token", token, "admin", "status"});
  EXPECT_RAN(admin, 3);
  EXPECT_NE(
      admin.err.find("refused (forbidden): admin: forbidden for role checkout (token till-9)"),
      std::string::npos)
      << admin.err;
}

TEST_F(BonusctlAuth, TextFormAndBadValues) {
  const Ran a = ctl(dir_, {"admin", "token", "new", "--role", "reader", "--name", "n1"});
  const Ran b = ctl(dir_, {"admin", "token", "new", "--role", "reader", "--name", "n1"});
  EXPECT_RAN(a, 0);
  EXPECT_EQ(a.out.rfind("token  bt_", 0), 0u) << a.out;
  EXPECT_NE(a.out.find("\nline   "), std::string::npos) << a.out;
  EXPECT_NE(a.out.find(" reader n1\n"), std::string::npos) << a.out;
  EXPECT_NE(a.out, b.out);  // fresh randomness every time
  EXPECT_NE(a.err.find("SIGHUP"), std::string::npos);
  const Ran bad_role = ctl(dir_, {"admin", "token", "new", "--role", "root", "--name", "n1"});
  EXPECT_RAN(bad_role, 2);
  EXPECT_NE(bad_role.err.find("--role root: want reader, checkout, batch, seller-admin or admin"),
            std::string::npos)
      << bad_role.err;
  EXPECT_RAN(ctl(dir_, {"admin", "token", "new", "--role", "none", "--name", "n1"}), 2);
  const Ran bad_name = ctl(dir_, {"admin", "token", "new", "--role", "admin", "--name", "a b"});
  EXPECT_RAN(bad_name, 2);
  EXPECT_NE(bad_name.err.find("--name a b: want 1..64 of [A-Za-z0-9._@-]"), std::string::npos);
  EXPECT_RAN(ctl(dir_, {"admin", "token", "new", "--role", "admin"}), 2);
}

TEST_F(BonusctlAuth, EnvironmentTokenAndTheFlagWins) {
  start_with(auth_line("t-admin", "admin", "ops"));
  const std::vector<std::string> status = {"--server", server(), "admin", "status"};
  EXPECT_RAN(ctl(dir_, status, "t-admin"), 0);
  const Ran none = ctl(dir_, status);
  EXPECT_RAN(none, 3);
  EXPECT_NE(none.err.find("refused (unauthenticated): admin: not authenticated"), std::string::npos)
      << none.err;
  // The flag wins over the environment, both ways.
  std::vector<std::string> flagged = status;
  flagged.insert(flagged.begin(), {"--token", "t-wrong"});
  const Ran wrong = ctl(dir_, flagged, "t-admin");
  EXPECT_RAN(wrong, 3);
  EXPECT_NE(wrong.err.find("hello refused"), std::string::npos) << wrong.err;
  EXPECT_NE(wrong.err.find("unknown token"), std::string::npos) << wrong.err;
  flagged[1] = "t-admin";
  EXPECT_RAN(ctl(dir_, flagged, "t-wrong"), 0);
}

}  // namespace
}  // namespace bonus::test
