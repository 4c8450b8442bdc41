// ListenAddress: where bonusd listens, from `--listen HOST:PORT`. HOST is an IPv4 address
// (127.0.0.1, 0.0.0.0) or an IPv6 address in brackets ([::1], [::]); PORT is 0..65535
// (0: any free port). Names are not resolved. Plain values and pure functions; any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

namespace bonus::server {

struct ListenAddress {
  std::string host;  // without brackets: what asio::ip::make_address reads
  std::uint16_t port = 0;
};

// The address in `text`, or what is wrong with it (for a usage error).
std::variant<ListenAddress, std::string> parse_listen_address(std::string_view text);

// HOST:PORT as `--listen` takes it: an IPv6 host in brackets.
std::string listen_address_text(const std::string& host, std::uint16_t port);

}  // namespace bonus::server
