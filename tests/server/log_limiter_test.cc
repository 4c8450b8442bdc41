// LogLimiter: lines_max a window, the rest dropped and reported with the next line.
#include "server/log_limiter.h"

#include <gtest/gtest.h>

namespace bonus::server {
namespace {

using namespace std::chrono_literals;

TEST(LogLimiter, AllowsLinesMaxPerWindowThenReportsTheDropped) {
  LogLimiter limiter(3, 1s);
  const auto t0 = LogLimiter::Clock::time_point{} + 100s;
  std::uint64_t dropped = 99;
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(limiter.allow(t0 + i * 1ms, dropped));
    EXPECT_EQ(dropped, 0u);
  }
  for (int i = 0; i < 1000; ++i) EXPECT_FALSE(limiter.allow(t0 + 500ms, dropped));
  // Still inside the window: dropped.
  EXPECT_FALSE(limiter.allow(t0 + 999ms, dropped));
  // A new window: the first line carries the count of all dropped before it.
  EXPECT_TRUE(limiter.allow(t0 + 1s, dropped));
  EXPECT_EQ(dropped, 1001u);
  EXPECT_TRUE(limiter.allow(t0 + 1s + 1ms, dropped));
  EXPECT_EQ(dropped, 0u);
}

TEST(LogLimiter, AFloodWritesAtMostLinesMaxPerSecond) {
  LogLimiter limiter(20, 1s);
  const auto t0 = LogLimiter::Clock::time_point{} + 100s;
  std::uint64_t written = 0, reported = 0, dropped = 0;
  constexpr int kEvents = 1'000'000;  // one a microsecond for a second... and on
  for (int i = 0; i < kEvents; ++i) {
    if (limiter.allow(t0 + i * 10us, dropped)) {
      ++written;
      reported += dropped;
    }
  }
  EXPECT_LE(written, 20u * 11);  // ten seconds: 10 windows (+1 partial)
  EXPECT_GE(written, 20u * 10);
  // Every event is either written or reported as dropped, except those dropped since
  // the last line written.
  EXPECT_LE(written + reported, static_cast<std::uint64_t>(kEvents));
  EXPECT_GE(written + reported, static_cast<std::uint64_t>(kEvents) - 100'000);
}

}  // namespace
}  // namespace bonus::server
