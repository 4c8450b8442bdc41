// epoll_wait_until: epoll_pwait2 on `epoll` until `wake` (a steady_clock time, to the
// nanosecond; at once if it has passed) or the first events, for the load generators'
// event loops (bench/open_loop.cc, bonus-bench's FlowLoop). Returns what epoll_pwait2 does.
#pragma once

#include <sys/epoll.h>

#include <algorithm>
#include <chrono>
#include <ctime>

namespace bonus::bench {

inline int epoll_wait_until(int epoll, epoll_event* events, int events_max,
                            std::chrono::steady_clock::time_point wake) {
  const auto wait = std::max(std::chrono::nanoseconds(0), wake - std::chrono::steady_clock::now());
  const timespec ts{static_cast<time_t>(wait.count() / 1'000'000'000),
                    static_cast<long>(wait.count() % 1'000'000'000)};
  return ::epoll_pwait2(epoll, events, events_max, &ts, nullptr);
}

}  // namespace bonus::bench
