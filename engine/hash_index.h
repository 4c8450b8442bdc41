// HashIndex: an open-addressing index from 64-bit hashes to 32-bit references
// (indexes into a slab owned by the caller). Robin Hood linear probing over 8-byte slots
// that hold the reference and the hash's top 32 bits (the tag). The home slot is derived
// from the tag alone, so growth and deletion never touch the records; a lookup compares
// tags first and calls `eq(ref)` only on a tag match, and a miss stops as soon as it
// meets an entry nearer its home than the probe is (so misses, like new write ids, stay
// short even 7/8 full). Grows by doubling past 7/8 full; deletion shifts back, leaving
// no tombstones.
//
// Single-threaded; owned by the table that uses it.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <utility>

#include "engine/huge_pages.h"

namespace bonus {

class HashIndex {
 public:
  static constexpr std::uint32_t kNone = UINT32_MAX;

  HashIndex() { reset(16); }
  HashIndex(const HashIndex&) = delete;
  HashIndex& operator=(const HashIndex&) = delete;
  ~HashIndex() { huge_free(slots_); }

  std::uint64_t size() const { return size_; }
  std::uint64_t capacity() const { return mask_ + 1; }
  std::uint64_t memory_bytes() const { return capacity() * sizeof(Slot); }

  template <typename Eq>
  std::uint32_t find(std::uint64_t hash, Eq&& eq) const {
    const std::uint32_t tag = tag_of(hash);
    for (std::uint64_t i = home(tag), d = 0;; i = (i + 1) & mask_, ++d) {
      const Slot& s = slots_[i];
      if (s.ref == kNone || distance(s, i) < d) return kNone;
      if (s.tag == tag && eq(s.ref)) return s.ref;
    }
  }

  // REQUIRES: no entry with an equal key is present.
  void insert(std::uint64_t hash, std::uint32_t ref) {
    if ((size_ + 1) * 8 > capacity() * 7) grow();
    place(Slot{tag_of(hash), ref});
    ++size_;
  }

  // REQUIRES: `ref` is present under `hash`.
  void erase(std::uint64_t hash, std::uint32_t ref) {
    std::uint64_t i = locate(hash, ref);
    // Backward shift: each following entry away from its home moves one slot closer.
    for (std::uint64_t j = (i + 1) & mask_;; i = j, j = (j + 1) & mask_) {
      if (slots_[j].ref == kNone || distance(slots_[j], j) == 0) break;
      slots_[i] = slots_[j];
    }
    slots_[i] = Slot{};
    --size_;
  }

  // Brings the home slot of `hash` into the cache ahead of a lookup or insert.
  void prefetch(std::uint64_t hash) const { __builtin_prefetch(&slots_[home(tag_of(hash))]); }

  // Calls f(ref) for each entry whose tag matches `hash`'s, without reading any record:
  // the candidates a find() would compare, for prefetching their records (usually one;
  // a false match costs one wasted prefetch).
  template <typename F>
  void for_candidates(std::uint64_t hash, F&& f) const {
    const std::uint32_t tag = tag_of(hash);
    for (std::uint64_t i = home(tag), d = 0;; i = (i + 1) & mask_, ++d) {
      const Slot& s = slots_[i];
      if (s.ref == kNone || distance(s, i) < d) return;
      if (s.tag == tag) f(s.ref);
    }
  }

  // Makes room for `count` entries without growing again (bulk loads).
  void reserve(std::uint64_t count) {
    while (count * 8 > capacity() * 7) grow();
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
  // How far the entry in slot `i` sits from its home.
  std::uint64_t distance(const Slot& s, std::uint64_t i) const { return (i - home(s.tag)) & mask_; }

  std::uint64_t locate(std::uint64_t hash, std::uint32_t ref) const {
    std::uint64_t i = home(tag_of(hash));
    while (slots_[i].ref != ref) {
      if (slots_[i].ref == kNone) std::abort();  // Not present: a caller bug.
      i = (i + 1) & mask_;
    }
    return i;
  }

  // Robin Hood: the entry travelling on takes the slot of any entry nearer its home.
  void place(Slot slot) {
    for (std::uint64_t i = home(slot.tag), d = 0;; i = (i + 1) & mask_, ++d) {
      if (slots_[i].ref == kNone) {
        slots_[i] = slot;
        return;
      }
      const std::uint64_t resident = distance(slots_[i], i);
      if (resident < d) {
        std::swap(slots_[i], slot);
        d = resident;
      }
    }
  }

  // Fresh empty slots; the old array is returned to the caller to free.
  Slot* reset(std::uint64_t capacity) {
    Slot* old = slots_;
    slots_ = static_cast<Slot*>(huge_allocate(capacity * sizeof(Slot)));
    for (std::uint64_t i = 0; i < capacity; ++i) slots_[i] = Slot{};
    mask_ = capacity - 1;
    shift_ = static_cast<std::uint32_t>(__builtin_ctzll(capacity));
    size_ = 0;
    return old;
  }

  void grow() {
    const std::uint64_t count = size_;
    const std::uint64_t old_capacity = capacity();
    Slot* old = reset(old_capacity * 2);
    size_ = count;
    for (std::uint64_t i = 0; i < old_capacity; ++i) {
      if (old[i].ref != kNone) place(old[i]);
    }
    huge_free(old);
  }

  Slot* slots_ = nullptr;
  std::uint64_t mask_ = 0;
  std::uint32_t shift_ = 0;  // log2(capacity)
  std::uint64_t size_ = 0;
};

}  // namespace bonus
