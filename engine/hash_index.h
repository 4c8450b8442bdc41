// HashIndex: an open-addressing index from 64-bit hashes to 32-bit references
// (indexes into a slab owned by the caller). Linear probing, 8-byte slots holding the
// reference and 32 bits of the hash, grown by doubling past 7/8 full, deletion by
// backward shift (no tombstones). Keys live in the caller's records: lookups take an
// `eq(ref)` predicate, growth and deletion take `hash_of(ref)`.
//
// Single-threaded; owned by the table that uses it.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <vector>

namespace bonus {

class HashIndex {
 public:
  static constexpr std::uint32_t kNone = UINT32_MAX;

  HashIndex() { reset(16); }

  std::uint64_t size() const { return size_; }
  std::uint64_t capacity() const { return slots_.size(); }
  std::uint64_t memory_bytes() const { return slots_.capacity() * sizeof(Slot); }

  template <typename Eq>
  std::uint32_t find(std::uint64_t hash, Eq&& eq) const {
    const std::uint32_t tag = static_cast<std::uint32_t>(hash);
    for (std::uint64_t i = home(hash);; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.ref == kNone) return kNone;
      if (s.tag == tag && eq(s.ref)) return s.ref;
    }
  }

  // REQUIRES: no entry with an equal key is present.
  template <typename HashOf>
  void insert(std::uint64_t hash, std::uint32_t ref, HashOf&& hash_of) {
    if ((size_ + 1) * 8 > slots_.size() * 7) grow(hash_of);
    place(hash, ref);
    ++size_;
  }

  // REQUIRES: `ref` is present under `hash`.
  template <typename HashOf>
  void erase(std::uint64_t hash, std::uint32_t ref, HashOf&& hash_of) {
    std::uint64_t i = home(hash);
    while (slots_[i].ref != ref) {
      if (slots_[i].ref == kNone) std::abort();  // Not present: a caller bug.
      i = (i + 1) & mask_;
    }
    // Backward shift: pull later entries of the cluster into the hole when their home
    // position does not lie cyclically in (hole, their position].
    for (std::uint64_t j = (i + 1) & mask_;; j = (j + 1) & mask_) {
      if (slots_[j].ref == kNone) break;
      const std::uint64_t h = home(hash_of(slots_[j].ref));
      const bool stays = (i <= j) ? (i < h && h <= j) : (i < h || h <= j);
      if (stays) continue;
      slots_[i] = slots_[j];
      i = j;
    }
    slots_[i] = Slot{};
    --size_;
  }

  // Points the entry of `old_ref` (present under `hash`) at `new_ref`, whose key hashes
  // the same.
  void replace(std::uint64_t hash, std::uint32_t old_ref, std::uint32_t new_ref) {
    std::uint64_t i = home(hash);
    while (slots_[i].ref != old_ref) {
      if (slots_[i].ref == kNone) std::abort();  // Not present: a caller bug.
      i = (i + 1) & mask_;
    }
    slots_[i].ref = new_ref;
  }

  void clear() { reset(16); }

 private:
  struct Slot {
    std::uint32_t tag = 0;
    std::uint32_t ref = kNone;
  };
  static_assert(sizeof(Slot) == 8);

  std::uint64_t home(std::uint64_t hash) const { return (hash >> 32) & mask_; }

  void place(std::uint64_t hash, std::uint32_t ref) {
    std::uint64_t i = home(hash);
    while (slots_[i].ref != kNone) i = (i + 1) & mask_;
    slots_[i] = Slot{static_cast<std::uint32_t>(hash), ref};
  }

  void reset(std::uint64_t capacity) {
    slots_.assign(capacity, Slot{});
    mask_ = capacity - 1;
    size_ = 0;
  }

  template <typename HashOf>
  void grow(HashOf&& hash_of) {
    std::vector<Slot> old;
    old.swap(slots_);
    const std::uint64_t count = size_;
    reset(old.size() * 2);
    size_ = count;
    for (const Slot& s : old) {
      if (s.ref != kNone) place(hash_of(s.ref), s.ref);
    }
  }

  std::vector<Slot> slots_;
  std::uint64_t mask_ = 0;
  std::uint64_t size_ = 0;
};

}  // namespace bonus
