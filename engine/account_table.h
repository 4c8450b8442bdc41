// AccountTable: every account of a shard, found by (seller, buyer), with each buyer's
// accounts chained for wallet reads. Accounts are never deleted; their indexes are
// stable and dense, in creation order.
//
// Memory per account: the 72-byte record, 8 bytes per slot of the pair index and 8 per
// slot of the buyer index (both at most 7/8 full).
// Single-threaded; owned by the Ledger.
#pragma once

#include <cstdint>

#include "engine/account.h"
#include "engine/change_set.h"
#include "engine/hash.h"
#include "engine/hash_index.h"
#include "engine/slab.h"

namespace bonus {

class AccountTable {
 public:
  static constexpr std::uint32_t kNone = HashIndex::kNone;

  // Index of the account, or kNone.
  std::uint32_t find(SellerId seller, BuyerId buyer) const {
    return find_hashed(hash_pair(seller, buyer), seller, buyer);
  }
  // The same, with the pair's hash (hash_pair) computed once for several steps.
  std::uint32_t find_hashed(std::uint64_t hash, SellerId seller, BuyerId buyer) const {
    return pairs_.find(hash, [&](std::uint32_t i) {
      const Account& a = slab_[i];
      return a.seller == seller && a.buyer == buyer;
    });
  }

  // REQUIRES: the account does not exist.
  std::uint32_t create(SellerId seller, BuyerId buyer);

  // Write access marks the account changed when change tracking is on.
  Account& operator[](std::uint32_t i) {
    changes_.mark(i);
    return slab_[i];
  }
  const Account& operator[](std::uint32_t i) const { return slab_[i]; }

  std::uint64_t size() const { return slab_.end(); }

  // Calls f(index, account) for each account of the buyer, newest first.
  template <typename F>
  void for_buyer(BuyerId buyer, F&& f) const {
    for (std::uint32_t i = first_of_buyer(buyer); i != kNone; i = slab_[i].next_of_buyer) {
      f(i, slab_[i]);
    }
  }

  // Brings the index slots of (seller, buyer) into the cache ahead of create().
  void prefetch(SellerId seller, BuyerId buyer) const {
    pairs_.prefetch(hash_pair(seller, buyer));
    buyers_.prefetch(mix64(buyer));
  }

  // Prefetching ahead of a batch (Ledger::apply_batch): the pair's index slot (and the
  // buyer's, which create() needs); then, once those are in the cache, the record; then,
  // once that is, its spilled lot array.
  void prefetch_slot(SellerId seller, BuyerId buyer) const { pairs_.prefetch(hash_pair(seller, buyer)); }
  void prefetch_slot_hashed(std::uint64_t hash) const { pairs_.prefetch(hash); }
  void prefetch_record_hashed(std::uint64_t hash) const {
    pairs_.for_candidates(hash, [&](std::uint32_t i) { slab_.prefetch(i); });
  }
  // The same for a write: returns the first candidate (kNone: the account is new, and
  // the buyer's slot, which create() needs, is prefetched instead).
  std::uint32_t prefetch_record_hashed(std::uint64_t hash, BuyerId buyer) const {
    std::uint32_t first = kNone;
    pairs_.for_candidates(hash, [&](std::uint32_t i) {
      slab_.prefetch(i);
      if (first == kNone) first = i;
    });
    if (first == kNone) buyers_.prefetch(mix64(buyer));
    return first;
  }
  // Whether account `i` is (seller, buyer).
  bool is(std::uint32_t i, SellerId seller, BuyerId buyer) const {
    return slab_[i].seller == seller && slab_[i].buyer == buyer;
  }
  void prefetch_record(SellerId seller, BuyerId buyer) const {
    bool found = false;
    pairs_.for_candidates(hash_pair(seller, buyer), [&](std::uint32_t i) {
      slab_.prefetch(i);
      found = true;
    });
    if (!found) buyers_.prefetch(mix64(buyer));  // A new account: create() needs it.
  }
  void prefetch_record(std::uint32_t i) const { slab_.prefetch(i); }
  void prefetch_lots(std::uint32_t i) const { slab_[i].prefetch_lots(); }

  // Makes room in the indexes for `count` accounts (bulk loads).
  void reserve(std::uint64_t count) {
    pairs_.reserve(count);
    buyers_.reserve(count);
  }

  // Change tracking for checkpoints: off until track_changes(); see ChangeSet.
  void track_changes() { changes_.enable(); }
  bool tracking_changes() const { return changes_.enabled(); }
  const ChangeSet& changes() const { return changes_; }
  void clear_changes() { changes_.clear(); }

  // Record slab, both indexes and the heap arrays of accounts with more than one lot.
  std::uint64_t memory_bytes() const;

 private:
  std::uint32_t first_of_buyer(BuyerId buyer) const {
    return buyers_.find(mix64(buyer), [&](std::uint32_t i) { return slab_[i].buyer == buyer; });
  }

  Slab<Account> slab_;
  HashIndex pairs_;   // (seller, buyer) -> account
  HashIndex buyers_;  // buyer -> the buyer's newest account
  ChangeSet changes_;
};

}  // namespace bonus
