// PositionWaits: requests waiting for this node to reflect a log position (the frame flag
// kPosition: a client that wrote at position P reads, from any node, at least P). A
// waiter names the position and what to run once the node is there; the node's progress
// (every shard's Shard::applied_position, as Server::applied_position) wakes those it
// has reached. A waiter that gives up first (its timeout) takes itself back out.
//
// Owned by the Server; any thread. The wake runs on the thread that found the position
// reached (a shard's, the sequencer's, or the waiter's own): it should post, not work.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <mutex>
#include <vector>

namespace bonus::server {

class PositionWaits {
 public:
  using Wake = std::function<void()>;
  using Ticket = std::uint64_t;

  // Registers `wake` for `position`. The caller then reads the node's position again
  // and, if it is there already, calls cancel(): whichever of that and reached() takes
  // the waiter runs it (a wake that races the check is never lost).
  Ticket add(std::uint64_t position, Wake wake);
  // Takes the waiter back; true when it was still waiting (its wake will not run).
  bool cancel(std::uint64_t position, Ticket ticket);
  // The node reflects `position`: every waiter at or below it is woken. Cheap when
  // nobody waits (one atomic load).
  void reached(std::uint64_t position);
  // Waiters now (for tests and the metrics).
  std::size_t size() const;

 private:
  struct Key {
    std::uint64_t position;
    Ticket ticket;
    friend bool operator<(const Key& a, const Key& b) {
      return a.position != b.position ? a.position < b.position : a.ticket < b.ticket;
    }
  };
  mutable std::mutex mutex_;
  std::map<Key, Wake> waiters_;  // guarded by mutex_
  Ticket next_ticket_ = 1;       // guarded by mutex_
  // The lowest position waited for (max: none), read without the lock.
  std::atomic<std::uint64_t> lowest_{std::numeric_limits<std::uint64_t>::max()};
};

}  // namespace bonus::server
