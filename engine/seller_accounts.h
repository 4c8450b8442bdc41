// SellerAccounts: each seller's accounts, in creation order, as a chain through a
// per-account link, so a read about one seller (expiring, segments) walks that seller's
// accounts only, never the others'. Derived state: rebuilt from the accounts when a
// state is loaded, never stored.
//
// Memory: 4 bytes per account (the link, in chunks of 2^15, so growth never copies) and
// about 64 bytes per seller (its ends in a hash map).
// Single-threaded; owned by the Ledger.
#pragma once

#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "engine/types.h"

namespace bonus {

class SellerAccounts {
 public:
  static constexpr std::uint32_t kNone = UINT32_MAX;

  // Appends account `index` to its seller's chain.
  // REQUIRES: `index` is above every index added before (accounts are created in order).
  void add(SellerId seller, std::uint32_t index) {
    if ((index >> kChunkBits) >= chunks_.size()) {
      chunks_.push_back(std::make_unique<std::uint32_t[]>(kChunkSize));
    }
    link(index) = kNone;
    Ends& ends = ends_[seller];
    if (ends.count == 0) {
      ends.first = index;
    } else {
      link(ends.last) = index;
    }
    ends.last = index;
    ++ends.count;
  }

  // The seller's first account (kNone: it has none), and the one after `index` in its
  // seller's chain (kNone: the last).
  std::uint32_t first(SellerId seller) const {
    const auto it = ends_.find(seller);
    return it == ends_.end() ? kNone : it->second.first;
  }
  std::uint32_t next(std::uint32_t index) const {
    return chunks_[index >> kChunkBits][index & (kChunkSize - 1)];
  }
  std::uint64_t count(SellerId seller) const {
    const auto it = ends_.find(seller);
    return it == ends_.end() ? 0 : it->second.count;
  }

  void clear() {
    ends_.clear();
    chunks_.clear();
  }
  std::uint64_t memory_bytes() const {
    return chunks_.size() * kChunkSize * sizeof(std::uint32_t) +
           ends_.size() * (sizeof(std::pair<const SellerId, Ends>) + 2 * sizeof(void*)) +
           ends_.bucket_count() * sizeof(void*);
  }

 private:
  static constexpr std::uint32_t kChunkBits = 15;
  static constexpr std::uint32_t kChunkSize = 1u << kChunkBits;
  struct Ends {
    std::uint32_t first = kNone;
    std::uint32_t last = kNone;
    std::uint64_t count = 0;
  };
  std::uint32_t& link(std::uint32_t index) {
    return chunks_[index >> kChunkBits][index & (kChunkSize - 1)];
  }

  std::unordered_map<SellerId, Ends> ends_;
  std::vector<std::unique_ptr<std::uint32_t[]>> chunks_;
};

}  // namespace bonus
