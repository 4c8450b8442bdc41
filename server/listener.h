// Listener: one listening socket of bonusd; the connections it takes live on its loop.
// The main one (--listen) runs on the main loop, the network thread, which serves any
// buyer's requests by passing them to their partitions; a partition's own
// (--partition-ports) runs on that partition's loop, so a client that sends a buyer's
// requests to the buyer's partition is served by the thread that owns the buyer. Both
// refuse a connection past --connections-max (after the TLS handshake, with the reason)
// and back off when accept fails (EMFILE: 10 ms doubling to 1 s, logged at most once a
// second) instead of spinning.
//
// Owned by the Server; open() before the loops run, everything else on its own loop.
// Destroyed before that loop's io_context.
#pragma once

#include <asio.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "server/log_limiter.h"

namespace bonus::server {

class Server;

class Listener {
 public:
  // `partition`: the partition whose loop `io` is, or Connection::kNoPartition (the main
  // loop).
  Listener(asio::io_context& io, Server& server, std::uint32_t partition, std::string what);

  // Binds and listens; an error naming the address and what this listener is for.
  [[nodiscard]] std::optional<std::string> open(const asio::ip::tcp::endpoint& endpoint);
  std::uint16_t port() const { return port_; }
  asio::io_context& io() { return io_; }

  // On its loop: takes connections until close().
  void start();
  void close();

 private:
  void accept();
  void accept_after_failure(const asio::error_code& ec);

  asio::io_context& io_;
  Server& server_;
  std::uint32_t partition_;
  std::string what_;  // "" for the main listener, "partition 1's" for a partition's
  asio::ip::tcp::acceptor acceptor_;
  asio::steady_timer backoff_timer_;
  std::uint32_t backoff_ms_ = 0;
  LogLimiter failure_log_{1, std::chrono::seconds(1)};
  std::uint16_t port_ = 0;
};

}  // namespace bonus::server
