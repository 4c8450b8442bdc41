// ChangeSet: which records of a slab-backed table changed since the set was last
// cleared, for incremental checkpoints. One bit per slab index plus the list of the
// indexes set, so marking costs O(1) and listing costs what changed, not the table.
// Off (marking is a no-op) until enable(); only a checkpoint replica turns it on.
//
// Single-threaded; owned by the table it tracks.
#pragma once

#include <cstdint>
#include <vector>

namespace bonus {

class ChangeSet {
 public:
  void enable() { enabled_ = true; }
  bool enabled() const { return enabled_; }

  void mark(std::uint32_t i) {
    if (!enabled_) return;
    const std::uint32_t word = i >> 6;
    const std::uint64_t bit = std::uint64_t{1} << (i & 63);
    if (word >= bits_.size()) bits_.resize(std::size_t{word} + 1 + bits_.size() / 2);
    if ((bits_[word] & bit) != 0) return;
    bits_[word] |= bit;
    marked_.push_back(i);
  }

  // Indexes marked since the last clear(), in the order they were first marked.
  const std::vector<std::uint32_t>& marked() const { return marked_; }

  void clear() {
    for (std::uint32_t i : marked_) bits_[i >> 6] = 0;
    marked_.clear();
  }

 private:
  bool enabled_ = false;
  std::vector<std::uint64_t> bits_;
  std::vector<std::uint32_t> marked_;
};

}  // namespace bonus
