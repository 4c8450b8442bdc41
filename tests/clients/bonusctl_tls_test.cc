// bonusctl over TLS: the real binary against a real bonusd serving TLS with certificates
// from a throwaway CA (tests/server/test_ca.h): --tls-ca (or BONUS_TLS_CA) verifies the
// server, a wrong CA is exit 3 with the reason, unreadable files and half a client
// certificate are usage errors (exit 2), and mutual TLS takes --tls-cert/--tls-key.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tests/clients/run_bonusctl.h"
#include "tests/server/bonusd_process.h"
#include "tests/server/test_ca.h"

namespace bonus::test {
namespace {

// bonusctl with `args`, and BONUS_TLS_CA=`env_ca` when given (else unset).
Ran bonusctl(const TestCa& ca, std::vector<std::string> args, const std::string& env_ca = "") {
  return run_bonusctl(ca.path(""), std::move(args), {{"BONUS_TLS_CA", env_ca}});
}

class BonusctlTls : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(ca_.ok()) << ca_.error(); }

  void start(std::vector<std::string> args = {}) {
    args.insert(args.begin(), {"--tls-cert", ca_.server_cert(), "--tls-key", ca_.server_key()});
    ASSERT_TRUE(server_.start(args)) << server_.log();
    server_arg_ = "127.0.0.1:" + std::to_string(server_.port());
  }

  TestCa ca_;
  BonusdProcess server_;
  std::string server_arg_;
};

TEST_F(BonusctlTls, WritesAndReadsWithTlsCa) {
  start();
  const Ran credit = bonusctl(ca_, {"--server", server_arg_, "--tls-ca", ca_.ca_cert(), "credit",
                                    "--seller", "1", "--buyer", "2", "--amount", "300"});
  EXPECT_EQ(credit.code, 0) << credit.err;
  EXPECT_NE(credit.out.find("credit ok"), std::string::npos) << credit.out;
  // The CA from the environment, and the server named by its DNS name.
  const Ran balance = bonusctl(ca_,
                               {"--server", "localhost:" + std::to_string(server_.port()), "--json",
                                "balance", "--seller", "1", "--buyer", "2"},
                               ca_.ca_cert());
  EXPECT_EQ(balance.code, 0) << balance.err;
  EXPECT_NE(balance.out.find("\"available\": 300"), std::string::npos) << balance.out;
}

TEST_F(BonusctlTls, WrongCaIsUnreachableWithTheReason) {
  start();
  const Ran ran = bonusctl(ca_, {"--server", server_arg_, "--tls-ca", ca_.other_ca_cert(),
                                 "balance", "--seller", "1", "--buyer", "2"});
  EXPECT_EQ(ran.code, 3);
  EXPECT_NE(ran.err.find("certificate verify failed"), std::string::npos) << ran.err;
  const Ran plain =
      bonusctl(ca_, {"--server", server_arg_, "balance", "--seller", "1", "--buyer", "2"});
  EXPECT_EQ(plain.code, 3);
  EXPECT_NE(plain.err.find("--tls-ca"), std::string::npos) << plain.err;
}

TEST_F(BonusctlTls, UnreadableFilesAndHalfACertificateAreUsageErrors) {
  const Ran missing = bonusctl(ca_, {"--server", "127.0.0.1:1", "--tls-ca", ca_.path("none.pem"),
                                     "balance", "--seller", "1", "--buyer", "2"});
  EXPECT_EQ(missing.code, 2);
  EXPECT_NE(missing.err.find("--tls-ca " + ca_.path("none.pem") + ": cannot read it"),
            std::string::npos)
      << missing.err;
  const Ran half =
      bonusctl(ca_, {"--server", "127.0.0.1:1", "--tls-ca", ca_.ca_cert(), "--tls-cert",
                     ca_.client_cert(), "balance", "--seller", "1", "--buyer", "2"});
  EXPECT_EQ(half.code, 2);
  EXPECT_NE(half.err.find("--tls-cert and --tls-key go together"), std::string::npos) << half.err;
  const Ran help = bonusctl(ca_, {"--help"});
  EXPECT_NE(help.out.find("--tls-ca"), std::string::npos);
  EXPECT_NE(help.out.find("BONUS_TLS_CA"), std::string::npos);
}

TEST_F(BonusctlTls, MutualTlsTakesTheClientCertificate) {
  start({"--tls-client-ca", ca_.ca_cert()});
  const std::vector<std::string> read = {"balance", "--seller", "1", "--buyer", "2"};
  std::vector<std::string> with_cert = {"--server",    server_arg_,     "--tls-ca",
                                        ca_.ca_cert(), "--tls-cert",    ca_.client_cert(),
                                        "--tls-key",   ca_.client_key()};
  with_cert.insert(with_cert.end(), read.begin(), read.end());
  const Ran accepted = bonusctl(ca_, with_cert);
  EXPECT_EQ(accepted.code, 0) << accepted.err;
  std::vector<std::string> without = {"--server", server_arg_, "--tls-ca", ca_.ca_cert()};
  without.insert(without.end(), read.begin(), read.end());
  const Ran refused = bonusctl(ca_, without);
  EXPECT_EQ(refused.code, 3) << refused.out;
}

}  // namespace
}  // namespace bonus::test
