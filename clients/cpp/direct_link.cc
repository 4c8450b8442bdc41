#include "clients/cpp/direct_link.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace bonus::client {
namespace {

using protocol::FrameError;
using protocol::Opcode;

constexpr std::size_t kReadChunkBytes = 16 * 1024;

timeval timeval_of(std::chrono::microseconds us) {
  us = std::max(us, std::chrono::microseconds(1));  // 0 would mean "wait forever"
  return timeval{static_cast<time_t>(us.count() / 1'000'000),
                 static_cast<suseconds_t>(us.count() % 1'000'000)};
}

std::string timeout_message(std::chrono::milliseconds timeout) {
  return "no reply within " + std::to_string(timeout.count()) + " ms";
}

// Connects `fd` (non-blocking) to `address` by `deadline`; empty or why not.
std::string connect_by(int fd, const sockaddr* address, socklen_t size,
                       DirectLink::Clock::time_point deadline) {
  if (::connect(fd, address, size) == 0) return {};
  if (errno != EINPROGRESS) return std::strerror(errno);
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - DirectLink::Clock::now());
    if (left.count() <= 0) return "timed out";
    pollfd p{fd, POLLOUT, 0};
    const int n =
        ::poll(&p, 1, static_cast<int>(std::min<std::int64_t>(left.count() + 1, 1 << 30)));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::strerror(errno);
    if (n == 0) continue;
    int error = 0;
    socklen_t length = sizeof(error);
    if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0) return std::strerror(errno);
    return error == 0 ? std::string() : std::string(std::strerror(error));
  }
}

}  // namespace

DirectLink::DirectLink(int fd, std::chrono::milliseconds timeout)
    : fd_(fd), timeout_(timeout), in_(kReadChunkBytes) {}

DirectLink::~DirectLink() {
  if (fd_ >= 0) ::close(fd_);
}

std::unique_ptr<DirectLink> DirectLink::open(const std::vector<asio::ip::tcp::endpoint>& endpoints,
                                             const std::string& token,
                                             const std::string& client_name,
                                             std::chrono::milliseconds timeout,
                                             Clock::time_point deadline, std::string& error,
                                             protocol::FrameError& refused) {
  refused = FrameError::none;
  error = "no address to connect to";
  for (const auto& endpoint : endpoints) {
    const int fd =
        ::socket(endpoint.protocol().family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      error = std::strerror(errno);
      continue;
    }
    error = connect_by(fd, endpoint.data(), static_cast<socklen_t>(endpoint.size()), deadline);
    if (!error.empty()) {
      ::close(fd);
      continue;
    }
    // Blocking from here, each wait bounded by the socket's timeouts (bound_waits).
    const int flags = ::fcntl(fd, F_GETFL);
    const int one = 1;
    const timeval tv = timeval_of(timeout);
    if (flags < 0 || ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0 ||
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0 ||
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
        ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0) {
      error = std::strerror(errno);
      ::close(fd);
      continue;
    }
    std::unique_ptr<DirectLink> link(new DirectLink(fd, timeout));
    if (token.empty()) return link;
    // The same hello as the I/O thread's: nothing else before it.
    flatbuffers::FlatBufferBuilder fbb(256);
    protocol::encode_hello(protocol::HelloQuery{token, protocol::kVersion, client_name}, fbb);
    const std::uint64_t hello_id = 1;
    const DirectReply r = link->round_trip(
        protocol::make_frame(Opcode::hello, 0, hello_id,
                             protocol::Body{fbb.GetBufferPointer(), fbb.GetSize()}),
        hello_id, deadline);
    protocol::HelloAnswer answer;
    if (r.status == Status::ok && r.header.opcode == Opcode::hello &&
        protocol::decode_hello_reply(r.body(), answer) == FrameError::none) {
      return link;
    }
    // Refused: an ErrorReply to the hello (a token revoked since the client connected),
    // or one on the whole connection (too_many_connections).
    protocol::ErrorInfo info;
    if (r.status == Status::ok && r.header.opcode == Opcode::error &&
        protocol::decode_error_reply(r.body(), info) == FrameError::none) {
      refused = info.code;
      error = std::string(protocol::frame_error_name(info.code)) + ": " + info.message;
    } else if (r.status == Status::ok) {
      error = "undecodable HelloReply";
    } else {
      refused = r.error;
      error = (r.error != FrameError::none ? std::string(protocol::frame_error_name(r.error)) + ": "
                                           : "") +
              r.message;
    }
    return nullptr;
  }
  return nullptr;
}

// The socket's timeouts are timeout_, what a call starts with; a wait with less left
// before `deadline` (a reply in pieces) gets what is left, so no call outlasts its
// deadline by more than a millisecond.
void DirectLink::bound_waits(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::microseconds>(deadline - Clock::now());
  const bool shorten = left + std::chrono::milliseconds(1) < timeout_;
  if (!shorten && !timeouts_shortened_) return;
  const timeval tv = timeval_of(shorten ? left : std::chrono::microseconds(timeout_));
  (void)::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  (void)::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  timeouts_shortened_ = shorten;
}

// After a send or recv that moved no bytes (n <= 0, errno `error`): true when it is to be
// tried again (interrupted, or a wait ended before the deadline); else the link is
// unusable and `out` says why, a timeout or a broken connection.
bool DirectLink::again(ssize_t n, int error, Clock::time_point deadline, const char* what,
                       DirectReply& out) {
  if (n < 0 && error == EINTR) return true;
  const bool waited_out = n < 0 && (error == EAGAIN || error == EWOULDBLOCK);
  if (waited_out && Clock::now() < deadline) return true;
  usable_ = false;
  if (waited_out) {
    out.status = Status::timeout;
    out.message = timeout_message(timeout_);
  } else {
    out.status = Status::disconnected;
    out.message = n == 0 ? std::string("the server closed the connection")
                         : std::string(what) + " failed: " + std::strerror(error);
    out.stale = !received_;
  }
  return false;
}

bool DirectLink::send_all(std::string_view bytes, Clock::time_point deadline, DirectReply& out) {
  while (!bytes.empty()) {
    bound_waits(deadline);
    const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n > 0) {
      bytes.remove_prefix(static_cast<std::size_t>(n));
    } else if (!again(n, errno, deadline, "write", out)) {
      return false;
    }
  }
  return true;
}

// Makes at least `want` bytes available at in_begin_: moves what is left to the front
// when the rest does not fit, and grows the buffer for a frame larger than it.
bool DirectLink::fill(std::size_t want, Clock::time_point deadline, DirectReply& out) {
  while (in_end_ - in_begin_ < want) {
    if (in_.size() - in_begin_ < want) {
      std::memmove(in_.data(), in_.data() + in_begin_, in_end_ - in_begin_);
      in_end_ -= in_begin_;
      in_begin_ = 0;
      if (in_.size() < want) in_.resize(want);
    }
    bound_waits(deadline);
    const ssize_t n = ::recv(fd_, in_.data() + in_end_, in_.size() - in_end_, 0);
    if (n > 0) {
      in_end_ += static_cast<std::size_t>(n);
      received_ = true;
    } else if (!again(n, errno, deadline, "read", out)) {
      return false;
    }
  }
  return true;
}

bool DirectLink::read_frame(Clock::time_point deadline, DirectReply& out) {
  if (!fill(protocol::kHeaderBytes, deadline, out)) return false;
  const FrameError e =
      protocol::decode_header(reinterpret_cast<const std::uint8_t*>(in_.data() + in_begin_),
                              protocol::kBodySizeMax, out.header);
  if (e != FrameError::none) {
    usable_ = false;
    out.status = Status::disconnected;
    out.error = e;
    out.message = "reply stream corrupt (" + std::string(protocol::frame_error_name(e)) +
                  "); connection closed";
    return false;
  }
  if (!fill(protocol::kHeaderBytes + out.header.body_size, deadline, out)) return false;
  out.words.assign((out.header.body_size + 7) / 8, 0);
  if (out.header.body_size > 0) {  // (an empty body: no words, and memcpy wants a pointer)
    std::memcpy(out.words.data(), in_.data() + in_begin_ + protocol::kHeaderBytes,
                out.header.body_size);
  }
  in_begin_ += protocol::kHeaderBytes + out.header.body_size;
  if (in_begin_ == in_end_) {
    in_begin_ = in_end_ = 0;
    if (in_.size() > 4 * kReadChunkBytes) in_.assign(kReadChunkBytes, 0);  // after a large frame
  }
  return true;
}

DirectReply DirectLink::round_trip(std::string_view frame, std::uint64_t id,
                                   Clock::time_point deadline) {
  DirectReply out;
  received_ = false;
  if (!send_all(frame, deadline, out)) return out;
  for (;;) {
    out.words.clear();
    if (!read_frame(deadline, out)) return out;
    const protocol::Body body = out.body();
    if (protocol::body_checksum(body.data(), body.size()) != out.header.body_crc32c) {
      usable_ = false;
      out.status = Status::bad_reply;
      out.message = "reply body checksum mismatch";
      return out;
    }
    if (out.header.request_id == id) return out;
    // It answers nothing of ours: the server's word on the whole connection before it
    // closes it, or a frame to skip.
    protocol::ErrorInfo info;
    if (out.header.opcode == Opcode::error &&
        protocol::decode_error_reply(body, info) == FrameError::none &&
        (protocol::framing_lost(info.code) || info.code == FrameError::too_many_connections ||
         info.code == FrameError::frame_timeout || info.code == FrameError::idle_timeout)) {
      usable_ = false;
      out.status = Status::refused;
      out.error = info.code;
      out.message = std::move(info.message);
      out.stale = info.code == FrameError::idle_timeout;
      return out;
    }
  }
}

}  // namespace bonus::client
