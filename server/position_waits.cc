#include "server/position_waits.h"

namespace bonus::server {

PositionWaits::Ticket PositionWaits::add(std::uint64_t position, Wake wake) {
  std::lock_guard lock(mutex_);
  const Ticket ticket = next_ticket_++;
  waiters_.emplace(Key{position, ticket}, std::move(wake));
  // Sequentially consistent, as the progress's own store then this load: either the
  // caller's check after add() sees the progress, or reached() sees this waiter.
  lowest_.store(waiters_.begin()->first.position);
  return ticket;
}

bool PositionWaits::cancel(std::uint64_t position, Ticket ticket) {
  std::lock_guard lock(mutex_);
  if (waiters_.erase(Key{position, ticket}) == 0) return false;
  lowest_.store(waiters_.empty() ? std::numeric_limits<std::uint64_t>::max()
                                 : waiters_.begin()->first.position);
  return true;
}

void PositionWaits::reached(std::uint64_t position) {
  if (lowest_.load() > position) return;
  std::vector<Wake> woken;
  {
    std::lock_guard lock(mutex_);
    while (!waiters_.empty() && waiters_.begin()->first.position <= position) {
      woken.push_back(std::move(waiters_.begin()->second));
      waiters_.erase(waiters_.begin());
    }
    lowest_.store(waiters_.empty() ? std::numeric_limits<std::uint64_t>::max()
                                   : waiters_.begin()->first.position);
  }
  for (Wake& wake : woken) wake();
}

std::size_t PositionWaits::size() const {
  std::lock_guard lock(mutex_);
  return waiters_.size();
}

}  // namespace bonus::server
