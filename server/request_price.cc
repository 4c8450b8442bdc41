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

// A pair of keys in sorted order that are equal: the first duplicate, if any.
template <typename Key>
const Key* first_duplicate(std::vector<Key>& keys) {
  std::sort(keys.begin(), keys.end());
  const auto at = std::adjacent_find(keys.begin(), keys.end());
  return at == keys.end() ? nullptr : &*at;
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
    case Opcode::balance: return balance_bytes_max(keys, true, lots_per_reply_max);
    case Opcode::cart: return fixed + keys * kCartEntryBytes;
    case Opcode::expiring:
      return fixed + std::uint64_t{protocol::kBatchCommandsMax} * kExpiringEntryBytes;
    // A wallet has as many accounts as the buyer has sellers: not known before the shard
    // looks. Priced as a large one; price_wallet_reply refuses one past the ceiling.
    case Opcode::wallet: return fixed + 512 * kAccountEntryBytesMax;
    default: return fixed;
  }
}

std::uint64_t balance_reply_bytes_max(const protocol::BalanceQuery& query,
                                      std::uint32_t lots_per_reply_max) {
  return balance_bytes_max(query.accounts.size(), query.with_lots, lots_per_reply_max);
}

Refusal price_balance(const protocol::BalanceQuery& query, std::uint32_t lots_per_reply_max) {
  std::vector<std::pair<SellerId, BuyerId>> keys;
  keys.reserve(query.accounts.size());
  for (const protocol::AccountKey& k : query.accounts) keys.emplace_back(k.seller, k.buyer);
  if (const auto* d = first_duplicate(keys)) {
    return {FrameError::duplicate_key, "balance: account seller " + std::to_string(d->first) +
                                           " buyer " + std::to_string(d->second) +
                                           " is asked for more than once; ask once"};
  }
  if (balance_reply_bytes_max(query, lots_per_reply_max) > protocol::kBodySizeMax) {
    return {FrameError::batch_too_large,
            "balance: the answer could pass the frame ceiling; ask for fewer accounts at a time"};
  }
  return {};
}

Refusal price_cart(const protocol::CartQuery& query) {
  std::vector<SellerId> sellers;
  sellers.reserve(query.lines.size());
  for (const CartLine& line : query.lines) sellers.push_back(line.seller);
  if (const SellerId* d = first_duplicate(sellers)) {
    return {FrameError::duplicate_key, "cart: seller " + std::to_string(*d) +
                                           " has more than one line; one line per seller"};
  }
  return {};
}

Refusal price_wallet_reply(std::size_t accounts) {
  const std::uint64_t bytes = kReplyFixedBytesMax + accounts * kAccountEntryBytesMax;
  if (bytes <= protocol::kBodySizeMax) return {};
  return {FrameError::batch_too_large,
          "wallet: the buyer has " + std::to_string(accounts) +
              " accounts, more than one reply frame can carry"};
}

}  // namespace bonus::server
