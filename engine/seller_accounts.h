// SellerAccounts: each seller's account indexes, in creation order, so a read about one
// seller (expiring, segments) walks that seller's accounts only, never the others'.
// Derived state: rebuilt from the accounts when a state is loaded, never stored.
//
// Indexes are kept in blocks of 32: a 4-byte first index and 31 two-byte steps to the
// next (a step past 65,535 starts a new block): about 2.1 bytes per account, and 56 bytes
// per seller. (A 4-byte link per account would put the engine's account structures past
// 96 bytes per account at 10 M; docs/performance.md.)
// Single-threaded; owned by the Ledger.
#pragma once

#include <algorithm>
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "engine/types.h"

namespace bonus {

class SellerAccounts {
 public:
  static constexpr std::uint32_t kNone = UINT32_MAX;

  // Appends account `index` to its seller's list.
  // REQUIRES: `index` is above every index added before (accounts are created in order).
  void add(SellerId seller, std::uint32_t index) {
    List& l = lists_[seller];
    if (l.count == 0 || l.in_last_block == kBlock || index - l.last > UINT16_MAX) {
      grow(l.bases, 1);
      l.bases.push_back(index);
      grow(l.steps, kBlock - 1);
      l.steps.resize(l.steps.size() + kBlock - 1, 0);
      l.in_last_block = 1;
    } else {
      l.steps[(l.bases.size() - 1) * (kBlock - 1) + l.in_last_block - 1] =
          static_cast<std::uint16_t>(index - l.last);
      ++l.in_last_block;
    }
    l.last = index;
    ++l.count;
  }

  // Calls f(index) for each of the seller's accounts after `after` (kNone: from its
  // first), in creation order, while f returns true. Returns false, having called nothing,
  // when `after` is not one of the seller's accounts.
  template <typename F>
  bool walk(SellerId seller, std::uint32_t after, F&& f) const {
    const auto it = lists_.find(seller);
    if (it == lists_.end()) return after == kNone;
    const List& l = it->second;
    std::size_t b = 0;
    if (after != kNone) {
      const auto at = std::upper_bound(l.bases.begin(), l.bases.end(), after);
      if (at == l.bases.begin()) return false;
      b = static_cast<std::size_t>(at - l.bases.begin()) - 1;
    }
    bool started = after == kNone;
    for (; b < l.bases.size(); ++b) {
      std::uint32_t index = l.bases[b];
      const std::uint16_t* step = l.steps.data() + b * (kBlock - 1);
      for (std::uint32_t k = 0;; index += step[k++]) {
        if (started) {
          if (!f(index)) return true;
        } else if (index == after) {
          started = true;
        } else if (index > after) {
          return false;
        }
        if (k == kBlock - 1 || step[k] == 0) break;
      }
      if (!started) return false;
    }
    return true;
  }

  std::uint64_t count(SellerId seller) const {
    const auto it = lists_.find(seller);
    return it == lists_.end() ? 0 : it->second.count;
  }

  std::uint64_t memory_bytes() const {
    std::uint64_t bytes = lists_.bucket_count() * sizeof(void*);
    for (const auto& [seller, l] : lists_) {
      bytes += sizeof(std::pair<const SellerId, List>) + 2 * sizeof(void*) +
               l.bases.capacity() * sizeof(std::uint32_t) +
               l.steps.capacity() * sizeof(std::uint16_t);
    }
    return bytes;
  }

 private:
  static constexpr std::uint32_t kBlock = 32;  // indexes per block: the first and 31 steps
  struct List {
    std::vector<std::uint32_t> bases;  // each block's first index, ascending
    std::vector<std::uint16_t> steps;  // kBlock - 1 per block; 0 past the last block's end
    std::uint32_t last = 0;            // the last index added
    std::uint32_t in_last_block = 0;   // indexes in the last block
    std::uint64_t count = 0;
  };

  // Room for `more` elements, growing by an eighth (not doubling): little slack.
  template <typename T>
  static void grow(std::vector<T>& v, std::size_t more) {
    if (v.size() + more > v.capacity()) v.reserve(v.size() + more + v.size() / 8 + 32);
  }

  std::unordered_map<SellerId, List> lists_;
};

}  // namespace bonus
