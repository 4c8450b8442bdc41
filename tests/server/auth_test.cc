// Authentication against a real bonusd (protocol/README.md, Hello and authentication):
// nothing but ping and hello before a valid hello; a wrong token ends the connection;
// each role's operations allowed and the others forbidden; SIGHUP reloads; the auth
// file's mode and the listen rule checked at start; refusals logged, rate-limited.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <thread>

#include "server/auth_file.h"
#include "tests/server/wire.h"

namespace bonus::test {
namespace {

using protocol::Body;
using protocol::FrameError;
using protocol::Opcode;

// Tokens of the test's auth file, one per role.
const std::vector<std::pair<std::string, std::string>> kTokens = {{"tok-reader", "reader"},
                                                                  {"tok-checkout", "checkout"},
                                                                  {"tok-batch", "batch"},
                                                                  {"tok-seller", "seller-admin"},
                                                                  {"tok-admin", "admin"}};

std::string line_of(const std::string& token, const std::string& role, const std::string& name) {
  return server::auth_file_line(token, role, name) + "\n";
}

std::string frame_of(Opcode op, std::uint64_t rid, const flatbuffers::FlatBufferBuilder& fbb) {
  return protocol::make_frame(op, 0, rid, Body{fbb.GetBufferPointer(), fbb.GetSize()});
}

std::string hello_frame(std::uint64_t rid, const std::string& token) {
  flatbuffers::FlatBufferBuilder fbb;
  protocol::encode_hello(protocol::HelloQuery{token, protocol::kVersion, "auth_test"}, fbb);
  return frame_of(Opcode::hello, rid, fbb);
}

protocol::ErrorInfo error_of(const WireReply& r) {
  protocol::ErrorInfo info;
  if (!r.got || r.header.opcode != Opcode::error) return info;
  const std::string aligned = r.body;
  EXPECT_EQ(protocol::decode_error_reply(
                Body{reinterpret_cast<const std::uint8_t*>(aligned.data()), aligned.size()}, info),
            FrameError::none);
  return info;
}

WireReply ask(RawConnection& c, const std::string& frame) {
  EXPECT_TRUE(c.send(frame));
  return read_reply(c);
}

// Says hello with `token`; the granted role, or the error's name.
std::string hello(RawConnection& c, const std::string& token) {
  const WireReply r = ask(c, hello_frame(7, token));
  if (!r.got) return "(no reply)";
  if (r.header.opcode == Opcode::error) {
    return std::string(protocol::frame_error_name(error_of(r).code));
  }
  protocol::HelloAnswer answer;
  const std::string aligned = r.body;
  EXPECT_EQ(
      protocol::decode_hello_reply(
          Body{reinterpret_cast<const std::uint8_t*>(aligned.data()), aligned.size()}, answer),
      FrameError::none);
  return answer.role;
}

// One valid request of each class.
std::string balance_frame(std::uint64_t rid) {
  flatbuffers::FlatBufferBuilder fbb;
  protocol::encode_balance(protocol::BalanceQuery{{protocol::AccountKey{1, 42}}, false}, fbb);
  return frame_of(Opcode::balance, rid, fbb);
}
std::string credit_frame(std::uint64_t rid, std::uint64_t id) {
  const Credit c{Id128{5, id}, 1, 42, 100, 0, LotLife::forever()};
  return write_frame(rid, std::span<const Credit>(&c, 1));
}
std::string hold_frame(std::uint64_t rid, std::uint64_t id) {
  const Hold h{Id128{6, id}, id, 1, 42, 10, 1000, 60'000'000};
  return write_frame(rid, std::span<const Hold>(&h, 1));
}
std::string policy_frame(std::uint64_t rid, std::uint64_t id) {
  SetPolicy p;
  p.id = Id128{7, id};
  p.seller = 1;
  p.fields = SetPolicy::kSpendShare;
  p.spend_share_bp = 5000;
  return write_frame(rid, std::span<const SetPolicy>(&p, 1));
}
std::string admin_frame(std::uint64_t rid) {
  flatbuffers::FlatBufferBuilder fbb;
  protocol::encode_admin(protocol::AdminQuery{protocol::AdminAction::status, 0, {}, {}}, fbb);
  return frame_of(Opcode::admin, rid, fbb);
}

bool eventually(const std::function<bool()>& condition, int timeout_ms = 10'000) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return condition();
}

int count_of(const std::string& text, const std::string& marker) {
  int n = 0;
  for (auto at = text.find(marker); at != std::string::npos; at = text.find(marker, at + 1)) ++n;
  return n;
}

class Auth : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/auth-test-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
    auth_path_ = dir_ + "/tokens";
    std::string text = "# auth_test\n";
    for (const auto& [token, role] : kTokens) text += line_of(token, role, role + "-1");
    write_auth(text);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void write_auth(const std::string& text) {
    const std::string temporary = auth_path_ + ".new";
    std::ofstream(temporary) << text;
    ASSERT_EQ(chmod(temporary.c_str(), 0600), 0);
    std::filesystem::rename(temporary, auth_path_);
  }
  void start(std::vector<std::string> more = {}) {
    more.insert(more.begin(), {"--auth-file", auth_path_});
    ASSERT_TRUE(server_.start(more)) << server_.log();
  }

  std::string dir_, auth_path_;
  BonusdProcess server_;
};

TEST_F(Auth, BeforeHelloOnlyPingIsServedAndEveryRefusalNamesItsOperation) {
  start();
  EXPECT_NE(server_.log().find("authentication: 5 tokens from " + auth_path_), std::string::npos);
  RawConnection c(server_.port());
  const WireReply pong = ask(c, protocol::make_frame(Opcode::ping, 0, 1, Body{}));
  ASSERT_TRUE(pong.got);
  EXPECT_EQ(pong.header.opcode, Opcode::ping);
  // Every known opcode but ping and hello, even with an empty body: the role is checked
  // before the body is read.
  std::uint64_t rid = 100;
  for (std::uint32_t op = 1; op < 127; ++op) {
    const auto opcode = static_cast<Opcode>(op);
    if (!protocol::is_known(static_cast<std::uint16_t>(op)) || opcode == Opcode::ping ||
        opcode == Opcode::hello) {
      continue;
    }
    const WireReply r = ask(c, protocol::make_frame(opcode, 0, ++rid, Body{}));
    ASSERT_TRUE(r.got) << op;
    EXPECT_EQ(r.header.request_id, rid);
    const protocol::ErrorInfo e = error_of(r);
    EXPECT_EQ(e.code, FrameError::unauthenticated) << protocol::opcode_name(opcode);
    EXPECT_EQ(
        e.message.rfind(std::string(protocol::opcode_name(opcode)) + ": not authenticated", 0), 0u)
        << e.message;
  }
  // The connection is still open and, after a hello, served.
  EXPECT_EQ(hello(c, "tok-reader"), "reader");
  const WireReply balance = ask(c, balance_frame(2));
  EXPECT_EQ(balance.header.opcode, Opcode::balance);
}

TEST_F(Auth, AWrongTokenIsUnauthenticatedAndClosesTheConnection) {
  start();
  for (const std::string& token : std::vector<std::string>{"tok-nope", std::string("\0\xff", 2)}) {
    RawConnection c(server_.port());
    const WireReply r = ask(c, hello_frame(3, token));
    ASSERT_TRUE(r.got);
    const protocol::ErrorInfo e = error_of(r);
    EXPECT_EQ(e.code, FrameError::unauthenticated);
    EXPECT_NE(e.message.find("closing the connection"), std::string::npos) << e.message;
    EXPECT_TRUE(c.closed_by_peer());
  }
  // The hash of a token is not a token.
  RawConnection c(server_.port());
  EXPECT_EQ(hello(c, server::to_hex(server::hash_token("tok-admin"))), "unauthenticated");
  EXPECT_TRUE(eventually([&] {
    return server_.log().find("refused hello (unauthenticated): unknown token") !=
           std::string::npos;
  })) << server_.log();
}

// No token is no guess: the hello is answered (what the server is: its partitions and
// limits) with role none, the connection stays, and every request but ping and hello is
// still unauthenticated; a later hello with a token grants its role, and one without a
// token again takes it away.
TEST_F(Auth, HelloWithoutATokenIsAnsweredWithRoleNoneAndTheConnectionStays) {
  start();
  RawConnection c(server_.port());
  EXPECT_EQ(hello(c, ""), "none");
  EXPECT_EQ(error_of(ask(c, balance_frame(1))).code, FrameError::unauthenticated);
  EXPECT_EQ(hello(c, "tok-checkout"), "checkout");
  EXPECT_EQ(ask(c, balance_frame(2)).header.opcode, Opcode::balance);
  EXPECT_EQ(hello(c, ""), "none");
  EXPECT_EQ(error_of(ask(c, balance_frame(3))).code, FrameError::unauthenticated);
  EXPECT_FALSE(c.closed_by_peer(200));
}

TEST_F(Auth, EachRoleIsServedItsOperationsAndForbiddenTheRest) {
  start();
  struct Probe {
    const char* name;
    std::function<std::string(std::uint64_t)> frame;
    Opcode reply;
    std::set<std::string> roles;  // that may
  };
  std::uint64_t id = 0;
  const std::vector<Probe> probes = {
      {"balance",
       [](std::uint64_t r) { return balance_frame(r); },
       Opcode::balance,
       {"reader", "checkout", "batch", "admin"}},
      {"hold",
       [&](std::uint64_t r) { return hold_frame(r, ++id); },
       Opcode::hold,
       {"checkout", "admin"}},
      {"credit",
       [&](std::uint64_t r) { return credit_frame(r, ++id); },
       Opcode::credit,
       {"batch", "admin"}},
      {"set_policy",
       [&](std::uint64_t r) { return policy_frame(r, ++id); },
       Opcode::set_policy,
       {"seller-admin", "admin"}},
      {"admin", [](std::uint64_t r) { return admin_frame(r); }, Opcode::admin, {"admin"}},
  };
  for (const auto& [token, role] : kTokens) {
    RawConnection c(server_.port());
    ASSERT_EQ(hello(c, token), role);
    for (const Probe& p : probes) {
      const WireReply r = ask(c, p.frame(11));
      ASSERT_TRUE(r.got) << role << " " << p.name;
      if (p.roles.contains(role)) {
        EXPECT_EQ(r.header.opcode, p.reply) << role << " " << p.name << ": " << error_of(r).message;
      } else {
        const protocol::ErrorInfo e = error_of(r);
        EXPECT_EQ(e.code, FrameError::forbidden) << role << " " << p.name;
        EXPECT_EQ(e.message,
                  std::string(p.name) + ": forbidden for role " + role + " (token " + role + "-1)");
      }
    }
  }
  // The credit the batch role made is really there.
  RawConnection c(server_.port());
  ASSERT_EQ(hello(c, "tok-reader"), "reader");
  const WireReply r = ask(c, balance_frame(12));
  std::vector<protocol::BalanceEntry> entries;
  const std::string aligned = r.body;
  ASSERT_EQ(
      protocol::decode_balance_reply(
          Body{reinterpret_cast<const std::uint8_t*>(aligned.data()), aligned.size()}, entries),
      FrameError::none);
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_GE(entries[0].account.available + entries[0].account.held, 100u);
  // Refusals and admin requests are logged with the peer and the role.
  const std::string log = server_.log();
  EXPECT_NE(
      log.find("refused admin (forbidden): admin: forbidden for role reader (token reader-1); "
               "peer 127.0.0.1:"),
      std::string::npos)
      << log;
  EXPECT_NE(log.find("admin status: peer 127.0.0.1:"), std::string::npos);
  EXPECT_NE(log.find("hello from client \"auth_test\": peer 127.0.0.1:"), std::string::npos);
  EXPECT_NE(log.find("role admin token admin-1"), std::string::npos);
}

TEST_F(Auth, AnotherHelloReplacesTheRole) {
  start();
  RawConnection c(server_.port());
  ASSERT_EQ(hello(c, "tok-reader"), "reader");
  EXPECT_EQ(error_of(ask(c, admin_frame(1))).code, FrameError::forbidden);
  ASSERT_EQ(hello(c, "tok-admin"), "admin");
  EXPECT_EQ(ask(c, admin_frame(2)).header.opcode, Opcode::admin);
}

TEST_F(Auth, RequestsPipelinedBehindAHelloGetItsRole) {
  start();
  RawConnection c(server_.port());
  ASSERT_TRUE(c.send(hello_frame(1, "tok-admin") + admin_frame(2) + balance_frame(3)));
  std::map<std::uint64_t, Opcode> answered;  // replies may come in any order
  for (int i = 0; i < 3; ++i) {
    const WireReply r = read_reply(c);
    answered[r.header.request_id] = r.header.opcode;
  }
  EXPECT_EQ(answered, (std::map<std::uint64_t, Opcode>{
                          {1, Opcode::hello}, {2, Opcode::admin}, {3, Opcode::balance}}));
  // Behind a refused hello: nothing more is answered, the connection closes.
  RawConnection d(server_.port());
  ASSERT_TRUE(d.send(hello_frame(1, "tok-wrong") + admin_frame(2) + balance_frame(3)));
  EXPECT_EQ(error_of(read_reply(d)).code, FrameError::unauthenticated);
  EXPECT_TRUE(d.closed_by_peer());
}

TEST_F(Auth, HelloReplyCarriesWhatAClientNeeds) {
  start({"--shards", "3", "--batch-commands-max", "77", "--frame-size-max", "65536"});
  RawConnection c(server_.port());
  const WireReply r = ask(c, hello_frame(1, "tok-checkout"));
  ASSERT_EQ(r.header.opcode, Opcode::hello);
  protocol::HelloAnswer a;
  const std::string aligned = r.body;
  ASSERT_EQ(protocol::decode_hello_reply(
                Body{reinterpret_cast<const std::uint8_t*>(aligned.data()), aligned.size()}, a),
            FrameError::none);
  EXPECT_EQ(a.role, "checkout");
  EXPECT_EQ(a.name, "checkout-1");
  EXPECT_TRUE(a.authenticated);
  EXPECT_EQ(a.shards, 3u);
  EXPECT_EQ(a.batch_commands_max, 77u);
  EXPECT_EQ(a.body_size_max, 65536u);
  EXPECT_EQ(a.protocol_version, protocol::kVersion);
  // A port for each partition (ephemeral: --listen port 0), each serving as the main
  // one does, under the same tokens.
  ASSERT_EQ(a.partition_ports.size(), 3u);
  EXPECT_EQ(a.partition_hash, protocol::kPartitionHashMix64Mod);
  for (const std::uint16_t port : a.partition_ports) {
    EXPECT_NE(port, 0);
    EXPECT_NE(port, server_.port());
    RawConnection p(port);
    EXPECT_EQ(error_of(ask(p, balance_frame(1))).code, FrameError::unauthenticated);
    EXPECT_EQ(hello(p, "tok-reader"), "reader");
    EXPECT_EQ(ask(p, balance_frame(2)).header.opcode, Opcode::balance);
  }
  // A version this server does not speak is refused, the connection kept.
  flatbuffers::FlatBufferBuilder fbb;
  protocol::encode_hello(protocol::HelloQuery{"tok-checkout", 2, "future"}, fbb);
  EXPECT_EQ(error_of(ask(c, frame_of(Opcode::hello, 2, fbb))).code, FrameError::malformed_body);
  EXPECT_EQ(ask(c, balance_frame(3)).header.opcode, Opcode::balance);
}

TEST_F(Auth, WithoutAuthFileEveryoneIsAdminAndTheStartLineSaysSo) {
  ASSERT_TRUE(server_.start()) << server_.log();
  EXPECT_NE(server_.log().find("no authentication (every client is admin)"), std::string::npos);
  RawConnection c(server_.port());
  EXPECT_EQ(ask(c, admin_frame(1)).header.opcode, Opcode::admin);  // no hello needed
  const WireReply r = ask(c, hello_frame(2, "anything at all"));
  protocol::HelloAnswer a;
  const std::string aligned = r.body;
  ASSERT_EQ(protocol::decode_hello_reply(
                Body{reinterpret_cast<const std::uint8_t*>(aligned.data()), aligned.size()}, a),
            FrameError::none);
  EXPECT_EQ(a.role, "admin");
  EXPECT_FALSE(a.authenticated);
}

TEST_F(Auth, SighupAddsAndRevokesTokens) {
  start();
  RawConnection held(server_.port());  // keeps its hello across the reloads
  ASSERT_EQ(hello(held, "tok-batch"), "batch");
  {
    RawConnection c(server_.port());
    ASSERT_EQ(hello(c, "tok-new"), "unauthenticated");
  }
  // Add a token.
  std::string text;
  for (const auto& [token, role] : kTokens) text += line_of(token, role, role + "-1");
  write_auth(text + line_of("tok-new", "reader", "newcomer"));
  ASSERT_EQ(kill(server_.pid(), SIGHUP), 0);
  EXPECT_TRUE(eventually([&] {
    RawConnection c(server_.port());
    return hello(c, "tok-new") == "reader";
  })) << server_.log();
  EXPECT_EQ(ask(held, credit_frame(1, 1)).header.opcode, Opcode::credit);
  // A bad file keeps the table in force.
  write_auth(text + "garbage\n");
  ASSERT_EQ(kill(server_.pid(), SIGHUP), 0);
  EXPECT_TRUE(eventually([&] {
    return server_.log().find("keeping the 6 tokens") != std::string::npos;
  })) << server_.log();
  {
    RawConnection c(server_.port());
    EXPECT_EQ(hello(c, "tok-new"), "reader");
  }
  // Revoke tok-batch and make tok-new a checkout token.
  text.clear();
  for (const auto& [token, role] : kTokens) {
    if (token != "tok-batch") text += line_of(token, role, role + "-1");
  }
  write_auth(text + line_of("tok-new", "checkout", "newcomer"));
  ASSERT_EQ(kill(server_.pid(), SIGHUP), 0);
  EXPECT_TRUE(eventually([&] {
    RawConnection c(server_.port());
    return hello(c, "tok-batch") == "unauthenticated";
  })) << server_.log();
  {
    RawConnection c(server_.port());
    EXPECT_EQ(hello(c, "tok-new"), "checkout");
  }
  // The connection that said hello with the revoked token is served no more.
  const protocol::ErrorInfo e = error_of(ask(held, credit_frame(2, 2)));
  EXPECT_EQ(e.code, FrameError::unauthenticated) << e.message;
  EXPECT_EQ(server_.stop(SIGTERM), 0) << server_.log();
}

TEST_F(Auth, AuthFileOpenToOthersOrBrokenIsRefusedAtStart) {
  ASSERT_EQ(chmod(auth_path_.c_str(), 0644), 0);
  EXPECT_FALSE(server_.start({"--auth-file", auth_path_}));
  EXPECT_NE(server_.log().find("is open to its group or to others (mode 0644)"), std::string::npos)
      << server_.log();
  ASSERT_EQ(chmod(auth_path_.c_str(), 0600), 0);
  write_auth("# fine\nnot a line\n");
  EXPECT_FALSE(server_.start({"--auth-file", auth_path_}));
  EXPECT_NE(server_.log().find(auth_path_ + ": line 2: the first field must be 64 hex digits"),
            std::string::npos)
      << server_.log();
}

TEST_F(Auth, RefusalsAreLoggedAtABoundedRate) {
  start();
  RawConnection c(server_.port());
  constexpr int kRequests = 2000;
  std::string burst;
  for (int i = 0; i < kRequests; ++i) burst += admin_frame(static_cast<std::uint64_t>(i + 1));
  const auto began = std::chrono::steady_clock::now();
  ASSERT_TRUE(c.send(burst));
  for (int i = 0; i < kRequests; ++i) {
    const WireReply r = read_reply(c);
    ASSERT_TRUE(r.got) << i;
    ASSERT_EQ(error_of(r).code, FrameError::unauthenticated);
  }
  const auto seconds =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - began)
          .count();
  const int burst_lines = count_of(server_.log(), "refused admin (unauthenticated)");
  EXPECT_GE(burst_lines, 1);
  EXPECT_LE(burst_lines, 20 * (seconds + 2)) << "20 a second, in the windows the burst spanned";
  // In a later window the next refusal's line says how many were dropped.
  std::uint64_t rid = kRequests;
  EXPECT_TRUE(eventually([&] {
    EXPECT_EQ(error_of(ask(c, admin_frame(++rid))).code, FrameError::unauthenticated);
    return server_.log().find("more such lines dropped before this one: rate limit") !=
           std::string::npos;
  })) << server_.log().substr(0, 4000);
}

TEST_F(Auth, ConnectionLimitRefusalsAreLoggedWithThePeer) {
  start({"--connections-max", "1"});
  RawConnection first(server_.port());
  ASSERT_EQ(hello(first, "tok-reader"), "reader");
  RawConnection second(server_.port());
  const WireReply r = read_reply(second);
  EXPECT_EQ(error_of(r).code, FrameError::too_many_connections);
  EXPECT_TRUE(eventually([&] {
    return server_.log().find("refused a connection from 127.0.0.1:") != std::string::npos;
  })) << server_.log();
}

// bonusd without BonusdProcess: `args` as given; the exit status and the output when it
// exits within `timeout_ms`, else -1 and the output so far (the process is killed).
struct Exit {
  int status = -1;
  std::string output;
};

Exit run_bonusd(const std::vector<std::string>& args, const std::string& until_in_output,
                const std::function<void(const std::string&)>& while_running = nullptr) {
  char pattern[] = "/tmp/auth-test-run-XXXXXX";
  const std::string dir = mkdtemp(pattern);
  const std::string out_path = dir + "/out";
  std::vector<std::string> argv = {BONUSD_PATH, "--data", dir + "/data", "--journal-segment-bytes",
                                   "8388608"};
  argv.insert(argv.end(), args.begin(), args.end());
  const pid_t pid = spawn_logged(argv, out_path);
  auto output = [&] {
    std::ifstream in(out_path);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  Exit run;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      run.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      run.output = output();
      std::filesystem::remove_all(dir);
      return run;
    }
    if (!until_in_output.empty() && output().find(until_in_output) != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  run.output = output();
  if (while_running) while_running(run.output);
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  std::filesystem::remove_all(dir);
  return run;
}

TEST_F(Auth, NonLoopbackListenNeedsAuthAndTlsOrInsecure) {
  // Without auth (and without TLS): refused at once, whichever address.
  for (const char* listen : {"0.0.0.0:0", "[::]:0"}) {
    const Exit refused = run_bonusd({"--listen", listen}, "");
    EXPECT_EQ(refused.status, 1) << refused.output;
    EXPECT_NE(refused.output.find("without authentication (--auth-file) and TLS"),
              std::string::npos)
        << refused.output;
  }
  // With auth but without TLS: refused too, the tokens would travel in clear.
  const Exit no_tls = run_bonusd({"--listen", "0.0.0.0:0", "--auth-file", auth_path_}, "");
  EXPECT_EQ(no_tls.status, 1) << no_tls.output;
  EXPECT_NE(no_tls.output.find("without TLS"), std::string::npos) << no_tls.output;
  // --insecure: it listens on every interface (loopback included) and says so.
  bool served = false;
  const Exit insecure = run_bonusd({"--listen", "0.0.0.0:0", "--insecure"},
                                   "listening on 0.0.0.0:", [&](const std::string& out) {
                                     const auto at = out.find("listening on 0.0.0.0:");
                                     const int port = std::stoi(out.substr(at + 21));
                                     RawConnection c(static_cast<std::uint16_t>(port));
                                     served = ask(c, admin_frame(1)).header.opcode == Opcode::admin;
                                   });
  EXPECT_TRUE(served) << insecure.output;
  EXPECT_NE(insecure.output.find("no authentication (every client is admin), --insecure"),
            std::string::npos)
      << insecure.output;
}

}  // namespace
}  // namespace bonus::test
