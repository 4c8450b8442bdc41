// Router: which shard applies a command, and the ledger-wide order directory.
//
// A buyer's commands go to shard f(buyer), so a buyer's whole cart is on one shard.
// Commands that name only an order go where that order's hold (or accrual) lives; an
// order the router does not know goes to shard 0, which answers unknown_order.
// Seller-wide commands and sweeps go to every shard.
//
// Order ids are ledger-wide (holds and one-step spends are one kind, accruals another):
// a hold, spend or accrual naming an order that is live on another shard is
// `order_exists`, decided here and never journaled (the admission remembers the answer
// under the command's id, as a shard remembers a rejection). "Live" is the engine's: open, or
// finished less than order_retention_us ago. The router must never forget an order a
// shard still holds: on admission it assumes the order is opened (live for ever) and it
// learns the exact state from the shards' outcome reports (server/outcome.h): a creation
// that was rejected, an order finished (retention from then), a hold a sweep timed out.
// A report counts only if no later command naming the order was admitted since.
//
// Owned by the sequencer thread (and by start-up before it starts). Its decisions are
// not journaled (the journal records each command's shard); after a restart it is
// rebuilt from the ledgers' order records.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "engine/code.h"
#include "engine/command.h"
#include "engine/hash.h"
#include "engine/keyed_table.h"
#include "engine/partition.h"
#include "server/time_queue.h"

namespace bonus::server {

// What the router knows of one order (its table record).
struct RoutedOrder {
  OrderId order = 0;
  std::uint32_t shard = 0;
  TimeUs last_us = 0;      // the latest admitted command naming the order
  TimeUs finished_us = 0;  // kTimeNever while open (or assumed open)

  OrderId key() const { return order; }
  static std::uint64_t hash(OrderId key) { return mix64(key); }
};

class Router {
 public:
  static constexpr std::uint32_t kAllShards = UINT32_MAX;
  static constexpr std::uint32_t kNoShard = UINT32_MAX - 1;

  // Remembers at most `orders_max` live orders of each kind (ledger-wide); past it a
  // new order is `orders_full`. A finished order is live for `retention_us` after.
  Router(std::uint32_t shards, std::uint64_t orders_max, TimeUs retention_us)
      : shards_(shards),
        orders_max_(orders_max),
        retention_us_(retention_us),
        applied_us_(shards, 0) {}

  // A SetLimits at `now`: what is past its retention at `now` is forgotten first (as the
  // ledgers do), then the new bound and retention apply.
  void set_limits(std::uint64_t orders_max, TimeUs retention_us, TimeUs now);

  std::uint32_t shard_of_buyer(BuyerId buyer) const { return partition_of(buyer, shards_); }
  std::uint32_t shards() const { return shards_; }

  struct Route {
    std::uint32_t shard = 0;   // or kAllShards
    Code rejected = Code::ok;  // order_exists or orders_full: not to be journaled
  };
  // The shard for `command` admitted at ledger time `now`, recording the orders it
  // names. `forced`: the command must go there (a retry going where its id lives); an
  // order-only command then updates its order only if that is where the order is.
  // `record` false: the command fails its own checks (check_before_order) and will open
  // nothing; it is routed without looking at or recording its order.
  Route route(const Command& command, TimeUs now, std::uint32_t forced = kNoShard,
              bool record = true);

  // What `shard` holds of `order` after applying a command of time `stamp_us` that named
  // it, or a sweep at that time (Ledger::order_finished_us: 0 nothing, kTimeNever open,
  // else when it finished).
  void report(OrderId order, bool hold, std::uint32_t shard, TimeUs stamp_us, TimeUs finished_us);

  // Forgets every order and what the shards applied, and takes new bounds: before a
  // restore() of every shard (a standby taking the log over). The shard count stays.
  void reset(std::uint64_t orders_max, TimeUs retention_us) {
    orders_max_ = orders_max;
    retention_us_ = retention_us;
    // The tables cannot be assigned: made anew in place.
    std::destroy_at(&holds_);
    std::construct_at(&holds_);
    std::destroy_at(&accruals_);
    std::construct_at(&accruals_);
    std::fill(applied_us_.begin(), applied_us_.end(), 0);
  }

  // Start-up, from each shard's ledger (Ledger::for_each_order + order_finished_us).
  void restore(OrderId order, bool hold, std::uint32_t shard, TimeUs finished_us);

  // Shard `shard` has applied everything admitted for it up to `time_us`, and its
  // reports about it have been given to report(). What the router knows of an order is
  // exact once its shard has applied the last command that named it.
  void applied_through(std::uint32_t shard, TimeUs time_us) { applied_us_[shard] = time_us; }
  // Whether `shard` (every shard for kAllShards) has applied everything up to `time_us`.
  bool applied(std::uint32_t shard, TimeUs time_us) const;


 private:
  using Entry = RoutedOrder;
  struct Directory {
    KeyedTable<Entry> entries;
    // Finish times, oldest first; an entry whose finish has since changed is skipped.
    TimeQueue<OrderId> finishes;
  };
  bool live(const Entry& e, TimeUs now) const {
    return e.finished_us == kTimeNever || e.finished_us > now - retention_us_;
  }
  Route create(Directory& d, OrderId order, BuyerId buyer, TimeUs now, std::uint32_t forced,
               bool record);
  std::uint32_t follow(Directory& d, OrderId order, TimeUs now, std::uint32_t forced);
  void set_finished(Directory& d, Entry& e, TimeUs finished_us);
  void purge(Directory& d, TimeUs now, std::size_t budget);

  std::uint32_t shards_;
  std::uint64_t orders_max_;
  TimeUs retention_us_;
  Directory holds_;
  Directory accruals_;
  std::vector<TimeUs> applied_us_;  // per shard
};

}  // namespace bonus::server
