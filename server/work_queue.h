// WorkQueue<T>: a blocking multi-producer queue handed between threads (network to
// sequencer, sequencer to shard). Producers push from any thread; one consumer waits.
// Unbounded by itself: its producers are bounded (frame size, connections, in-flight
// requests per connection), so what can be queued is bounded too.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <utility>

namespace bonus::server {

template <typename T>
class WorkQueue {
 public:
  void push(T item) {
    {
      std::lock_guard lock(mutex_);
      items_.push_back(std::move(item));
    }
    ready_.notify_one();
  }

  // Ends the consumer's wait in take_all (now, or the next one if it is not waiting)
  // without an item: news that is not an item (the log has a message to follow).
  void wake() {
    {
      std::lock_guard lock(mutex_);
      woken_ = true;
    }
    ready_.notify_one();
  }

  // Moves everything queued into `out` (appending). Waits up to `timeout` for the first
  // item, or a wake(); returns false if closed and empty.
  template <typename Rep, typename Period>
  bool take_all(std::deque<T>& out, std::chrono::duration<Rep, Period> timeout) {
    std::unique_lock lock(mutex_);
    ready_.wait_for(lock, timeout, [&] { return closed_ || woken_ || !items_.empty(); });
    woken_ = false;
    if (items_.empty()) return !closed_;
    if (out.empty()) {
      out.swap(items_);
    } else {
      for (T& item : items_) out.push_back(std::move(item));
      items_.clear();
    }
    return true;
  }

  void close() {
    {
      std::lock_guard lock(mutex_);
      closed_ = true;
    }
    ready_.notify_all();
  }

  bool empty() const {
    std::lock_guard lock(mutex_);
    return items_.empty();
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<T> items_;
  bool closed_ = false;
  bool woken_ = false;
};

}  // namespace bonus::server
