// RequestPrice: what a request may cost before it is executed, decided on the network
// thread from the frame and its decoded body, so that no shard is asked for work or a
// reply it cannot bound. Three things are priced:
//   - the bytes its reply may take (`reply_bytes_max`): a connection counts them against
//     --unsent-bytes-max while the request is in flight (server/README.md), and a reply
//     that could pass the frame ceiling is refused before anything is built;
//   - duplicate keys: one account twice in a balance, one seller twice in a cart, is
//     refused (`duplicate_key`): repeating a key only multiplies the shard's work;
//   - lots: a balance with lots returns at most --lots-per-reply-max of them (the shards
//     share that budget and stop at it; the request is then refused `batch_too_large`).
// Stateless functions and the limits they rely on; any thread.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "engine/limits.h"
#include "protocol/frame.h"
#include "protocol/messages.h"

namespace bonus::server {

// Encoded sizes, upper bounds (tests/server/request_price_test.cc checks them against
// the encoder): one Account table in a BalanceReply or WalletReply (with its vtable, its
// offset in the vector, a lots vector's and a lot reasons vector's length words and
// padding), one LotEntry with its reason byte, one WriteResult with its ExpiredResult,
// one CartEntry with its CartEarn, one ExpiringEntry, and a reply's fixed part. (An
// Account with its AccountTier measures 108 bytes.)
inline constexpr std::uint64_t kAccountEntryBytesMax = 144;
inline constexpr std::uint64_t kLotEntryBytes = 33;
inline constexpr std::uint64_t kWriteResultBytesMax = 32;
inline constexpr std::uint64_t kCartEntryBytes = 48 + 32;
inline constexpr std::uint64_t kExpiringEntryBytes = 24;
inline constexpr std::uint64_t kSegmentBuyerBytes = 8;
inline constexpr std::uint64_t kHistoryEventBytes = 88;  // bonus.fbs HistoryEvent
inline constexpr std::uint64_t kReplyFixedBytesMax = 1024;
// Smallest encoded key of a balance (AccountKey) and of a cart (CartLine), and of a write
// command (Release): how many a body of n bytes can hold at most.
inline constexpr std::uint64_t kRequestKeyBytesMin = 16;
inline constexpr std::uint64_t kWriteCommandBytesMin = 24;

// --lots-per-reply-max: at least one full account's lots (so any one account can always
// be asked for), at most what leaves room in the reply ceiling for the largest batch.
inline constexpr std::uint32_t kLotsPerReplyMin = kAccountLotsMax;
inline constexpr std::uint32_t kLotsPerReplyDefault = 65'536;
inline constexpr std::uint32_t kLotsPerReplyMax = 196'608;
static_assert(kLotsPerReplyMin <= kLotsPerReplyDefault && kLotsPerReplyDefault <= kLotsPerReplyMax);
static_assert(protocol::kBatchCommandsMax * kAccountEntryBytesMax +
                      kLotsPerReplyMax * kLotEntryBytes + kReplyFixedBytesMax <=
                  protocol::kBodySizeMax,
              "a balance of the most accounts with the most lots must fit in one reply frame");

// Upper bound of the reply's bytes (header included) to a request of `opcode` with a body
// of `body_size` bytes, before decoding it: what the connection reserves while the
// request is in flight. A balance is priced as if it asked for lots.
std::uint64_t reply_bytes_max(protocol::Opcode opcode, std::uint32_t body_size,
                              std::uint32_t lots_per_reply_max);

// The same for a decoded balance.
std::uint64_t balance_reply_bytes_max(const protocol::BalanceQuery& query,
                                      std::uint32_t lots_per_reply_max);

// A decoded request that may not be executed: why, with the code to answer.
struct Refusal {
  protocol::FrameError error = protocol::FrameError::none;
  std::string message;
  explicit operator bool() const { return error != protocol::FrameError::none; }
};

// Duplicate accounts (and a reply past the frame ceiling, which the limits above rule out
// but which is checked anyway: flags change). O(n), no allocation per request.
Refusal price_balance(const protocol::BalanceQuery& query, std::uint32_t lots_per_reply_max);
// Duplicate sellers.
Refusal price_cart(const protocol::CartQuery& query);
// A wallet reply of `accounts` accounts past the frame ceiling (known only once a shard
// has collected them; checked before the reply is encoded).
Refusal price_wallet_reply(std::size_t accounts);

}  // namespace bonus::server
