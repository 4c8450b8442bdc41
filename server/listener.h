// Listener: one listening socket of bonusd and where the connections it takes go. The
// main one (--listen) runs on the main loop and hands each connection to the next
// partition's loop in turn; a partition's own (--partition-ports) runs on that
// partition's loop and keeps its connections there, so a client that sends a buyer's
// requests to the buyer's partition is served without crossing a thread. Both refuse
// a connection past --connections-max (after the TLS handshake, with the reason) and
// back off when accept fails (EMFILE: 10 ms doubling to 1 s, logged at most once a
// second) instead of spinning.
//
// Owned by the Server; open() before the loops run, everything else on its own loop.
// Destroyed before that loop's io_context.
#pragma once

#include <asio.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "server/log_limiter.h"

namespace bonus::server {

class Server;
class Shard;

class Listener {
 public:
  // `next_loop` says which partition's loop the next connection goes to (called on
  // `io`'s thread).
  using NextLoop = std::function<Shard&()>;

  Listener(asio::io_context& io, Server& server, NextLoop next_loop, std::string what);

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
  NextLoop next_loop_;
  std::string what_;  // "" for the main listener, "partition 1's" for a partition's
  asio::ip::tcp::acceptor acceptor_;
  asio::steady_timer backoff_timer_;
  std::uint32_t backoff_ms_ = 0;
  LogLimiter failure_log_{1, std::chrono::seconds(1)};
  std::uint16_t port_ = 0;
};

}  // namespace bonus::server
