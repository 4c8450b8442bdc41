// KeyedTable<T>: records of type T found by key: a Slab for storage and a HashIndex
// over it. T provides `Key key() const` and `static std::uint64_t hash(const Key&)`;
// a record is default-constructible and its key is set by insert().
//
// Single-threaded; owned by the Ledger.
#pragma once

#include <cstdint>

#include "engine/hash_index.h"
#include "engine/slab.h"

namespace bonus {

template <typename T>
class KeyedTable {
 public:
  using Key = decltype(T{}.key());

  T* find(const Key& key) {
    const std::uint32_t i = find_index(key);
    return i == HashIndex::kNone ? nullptr : &slab_[i];
  }
  const T* find(const Key& key) const {
    const std::uint32_t i = find_index(key);
    return i == HashIndex::kNone ? nullptr : &slab_[i];
  }

  // REQUIRES: no record with `key`. `init(record)` sets the key fields.
  template <typename Init>
  T& insert(const Key& key, Init&& init) {
    const std::uint32_t i = slab_.allocate();
    init(slab_[i]);
    index_.insert(T::hash(key), i);
    return slab_[i];
  }

  void erase(const T& record) {
    const Key key = record.key();
    const std::uint32_t i = find_index(key);
    index_.erase(T::hash(key), i);
    slab_.free(i);
  }

  std::uint64_t size() const { return index_.size(); }
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
};

}  // namespace bonus
