// KeyedTable<T>: records of type T found by key: a Slab for storage and a HashIndex
// over it. T provides `Key key() const` and `static std::uint64_t hash(const Key&)`;
// a record is default-constructible and its key is set by insert().
//
// With change tracking on (track_changes()), every write access - non-const find,
// insert, erase - marks the record's slot, and erase also keeps the key, so a
// checkpoint can store what changed and delete what went.
//
// Single-threaded; owned by the Ledger.
#pragma once

#include <cstdint>
#include <type_traits>
#include <vector>

#include "engine/change_set.h"
#include "engine/hash_index.h"
#include "engine/slab.h"

namespace bonus {

template <typename T>
class KeyedTable {
 public:
  using Key = decltype(T{}.key());

  T* find(const Key& key) {
    const std::uint32_t i = find_index(key);
    if (i == HashIndex::kNone) return nullptr;
    changes_.mark(i);
    return &slab_[i];
  }
  const T* find(const Key& key) const {
    const std::uint32_t i = find_index(key);
    return i == HashIndex::kNone ? nullptr : &slab_[i];
  }

  // REQUIRES: no record with `key`. `init(record)` sets the key fields.
  template <typename Init>
  T& insert(const Key& key, Init&& init) {
    const std::uint32_t i = slab_.allocate();
    changes_.mark(i);
    init(slab_[i]);
    index_.insert(T::hash(key), i);
    return slab_[i];
  }

  // By index, for a caller that keeps indexes (the ledger's id queue) or hashes a key
  // once for several steps (`hash` is T::hash(key)). An index stays a record's from its
  // insert to its erase; erase_index() resets the record, so a kept index of an erased
  // record reads as a default one until the slot is reused.
  std::uint32_t find_index(const Key& key, std::uint64_t hash) const {
    return index_.find(hash, [&](std::uint32_t i) { return slab_[i].key() == key; });
  }
  const T& at(std::uint32_t i) const { return slab_[i]; }
  T& touch(std::uint32_t i) {  // write access: marks the record changed
    changes_.mark(i);
    return slab_[i];
  }
  // REQUIRES: no record with the key `init` sets, whose hash is `hash`. Returns the new
  // record's index.
  template <typename Init>
  std::uint32_t insert_hashed(std::uint64_t hash, Init&& init) {
    const std::uint32_t i = slab_.allocate();
    changes_.mark(i);
    init(slab_[i]);
    index_.insert(hash, i);
    return i;
  }
  // REQUIRES: record `i` is live (and `hash` its key's hash).
  void erase_index(std::uint32_t i) { erase_index(i, T::hash(slab_[i].key())); }
  void erase_index(std::uint32_t i, std::uint64_t hash) {
    const Key key = slab_[i].key();
    index_.erase(hash, i);
    if constexpr (std::is_trivially_destructible_v<T>) slab_[i] = T{};  // free() resets others
    slab_.free(i);
    if (changes_.enabled()) erased_.push_back(key);
  }
  void prefetch_index(std::uint32_t i) const { slab_.prefetch(i); }
  void prefetch_hashed(std::uint64_t hash) const { index_.prefetch(hash); }

  // REQUIRES: `record` is one of this table's (from find or insert).
  void erase(const T& record) {
    const Key key = record.key();
    std::uint32_t i = HashIndex::kNone;
    index_.erase_if(T::hash(key), [&](std::uint32_t ref) {
      i = ref;
      return &slab_[ref] == &record;
    });
    slab_.free(i);
    if (changes_.enabled()) erased_.push_back(key);
  }

  std::uint64_t size() const { return index_.size(); }

  void reserve(std::uint64_t count) { index_.reserve(count); }
  // Prefetching ahead of a batch (Ledger::apply_batch): the key's index slot; then, once
  // that is in the cache, the record it names.
  void prefetch(const Key& key) const { index_.prefetch(T::hash(key)); }
  void prefetch_record(const Key& key) const {
    index_.for_candidates(T::hash(key), [&](std::uint32_t i) { slab_.prefetch(i); });
  }
  // Brings the slots the next `count` inserts will fill into the cache.
  void prefetch_inserts(std::uint32_t count) const { slab_.prefetch_allocations(count); }

  void track_changes() { changes_.enable(); }
  // What changed since the last clear_changes(): the records now live in a changed
  // slot, and the keys erased that are not live again. Both unsorted.
  void collect_changes(std::vector<const T*>& live, std::vector<Key>& erased) const {
    for (std::uint32_t i : changes_.marked()) {
      if (is_live(i)) live.push_back(&slab_[i]);
    }
    for (const Key& key : erased_) {
      if (find_index(key) == HashIndex::kNone) erased.push_back(key);
    }
  }
  void clear_changes() {
    changes_.clear();
    erased_.clear();
  }
  std::uint64_t memory_bytes() const { return slab_.memory_bytes() + index_.memory_bytes(); }

  // Calls f(record) for every record, in slab order (deterministic for a given history).
  template <typename F>
  void for_each(F&& f) const {
    for (std::uint32_t i = 0; i < slab_.end(); ++i) {
      if (is_live(i)) f(slab_[i]);
    }
  }

 private:
  std::uint32_t find_index(const Key& key) const {
    return index_.find(T::hash(key), [&](std::uint32_t i) { return slab_[i].key() == key; });
  }
  bool is_live(std::uint32_t i) const {
    return find_index(slab_[i].key()) == i;
  }

  Slab<T> slab_;
  HashIndex index_;
  ChangeSet changes_;
  std::vector<Key> erased_;
};

}  // namespace bonus
