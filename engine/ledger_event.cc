// LedgerEvent kind names: the words statements show (bonusctl, the clients, the docs).
#include "engine/ledger_event.h"

#include <cstring>

namespace bonus {
namespace {

constexpr const char* kNames[LedgerEvent::kKindMax + 1] = {
    "unknown",  "credited", "accrued", "confirmed", "cancelled", "reversed", "held",
    "spent",    "released", "timed_out", "refunded", "expired",  "revoked",
};

}  // namespace

const char* event_kind_name(LedgerEvent::Kind kind) {
  const auto k = static_cast<std::uint8_t>(kind);
  return k <= LedgerEvent::kKindMax ? kNames[k] : "unknown";
}

bool event_kind_of(const char* name, LedgerEvent::Kind& out) {
  for (std::uint8_t k = 1; k <= LedgerEvent::kKindMax; ++k) {
    if (std::strcmp(kNames[k], name) == 0) {
      out = static_cast<LedgerEvent::Kind>(k);
      return true;
    }
  }
  return false;
}

}  // namespace bonus
