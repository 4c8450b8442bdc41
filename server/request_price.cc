#include "server/request_price.h"

#include <algorithm>
#include <vector>

namespace bonus::server {
namespace {

using protocol::FrameError;
using protocol::Opcode;

std::uint64_t lots_bytes_max(std::uint64_t accounts, std::uint32_t lots_per_reply_max) {
  return std::min<std::uint64_t>(accounts * kAccountLotsMax, lots_per_reply_max) * kLotEntryBytes;
}

std::uint64_t balance_bytes_max(std::uint64_t accounts, bool with_lots,
                                std::uint32_t lots_per_reply_max) {
  return protocol::kHeaderBytes + kReplyFixedBytesMax + accounts * kAccountEntryBytesMax +
         (with_lots ? lots_bytes_max(accounts, lots_per_reply_max) : 0);
}

std::uint64_t mix(std::uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  return x;
}

// The index of the first key equal to an earlier one, or SIZE_MAX: one pass through an
// open-addressing table of indexes, reused by the thread (a generation stamp clears it),
// so the network thread neither sorts nor allocates per request.
template <typename Key>
std::size_t first_duplicate(std::span<const Key> keys, std::uint64_t (*hash)(const Key&)) {
  thread_local std::vector<std::uint32_t> stamps;
  thread_local std::vector<std::uint32_t> indexes;
  thread_local std::uint32_t generation = 0;
  std::size_t capacity = 16;
  while (capacity < keys.size() * 2) capacity *= 2;
  if (stamps.size() < capacity) {
    stamps.assign(capacity, 0);
    indexes.resize(capacity);
    generation = 0;
  }
  if (++generation == 0) {
    std::fill(stamps.begin(), stamps.end(), 0);
    generation = 1;
  }
  const std::size_t mask = capacity - 1;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    std::size_t slot = hash(keys[i]) & mask;
    for (; stamps[slot] == generation; slot = (slot + 1) & mask) {
      if (keys[indexes[slot]] == keys[i]) return i;
    }
    stamps[slot] = generation;
    indexes[slot] = static_cast<std::uint32_t>(i);
  }
  return SIZE_MAX;
}

std::uint64_t hash_account(const protocol::AccountKey& k) {
  return mix(mix(k.seller) ^ k.buyer);
}
std::uint64_t hash_seller(const SellerId& s) {
  return mix(s);
}

}  // namespace

std::uint64_t reply_bytes_max(Opcode opcode, std::uint32_t body_size,
                              std::uint32_t lots_per_reply_max) {
  const std::uint64_t fixed = protocol::kHeaderBytes + kReplyFixedBytesMax;
  if (protocol::is_write(opcode)) {
    return fixed + body_size / kWriteCommandBytesMin * kWriteResultBytesMax;
  }
  const std::uint64_t keys = body_size / kRequestKeyBytesMin;
  switch (opcode) {
    case Opcode::balance:
      return balance_bytes_max(keys, true, lots_per_reply_max);
    case Opcode::cart:
      return fixed + keys * kCartEntryBytes;
    case Opcode::expiring:
      return fixed + std::uint64_t{protocol::kBatchCommandsMax} * kExpiringEntryBytes;
    case Opcode::segment:
      return fixed + std::uint64_t{protocol::kBatchCommandsMax} * kSegmentBuyerBytes;
    case Opcode::history:
    case Opcode::order:
      return fixed + std::uint64_t{protocol::kHistoryPageMax} * kHistoryEventBytes;
    // A wallet has as many accounts as the buyer has sellers: not known before the shard
    // looks. Priced as a large one; price_wallet_reply refuses one past the ceiling.
    case Opcode::wallet:
      return fixed + 512 * kAccountEntryBytesMax;
    // The partitions' ports: two bytes and a vector slot's alignment each, for the most
    // shards a server has (CheckpointStore::kShardsMax).
    case Opcode::hello:
      return fixed + 256 * 4;
    default:
      return fixed;
  }
}

std::uint64_t balance_reply_bytes_max(const protocol::BalanceQuery& query,
                                      std::uint32_t lots_per_reply_max) {
  return balance_bytes_max(query.accounts.size(), query.with_lots, lots_per_reply_max);
}

Refusal price_balance(const protocol::BalanceQuery& query, std::uint32_t lots_per_reply_max) {
  const std::span<const protocol::AccountKey> keys(query.accounts);
  if (const std::size_t d = first_duplicate(keys, hash_account); d != SIZE_MAX) {
    return {FrameError::duplicate_key, "balance: account seller " + std::to_string(keys[d].seller) +
                                           " buyer " + std::to_string(keys[d].buyer) +
                                           " is asked for more than once; ask once"};
  }
  if (balance_reply_bytes_max(query, lots_per_reply_max) > protocol::kBodySizeMax) {
    return {FrameError::batch_too_large,
            "balance: the answer could pass the frame ceiling; ask for fewer accounts at a time"};
  }
  return {};
}

Refusal price_cart(const protocol::CartQuery& query) {
  std::vector<SellerId> sellers;  // cart lines are few; the copy keeps the check generic
  sellers.reserve(query.lines.size());
  for (const CartLine& line : query.lines) sellers.push_back(line.seller);
  if (const std::size_t d = first_duplicate(std::span<const SellerId>(sellers), hash_seller);
      d != SIZE_MAX) {
    return {FrameError::duplicate_key, "cart: seller " + std::to_string(sellers[d]) +
                                           " has more than one line; one line per seller"};
  }
  return {};
}

Refusal price_wallet_reply(std::size_t accounts) {
  const std::uint64_t bytes = kReplyFixedBytesMax + accounts * kAccountEntryBytesMax;
  if (bytes <= protocol::kBodySizeMax) return {};
  return {FrameError::batch_too_large, "wallet: the buyer has " + std::to_string(accounts) +
                                           " accounts, more than one reply frame can carry"};
}

}  // namespace bonus::server
