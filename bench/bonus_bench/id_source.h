// IdSource: command ids and order ids unique to one bonus-bench run (the nonce) and to
// the slot, or job, that makes them (`thread`: 12 bits of an order id). A plain value,
// owned and used by one thread.
#pragma once

#include <cstdint>

#include "engine/types.h"

namespace bonus::bench {

struct IdSource {
  std::uint64_t nonce;
  std::uint64_t thread;
  std::uint64_t next = 0;

  Id128 id() { return Id128{nonce, (thread << 40) | ++next}; }
  OrderId order() {
    return ((nonce & 0xFFFFF) << 44) | ((thread & 0xFFF) << 32) | (++next & 0xFFFFFFFF);
  }
};

}  // namespace bonus::bench
