// DirectLink: a connection of the C++ client for blocking calls made on the caller's own
// thread (Client's reads and ping). The caller writes the request frame and reads the
// frame that answers it with blocking socket calls, each bounded by the call's deadline:
// no hand-off to the client's I/O thread and back. Plain TCP only (with TLS every call
// goes through the I/O thread's connection).
//
// One request at a time, used by one thread at a time: Client keeps idle links in a pool
// and hands each to one caller. Any failure (timeout, broken stream, a reply that is not
// a frame) leaves it unusable, and the caller drops it, so a late reply can never answer
// the wrong request. The socket is closed when the link is destroyed.
#pragma once

#include <sys/types.h>

#include <asio.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "clients/cpp/client.h"
#include "protocol/frame.h"
#include "protocol/messages.h"

namespace bonus::client {

// What came back for one request.
struct DirectReply {
  Status status = Status::ok;
  protocol::FrameError error = protocol::FrameError::none;
  std::string message;
  protocol::FrameHeader header;      // status ok (or refused, bad_reply): the reply's
  std::vector<std::uint64_t> words;  // its body, 8-byte aligned
  // The link broke before any byte of a reply came (a write failed, or the stream ended
  // or was reset first), or the server had closed it for idleness (idle_timeout): a pooled
  // link gone stale, so a read may be asked again on a fresh one.
  bool stale = false;
  protocol::Body body() const {
    return {reinterpret_cast<const std::uint8_t*>(words.data()), header.body_size};
  }
};

class DirectLink {
 public:
  using Clock = std::chrono::steady_clock;

  // Connects to the first of `endpoints` that accepts and, with a token, says hello; all
  // by `deadline`. Null and `error` set when it cannot; `refused` then tells whether the
  // server answered with an ErrorReply (too_many_connections, unauthenticated, ...).
  static std::unique_ptr<DirectLink> open(const std::vector<asio::ip::tcp::endpoint>& endpoints,
                                          const std::string& token, const std::string& client_name,
                                          std::chrono::milliseconds timeout,
                                          Clock::time_point deadline, std::string& error,
                                          protocol::FrameError& refused);
  ~DirectLink();
  DirectLink(const DirectLink&) = delete;
  DirectLink& operator=(const DirectLink&) = delete;

  // Sends `frame`, whose request id is `id`, and reads the frame that answers it; by
  // `deadline`. Frames that answer nothing of ours (none should come) are skipped, but a
  // connection-wide ErrorReply (framing lost, too_many_connections, frame_timeout,
  // idle_timeout) is the answer: the server closes the connection after it.
  DirectReply round_trip(std::string_view frame, std::uint64_t id, Clock::time_point deadline);
  // False after any failure: drop it.
  bool usable() const { return usable_; }

 private:
  DirectLink(int fd, std::chrono::milliseconds timeout);
  // Both false (and the link unusable) on a failure, with `out` saying which.
  bool send_all(std::string_view bytes, Clock::time_point deadline, DirectReply& out);
  bool read_frame(Clock::time_point deadline, DirectReply& out);
  bool fill(std::size_t want, Clock::time_point deadline, DirectReply& out);
  bool again(ssize_t n, int error, Clock::time_point deadline, const char* what, DirectReply& out);
  void bound_waits(Clock::time_point deadline);

  int fd_ = -1;
  std::chrono::milliseconds timeout_;  // the socket's SO_RCVTIMEO / SO_SNDTIMEO as set
  bool timeouts_shortened_ = false;    // a call set them below timeout_: restore first
  bool usable_ = true;
  bool received_ = false;  // this round trip: a byte came
  std::vector<char> in_;   // received, not yet taken: [in_begin_, in_end_)
  std::size_t in_begin_ = 0;
  std::size_t in_end_ = 0;
};

}  // namespace bonus::client
