// LogLimiter: at most `lines_max` log lines of one kind per window; past it lines are
// dropped and counted, and the first line allowed in a later window reports how many
// were dropped, so a client cannot flood the log (or the disk under it) by misbehaving.
//
// One per kind of line (refused requests, admin requests, connection-limit refusals);
// owned by the server's AccessLog on the network thread. Not thread-safe.
#pragma once

#include <chrono>
#include <cstdint>

namespace bonus::server {

class LogLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  LogLimiter(std::uint32_t lines_max, Clock::duration window)
      : lines_max_(lines_max), window_(window) {}

  // Whether a line may be written at `now`. When it may and lines were dropped since the
  // last one written, `dropped` says how many (the caller says so in its line); else 0.
  bool allow(Clock::time_point now, std::uint64_t& dropped) {
    dropped = 0;
    if (now - window_start_ >= window_) {
      window_start_ = now;
      lines_ = 0;
    }
    if (lines_ >= lines_max_) {
      ++dropped_;
      return false;
    }
    ++lines_;
    dropped = dropped_;
    dropped_ = 0;
    return true;
  }

 private:
  const std::uint32_t lines_max_;
  const Clock::duration window_;
  Clock::time_point window_start_{};
  std::uint32_t lines_ = 0;
  std::uint64_t dropped_ = 0;  // since the last line written
};

}  // namespace bonus::server
