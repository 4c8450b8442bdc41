// Slab<T>: stable storage for records addressed by 32-bit indexes. Chunks of 2^15
// records (on huge pages), never moved, so growth costs no copy and wastes at most one
// chunk; freed indexes are reused, lowest-freed-last (a LIFO free list).
//
// Single-threaded; owned by the table that uses it.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>
#include <type_traits>
#include <vector>

#include "engine/huge_pages.h"

namespace bonus {

template <typename T>
class Slab {
 public:
  static constexpr std::uint32_t kChunkBits = 15;
  static constexpr std::uint32_t kChunkSize = 1u << kChunkBits;

  T& operator[](std::uint32_t i) { return chunks_[i >> kChunkBits][i & (kChunkSize - 1)]; }
  const T& operator[](std::uint32_t i) const {
    return chunks_[i >> kChunkBits][i & (kChunkSize - 1)];
  }

  // A fresh default-constructed record and its index.
  std::uint32_t allocate() {
    if (!free_.empty()) {
      const std::uint32_t i = free_.back();
      free_.pop_back();
      (*this)[i] = T{};
      ++live_;
      return i;
    }
    if (end_ == chunks_.size() * std::uint64_t{kChunkSize}) {
      if (end_ >= UINT32_MAX - kChunkSize) std::abort();  // Bounded by configuration first.
      chunks_.push_back(Chunk(new_chunk()));
    }
    ++live_;
    return static_cast<std::uint32_t>(end_++);
  }

  // A record with resources (vectors) gives them back now; a plain one is left as it is
  // until allocate() reuses it.
  void free(std::uint32_t i) {
    if constexpr (!std::is_trivially_destructible_v<T>) (*this)[i] = T{};
    free_.push_back(i);
    --live_;
  }

  // Brings record `i` into the cache (every line of it), ahead of its use.
  void prefetch(std::uint32_t i) const {
    const char* p = reinterpret_cast<const char*>(&(*this)[i]);
    for (std::size_t offset = 0; offset < sizeof(T); offset += 64) __builtin_prefetch(p + offset);
    __builtin_prefetch(p + sizeof(T) - 1);
  }
  // Brings the records the next `count` allocations will return into the cache (for
  // writing): the free list's last entries, then fresh ones at the end.
  void prefetch_allocations(std::uint32_t count) const {
    const std::size_t reused = std::min<std::size_t>(count, free_.size());
    for (std::size_t k = 0; k < reused; ++k) prefetch(free_[free_.size() - 1 - k]);
    for (std::uint64_t i = end_; i < end_ + (count - reused); ++i) {
      if (i >= chunks_.size() * std::uint64_t{kChunkSize}) break;
      prefetch(static_cast<std::uint32_t>(i));
    }
  }

  // Indexes ever allocated are [0, end()); freed ones hold default records, or (plain
  // records) what they held: the owner tells live ones apart (KeyedTable::is_live).
  std::uint32_t end() const { return static_cast<std::uint32_t>(end_); }
  std::uint64_t live() const { return live_; }
  std::uint64_t memory_bytes() const {
    return chunks_.size() * std::uint64_t{kChunkSize} * sizeof(T) +
           free_.capacity() * sizeof(std::uint32_t);
  }

 private:
  struct ChunkDeleter {
    void operator()(T* records) const {
      for (std::uint32_t i = 0; i < kChunkSize; ++i) records[i].~T();
      huge_free(records);
    }
  };
  using Chunk = std::unique_ptr<T[], ChunkDeleter>;

  static T* new_chunk() {
    T* records = static_cast<T*>(huge_allocate(sizeof(T) * kChunkSize));
    for (std::uint32_t i = 0; i < kChunkSize; ++i) new (&records[i]) T();
    return records;
  }

  std::vector<Chunk> chunks_;
  std::vector<std::uint32_t> free_;
  std::uint64_t end_ = 0;
  std::uint64_t live_ = 0;
};

}  // namespace bonus
