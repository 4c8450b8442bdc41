#include "server/listen_address.h"

#include <arpa/inet.h>

#include <charconv>

namespace bonus::server {

namespace {

constexpr const char* kExpected =
    "expected HOST:PORT, HOST an IPv4 address (127.0.0.1) or an IPv6 address in brackets "
    "([::1]), PORT 0..65535";

bool is_ipv4(const std::string& host) {
  in_addr a{};
  return inet_pton(AF_INET, host.c_str(), &a) == 1;
}

bool is_ipv6(const std::string& host) {
  in6_addr a{};
  return inet_pton(AF_INET6, host.c_str(), &a) == 1;
}

// The port: 1 to 5 decimal digits, nothing else, at most 65535.
bool parse_port(std::string_view text, std::uint16_t& port) {
  if (text.empty() || text.size() > 5) return false;
  unsigned value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc{} || end != text.data() + text.size() || value > 65535) return false;
  port = static_cast<std::uint16_t>(value);
  return true;
}

}  // namespace

std::variant<ListenAddress, std::string> parse_listen_address(std::string_view text) {
  std::string quoted = "'";  // (built by appends: GCC 12 warns falsely on "'" + string)
  quoted.append(text).append("': ");
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos) return quoted + kExpected;
  std::string_view host = text.substr(0, colon);
  const bool bracketed = host.size() >= 2 && host.front() == '[' && host.back() == ']';
  if (bracketed) host = host.substr(1, host.size() - 2);
  ListenAddress address{std::string(host), 0};
  if (bracketed ? !is_ipv6(address.host) : !is_ipv4(address.host)) {
    return quoted + "bad host '" + address.host + "'; " + kExpected;
  }
  if (!parse_port(text.substr(colon + 1), address.port)) {
    return quoted + "bad port '" + std::string(text.substr(colon + 1)) + "'; " + kExpected;
  }
  return address;
}

std::string listen_address_text(const std::string& host, std::uint16_t port) {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

}  // namespace bonus::server
