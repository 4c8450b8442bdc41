// MetricsEndpoint: serves GET /metrics over plain HTTP/1.1 (bonusd --metrics-listen) for
// Prometheus to scrape. Small on purpose, and bounded against a hostile client: a request
// head larger than `request_bytes_max` gets 431 and the connection closes; a request must
// arrive whole within `request_timeout` of its first byte, a kept-alive connection may
// idle `idle_timeout` between requests, a reply must be written within `write_timeout`,
// else the connection closes; past `sessions_max` connections a kept-alive one waiting for
// its next request is closed to make room, and if none is, the new one gets 503 and is
// closed. Other paths get 404, other methods 405; a request with a body gets its answer
// and the connection closes (no body is read). Keep-alive as HTTP/1.1 says (1.0: only on
// request). No TLS and no authentication: bind it to loopback or a private network.
//
// Lives on the network thread (the Server's io_context): open, start, stop and every
// session run there; `render` is called there, once per scrape. Owned by the Server;
// sessions share only a small state with it, so a session that outlives it is harmless.
#pragma once

#include <asio.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace bonus::server {

struct MetricsEndpointLimits {
  std::size_t request_bytes_max = 8 * 1024;  // request line and headers
  std::chrono::milliseconds request_timeout{5'000};
  std::chrono::milliseconds idle_timeout{60'000};
  std::chrono::milliseconds write_timeout{10'000};
  std::uint32_t sessions_max = 8;
};

class MetricsEndpoint {
 public:
  // The body of a GET /metrics.
  using Render = std::function<std::string()>;

  MetricsEndpoint(asio::io_context& io, Render render, MetricsEndpointLimits limits = {});
  ~MetricsEndpoint();

  // Binds and listens on HOST:PORT (an IP address; IPv6 as [::1]:9400; port 0: any
  // free one). An error message naming what is wrong when it cannot.
  [[nodiscard]] std::optional<std::string> open(std::string_view host_port);
  // After open(): "HOST:PORT" with the port bound.
  std::string address() const;
  void start();  // accepts connections until stop()
  void stop();   // closes the listener and every session

  struct State;  // shared with the sessions (metrics_endpoint.cc)

 private:
  void accept();

  asio::ip::tcp::acceptor acceptor_;
  std::shared_ptr<State> state_;
};

}  // namespace bonus::server
