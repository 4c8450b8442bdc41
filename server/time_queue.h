// TimeQueue<K>: keys by a time, oldest first, for forgetting what a window has passed.
// Times are pushed mostly in increasing order (ledger stamps): those go to a deque, O(1);
// the few that come earlier than the last one (a report that moves a claim back) go to a
// heap, so that the oldest is always at the top. Entries are never updated in place: a
// caller pushes a key again when its time changes and skips stale entries when popping.
//
// Single-threaded; owned by its directory (the sequencer thread).
#pragma once

#include <deque>
#include <functional>
#include <queue>
#include <utility>
#include <vector>

#include "engine/types.h"

namespace bonus::server {

template <typename K>
class TimeQueue {
 public:
  using Item = std::pair<TimeUs, K>;

  void push(TimeUs time_us, const K& key) {
    if (!in_order_.empty() && time_us < in_order_.back().first) {
      late_.emplace(time_us, key);
    } else {
      in_order_.emplace_back(time_us, key);
    }
  }
  bool empty() const { return in_order_.empty() && late_.empty(); }
  // REQUIRES: !empty().
  const Item& top() const {
    if (late_.empty()) return in_order_.front();
    if (in_order_.empty() || late_.top().first < in_order_.front().first) return late_.top();
    return in_order_.front();
  }
  void pop() {
    if (!late_.empty() && (in_order_.empty() || late_.top().first < in_order_.front().first)) {
      late_.pop();
    } else {
      in_order_.pop_front();
    }
  }

 private:
  struct Later {
    bool operator()(const Item& a, const Item& b) const { return a.first > b.first; }
  };
  std::deque<Item> in_order_;
  std::priority_queue<Item, std::vector<Item>, Later> late_;
};

}  // namespace bonus::server
