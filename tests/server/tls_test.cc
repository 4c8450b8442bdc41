// TLS end to end: a real bonusd with --tls-cert (and --tls-client-ca), the C++ client
// with tls_ca_file, certificates from a throwaway CA the test makes (tests/server/test_ca.h).
// The server verifies what it must, fails clean on every mismatch of plain and TLS, closes
// a connection that never handshakes, and keeps serving other clients throughout.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <variant>

#include "clients/cpp/client.h"
#include "protocol/frame.h"
#include "tests/server/bonusd_process.h"
#include "tests/server/test_ca.h"

namespace bonus::test {
namespace {

using client::Client;
using client::ClientOptions;
using Clock = std::chrono::steady_clock;

// Either a connected client or why it could not connect.
struct Connected {
  std::unique_ptr<Client> client;
  std::string error;
};

Connected connect(const ClientOptions& options) {
  auto made = Client::connect(options);
  if (auto* error = std::get_if<std::string>(&made)) return {nullptr, *error};
  return {std::move(std::get<std::unique_ptr<Client>>(made)), {}};
}

std::string ping_frame(std::uint64_t request_id) {
  return protocol::make_frame(protocol::Opcode::ping, 0, request_id, protocol::Body{});
}

class Tls : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ca_ = new TestCa(); }
  static void TearDownTestSuite() {
    delete ca_;
    ca_ = nullptr;
  }
  void SetUp() override { ASSERT_TRUE(ca_->ok()) << ca_->error(); }

  // A bonusd serving TLS with the test CA's server certificate, plus `args`.
  void start_tls(std::vector<std::string> args = {}) {
    args.insert(args.begin(), {"--tls-cert", ca_->server_cert(), "--tls-key", ca_->server_key()});
    ASSERT_TRUE(server_.start(args)) << server_.log();
  }

  ClientOptions plain_options() const {
    ClientOptions options;
    options.port = server_.port();
    options.timeout = std::chrono::milliseconds(5000);
    return options;
  }
  ClientOptions tls_options() const {
    ClientOptions options = plain_options();
    options.tls_ca_file = ca_->ca_cert();
    return options;
  }

  // A trusting client connects, writes and reads back.
  void expect_served() {
    Connected c = connect(tls_options());
    ASSERT_TRUE(c.client) << c.error;
    const Credit credit{Id128{77, ++written_}, 1, 42, 100, 0, LotLife::forever()};
    const auto w = c.client->write(credit);
    ASSERT_TRUE(w.ok()) << w.message;
    EXPECT_EQ(w.value.code, Code::ok);
    const auto b = c.client->balance(1, 42);
    ASSERT_TRUE(b.ok()) << b.message;
    EXPECT_EQ(b.value.account.available, 100 * written_);
  }

  static TestCa* ca_;
  BonusdProcess server_;
  std::uint64_t written_ = 0;
};

TestCa* Tls::ca_ = nullptr;

TEST_F(Tls, ServesTheCppClientAndSaysTlsInItsStartLine) {
  start_tls();
  EXPECT_NE(server_.log().find("(TLS)"), std::string::npos) << server_.log();
  expect_served();
  expect_served();
}

TEST_F(Tls, StartLineSaysPlainTcpWithoutTls) {
  ASSERT_TRUE(server_.start()) << server_.log();
  EXPECT_NE(server_.log().find("(plain TCP)"), std::string::npos) << server_.log();
}

TEST_F(Tls, ClientTrustingAnotherCaIsRefusedWithTheReason) {
  start_tls();
  ClientOptions options = tls_options();
  options.tls_ca_file = ca_->other_ca_cert();
  const Connected c = connect(options);
  ASSERT_FALSE(c.client);
  EXPECT_NE(c.error.find("TLS handshake failed"), std::string::npos) << c.error;
  EXPECT_NE(c.error.find("unable to get local issuer certificate"), std::string::npos) << c.error;
  expect_served();
}

TEST_F(Tls, ServerNameIsCheckedAgainstTheCertificate) {
  start_tls();
  ClientOptions options = tls_options();
  options.tls_server_name = "bonus.example";  // the certificate names localhost, 127.0.0.1
  const Connected wrong = connect(options);
  ASSERT_FALSE(wrong.client);
  EXPECT_NE(wrong.error.find("hostname mismatch"), std::string::npos) << wrong.error;

  options.tls_server_name = "127.0.0.2";
  const Connected wrong_ip = connect(options);
  ASSERT_FALSE(wrong_ip.client);
  EXPECT_NE(wrong_ip.error.find("IP address mismatch"), std::string::npos) << wrong_ip.error;

  options.tls_server_name = "localhost";  // a DNS name, over 127.0.0.1
  const Connected by_name = connect(options);
  ASSERT_TRUE(by_name.client) << by_name.error;
  EXPECT_TRUE(by_name.client->ping().ok());
}

TEST_F(Tls, MutualTlsRefusesClientsWithoutACertificateOfItsCa) {
  start_tls({"--tls-client-ca", ca_->ca_cert()});
  EXPECT_NE(server_.log().find("client certificates required"), std::string::npos) << server_.log();

  const Connected anonymous = connect(tls_options());
  ASSERT_FALSE(anonymous.client);
  EXPECT_FALSE(anonymous.error.empty());

  ClientOptions stranger = tls_options();
  stranger.tls_cert_file = ca_->stranger_cert();  // signed by the other CA
  stranger.tls_key_file = ca_->stranger_key();
  const Connected refused = connect(stranger);
  ASSERT_FALSE(refused.client);
  EXPECT_FALSE(refused.error.empty());

  ClientOptions known = tls_options();
  known.tls_cert_file = ca_->client_cert();
  known.tls_key_file = ca_->client_key();
  const Connected accepted = connect(known);
  ASSERT_TRUE(accepted.client) << accepted.error;
  const Credit credit{Id128{78, 1}, 1, 43, 5, 0, LotLife::forever()};
  const auto w = accepted.client->write(credit);
  ASSERT_TRUE(w.ok()) << w.message;
  EXPECT_EQ(w.value.code, Code::ok);
}

TEST_F(Tls, PlainClientAgainstTlsServerFailsCleanlyAndOthersAreServed) {
  start_tls();
  RawConnection raw(server_.port());
  ASSERT_TRUE(raw.connected());
  ASSERT_TRUE(raw.send(ping_frame(1)));
  EXPECT_TRUE(raw.closed_by_peer(5000)) << "a plain frame must end the TLS connection";

  const auto began = Clock::now();
  const Connected plain = connect(plain_options());
  ASSERT_FALSE(plain.client);
  EXPECT_LT(Clock::now() - began, std::chrono::seconds(4)) << "must fail, not wait for a timeout";
  EXPECT_NE(plain.error.find("if the server speaks TLS"), std::string::npos) << plain.error;
  expect_served();
}

TEST_F(Tls, TlsClientAgainstPlainServerFailsCleanlyAndOthersAreServed) {
  ASSERT_TRUE(server_.start()) << server_.log();
  const auto began = Clock::now();
  const Connected tls = connect(tls_options());
  ASSERT_FALSE(tls.client);
  EXPECT_LT(Clock::now() - began, std::chrono::seconds(4)) << "must fail, not wait for a timeout";
  EXPECT_NE(tls.error.find("does the peer speak TLS?"), std::string::npos) << tls.error;
  const Connected plain = connect(plain_options());
  ASSERT_TRUE(plain.client) << plain.error;
  EXPECT_TRUE(plain.client->ping().ok());
}

TEST_F(Tls, ConnectionThatNeverHandshakesIsClosedAtTheDeadline) {
  // Long enough for the good client's own handshake on a loaded machine.
  start_tls({"--tls-handshake-timeout-ms", "1000"});
  RawConnection silent(server_.port());
  RawConnection half(server_.port());
  ASSERT_TRUE(silent.connected() && half.connected());
  ASSERT_TRUE(
      half.send(std::string("\x16\x03\x01\x02\x00", 5)));  // a ClientHello's record header only
  const auto began = Clock::now();
  expect_served();  // meanwhile
  EXPECT_TRUE(silent.closed_by_peer(5000));
  EXPECT_TRUE(half.closed_by_peer(5000));
  EXPECT_GE(Clock::now() - began, std::chrono::milliseconds(800));
  expect_served();
}

TEST_F(Tls, ClientReconnectsWithANewHandshake) {
  start_tls();
  Connected c = connect(tls_options());
  ASSERT_TRUE(c.client) << c.error;
  // A header the server cannot frame: it answers and closes the connection.
  const auto raw = c.client->send_raw(std::string(protocol::kHeaderBytes, 'x'));
  ASSERT_TRUE(raw.ok()) << raw.message;
  EXPECT_EQ(raw.value.header.opcode, protocol::Opcode::error);
  bool pinged = false;
  for (int i = 0; i < 50 && !pinged; ++i) {  // the first may still meet the closing link
    pinged = c.client->ping().ok();
    if (!pinged) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(pinged);
  const Credit credit{Id128{79, 1}, 1, 44, 5, 0, LotLife::forever()};
  const auto w = c.client->write(credit);
  ASSERT_TRUE(w.ok()) << w.message;
}

TEST_F(Tls, ConnectionLimitRefusalIsReadableOverTls) {
  start_tls({"--connections-max", "1"});
  Connected first = connect(tls_options());
  ASSERT_TRUE(first.client) << first.error;
  const Connected second = connect(tls_options());
  ASSERT_FALSE(second.client);
  EXPECT_NE(second.error.find("too_many_connections"), std::string::npos) << second.error;
  EXPECT_TRUE(first.client->ping().ok());
}

// The policy of server/tls_context.h, seen from outside with `openssl s_client`: TLS 1.3
// and 1.2 with ECDHE and AEAD are served; TLS 1.1 and a cipher without forward secrecy
// are refused.
TEST_F(Tls, PolicyRefusesOldVersionsAndWeakCiphers) {
  start_tls();
  const auto handshakes = [&](const std::string& options) {
    const std::string command =
        "timeout 20 openssl s_client -connect 127.0.0.1:" + std::to_string(server_.port()) +
        " -CAfile " + ca_->ca_cert() + " -verify_return_error " + options + " </dev/null >" +
        ca_->path("s_client.log") + " 2>&1";
    return std::system(command.c_str()) == 0;
  };
  EXPECT_TRUE(handshakes("-tls1_3"));
  EXPECT_TRUE(handshakes("-tls1_2 -cipher ECDHE-ECDSA-AES128-GCM-SHA256"));
  EXPECT_FALSE(handshakes("-tls1_1"));
  EXPECT_FALSE(handshakes("-tls1_2 -cipher ECDHE-ECDSA-AES128-SHA"));  // CBC, not AEAD
  EXPECT_FALSE(handshakes("-tls1_2 -cipher AES128-GCM-SHA256"));       // no ECDHE
  expect_served();
}

// Each bad combination of --tls-* flags stops bonusd before it serves, naming the file
// and OpenSSL's reason.
TEST_F(Tls, BadTlsFlagsAreStartErrors) {
  std::ofstream(ca_->path("garbage.pem")) << "not a certificate\n";
  const std::string missing = ca_->path("missing.pem");
  struct Case {
    std::vector<std::string> args;
    std::string said;
  };
  const std::vector<Case> cases = {
      {{"--tls-key", ca_->server_key()}, "--tls-key requires --tls-cert"},
      {{"--tls-cert", ca_->server_cert()}, "--tls-cert requires --tls-key"},
      {{"--tls-client-ca", ca_->ca_cert()}, "--tls-client-ca requires --tls-cert"},
      {{"--tls-cert", missing, "--tls-key", ca_->server_key()},
       "cannot load the TLS certificate chain from " + missing + ": No such file or directory"},
      {{"--tls-cert", ca_->path("garbage.pem"), "--tls-key", ca_->server_key()},
       "cannot load the TLS certificate chain from " + ca_->path("garbage.pem") +
           ": no start line"},
      {{"--tls-cert", ca_->server_cert(), "--tls-key", ca_->client_key()},
       "cannot load the TLS private key from " + ca_->client_key() + ": key values mismatch"},
      {{"--tls-cert", ca_->expired_cert(), "--tls-key", ca_->expired_key()},
       "the TLS certificate " + ca_->expired_cert() + " expired on "},
      {{"--tls-cert", ca_->server_cert(), "--tls-key", ca_->server_key(), "--tls-client-ca",
        missing},
       "cannot load the TLS CA certificates from " + missing},
      {{"--tls-cert", ca_->server_cert(), "--tls-key", ca_->server_key(),
        "--tls-handshake-timeout-ms", "0"},
       "--tls-handshake-timeout-ms"},
  };
  for (const Case& c : cases) {
    BonusdProcess bonusd;
    EXPECT_FALSE(bonusd.start(c.args)) << c.said;
    EXPECT_NE(bonusd.log().find(c.said), std::string::npos)
        << "wanted: " << c.said << "\ngot: " << bonusd.log();
  }
}

TEST_F(Tls, BadClientTlsFilesAreConnectErrors) {
  start_tls();
  ClientOptions options = tls_options();
  options.tls_ca_file = ca_->path("missing.pem");
  EXPECT_NE(connect(options).error.find("cannot load the TLS CA certificates from"),
            std::string::npos);
  options = tls_options();
  options.tls_cert_file = ca_->client_cert();  // without its key
  EXPECT_NE(connect(options).error.find("needs both"), std::string::npos);
  options = plain_options();
  options.tls_cert_file = ca_->client_cert();
  options.tls_key_file = ca_->client_key();
  EXPECT_NE(connect(options).error.find("needs tls_ca_file"), std::string::npos);
  options = tls_options();
  options.tls_server_name = std::string(300, 'a');  // longer than SNI allows
  EXPECT_NE(connect(options).error.find("bad TLS server name"), std::string::npos);
}

}  // namespace
}  // namespace bonus::test
