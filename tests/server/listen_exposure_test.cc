// The listen rule: loopback always; anything else only with auth and TLS, or --insecure.
#include "server/listen_exposure.h"

#include <gtest/gtest.h>

namespace bonus::server {
namespace {

TEST(ListenExposure, LoopbackAddresses) {
  for (const char* host :
       {"127.0.0.1", "127.0.0.2", "127.255.255.254", "::1", "::ffff:127.0.0.1"}) {
    EXPECT_TRUE(is_loopback_address(host)) << host;
  }
  for (const char* host : {"0.0.0.0", "::", "10.0.0.1", "128.0.0.1", "192.168.1.1",
                           "::ffff:10.0.0.1", "localhost", "example.com", "", "127.0.0.1junk"}) {
    EXPECT_FALSE(is_loopback_address(host)) << host;
  }
}

TEST(ListenExposure, LoopbackNeedsNothing) {
  EXPECT_EQ(listen_exposure_problem("127.0.0.1", false, false, false), std::nullopt);
  EXPECT_EQ(listen_exposure_problem("::1", false, false, false), std::nullopt);
}

TEST(ListenExposure, ElsewhereNeedsAuthAndTlsOrInsecure) {
  for (const char* host : {"0.0.0.0", "::", "10.1.2.3"}) {
    EXPECT_EQ(listen_exposure_problem(host, true, true, false), std::nullopt) << host;
    EXPECT_EQ(listen_exposure_problem(host, false, false, true), std::nullopt) << host;
    const auto none = listen_exposure_problem(host, false, false, false);
    ASSERT_TRUE(none.has_value());
    EXPECT_NE(none->find("without authentication (--auth-file) and TLS"), std::string::npos)
        << *none;
    EXPECT_NE(none->find("--insecure"), std::string::npos);
    const auto no_tls = listen_exposure_problem(host, true, false, false);
    ASSERT_TRUE(no_tls.has_value());
    EXPECT_NE(no_tls->find("without TLS"), std::string::npos) << *no_tls;
    const auto no_auth = listen_exposure_problem(host, false, true, false);
    ASSERT_TRUE(no_auth.has_value());
    EXPECT_NE(no_auth->find("without authentication (--auth-file);"), std::string::npos)
        << *no_auth;
  }
}

TEST(ListenExposure, MetricsElsewhereNeedInsecure) {
  for (const char* listen : {"127.0.0.1:9400", "[::1]:9400", "127.0.0.2:0", ""}) {
    EXPECT_EQ(metrics_exposure_problem(listen, false), std::nullopt) << listen;
  }
  for (const char* listen : {"0.0.0.0:9400", "[::]:9400", "10.1.2.3:9400"}) {
    const auto problem = metrics_exposure_problem(listen, false);
    ASSERT_TRUE(problem.has_value()) << listen;
    EXPECT_NE(problem->find("no authentication and no TLS"), std::string::npos) << *problem;
    EXPECT_EQ(metrics_exposure_problem(listen, true), std::nullopt) << listen;
  }
}

}  // namespace
}  // namespace bonus::server
