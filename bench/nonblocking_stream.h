// NonBlockingStream: the byte plumbing of one non-blocking TCP connection of a load
// generator (bench/open_loop.cc, bonus-bench's FlowLoop): requests queued in `out` go as
// far as the socket takes them, with EPOLLOUT armed on the loop's epoll only while some
// wait; what arrives is kept in `in` until the caller's parser takes it. The caller
// decides what a failure means (open-loop stops, bonus-bench drops the connection).
// A plain value owned by the thread of its event loop.
#pragma once

#include <sys/epoll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace bonus::bench {

struct NonBlockingStream {
  static constexpr std::size_t kReadBytesMin = 4096;  // room a read asks for at least

  int fd = -1;
  std::string out;  // bytes to send from out_at
  std::size_t out_at = 0;
  bool want_write = false;  // EPOLLOUT armed
  std::vector<char> in = std::vector<char>(1 << 16);
  std::size_t in_begin = 0, in_end = 0;  // received, not yet parsed: [in_begin, in_end)

  const char* unread() const { return in.data() + in_begin; }
  std::size_t unread_bytes() const { return in_end - in_begin; }
  // After a parser took `bytes` from the front of what is unread.
  void consume(std::size_t bytes) { in_begin += bytes; }
  // A frame of `bytes` begins at the front: make room for all of it, so it can come whole.
  void expect(std::size_t bytes) {
    if (in.size() - in_begin < bytes + kReadBytesMin) in.resize(in_begin + bytes + kReadBytesMin);
  }

  // Sends what it can of `out`, then arms EPOLLOUT on `epoll` (event data `tag`) exactly
  // while bytes wait. Empty, or what failed ("send: ...").
  std::string flush(int epoll, std::uint64_t tag) {
    while (out_at < out.size()) {
      const ssize_t n = ::send(fd, out.data() + out_at, out.size() - out_at, MSG_NOSIGNAL);
      if (n > 0) {
        out_at += static_cast<std::size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      return std::string("send: ") + std::strerror(errno);
    }
    if (out_at == out.size()) {
      out.clear();
      out_at = 0;
    }
    const bool want = out_at < out.size();
    if (want != want_write) {
      epoll_event ev{};
      ev.events = EPOLLIN | (want ? EPOLLOUT : 0u);
      ev.data.u64 = tag;
      ::epoll_ctl(epoll, EPOLL_CTL_MOD, fd, &ev);
      want_write = want;
    }
    return {};
  }

  // Reads everything the socket holds, calling parse() after each read (it takes whole
  // replies from the front with consume(), and returns false to stop). Empty once the
  // socket would block, else why it stopped: "closed" when the peer ended the stream,
  // "recv: ...", or "parse" when parse() said stop.
  template <typename Parse>
  std::string receive(Parse&& parse) {
    for (;;) {
      if (in.size() - in_end < kReadBytesMin) {
        std::memmove(in.data(), in.data() + in_begin, in_end - in_begin);
        in_end -= in_begin;
        in_begin = 0;
        if (in.size() - in_end < kReadBytesMin) in.resize(in.size() * 2);
      }
      const ssize_t n = ::recv(fd, in.data() + in_end, in.size() - in_end, 0);
      if (n == 0) return "closed";
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return {};
        return std::string("recv: ") + std::strerror(errno);
      }
      in_end += static_cast<std::size_t>(n);
      if (!parse()) return "parse";
    }
  }
};

}  // namespace bonus::bench
