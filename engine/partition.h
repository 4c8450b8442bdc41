// partition_of: which of `count` partitions (the server's shards) owns a buyer. One
// definition for the server's router and the engine's partition filter (a Ledger that
// applies a command naming buyers of several partitions, like Referral, acts only for
// the buyers its partition owns). Pure; any thread.
#pragma once

#include <cstdint>

#include "engine/hash.h"
#include "engine/types.h"

namespace bonus {

// REQUIRES: count > 0.
inline std::uint32_t partition_of(BuyerId buyer, std::uint32_t count) {
  return static_cast<std::uint32_t>(mix64(buyer) % count);
}

}  // namespace bonus
