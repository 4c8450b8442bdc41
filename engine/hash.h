// Key hashing for the engine's tables: fast, well-mixed 64-bit hashes of integer keys.
#pragma once

#include <cstdint>

#include "engine/types.h"

namespace bonus {

// The finaliser of MurmurHash3 (fmix64): a bijection that spreads every input bit.
inline std::uint64_t mix64(std::uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  x ^= x >> 33;
  return x;
}

inline std::uint64_t hash_pair(std::uint64_t a, std::uint64_t b) {
  return mix64(a * 0x9e3779b97f4a7c15ull ^ mix64(b));
}

inline std::uint64_t hash_id(const Id128& id) { return hash_pair(id.hi, id.lo); }

}  // namespace bonus
