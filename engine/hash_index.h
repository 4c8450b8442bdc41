// HashIndex: an open-addressing index from 64-bit hashes to 32-bit references
// (indexes into a slab owned by the caller). Robin Hood linear probing over 8-byte slots
// that hold the reference and the hash's top 32 bits (the tag). The home slot is derived
// from the tag alone (tag * capacity / 2^32, so any capacity works), so growth and
// deletion never touch the records; a lookup compares tags first and calls `eq(ref)` only
// on a tag match, and a miss stops as soon as it meets an entry nearer its home than the
// probe is (so misses, like new write ids, stay short even 7/8 full). Grows by half past
// 7/8 full (doubling would leave a table just past a power of two less than half full:
// 16.8 bytes per entry instead of 9-14); deletion shifts back, leaving no tombstones.
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
  std::uint64_t capacity() const { return capacity_; }
  std::uint64_t memory_bytes() const { return capacity() * sizeof(Slot); }

  template <typename Eq>
  std::uint32_t find(std::uint64_t hash, Eq&& eq) const {
    const std::uint32_t tag = tag_of(hash);
    for (std::uint64_t i = home(tag), d = 0;; i = next(i), ++d) {
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
  void erase(std::uint64_t hash, std::uint32_t ref) { erase_at(locate(hash, ref)); }

  // Removes the entry under `hash` for which `is(ref)` holds (one probe, tags compared
  // first). REQUIRES: there is one.
  template <typename Is>
  void erase_if(std::uint64_t hash, Is&& is) {
    const std::uint32_t tag = tag_of(hash);
    for (std::uint64_t i = home(tag);; i = next(i)) {
      if (slots_[i].ref == kNone) std::abort();  // Not present: a caller bug.
      if (slots_[i].tag == tag && is(slots_[i].ref)) return erase_at(i);
    }
  }

  // Brings the home slot of `hash` into the cache ahead of a lookup or insert.
  void prefetch(std::uint64_t hash) const { __builtin_prefetch(&slots_[home(tag_of(hash))]); }

  // Calls f(ref) for each entry whose tag matches `hash`'s, without reading any record:
  // the candidates a find() would compare, for prefetching their records (usually one;
  // a false match costs one wasted prefetch).
  template <typename F>
  void for_candidates(std::uint64_t hash, F&& f) const {
    const std::uint32_t tag = tag_of(hash);
    for (std::uint64_t i = home(tag), d = 0;; i = next(i), ++d) {
      const Slot& s = slots_[i];
      if (s.ref == kNone || distance(s, i) < d) return;
      if (s.tag == tag) f(s.ref);
    }
  }

  // Makes room for `count` entries without growing again (bulk loads).
  void reserve(std::uint64_t count) {
    if (count * 8 > capacity() * 7) rebuild(count * 8 / 7 + 8);
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
  // The tag scaled to the capacity picks the home slot (any capacity; the order of homes
  // follows the order of tags).
  std::uint64_t home(std::uint32_t tag) const { return (std::uint64_t{tag} * capacity_) >> 32; }
  std::uint64_t next(std::uint64_t i) const { return i + 1 == capacity_ ? 0 : i + 1; }
  // How far the entry in slot `i` sits from its home (probes wrap around the end).
  std::uint64_t distance(const Slot& s, std::uint64_t i) const {
    const std::uint64_t h = home(s.tag);
    return i >= h ? i - h : i + capacity_ - h;
  }

  // Backward shift: each following entry away from its home moves one slot closer.
  void erase_at(std::uint64_t i) {
    for (std::uint64_t j = next(i);; i = j, j = next(j)) {
      if (slots_[j].ref == kNone || distance(slots_[j], j) == 0) break;
      slots_[i] = slots_[j];
    }
    slots_[i] = Slot{};
    --size_;
  }

  std::uint64_t locate(std::uint64_t hash, std::uint32_t ref) const {
    std::uint64_t i = home(tag_of(hash));
    while (slots_[i].ref != ref) {
      if (slots_[i].ref == kNone) std::abort();  // Not present: a caller bug.
      i = next(i);
    }
    return i;
  }

  // Robin Hood: the entry travelling on takes the slot of any entry nearer its home.
  void place(Slot slot) {
    for (std::uint64_t i = home(slot.tag), d = 0;; i = next(i), ++d) {
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
    capacity_ = capacity;
    size_ = 0;
    return old;
  }

  // Moves every entry into `capacity` slots (a multiple of 8: whole cache lines).
  void rebuild(std::uint64_t capacity) {
    capacity = (capacity + 7) / 8 * 8;
    const std::uint64_t count = size_;
    const std::uint64_t old_capacity = capacity_;
    Slot* old = reset(capacity);
    size_ = count;
    for (std::uint64_t i = 0; i < old_capacity; ++i) {
      if (old[i].ref != kNone) place(old[i]);
    }
    huge_free(old);
  }

  void grow() { rebuild(capacity_ + capacity_ / 2); }

  Slot* slots_ = nullptr;
  std::uint64_t capacity_ = 0;
  std::uint64_t size_ = 0;
};

}  // namespace bonus
