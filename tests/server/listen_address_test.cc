// parse_listen_address (server/listen_address.h): `--listen HOST:PORT`, strictly.
#include "server/listen_address.h"

#include <gtest/gtest.h>

namespace bonus::server {
namespace {

ListenAddress good(std::string_view text) {
  const auto parsed = parse_listen_address(text);
  const auto* address = std::get_if<ListenAddress>(&parsed);
  EXPECT_NE(address, nullptr) << text << ": " << std::get<std::string>(parsed);
  return address != nullptr ? *address : ListenAddress{};
}

std::string bad(std::string_view text) {
  const auto parsed = parse_listen_address(text);
  const auto* error = std::get_if<std::string>(&parsed);
  EXPECT_NE(error, nullptr) << text << " was taken";
  return error != nullptr ? *error : "";
}

TEST(ListenAddress, TakesIpv4AndBracketedIpv6WithAPortUpTo65535) {
  EXPECT_EQ(good("127.0.0.1:7400").host, "127.0.0.1");
  EXPECT_EQ(good("127.0.0.1:7400").port, 7400);
  EXPECT_EQ(good("0.0.0.0:0").port, 0);
  EXPECT_EQ(good("10.1.2.3:65535").port, 65535);
  EXPECT_EQ(good("[::1]:7400").host, "::1");
  EXPECT_EQ(good("[::]:1").host, "::");
  EXPECT_EQ(good("[fe80::1:2]:80").host, "fe80::1:2");
}

TEST(ListenAddress, RefusesEverythingElseSayingWhat) {
  EXPECT_NE(bad("127.0.0.1:7400junk").find("bad port '7400junk'"), std::string::npos);
  EXPECT_NE(bad(":").find("bad host ''"), std::string::npos);
  EXPECT_NE(bad("127.0.0.1:65536").find("bad port"), std::string::npos);
  EXPECT_NE(bad("127.0.0.1:99999999999").find("bad port"), std::string::npos);
  EXPECT_NE(bad("127.0.0.1").find("expected HOST:PORT"), std::string::npos);
  for (const char* text :
       {"127.0.0.1:", "127.0.0.1:-1", "127.0.0.1:+1", "127.0.0.1: 1", "localhost:7400", "::1:7400",
        "[::1]7400", "[::1]:", "[1.2.3.4]:1", "1.2.3:1", "[::1:1", "::1]:1", ""}) {
    bad(text);
  }
}

TEST(ListenAddress, TextPutsIpv6InBrackets) {
  EXPECT_EQ(listen_address_text("127.0.0.1", 7400), "127.0.0.1:7400");
  EXPECT_EQ(listen_address_text("::1", 7400), "[::1]:7400");
}

}  // namespace
}  // namespace bonus::server
