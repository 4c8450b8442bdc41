#include "server/listen_exposure.h"

#include <asio/ip/address.hpp>

namespace bonus::server {

bool is_loopback_address(const std::string& host) {
  asio::error_code ec;
  const asio::ip::address address = asio::ip::make_address(host, ec);
  if (ec) return false;
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    return asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6()).is_loopback();
  }
  return address.is_loopback();
}

std::optional<std::string> listen_exposure_problem(const std::string& host, bool auth, bool tls,
                                                   bool insecure) {
  if (is_loopback_address(host) || insecure || (auth && tls)) return std::nullopt;
  std::string missing =
      !auth && !tls ? "authentication (--auth-file) and TLS (--tls-cert, --tls-key)"
      : !auth       ? "authentication (--auth-file)"
                    : "TLS (--tls-cert, --tls-key): tokens would cross the network in clear";
  return "refusing to listen on " + host + " (not a loopback address) without " + missing +
         "; add them, listen on 127.0.0.1, or pass --insecure if this network is trusted";
}

std::optional<std::string> metrics_exposure_problem(const std::string& metrics_listen,
                                                    bool insecure) {
  if (metrics_listen.empty() || insecure) return std::nullopt;
  const auto colon = metrics_listen.rfind(':');
  if (colon == std::string::npos) return std::nullopt;
  std::string host = metrics_listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (is_loopback_address(host)) return std::nullopt;
  return "refusing to serve metrics on " + metrics_listen +
         " (not a loopback address): /metrics has no authentication and no TLS; bind it to "
         "127.0.0.1 (and scrape through a proxy or tunnel), or pass --insecure if this "
         "network is trusted";
}

}  // namespace bonus::server
