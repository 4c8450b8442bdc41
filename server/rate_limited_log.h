// RateLimitedLog: lets through at most `per_second` lines a second of one kind and counts
// the rest, so that a hostile client cannot flood the log; the next line let through
// says how many were left out. A stand-in until server/log_limiter.h (auth's) is merged.
// Not thread-safe: one per thread that logs (the network thread's are Server members).
#pragma once

#include <chrono>
#include <cstdint>

namespace bonus::server {

class RateLimitedLog {
 public:
  explicit RateLimitedLog(std::uint32_t per_second = 10) : per_second_(per_second) {}

  // Whether to write this line; `suppressed` is then how many were left out before it.
  bool allow(std::uint64_t& suppressed) {
    const auto now = std::chrono::steady_clock::now();
    if (now - window_start_ >= std::chrono::seconds(1)) {
      window_start_ = now;
      in_window_ = 0;
    }
    if (in_window_ >= per_second_) {
      ++suppressed_;
      return false;
    }
    ++in_window_;
    suppressed = suppressed_;
    suppressed_ = 0;
    return true;
  }

 private:
  std::uint32_t per_second_;
  std::uint32_t in_window_ = 0;
  std::uint64_t suppressed_ = 0;
  std::chrono::steady_clock::time_point window_start_{};
};

}  // namespace bonus::server
