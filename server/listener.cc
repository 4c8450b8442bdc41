#include "server/listener.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <memory>

#include "server/connection.h"
#include "server/listen_address.h"
#include "server/server.h"

namespace bonus::server {

Listener::Listener(asio::io_context& io, Server& server, std::uint32_t partition,
                   std::string what)
    : io_(io), server_(server), partition_(partition), what_(std::move(what)),
      acceptor_(io), backoff_timer_(io) {}

std::optional<std::string> Listener::open(const asio::ip::tcp::endpoint& endpoint) {
  asio::error_code ec;
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (!ec) port_ = acceptor_.local_endpoint(ec).port();
  if (!ec) return std::nullopt;
  std::string out = what_.empty() ? "listen on " : what_ + " listener on ";
  out += listen_address_text(endpoint.address().to_string(), endpoint.port());
  out += ": ";
  out += ec.message();
  return out;
}

void Listener::start() { accept(); }

void Listener::close() {
  asio::error_code ec;
  acceptor_.close(ec);
  backoff_timer_.cancel();
}

void Listener::accept() {
  acceptor_.async_accept([this](const asio::error_code& ec, asio::ip::tcp::socket socket) {
    if (ec) {
      if (ec != asio::error::operation_aborted && acceptor_.is_open()) accept_after_failure(ec);
      return;
    }
    backoff_ms_ = 0;
    // Replies hold the connection from other threads; the deleter brings its destruction
    // back to its loop, which owns the socket and its timers.
    std::shared_ptr<Connection> connection(new Connection(std::move(socket), server_, partition_),
                                           [io = &io_](Connection* c) {
                                             std::unique_ptr<Connection> owned(c);
                                             if (io->stopped()) return;  // deleted here
                                             asio::post(*io, [owned = std::move(owned)] {});
                                           });
    const std::uint32_t connections_max = server_.config().connections_max;
    if (server_.connections().load() > connections_max) {
      server_.access_log().connection_limit(connection->peer(), connections_max);
      connection->refuse(protocol::FrameError::too_many_connections,
                         "too many connections (--connections-max " +
                             std::to_string(connections_max) + ")");
    } else {
      connection->start();
    }
    accept();
  });
}

// accept fails for lack of descriptors (EMFILE, ENFILE) while the listener stays
// readable: retrying at once would spin. Wait 10 ms, doubling to a second, and say so.
void Listener::accept_after_failure(const asio::error_code& ec) {
  backoff_ms_ = std::clamp<std::uint32_t>(backoff_ms_ * 2, 10, 1000);
  if (std::uint64_t suppressed = 0;
      failure_log_.allow(std::chrono::steady_clock::now(), suppressed)) {
    spdlog::warn("bonusd: {}accept failed: {} ({} connections open); retrying in {} ms{}",
                 what_.empty() ? "" : what_ + " ", ec.message(), server_.connections().load(),
                 backoff_ms_,
                 suppressed == 0 ? "" : fmt::format(" ({} similar lines left out)", suppressed));
  }
  backoff_timer_.expires_after(std::chrono::milliseconds(backoff_ms_));
  backoff_timer_.async_wait([this](const asio::error_code& e) {
    if (!e && acceptor_.is_open()) accept();
  });
}

}  // namespace bonus::server
