// LedgerClock: the ledger's time. The sequencer stamps each command with a strictly
// increasing time (microseconds since the epoch): the wall clock, plus the test clock's
// offset, but never at or before the previous stamp. Reads take `read_now()`.
//
// stamp() and advance() belong to the sequencer thread; read_now() is safe anywhere.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>

#include "engine/types.h"

namespace bonus::server {

class LedgerClock {
 public:
  static TimeUs wall_us() {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

  TimeUs stamp() {
    last_ = std::max(last_ + 1, wall_us() + offset_us_.load(std::memory_order_relaxed));
    published_.store(last_, std::memory_order_release);
    return last_;
  }

  // After replay: the last stamp in the journal. If it is ahead of the wall clock (a test
  // clock was advanced before the restart), the offset carries on from there.
  void resume_after(TimeUs last) {
    last_ = std::max(last_, last);
    const TimeUs ahead = last - wall_us();
    if (ahead > 0) offset_us_.store(ahead, std::memory_order_relaxed);
    published_.store(last_, std::memory_order_release);
  }

  void advance(TimeUs delta_us) { offset_us_.fetch_add(delta_us, std::memory_order_relaxed); }

  TimeUs read_now() const {
    return std::max(published_.load(std::memory_order_acquire),
                    wall_us() + offset_us_.load(std::memory_order_relaxed));
  }
  TimeUs last() const { return last_; }

 private:
  TimeUs last_ = 0;
  std::atomic<TimeUs> offset_us_{0};
  std::atomic<TimeUs> published_{0};
};

}  // namespace bonus::server
