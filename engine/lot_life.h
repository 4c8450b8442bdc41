// LotLife: how a credited lot's expiry is chosen. A plain value.
#pragma once

#include <cstdint>

#include "engine/types.h"

namespace bonus {

struct LotLife {
  enum class Kind : std::uint8_t {
    policy_default = 0,  // now + the seller's default lot life
    ttl = 1,             // now + value (value > 0)
    absolute = 2,        // value is the expiry time; must be after now (credit only)
    never = 3,           // never expires
  };
  Kind kind = Kind::policy_default;
  std::uint8_t reserved[7] = {};
  TimeUs value = 0;

  static LotLife policy() { return {}; }
  static LotLife ttl_of(TimeUs ttl_us) { return {Kind::ttl, {}, ttl_us}; }
  static LotLife at(TimeUs expires_at_us) { return {Kind::absolute, {}, expires_at_us}; }
  static LotLife forever() { return {Kind::never, {}, 0}; }
};
static_assert(sizeof(LotLife) == 16);

}  // namespace bonus
