// Connection: one client's TCP stream. Reads frames one after another (many requests
// may be in flight: replies carry the request id and may come in any order), checks
// each, hands it to the sequencer or to shards, and writes replies as they come back.
// A frame whose framing cannot be trusted gets an ErrorReply and the connection closes;
// any other bad frame gets an ErrorReply and reading goes on. With --auth-file a
// connection has no role until it says hello with a token, and each request is checked
// against its role before its body is decoded (connection_auth.cc).
//
// Lives on the network thread; kept alive by shared_ptr while reads, writes or
// requests are outstanding (Server::accept's deleter destroys it on the network thread
// even when a shard thread drops the last reference).
#pragma once

#include <asio.hpp>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "protocol/frame.h"
#include "protocol/messages.h"
#include "server/read_timer.h"
#include "server/transport.h"
#include "server/auth_file.h"
#include "server/role.h"

namespace bonus::server {

class Server;

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(asio::ip::tcp::socket socket, Server& server);
  ~Connection();

  // Completes the TLS handshake (if any), then reads.
  void start() { after_handshake([](Connection& c) { c.read_header(); }); }
  // The peer's address ("10.0.0.7:51234"), for logs.
  const std::string& peer() const { return peer_; }
  // The role its requests are checked against now (none before a valid hello).
  Role role() const { return role_; }
  // Says why (ErrorReply with request id 0, after the TLS handshake) and closes, reading
  // nothing.
  void refuse(protocol::FrameError error, std::string message);
  // Sends a whole frame. From the network thread; `completes_request` counts it off the
  // in-flight requests.
  void send(std::string frame, bool completes_request);
  // From any thread: post a reply frame to the network thread.
  void post_reply(std::string frame);

 private:
  // Runs `then` once the transport's handshake is done; closes the connection when it
  // fails or takes longer than --tls-handshake-timeout-ms.
  void after_handshake(std::function<void(Connection&)> then);
  void read_header();
  void read_body();
  void on_frame();
  void dispatch(const protocol::FrameHeader& h, protocol::Body body);
  void reply_error(std::uint64_t request_id, protocol::FrameError error, std::string message,
                   bool completes_request);
  void write_next();
  void close();

  void handle_write(const protocol::FrameHeader& h, protocol::Body body);
  void handle_balance(const protocol::FrameHeader& h, protocol::Body body);
  void handle_cart(const protocol::FrameHeader& h, protocol::Body body);
  void handle_wallet(const protocol::FrameHeader& h, protocol::Body body);
  void handle_expiring(const protocol::FrameHeader& h, protocol::Body body);
  void handle_stats(const protocol::FrameHeader& h, protocol::Body body);
  void handle_admin(const protocol::FrameHeader& h, protocol::Body body);
  // Authentication (connection_auth.cc): hello, and the role's check before dispatch.
  void handle_hello(const protocol::FrameHeader& h, protocol::Body body);
  // none when the connection's role allows `opcode`; else unauthenticated or forbidden,
  // replied, logged and counted.
  protocol::FrameError gate(const protocol::FrameHeader& h);
  void follow_auth_reload();
  void init_auth();
  // Sets role_, keeping bonus_connections{role} in step.
  void change_role(Role to);

  Server& server_;
  Transport transport_;
  asio::steady_timer handshake_timer_;
  std::uint8_t header_bytes_[protocol::kHeaderBytes];
  protocol::FrameHeader header_;
  std::vector<std::uint64_t> body_;  // 8-byte aligned for FlatBuffers
  std::deque<std::string> out_;
  std::vector<asio::const_buffer> gather_;
  std::size_t writing_ = 0;      // frames of out_ in the current async_write
  std::int64_t in_flight_ = 0;   // this connection's requests awaiting a reply
  ReadTimer read_timer_;
  bool close_after_write_ = false;
  bool closed_ = false;
  // Authentication (connection_auth.cc). Without --auth-file every connection is admin.
  std::string peer_;
  Role role_ = Role::none;
  std::optional<TokenHash> token_hash_;  // of the last accepted hello's token
  std::string token_name_;
  std::uint64_t auth_generation_ = 0;  // of the auth file role_ was granted under
};

}  // namespace bonus::server
