// LedgerClock: the ledger's time. The sequencer stamps each command with a strictly
// increasing time (microseconds since the epoch): the wall clock, plus the test clock's
// offset, but never at or before the previous stamp. Reads take `read_now()`.
//
// Time never goes back, across restarts too: a read reports at most the wall clock plus
// the offset, and every offset a read can have used is on disk first (the clock file,
// below), so after a restart the wall clock plus the stored offset is at least every time
// reported before it, and the stamps go on after the last one in the log. (This assumes
// the host's wall clock does not step back; stamps never go back even then.)
//
// stamp(), advance() and the clock file belong to the sequencer thread (and to start-up,
// before it runs); read_now() is safe anywhere.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "engine/limits.h"
#include "engine/types.h"

namespace bonus::server {

// An advance must leave this much time before the engine's last time (kTimeMaxUs) for
// the stamps that follow it: ten years of running, at any write rate.
inline constexpr TimeUs kClockHeadroomUs = 3653 * kUsPerDay;
static_assert(kClockHeadroomUs < kTimeMaxUs / 4);

// The clock file, <data>/clock: the test clock's offset, 24 bytes, little-endian:
//   magic     u64  "bonusclk"
//   offset_us i64  added to the wall clock (0 until the first `admin clock_advance`)
//   crc32c    u32  of the 16 bytes before it
//   reserved  u32  0
// Written whole to clock.tmp, fdatasync'ed, renamed over clock, and the directory synced.
inline constexpr std::size_t kClockFileBytes = 24;

// The stored offset: 0 when there is no file yet; an error naming the file when it is
// there but not a clock file (start-up refuses it: the time could go back).
struct ClockFileRead {
  TimeUs offset_us = 0;
  std::optional<std::string> error;
};
ClockFileRead read_clock_file(const std::string& data_dir);
[[nodiscard]] std::optional<std::string> write_clock_file(const std::string& data_dir,
                                                          TimeUs offset_us);

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

  // At start-up, after replay: `stored_offset_us` from the clock file, `last` the last
  // stamp in the log. If the log is ahead of the wall clock plus that offset (a log
  // written before the clock file existed), the offset carries on from the log.
  void resume_after(TimeUs last, TimeUs stored_offset_us) {
    last_ = std::max(last_, last);
    const TimeUs offset = std::max(stored_offset_us, last - wall_us());
    offset_us_.store(std::max<TimeUs>(offset, 0), std::memory_order_relaxed);
    published_.store(last_, std::memory_order_release);
  }

  // Whether moving the offset by `delta_us` leaves kClockHeadroomUs before kTimeMaxUs.
  bool can_advance(TimeUs delta_us) const {
    const TimeUs now = std::max(last_, wall_us() + offset_us());
    return delta_us > 0 && delta_us <= kTimeMaxUs - kClockHeadroomUs - now;
  }
  // REQUIRES: can_advance(delta_us), and the new offset is in the clock file.
  void advance(TimeUs delta_us) { offset_us_.fetch_add(delta_us, std::memory_order_relaxed); }

  TimeUs read_now() const {
    return std::max(published_.load(std::memory_order_acquire),
                    wall_us() + offset_us_.load(std::memory_order_relaxed));
  }
  TimeUs last() const { return last_; }
  TimeUs offset_us() const { return offset_us_.load(std::memory_order_relaxed); }

 private:
  TimeUs last_ = 0;
  std::atomic<TimeUs> offset_us_{0};
  std::atomic<TimeUs> published_{0};
};

}  // namespace bonus::server
