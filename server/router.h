// Router: which shard applies a command. A buyer's commands go to shard f(buyer), so a
// buyer's whole cart is on one shard. Commands that name only an order go where that
// order's hold (or accrual) was routed; an order the router never saw goes to shard 0,
// which answers unknown_order. Seller-wide commands and sweeps go to every shard.
//
// Order ids are the marketplace's and unique: if one id is reused for another buyer while
// the first order is still live, the router follows the newest.
//
// Owned by the sequencer thread (and by start-up replay before it starts). Deterministic:
// replaying the journal through a fresh Router routes every command the same way.
#pragma once

#include <cstdint>
#include <deque>
#include <unordered_map>
#include <vector>

#include "engine/command.h"
#include "engine/hash.h"

namespace bonus::server {

class Router {
 public:
  static constexpr std::uint32_t kAllShards = UINT32_MAX;

  // Remembers at most `orders_max` orders of each kind, forgetting the oldest first.
  Router(std::uint32_t shards, std::uint64_t orders_max) : shards_(shards), orders_max_(orders_max) {}

  std::uint32_t shard_of_buyer(BuyerId buyer) const {
    return static_cast<std::uint32_t>(mix64(buyer) % shards_);
  }

  // The shard for `command`, or kAllShards; records the order of a hold, spend or accrual.
  std::uint32_t route(const Command& command);

  std::uint32_t shards() const { return shards_; }

  // After a checkpoint load, before any route(): the orders each shard's ledger has a
  // record of (Ledger::for_each_order), so that commands naming them go where they went.
  // Of an id on several shards (reused), the most recent record wins; the oldest are
  // forgotten first. Then finish_restore().
  void restore(OrderId order, bool hold, std::uint32_t shard, TimeUs recency);
  void finish_restore();

 private:
  struct OrderMap {
    std::unordered_map<OrderId, std::uint32_t> shard;
    std::deque<OrderId> age;  // oldest first; may name orders since re-recorded
  };
  std::uint32_t remember(OrderMap& map, OrderId order, BuyerId buyer);
  std::uint32_t lookup(const OrderMap& map, OrderId order) const;

  struct Restored {
    TimeUs recency;
    OrderId order;
    std::uint32_t shard;
    bool hold;
  };

  std::uint32_t shards_;
  std::uint64_t orders_max_;
  OrderMap holds_;
  OrderMap accruals_;
  std::vector<Restored> restored_;  // between restore() and finish_restore()
};

}  // namespace bonus::server
