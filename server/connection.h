// Connection: one client's TCP stream. Reads what the socket holds in chunks and serves
// every frame of a chunk in turn (many requests may be in flight: replies carry the
// request id and may come in any order), checks each, hands it to the sequencer or to
// shards, and writes replies as they come back; replies made while a chunk is served go
// out in one write.
// A frame whose framing cannot be trusted gets an ErrorReply and the connection closes;
// any other bad frame gets an ErrorReply and reading goes on. With --auth-file a
// connection has no role until it says hello with a token, and each request is checked
// against its role before its body is decoded (connection_auth.cc).
//
// Bounds (server/README.md, "Every client bounded"): a body grows as its bytes arrive
// (BodyBuffer); a frame whose first byte has arrived must complete within
// --frame-timeout-ms, and a connection with no complete frame for --idle-timeout-s is
// closed (one steady_timer per connection, re-armed lazily: a frame only stores a
// deadline); each request in flight reserves the bytes its reply may take
// (server/request_price.h) and each reply counts until it is written to the socket:
// while reserved + unsent bytes pass --unsent-bytes-max the connection is not read.
//
// Lives on the loop of the listener that accepted it (server/listener.h): the main loop
// (the network thread) for the main port, a partition's loop (Shard::io()) for that
// partition's port. Every handler and every member below run there. Kept alive by
// shared_ptr while reads, writes or requests are outstanding (Listener::accept's deleter
// destroys it on its loop even when another thread drops the last reference).
#pragma once

#include <asio.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "protocol/frame.h"
#include "protocol/messages.h"
#include "server/auth_file.h"
#include "server/body_buffer.h"
#include "server/read_timer.h"
#include "server/role.h"
#include "server/transport.h"

namespace bonus::server {

class Server;

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  // A connection of the main loop (the network thread), not of a partition's.
  static constexpr std::uint32_t kNoPartition = UINT32_MAX;

  // `partition`: the index of the partition whose loop the socket belongs to, or
  // kNoPartition.
  Connection(asio::ip::tcp::socket socket, Server& server, std::uint32_t partition);
  ~Connection();

  // Completes the TLS handshake (if any), then reads.
  void start();
  // The peer's address ("10.0.0.7:51234"), for logs.
  const std::string& peer() const { return peer_; }
  // The role its requests are checked against now (none before a valid hello).
  Role role() const { return role_; }
  // Says why (ErrorReply with request id 0, after the TLS handshake) and closes, reading
  // nothing.
  void refuse(protocol::FrameError error, std::string message);
  // Sends a whole frame. On the connection's loop; `completes_request` counts it off the
  // in-flight requests.
  void send(std::string frame, bool completes_request);
  // From any thread: a reply frame to the connection's loop (sent at once when called
  // there).
  void post_reply(std::string frame);
  // The loop it lives on.
  asio::io_context& io() { return io_; }

 private:
  // Runs `then` once the transport's handshake is done; closes the connection when it
  // fails or takes longer than --tls-handshake-timeout-ms.
  void after_handshake(std::function<void(Connection&)> then);
  // Serves every frame input_ holds, then reads more (or pauses: over the unsent bound).
  void serve_input();
  void read_input();
  void on_header();
  void read_body_some();
  void on_frame();
  // Deadlines (one timer): a frame's first byte starts the frame deadline, a complete
  // frame starts the idle one; the timer wakes at most a frame timeout apart, so a new
  // frame deadline never needs it re-armed.
  void frame_started();
  void frame_done();
  void arm_deadline();
  void on_deadline();
  void time_out(protocol::FrameError error, std::string message);
  // Reply bytes: reserved per request in flight, unsent until written.
  void reserve(std::uint64_t request_id, std::uint64_t bytes);
  void release(std::uint64_t request_id);
  bool over_unsent_bound() const;
  void resume_reading();
  void dispatch(const protocol::FrameHeader& h, protocol::Body body);
  void reply_error(std::uint64_t request_id, protocol::FrameError error, std::string message,
                   bool completes_request);
  // Reads at a log position (connection_position.cc; frame flag kPosition). Takes the
  // position off `body`; true when the node reflects it (the request goes on, its reply
  // to be prefixed with the position), else the request is answered or parked until it
  // does (server/position_waits.h) and dispatched again then.
  bool at_position(const protocol::FrameHeader& h, protocol::Body& body);
  struct PositionWait;
  void wait_for_position(const protocol::FrameHeader& h, protocol::Body whole,
                         std::uint64_t wanted);
  void end_wait(const std::shared_ptr<PositionWait>& wait, bool reached);
  // The frame as it goes out: with its request's position when the request had one.
  std::string positioned(std::string frame);
  // Takes the position recorded for request `request_id` (true when there was one).
  bool take_position(std::uint64_t request_id, std::uint64_t& position);
  // Writes go to the leader of a log several nodes follow: on a standby, the request is
  // answered not_leader (naming the leader) and true returned.
  bool refuse_unless_leader(std::uint64_t request_id);
  std::string not_leader_frame(std::uint64_t request_id) const;
  void write_next();
  void close();

  void handle_write(const protocol::FrameHeader& h, protocol::Body body);
  void handle_balance(const protocol::FrameHeader& h, protocol::Body body);
  void handle_cart(const protocol::FrameHeader& h, protocol::Body body);
  void handle_wallet(const protocol::FrameHeader& h, protocol::Body body);
  void handle_expiring(const protocol::FrameHeader& h, protocol::Body body);
  void handle_stats(const protocol::FrameHeader& h, protocol::Body body);
  void handle_policy(const protocol::FrameHeader& h, protocol::Body body);
  void handle_segment(const protocol::FrameHeader& h, protocol::Body body);
  void handle_report(const protocol::FrameHeader& h, protocol::Body body);
  // history and order (connection_history.cc).
  void handle_history(const protocol::FrameHeader& h, protocol::Body body);
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

  // Counts a read of partition `shard`'s buyers arriving here when this is not that
  // partition's connection.
  void note_partition(std::uint32_t shard) const;

  Server& server_;
  asio::io_context& io_;
  std::uint32_t partition_;
  Transport transport_;
  asio::steady_timer handshake_timer_;
  // What the last read brought and is not yet served; allocated at the first read.
  static constexpr std::size_t kInputBytes = 4096;
  std::unique_ptr<std::uint8_t[]> input_;
  std::size_t input_begin_ = 0;
  std::size_t input_end_ = 0;
  bool corked_ = false;  // serving input_: replies wait to go out in one write
  std::uint8_t header_bytes_[protocol::kHeaderBytes];
  std::size_t header_have_ = 0;
  protocol::FrameHeader header_;
  BodyBuffer body_;
  asio::steady_timer deadline_timer_;
  std::chrono::steady_clock::time_point deadline_;
  bool in_frame_ = false;      // a frame's first byte has arrived, not its last
  bool stop_reading_ = false;  // timed out: no more frames are read
  bool paused_ = false;        // not reading: reserved + unsent bytes past the bound
  std::uint64_t unsent_bytes_ = 0;    // of out_
  std::uint64_t reserved_bytes_ = 0;  // sum of reserved_
  std::unordered_multimap<std::uint64_t, std::uint64_t> reserved_;  // request id -> bytes
  std::deque<std::string> out_;
  std::vector<asio::const_buffer> gather_;
  std::size_t writing_ = 0;      // frames of out_ in the current async_write
  std::int64_t in_flight_ = 0;   // this connection's requests awaiting a reply
  // Requests with flag kPosition in flight, but writes (their jobs know their own):
  // request id -> the position their reply reflects (the node's, before they were
  // handed on).
  std::unordered_multimap<std::uint64_t, std::uint64_t> positions_;
  ReadTimer read_timer_;
  bool close_after_write_ = false;
  bool closed_ = false;
  // Authentication (connection_auth.cc). Without --auth-file every connection is admin.
  std::string peer_;  // "address:port", for log lines
  Role role_ = Role::none;
  std::optional<TokenHash> token_hash_;  // of the last accepted hello's token
  std::string token_name_;
  std::uint64_t auth_generation_ = 0;  // of the auth file role_ was granted under
};

}  // namespace bonus::server
