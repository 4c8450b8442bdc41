// The C++ client's token against a real bonusd with --auth-file: hello before anything,
// after every reconnect too, and on every direct link of the blocking reads; a refused
// token fails connect() with the server's words.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "clients/cpp/client.h"
#include "tests/clients/auth_fixture.h"

namespace bonus::test {
namespace {

using protocol::FrameError;

std::variant<std::unique_ptr<client::Client>, std::string> connect(
    std::uint16_t port, const std::string& token, std::uint32_t direct_connections_max = 4) {
  client::ClientOptions options;
  options.port = port;
  options.direct_connections_max = direct_connections_max;
  options.token = token;
  options.client_name = "client_auth_test";
  return client::Client::connect(options);
}

class ClientAuth : public AuthFixture {};

TEST_F(ClientAuth, TokenGrantsItsRoleAndTheRestIsForbidden) {
  start_with(auth_line("t-batch", "batch", "loader"));
  auto connected = connect(server_.port(), "t-batch");
  ASSERT_TRUE(std::holds_alternative<std::unique_ptr<client::Client>>(connected))
      << std::get<std::string>(connected);
  auto& c = *std::get<std::unique_ptr<client::Client>>(connected);
  const protocol::HelloAnswer session = c.session();
  EXPECT_EQ(session.role, "batch");
  EXPECT_EQ(session.name, "loader");
  EXPECT_TRUE(session.authenticated);
  EXPECT_GE(session.shards, 1u);
  const auto credited = c.write(Credit{Id128{1, 1}, 1, 42, 500, 0, LotLife::forever()});
  ASSERT_TRUE(credited.ok()) << credited.message;
  EXPECT_EQ(credited.value.code, Code::ok);
  const auto balance = c.balance(1, 42);
  ASSERT_TRUE(balance.ok()) << balance.message;
  EXPECT_EQ(balance.value.account.available, 500u);
  const auto status = c.admin(protocol::AdminAction::status);
  EXPECT_EQ(status.status, client::Status::refused);
  EXPECT_EQ(status.error, FrameError::forbidden);
  EXPECT_EQ(status.message, "admin: forbidden for role batch (token loader)");
}

TEST_F(ClientAuth, WrongTokenFailsConnectWithTheServersMessage) {
  start_with(auth_line("t-batch", "batch", "loader"));
  auto connected = connect(server_.port(), "t-wrong");
  ASSERT_TRUE(std::holds_alternative<std::string>(connected));
  EXPECT_NE(std::get<std::string>(connected).find(
                "hello refused by 127.0.0.1:" + std::to_string(server_.port()) +
                ": unauthenticated: hello: unknown token; closing the connection"),
            std::string::npos)
      << std::get<std::string>(connected);
}

TEST_F(ClientAuth, NoTokenConnectsButEveryRequestIsUnauthenticated) {
  start_with(auth_line("t-batch", "batch", "loader"));
  auto connected = connect(server_.port(), "");
  ASSERT_TRUE(std::holds_alternative<std::unique_ptr<client::Client>>(connected));
  auto& c = *std::get<std::unique_ptr<client::Client>>(connected);
  EXPECT_EQ(c.session().role, "");  // no token, no routing: no hello
  const auto balance = c.balance(1, 42);
  EXPECT_EQ(balance.status, client::Status::refused);
  EXPECT_EQ(balance.error, FrameError::unauthenticated);
  EXPECT_EQ(balance.message, "balance: not authenticated; send hello with a token first");
}

TEST_F(ClientAuth, EveryReconnectSaysHelloFirst) {
  start_with(auth_line("t-reader", "reader", "dash"));
  // Reads through the I/O thread's connection, the one send_raw breaks.
  auto connected = connect(server_.port(), "t-reader", 0);
  ASSERT_TRUE(std::holds_alternative<std::unique_ptr<client::Client>>(connected));
  auto& c = *std::get<std::unique_ptr<client::Client>>(connected);
  for (int round = 0; round < 3; ++round) {
    // A frame with a bad magic: the server answers bad_magic and closes the connection.
    const auto raw = c.send_raw(std::string(protocol::kHeaderBytes, 'x'));
    ASSERT_TRUE(raw.ok()) << raw.message;
    EXPECT_EQ(raw.value.error.code, FrameError::bad_magic);
    // The next calls reconnect; each new connection says hello before the request.
    bool served = false;
    for (int attempt = 0; attempt < 50 && !served; ++attempt) {
      const auto balance = c.balance(1, 42);
      ASSERT_NE(balance.error, FrameError::unauthenticated) << balance.message;
      served = balance.ok();
    }
    EXPECT_TRUE(served) << round;
  }
}

TEST_F(ClientAuth, EveryDirectLinkSaysHelloFirst) {
  start_with(auth_line("t-reader", "reader", "dash"));
  auto connected = connect(server_.port(), "t-reader");
  ASSERT_TRUE(std::holds_alternative<std::unique_ptr<client::Client>>(connected));
  auto& c = *std::get<std::unique_ptr<client::Client>>(connected);
  // Readers at once make several direct links; a link without its hello would be
  // answered unauthenticated.
  std::atomic<int> failed{0};
  std::string failure;
  std::mutex mutex;
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&] {
      for (int k = 0; k < 50; ++k) {
        const auto balance = c.balance(1, 42);
        if (balance.ok()) continue;
        ++failed;
        std::lock_guard lock(mutex);
        failure = balance.message;
      }
    });
  }
  for (auto& t : readers) t.join();
  EXPECT_EQ(failed, 0) << failure;
}

TEST_F(ClientAuth, ADirectLinkForARevokedTokenIsRefusedWithTheServersWords) {
  start_with(auth_line("t-reader", "reader", "dash") + auth_line("t-other", "reader", "other"));
  auto connected = connect(server_.port(), "t-reader");
  ASSERT_TRUE(std::holds_alternative<std::unique_ptr<client::Client>>(connected));
  auto& c = *std::get<std::unique_ptr<client::Client>>(connected);
  // Revoked while the client holds its I/O connection (which keeps its hello), before any
  // direct link: the first read's new link says hello with a token the server no longer
  // knows.
  write_auth(auth_line("t-other", "reader", "other"));
  ASSERT_EQ(kill(server_.pid(), SIGHUP), 0);
  bool revoked = false;
  for (int i = 0; i < 100 && !revoked; ++i) {
    revoked = std::holds_alternative<std::string>(connect(server_.port(), "t-reader", 0));
    if (!revoked) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(revoked) << server_.log();
  const auto balance = c.balance(1, 42);
  EXPECT_EQ(balance.status, client::Status::refused);
  EXPECT_EQ(balance.error, FrameError::unauthenticated);
  EXPECT_NE(balance.message.find("hello refused by 127.0.0.1:" + std::to_string(server_.port()) +
                                 ": unauthenticated: hello: unknown token"),
            std::string::npos)
      << balance.message;
}

TEST(ClientAuthOptions, OverlongTokenOrNameIsRefusedBeforeConnecting) {
  client::ClientOptions options;
  options.port = 1;
  options.token = std::string(protocol::kTokenBytesMax + 1, 't');
  auto connected = client::Client::connect(options);
  ASSERT_TRUE(std::holds_alternative<std::string>(connected));
  EXPECT_EQ(std::get<std::string>(connected), "token must be at most 256 bytes");
  options.token = "t";
  options.client_name = std::string(protocol::kClientNameBytesMax + 1, 'n');
  connected = client::Client::connect(options);
  ASSERT_TRUE(std::holds_alternative<std::string>(connected));
  EXPECT_EQ(std::get<std::string>(connected), "client_name must be at most 128 bytes");
}

}  // namespace
}  // namespace bonus::test
