#include "engine/expiry_index.h"

#include <algorithm>

namespace bonus {

void ExpiryIndex::add(std::uint32_t bucket, std::uint32_t account_index) {
  Bucket& b = buckets_[bucket];
  // Growing by half, not doubling: a bucket of a busy minute holds tens of thousands of
  // entries, and the unused capacity counts against the bytes per account.
  std::vector<std::uint32_t>& v = b.accounts;
  if (v.size() == v.capacity()) v.reserve(v.size() + v.size() / 2 + 4);
  v.push_back(account_index);
  b.sorted = false;
}

void ExpiryIndex::on_lot_added(Account& account, std::uint32_t account_index,
                               TimeUs expires_at_us) {
  if (expires_at_us == kTimeNever) return;
  const std::uint32_t bucket = bucket_of(expires_at_us);
  if (account.sweep_bucket != Account::kNoBucket && account.sweep_bucket <= bucket) return;
  account.sweep_bucket = bucket;
  add(bucket, account_index);
}

void ExpiryIndex::reregister(Account& account, std::uint32_t account_index) {
  account.sweep_bucket = Account::kNoBucket;
  for (const Lot& lot : account.lots()) {
    if (lot.expires_at_us == kTimeNever) continue;
    // Lots are in expiry order: the first finite one is the soonest.
    on_lot_added(account, account_index, lot.expires_at_us);
    return;
  }
}

bool ExpiryIndex::first_before(std::uint32_t bucket_end, Cursor& cursor) {
  if (buckets_.empty() || buckets_.begin()->first >= bucket_end) return false;
  auto& [number, bucket] = *buckets_.begin();
  if (!bucket.sorted) {
    // Entries are only ever appended before the walk starts (new lots expire after
    // now, so they land in later buckets), hence sorting once is enough.
    std::sort(bucket.accounts.begin() + bucket.done, bucket.accounts.end());
    bucket.accounts.erase(std::unique(bucket.accounts.begin() + bucket.done, bucket.accounts.end()),
                          bucket.accounts.end());
    bucket.sorted = true;
  }
  cursor.bucket = number;
  cursor.accounts = &bucket.accounts;
  cursor.done = &bucket.done;
  return true;
}

std::uint64_t ExpiryIndex::memory_bytes() const {
  std::uint64_t bytes = 0;
  for (const auto& [number, bucket] : buckets_) {
    bytes += 64 + bucket.accounts.capacity() * sizeof(std::uint32_t);
  }
  return bytes;
}

}  // namespace bonus
