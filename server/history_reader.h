// HistoryReader: the thread statement reads (history, order) run on, so that a page of
// many events, or one whose LMDB pages must come from the disk, holds up no other
// request: the network and partition threads hand it the read and go on serving, and the
// read replies through its connection's post_reply, as a shard's read does.
//
// Owned by the Server while history is on; one thread, `bonus-history`, started by the
// constructor at nice `nice` (the server gives it the checkpointer's, 10: on two cores a
// client reading statement pages of 1,000 events over and over would otherwise take a
// core's worth from the partitions; docs/performance.md, "Issue 14, fifth part"). Reads are taken
// from any thread and run one at a time, in the order they came. What may be queued is bounded by
// its producers (connections × in-flight requests each), as for the sequencer's queue. stop() runs
// what is queued, then joins.
#pragma once

#include <functional>
#include <thread>

#include "server/work_queue.h"

namespace bonus::server {

class HistoryReader {
 public:
  using Read = std::function<void()>;

  explicit HistoryReader(int nice);
  ~HistoryReader();  // stop()
  HistoryReader(const HistoryReader&) = delete;
  HistoryReader& operator=(const HistoryReader&) = delete;

  // Any thread. REQUIRES: before stop().
  void submit(Read read);
  // Runs every read submitted before it, then ends the thread. Idempotent.
  void stop();

 private:
  void run();

  WorkQueue<Read> reads_;
  std::thread thread_;
};

}  // namespace bonus::server
