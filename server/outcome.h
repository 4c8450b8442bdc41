// Outcome: what a shard tells the sequencer's directories (IdDirectory, Router) after
// applying a command, when the result differs from what admission assumed (an id
// remembered as applied at the command's time; an order opened by a hold, spend or
// accrual): a rejection, a repeat, an order finished or timed out by a sweep.
//
// Made on the shard thread that applied the command, from its Ledger as it is right after
// the apply; carried to the sequencer thread in batches (Sequencer::report).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "engine/command.h"
#include "engine/ledger.h"
#include "engine/result.h"

namespace bonus::server {

struct Outcome {
  TimeUs stamp_us = 0;  // the command's ledger time
  std::uint32_t shard = 0;
  Id128 id;  // zero: nothing to say about an id
  std::optional<IdMemory> id_memory;
  OrderId order = 0;
  bool has_order = false;
  bool hold = false;             // the order is a hold or spend (else an accrual)
  TimeUs order_finished_us = 0;  // Ledger::order_finished_us after the apply
};

// Appends to `out` what applying `command` at `stamp_us` with `result` on `ledger` (as it
// is right after) tells the directories; nothing when admission's assumption holds.
void collect_outcomes(const Command& command, const Result& result, const Ledger& ledger,
                      std::uint32_t shard, TimeUs stamp_us, std::vector<Outcome>& out);

}  // namespace bonus::server
