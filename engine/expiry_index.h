// ExpiryIndex: which accounts have lots expiring in which minute. An account is
// registered in the bucket of its soonest-expiring lot (Account::sweep_bucket); an
// entry whose account has since moved to another bucket is stale and skipped. The
// sweep visits only accounts in finished buckets, so its cost follows what expires,
// not the number of accounts.
//
// Single-threaded; owned by the Ledger.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "engine/account_table.h"
#include "engine/limits.h"

namespace bonus {

class ExpiryIndex {
 public:
  static std::uint32_t bucket_of(TimeUs expires_at_us) {
    return static_cast<std::uint32_t>(expires_at_us / kExpiryBucketUs);
  }

  // Registers the account in the bucket of a newly added lot expiring at
  // `expires_at_us`, if that is sooner than where it is registered. Never-expiring
  // lots are not registered.
  void on_lot_added(Account& account, std::uint32_t account_index, TimeUs expires_at_us);

  // After the account's due lots were removed: registers it at its soonest lot.
  void reregister(Account& account, std::uint32_t account_index);

  // The first finished bucket before `bucket_end` with live work, as the sweep walks it.
  struct Cursor {
    std::uint32_t bucket = 0;
    std::vector<std::uint32_t>* accounts = nullptr;  // sorted, unique
    std::uint32_t* done = nullptr;                   // entries already visited
  };
  // Returns false when no bucket below `bucket_end` is left. Sorts the bucket's entries
  // by account index the first time it is walked, so visits are in a canonical order.
  bool first_before(std::uint32_t bucket_end, Cursor& cursor);
  void drop(std::uint32_t bucket) { buckets_.erase(bucket); }

  // Read-only walk over buckets in order, for the `expiring` query.
  template <typename F>
  void for_buckets_from(std::int64_t first, F&& f) const {
    for (auto it = buckets_.lower_bound(first < 0 ? 0 : static_cast<std::uint32_t>(first));
         it != buckets_.end(); ++it) {
      if (!f(it->first, it->second.accounts)) return;
    }
  }

  // Rebuilds an entry from Account::sweep_bucket (when loading a saved state).
  void restore(std::uint32_t bucket, std::uint32_t account_index) { add(bucket, account_index); }

  void clear() { buckets_.clear(); }
  std::uint64_t memory_bytes() const;

 private:
  struct Bucket {
    std::vector<std::uint32_t> accounts;
    std::uint32_t done = 0;
    bool sorted = false;
  };
  void add(std::uint32_t bucket, std::uint32_t account_index);

  std::map<std::uint32_t, Bucket> buckets_;
};

}  // namespace bonus
