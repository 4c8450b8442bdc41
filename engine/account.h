// Account: one (seller, buyer) pair's figures and lots. 72 bytes, kept in
// AccountTable's slab; one lot is stored inline, more spill to a heap array.
//
// Single-threaded; owned by AccountTable.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>

#include "engine/lot.h"
#include "engine/types.h"

namespace bonus {

class Account {
 public:
  static constexpr std::uint32_t kNoBucket = UINT32_MAX;

  Account() = default;
  Account(const Account&) = delete;
  Account& operator=(const Account&) = delete;
  Account& operator=(Account&& other) noexcept;
  ~Account() { release_lots(); }

  SellerId seller = 0;
  BuyerId buyer = 0;
  std::uint32_t held = 0;
  std::uint32_t pending = 0;
  std::uint32_t debt = 0;
  std::uint32_t earned = 0;         // credited in `earned_month`
  std::uint32_t lot_seq_next = 0;
  std::uint32_t sweep_bucket = kNoBucket;  // expiry bucket it is registered in
  std::uint32_t next_of_buyer = UINT32_MAX;  // the buyer's next account (wallet chain)
  std::uint16_t earned_month = 0;   // calendar month index of `earned`

  std::span<Lot> lots() { return {data(), count_}; }
  std::span<const Lot> lots() const { return {data(), count_}; }
  std::uint32_t lot_count() const { return count_; }

  // Heap bytes of the lot array when lots spilled out of the record (0 when inline).
  std::uint64_t lot_heap_bytes() const {
    return count_ > 1 ? std::uint64_t{store_.heap.capacity} * sizeof(Lot) : 0;
  }

  // Brings a spilled lot array's first lines into the cache (nothing when inline).
  void prefetch_lots() const {
    if (count_ <= 1) return;
    __builtin_prefetch(store_.heap.data);
    if (count_ > 2) __builtin_prefetch(reinterpret_cast<const char*>(store_.heap.data) + 64);
  }

  // Inserts `lot` in lot order. Returns its position.
  std::uint32_t insert_lot(const Lot& lot);
  void erase_lot(std::uint32_t position);
  // Position of the lot with sequence number `seq`, or lot_count() if none.
  std::uint32_t find_lot(std::uint32_t seq) const;

 private:
  Lot* data() { return count_ <= 1 ? &store_.inline_lot : store_.heap.data; }
  const Lot* data() const { return count_ <= 1 ? &store_.inline_lot : store_.heap.data; }
  void release_lots();

  std::uint16_t count_ = 0;
  union Store {
    Lot inline_lot;
    struct {
      Lot* data;
      std::uint32_t capacity;
    } heap;
    Store() : inline_lot() {}
  } store_;
};
static_assert(sizeof(Account) == 72);

}  // namespace bonus
