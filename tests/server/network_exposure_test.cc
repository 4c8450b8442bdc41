// The parts of "ready to face a network" together, against one real bonusd: listening on
// every interface with tokens and TLS (the listen rule's allowed case), a token holder
// served over TLS within its role, and the metrics endpoint seeing that connection under
// its role and each refusal under its reason.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <variant>

#include "clients/cpp/client.h"
#include "server/auth_file.h"
#include "tests/server/bonusd_process.h"
#include "tests/server/http_get.h"
#include "tests/server/test_ca.h"

namespace bonus::test {
namespace {

using client::Client;
using client::ClientOptions;
using protocol::FrameError;

std::string auth_line(const std::string& token, const std::string& role, const std::string& name) {
  return server::auth_file_line(token, role, name) + "\n";
}

class NetworkExposure : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(ca_.ok()) << ca_.error();
    auth_path_ = ca_.path("tokens");
    std::ofstream(auth_path_) << auth_line("till-token", "checkout", "till-1")
                              << auth_line("ops-token", "admin", "ops");
    ASSERT_EQ(chmod(auth_path_.c_str(), 0600), 0);
  }

  std::unique_ptr<Client> connect(const std::string& token) {
    ClientOptions options;
    options.port = server_.port();
    options.tls_ca_file = ca_.ca_cert();
    options.token = token;
    auto made = Client::connect(options);
    if (auto* error = std::get_if<std::string>(&made)) {
      ADD_FAILURE() << *error;
      return nullptr;
    }
    return std::move(std::get<std::unique_ptr<Client>>(made));
  }

  std::string scrape() {
    const HttpReply r = http_get(server_.metrics_port(), "/metrics");
    EXPECT_EQ(r.status, 200) << r.head;
    return r.body;
  }

  TestCa ca_;
  std::string auth_path_;
  BonusdProcess server_;
};

TEST_F(NetworkExposure, EveryInterfaceWithTokensAndTlsServesEachRoleItsOwn) {
  ASSERT_TRUE(server_.start({"--listen", "0.0.0.0:0", "--auth-file", auth_path_, "--tls-cert",
                             ca_.server_cert(), "--tls-key", ca_.server_key(), "--metrics-listen",
                             "127.0.0.1:0"}))
      << server_.log();
  EXPECT_NE(server_.log().find("(TLS)"), std::string::npos) << server_.log();
  EXPECT_NE(server_.log().find("authentication: 2 tokens"), std::string::npos) << server_.log();
  ASSERT_NE(server_.metrics_port(), 0) << server_.log();

  auto till = connect("till-token");
  ASSERT_NE(till, nullptr);
  // Within its role: a hold (nothing to hold against: a business rejection, served).
  const auto hold = till->write(Hold{Id128{1, 1}, 7001, 42, 7, 10, 100'000, 60'000'000});
  ASSERT_TRUE(hold.ok()) << hold.message;
  EXPECT_EQ(hold.value.code, Code::insufficient_bonuses);
  // Outside it: a credit and an admin request are refused by name.
  const auto credit = till->write(Credit{Id128{1, 2}, 42, 7, 100, 0, LotLife::forever()});
  EXPECT_EQ(credit.error, FrameError::forbidden) << credit.message;
  const auto admin = till->admin(protocol::AdminAction::status);
  EXPECT_EQ(admin.error, FrameError::forbidden) << admin.message;
  EXPECT_NE(admin.message.find("till-1"), std::string::npos) << admin.message;

  // The metrics see the open connection under its role and both refusals.
  const std::string text = scrape();
  EXPECT_EQ(metric_value(text, "bonus_connections{role=\"checkout\"}"), 1) << text;
  EXPECT_EQ(metric_value(text, "bonus_connections{role=\"admin\"}"), 0) << text;
  EXPECT_EQ(metric_value(text, "bonus_refusals_total{reason=\"forbidden\"}"), 2) << text;
  EXPECT_EQ(metric_value(text, "bonus_commands_total{kind=\"hold\",code=\"insufficient_bonuses\"}"),
            1)
      << text;

  // The admin token does what the till cannot, on a connection of its own.
  auto ops = connect("ops-token");
  ASSERT_NE(ops, nullptr);
  const auto ok_credit = ops->write(Credit{Id128{1, 3}, 42, 7, 100, 0, LotLife::forever()});
  ASSERT_TRUE(ok_credit.ok()) << ok_credit.message;
  EXPECT_EQ(ok_credit.value.code, Code::ok);
  const std::string after = scrape();
  EXPECT_EQ(metric_value(after, "bonus_connections{role=\"admin\"}"), 1) << after;
  EXPECT_EQ(metric_value(after, "bonus_connections{role=\"checkout\"}"), 1) << after;
}

TEST_F(NetworkExposure, HostileRefusalsAreCountedByReason) {
  ASSERT_TRUE(server_.start({"--auth-file", auth_path_, "--tls-cert", ca_.server_cert(),
                             "--tls-key", ca_.server_key(), "--metrics-listen", "127.0.0.1:0"}))
      << server_.log();
  auto ops = connect("ops-token");
  ASSERT_NE(ops, nullptr);
  // A balance naming one account twice is refused before any shard sees it. The client
  // asks a repeated key once, so the duplicate goes out as a raw frame.
  flatbuffers::FlatBufferBuilder fbb(256);
  protocol::BalanceQuery twice;
  twice.accounts = {{42, 7}, {42, 7}};
  protocol::encode_balance(twice, fbb);
  const auto raw = ops->send_raw(protocol::make_frame(
      protocol::Opcode::balance, 0, client::kRawRequestIdMin,
      protocol::Body{fbb.GetBufferPointer(), fbb.GetSize()}));
  ASSERT_TRUE(raw.ok()) << raw.message;
  EXPECT_EQ(raw.value.error.code, FrameError::duplicate_key) << raw.value.error.message;
  // A token nobody issued: unauthenticated, and that connection is closed.
  ClientOptions options;
  options.port = server_.port();
  options.tls_ca_file = ca_.ca_cert();
  options.token = "guessed-token";
  auto guessed = Client::connect(options);
  ASSERT_TRUE(std::holds_alternative<std::string>(guessed));
  EXPECT_NE(std::get<std::string>(guessed).find("unknown token"), std::string::npos)
      << std::get<std::string>(guessed);

  const std::string text = scrape();
  EXPECT_EQ(metric_value(text, "bonus_refusals_total{reason=\"duplicate_key\"}"), 1) << text;
  EXPECT_EQ(metric_value(text, "bonus_refusals_total{reason=\"unauthenticated\"}"), 1) << text;
}

}  // namespace
}  // namespace bonus::test
