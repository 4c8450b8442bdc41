// HashIndex: an open-addressing index from 64-bit hashes to 32-bit references
// (indexes into a slab owned by the caller). Linear probing over 8-byte slots that hold
// the reference and the hash's top 32 bits (the tag). The home slot is derived from
// the tag alone, so growth and backward-shift deletion never touch the records; a
// lookup compares tags first and calls `eq(ref)` only on a tag match. Grows by
// doubling past 7/8 full; deletion leaves no tombstones.
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
    const std::uint32_t tag = tag_of(hash);
    for (std::uint64_t i = home(tag);; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.ref == kNone) return kNone;
      if (s.tag == tag && eq(s.ref)) return s.ref;
    }
  }

  // REQUIRES: no entry with an equal key is present.
  void insert(std::uint64_t hash, std::uint32_t ref) {
    if ((size_ + 1) * 8 > slots_.size() * 7) grow();
    place(Slot{tag_of(hash), ref});
    ++size_;
  }

  // REQUIRES: `ref` is present under `hash`.
  void erase(std::uint64_t hash, std::uint32_t ref) {
    std::uint64_t i = locate(hash, ref);
    // Backward shift: pull later entries of the cluster into the hole unless their
    // home lies cyclically in (hole, their position].
    for (std::uint64_t j = (i + 1) & mask_;; j = (j + 1) & mask_) {
      if (slots_[j].ref == kNone) break;
      const std::uint64_t h = home(slots_[j].tag);
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
    slots_[locate(hash, old_ref)].ref = new_ref;
  }

 private:
  struct Slot {
    std::uint32_t tag = 0;
    std::uint32_t ref = kNone;
  };
  static_assert(sizeof(Slot) == 8);

  static std::uint32_t tag_of(std::uint64_t hash) { return static_cast<std::uint32_t>(hash >> 32); }
  // The tag's top bits pick the home slot (capacity is a power of two).
  std::uint64_t home(std::uint32_t tag) const { return (std::uint64_t{tag} << shift_) >> 32; }

  std::uint64_t locate(std::uint64_t hash, std::uint32_t ref) const {
    std::uint64_t i = home(tag_of(hash));
    while (slots_[i].ref != ref) {
      if (slots_[i].ref == kNone) std::abort();  // Not present: a caller bug.
      i = (i + 1) & mask_;
    }
    return i;
  }

  void place(Slot slot) {
    std::uint64_t i = home(slot.tag);
    while (slots_[i].ref != kNone) i = (i + 1) & mask_;
    slots_[i] = slot;
  }

  void reset(std::uint64_t capacity) {
    slots_.assign(capacity, Slot{});
    mask_ = capacity - 1;
    shift_ = static_cast<std::uint32_t>(__builtin_ctzll(capacity));
    size_ = 0;
  }

  void grow() {
    std::vector<Slot> old;
    old.swap(slots_);
    const std::uint64_t count = size_;
    reset(old.size() * 2);
    size_ = count;
    for (const Slot& s : old) {
      if (s.ref != kNone) place(s);
    }
  }

  std::vector<Slot> slots_;
  std::uint64_t mask_ = 0;
  std::uint32_t shift_ = 0;  // log2(capacity)
  std::uint64_t size_ = 0;
};

}  // namespace bonus
