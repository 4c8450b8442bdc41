// RecipientSet: the distinct accounts that received a lot of one campaign, each once,
// with whether it has spent from one (a campaign's recipients and spenders count buyers,
// not lots). Entries are kept in the order the accounts first received a lot; a
// HashIndex over them, built on the first add, makes the check of a credit O(1), so a
// mailing of a million credits costs one probe each.
//
// Single-threaded; owned by its Campaign record (in the Ledger).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "engine/assert.h"
#include "engine/hash.h"
#include "engine/hash_index.h"
#include "engine/limits.h"

namespace bonus {

class RecipientSet {
 public:
  // An entry is the account index with this bit set once the account spent from a lot
  // of the campaign (docs/state-format.md stores entries as they are).
  static constexpr std::uint32_t kSpent = 1u << 31;
  static constexpr std::uint32_t kAccountMask = kSpent - 1;
  static_assert(kAccountCountMax - 1 <= kAccountMask, "every account index fits beside the flag");

  // Adds `account` if absent. Returns whether it was new.
  bool add(std::uint32_t account) {
    BONUS_ASSERT(account <= kAccountMask);
    if (position(account) != HashIndex::kNone) return false;
    append(account);
    return true;
  }

  // Marks `account` as a spender. Returns whether it was not one before.
  // REQUIRES: `account` was added (it holds, or held, a lot of the campaign).
  bool mark_spent(std::uint32_t account) {
    const std::uint32_t pos = position(account);
    BONUS_ASSERT(pos != HashIndex::kNone);
    if ((entries_[pos] & kSpent) != 0) return false;
    entries_[pos] |= kSpent;
    return true;
  }

  // Loading: appends a stored entry. False when its account is already present.
  bool restore(std::uint32_t entry) {
    if (position(entry & kAccountMask) != HashIndex::kNone) return false;
    append(entry);
    return true;
  }

  std::span<const std::uint32_t> entries() const { return entries_; }
  std::uint64_t size() const { return entries_.size(); }
  std::uint64_t spender_count() const {
    std::uint64_t n = 0;
    for (std::uint32_t e : entries_) n += (e & kSpent) != 0;
    return n;
  }

 private:
  static std::uint64_t hash(std::uint32_t account) { return mix64(account); }

  std::uint32_t position(std::uint32_t account) const {
    if (!index_) return HashIndex::kNone;
    return index_->find(hash(account), [&](std::uint32_t pos) {
      return (entries_[pos] & kAccountMask) == account;
    });
  }
  void append(std::uint32_t entry) {
    if (!index_) index_ = std::make_unique<HashIndex>();
    index_->insert(hash(entry & kAccountMask), static_cast<std::uint32_t>(entries_.size()));
    entries_.push_back(entry);
  }

  std::vector<std::uint32_t> entries_;
  std::unique_ptr<HashIndex> index_;  // entry position by account; none until the first add
};

}  // namespace bonus
