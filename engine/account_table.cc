#include "engine/account_table.h"

#include <algorithm>
#include <cstdlib>
#include <utility>

namespace bonus {

Account& Account::operator=(Account&& other) noexcept {
  if (this == &other) return *this;
  release_lots();
  seller = other.seller;
  buyer = other.buyer;
  held = other.held;
  pending = other.pending;
  debt = other.debt;
  earned = other.earned;
  lot_seq_next = other.lot_seq_next;
  sweep_bucket = other.sweep_bucket;
  next_of_buyer = other.next_of_buyer;
  earned_month = other.earned_month;
  count_ = other.count_;
  store_ = other.store_;
  other.count_ = 0;
  return *this;
}

void Account::release_lots() {
  if (count_ > 1) std::free(store_.heap.data);
  count_ = 0;
}

std::uint32_t Account::insert_lot(const Lot& lot) {
  if (count_ == 0) {
    store_.inline_lot = lot;
    count_ = 1;
    return 0;
  }
  if (count_ == 1) {
    // Spill to the heap with room for four.
    const Lot first = store_.inline_lot;
    Lot* data = static_cast<Lot*>(std::malloc(4 * sizeof(Lot)));
    if (data == nullptr) std::abort();
    data[0] = first;
    store_.heap.data = data;
    store_.heap.capacity = 4;
  } else if (count_ == store_.heap.capacity) {
    const std::uint32_t capacity = store_.heap.capacity * 2;
    Lot* data = static_cast<Lot*>(std::realloc(store_.heap.data, capacity * sizeof(Lot)));
    if (data == nullptr) std::abort();
    store_.heap.data = data;
    store_.heap.capacity = capacity;
  }
  Lot* data = store_.heap.data;
  std::uint32_t pos = count_;
  while (pos > 0 && lot.before(data[pos - 1])) {
    data[pos] = data[pos - 1];
    --pos;
  }
  data[pos] = lot;
  ++count_;
  return pos;
}

void Account::erase_lot(std::uint32_t position) {
  if (count_ == 1) {
    count_ = 0;
    return;
  }
  Lot* data = store_.heap.data;
  std::copy(data + position + 1, data + count_, data + position);
  --count_;
  if (count_ == 1) {
    // Back to the inline lot.
    const Lot only = data[0];
    std::free(data);
    store_.inline_lot = only;
  }
}

std::uint32_t Account::find_lot(std::uint32_t seq) const {
  const Lot* data = this->data();
  for (std::uint32_t i = 0; i < count_; ++i) {
    if (data[i].seq() == seq) return i;
  }
  return count_;
}

std::uint32_t AccountTable::create(SellerId seller, BuyerId buyer) {
  const std::uint32_t i = slab_.allocate();
  changes_.mark(i);
  Account& a = slab_[i];
  a.seller = seller;
  a.buyer = buyer;
  pairs_.insert(hash_pair(seller, buyer), i);
  const std::uint32_t head = first_of_buyer(buyer);
  a.next_of_buyer = head;
  if (head != kNone) {
    buyers_.replace(mix64(buyer), head, i);
  } else {
    buyers_.insert(mix64(buyer), i);
  }
  return i;
}

std::uint64_t AccountTable::memory_bytes() const {
  std::uint64_t lots = 0;
  for (std::uint32_t i = 0; i < slab_.end(); ++i) lots += slab_[i].lot_heap_bytes();
  return slab_.memory_bytes() + pairs_.memory_bytes() + buyers_.memory_bytes() + lots;
}

}  // namespace bonus
