// Lot: a parcel of bonuses with one expiry and one origin, as stored in an account
// and, as a "fragment", in a hold. 24 bytes; plain value.
// `seq_flags` packs, from the top: bit 31 order origin, bit 30 spent from, bits 29..22
// the credit's reason (engine/reason.h), bits 21..0 the per-account sequence number.
#pragma once

#include <cstdint>

#include "engine/types.h"

namespace bonus {

struct Lot {
  static constexpr std::uint32_t kOrderOrigin = 1u << 31;  // origin is an order id
  static constexpr std::uint32_t kSpentFrom = 1u << 30;    // something was spent from it
  static constexpr int kReasonShift = 22;
  static constexpr std::uint32_t kReasonMask = 0xFFu << kReasonShift;
  static constexpr std::uint32_t kSeqMask = (1u << kReasonShift) - 1;

  TimeUs expires_at_us = kTimeNever;
  std::uint64_t origin = 0;  // campaign id (0: none) or, with kOrderOrigin, order id
  std::uint32_t amount = 0;
  std::uint32_t seq_flags = 0;  // sequence number, reason and the two flags above

  std::uint32_t seq() const { return seq_flags & kSeqMask; }
  bool order_origin() const { return (seq_flags & kOrderOrigin) != 0; }
  std::uint32_t reason() const { return (seq_flags & kReasonMask) >> kReasonShift; }
  bool spent_from() const { return (seq_flags & kSpentFrom) != 0; }
  CampaignId campaign() const { return order_origin() ? 0 : origin; }
  bool expired(TimeUs now) const { return expires_at_us <= now; }

  // Lot order: soonest expiry first, then oldest (lowest seq).
  bool before(const Lot& other) const {
    return expires_at_us != other.expires_at_us ? expires_at_us < other.expires_at_us
                                                : seq() < other.seq();
  }
};
static_assert(sizeof(Lot) == 24);

}  // namespace bonus
