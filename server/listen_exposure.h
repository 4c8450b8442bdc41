// The rule for where bonusd may listen (checked once at start, before anything opens):
// a loopback address (127.0.0.0/8, ::1, ::ffff:127.x.y.z) is always allowed; any other
// address — 0.0.0.0 and :: (every interface) included — needs both authentication
// (--auth-file) and TLS (--tls-cert), or --insecure to say the operator means it.
// Host names are not addresses: bonusd listens on addresses only. Stateless.
#pragma once

#include <optional>
#include <string>

namespace bonus::server {

// Whether `host` is a loopback address (false for names and unparsable text).
bool is_loopback_address(const std::string& host);

// Why bonusd must not listen on `host` with these settings, or nothing.
std::optional<std::string> listen_exposure_problem(const std::string& host, bool auth, bool tls,
                                                   bool insecure);

// The same rule for --metrics-listen HOST:PORT ([v6]:PORT): /metrics has neither
// authentication nor TLS, so anything but a loopback address needs --insecure. A value
// that is not HOST:PORT is left to the endpoint to refuse.
std::optional<std::string> metrics_exposure_problem(const std::string& metrics_listen,
                                                    bool insecure);

}  // namespace bonus::server
