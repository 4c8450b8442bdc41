// EngineConfig: the bounds of one Ledger, fixed at construction.
#pragma once

#include <cstdint>

#include "engine/types.h"

namespace bonus {

struct EngineConfig {
  std::uint64_t accounts_max = 1ull << 26;  // (seller, buyer) pairs; past it `accounts_full`
  std::uint64_t orders_max = 1ull << 24;    // holds and accruals each; past it `orders_full`
  std::uint64_t ids_max = 1ull << 24;       // remembered write ids; past it `ids_full`
  TimeUs id_window_us = 24 * kUsPerHour;    // a write id is remembered this long
  // A rejected command changed nothing; its id and result are remembered in a table of
  // their own, this long and at most this many, so that rejections never take room
  // from the ids of applied commands. Past the bound a rejection is not remembered.
  std::uint64_t rejected_ids_max = 1ull << 20;
  TimeUs rejected_id_window_us = 10 * kUsPerMinute;
  // A finished order (captured, released, timed out; confirmed, cancelled, reversed
  // accrual) stays this long after it finished, for refunds and reversals; after it
  // the order id is unknown (and may be reused).
  TimeUs order_retention_us = 90 * kUsPerDay;
};

}  // namespace bonus
