// WriteJob: one client write request in flight. The network thread creates it, the
// sequencer stamps and journals its commands, shards apply them and fill `results`; the
// shard that finishes the last delivery calls `done` (on its own thread), which encodes
// the reply and hands it to the network thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "engine/command.h"
#include "engine/result.h"

namespace bonus::server {

struct WriteJob {
  std::vector<Command> commands;
  std::vector<Result> results;
  // Shard deliveries still to come: one per command, or one per shard for commands that
  // fan out to every shard (seller-wide ones).
  std::atomic<std::uint32_t> remaining{0};
  std::mutex merge_mutex;           // fan-out results merge under it
  std::vector<std::uint8_t> fanned;  // per command: shards merged so far (fan-out only)
  bool storage_failed = false;  // set by the sequencer when the journal failed
  std::string storage_error;    // with storage_failed: the log's error
  bool not_leader = false;      // set by a sequencer that follows the log: nothing applied
  TimeUs advance_us = 0;        // test clock: move time forward, then sweep (no commands)
  std::string refused;          // set by the sequencer when it refused the advance: why
  // Set by the sequencer: the log position the reply reflects, the request's last record
  // (for a request of nothing but rejections, the last record before its answer).
  std::uint64_t position = 0;
  std::function<void(WriteJob&)> done;

  // Called by each delivery; the last one runs `done`.
  void delivered(std::uint32_t count = 1) {
    if (remaining.fetch_sub(count, std::memory_order_acq_rel) == count) done(*this);
  }
};

// What a shard applies: a command at its ledger time, and where its result goes (none
// for the server's own sweep ticks and for replay).
struct ShardWrite {
  Command command;
  TimeUs time = 0;
  std::shared_ptr<WriteJob> job;
  std::uint32_t index = 0;
  bool fan_out = false;
  std::uint64_t position = 0;  // the record's log position
};

}  // namespace bonus::server
