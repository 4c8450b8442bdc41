// Admission: the gate every write passes on the sequencer thread before it is journaled,
// which makes write ids and order ids mean one thing across all shards (DESIGN.md §3:
// "ids are ledger-wide"). It owns the IdDirectory and the Router:
//   1. the sweep goes to every shard; a zero id is `id_zero`;
//   2. the id: another body under a live id is `id_reused`; a retry (same body) goes where
//      the id lives; a new id past ids_max is `ids_full`;
//   3. the route: a hold, spend or accrual whose order is live on another shard is
//      `order_exists`, past the order bound `orders_full`; else the command's shard.
// A command rejected here is answered at once and never journaled: nothing changes, on
// any shard. The answers of step 3 are kept under the command's id like a shard keeps a
// rejection (IdDirectory::remember_answer). A SetLimits changes the windows and bounds
// here at its place in the log, as in the ledgers, and is never `ids_full` (it is how an
// operator raises ids_max). What is admitted goes to its shard(s), whose outcome reports
// (outcome.h) keep both directories exact.
//
// Owned by the sequencer thread (and start-up, which rebuilds it from the ledgers).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "engine/command.h"
#include "engine/ledger.h"
#include "engine/ledger_config.h"
#include "engine/result.h"
#include "server/id_directory.h"
#include "server/outcome.h"
#include "server/router.h"

namespace bonus::server {

class Admission {
 public:
  // `config`: the shards' engine configuration (ids_max and the id windows apply
  // ledger-wide here; orders_max per shard, so shards × orders_max here).
  Admission(std::uint32_t shards, const EngineConfig& config);

  struct Admitted {
    std::uint32_t shard = 0;         // or Router::kAllShards
    std::optional<Result> rejected;  // set: answer this, do not journal
  };
  // REQUIRES: `now` (the stamp the command will carry) increases from call to call.
  Admitted admit(const Command& command, TimeUs now);

  void report(const Outcome& outcome);
  // Shard `shard` has applied every command admitted for it up to ledger time `time_us`,
  // and its reports about them have been given to report().
  void applied_through(std::uint32_t shard, TimeUs time_us) {
    router_.applied_through(shard, time_us);
  }

  // Forgets every id and order and takes `config` (the ledgers' limits): before a
  // restore() of every shard, when a standby takes the log over.
  void reset(const EngineConfig& config);

  // Start-up, after the checkpoint load and the journal replay: learns every id and order
  // `ledger` (shard `shard`) holds at `now`.
  void restore(std::uint32_t shard, const Ledger& ledger, TimeUs now);

  const Router& router() const { return router_; }

 private:
  void set_limits(const SetLimits& c, TimeUs now);

  EngineConfig config_;  // as of the last SetLimits admitted
  Router router_;
  IdDirectory ids_;
};

// A seller-wide command's result is the sum of its shards' results. Shards cannot disagree
// on the code (ids are ledger-wide, and nothing else such a command checks depends on the
// shard); if they ever do, the result says shards_disagree rather than show one side, and
// this returns true (the caller logs it).
bool merge_seller_wide(Result& into, const Result& part, bool first);

}  // namespace bonus::server
