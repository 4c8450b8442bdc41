// Address: a server's IPv4 host and port as the bench programs take them ("host:port"),
// for round-trip and open-loop. Plain values; any thread.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>

namespace bonus::bench {

struct Address {
  std::string host;
  std::uint16_t port = 0;
};

// "127.0.0.1:7400"; nothing for text without a colon or with a port outside 1..65535.
inline std::optional<Address> parse_address(const std::string& text) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos) return std::nullopt;
  const std::string port_text = text.substr(colon + 1);
  char* end = nullptr;
  const long port = std::strtol(port_text.c_str(), &end, 10);
  if (port_text.empty() || *end != '\0' || port <= 0 || port > 65535) return std::nullopt;
  return Address{text.substr(0, colon), static_cast<std::uint16_t>(port)};
}

}  // namespace bonus::bench
