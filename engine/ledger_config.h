// EngineConfig: the bounds of one Ledger. Part of its state: set at construction, changed
// only by a SetLimits command at its log position (apply_limits), stored in every
// checkpoint (docs/state-format.md) and in the server's manifest (server/manifest.h).
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

  friend bool operator==(const EngineConfig&, const EngineConfig&) = default;
};

// Ranges a config must keep (a SetLimits outside them is `invalid_limits`; a checkpoint
// or manifest outside them is refused as damaged).
inline constexpr std::uint64_t kTableBoundMax = 1ull << 32;  // account indexes are 32-bit
inline constexpr TimeUs kWindowMaxUs = 100 * 365 * kUsPerDay;

// Whether every bound is in 1..kTableBoundMax and every window in 1..kWindowMaxUs.
inline bool config_valid(const EngineConfig& c) {
  auto table = [](std::uint64_t n) { return n >= 1 && n <= kTableBoundMax; };
  auto window = [](TimeUs t) { return t >= 1 && t <= kWindowMaxUs; };
  return table(c.accounts_max) && table(c.orders_max) && table(c.ids_max) &&
         table(c.rejected_ids_max) && window(c.id_window_us) && window(c.order_retention_us) &&
         window(c.rejected_id_window_us);
}

}  // namespace bonus

#include "engine/command.h"

namespace bonus {

// The config after `c`: the fields `c` names take its values, the others stay. Pure; for
// the ledger and for anyone that follows the limits in log order (the sequencer's id
// directory, the manifest). Validity is the caller's: see config_valid and set_limits_valid.
inline EngineConfig apply_limits(EngineConfig config, const SetLimits& c) {
  if (c.fields & SetLimits::kAccountsMax) config.accounts_max = c.accounts_max;
  if (c.fields & SetLimits::kOrdersMax) config.orders_max = c.orders_max;
  if (c.fields & SetLimits::kIdsMax) config.ids_max = c.ids_max;
  if (c.fields & SetLimits::kIdWindow) config.id_window_us = c.id_window_us;
  if (c.fields & SetLimits::kOrderRetention) config.order_retention_us = c.order_retention_us;
  if (c.fields & SetLimits::kRejectedIdsMax) config.rejected_ids_max = c.rejected_ids_max;
  if (c.fields & SetLimits::kRejectedIdWindow) config.rejected_id_window_us = c.rejected_id_window_us;
  return config;
}

// Whether `c` names at least one field, no unknown one, has reserved zero and gives
// every named field a value in range (the same for any config it is applied to).
inline bool set_limits_valid(const SetLimits& c) {
  if (c.fields == 0 || (c.fields & ~SetLimits::kFieldsAll) != 0 || c.reserved != 0) return false;
  EngineConfig probe;
  return config_valid(apply_limits(probe, c));
}

}  // namespace bonus
