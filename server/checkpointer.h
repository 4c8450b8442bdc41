// Checkpointer: writes checkpoints without pausing the shards. It keeps a replica of
// every shard's Ledger, fed by the sequencer with the same (command, time) records the
// shards get, in log order, once they are durable. The engine is deterministic, so
// after applying records up to log position P the replicas are exactly the shards'
// state at P; a checkpoint writes what the replicas changed since the previous one to
// the CheckpointStore (LMDB) in one transaction, then reports P as durable so the
// journal before P + 1 can go. The shards never stop for it: their only cost is the
// sequencer's hand-over of each group to this thread.
//
// Triggers: every `interval`, after `records` journal records, on request (admin
// checkpoint), and at stop. The replicas cost the memory of a second copy of the state
// and one more apply of every write, on this thread.
//
// Threads: its own; feed(), request() and the status getters from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "engine/command.h"
#include "engine/ledger.h"
#include "server/checkpoint_store.h"
#include "server/history_store.h"

namespace bonus::server {

// One journal record for the replicas, decoded: the command, its time and the shard it
// went to (Router::kAllShards for every shard).
struct ReplicaWrite {
  Command command;
  TimeUs time = 0;
  std::uint32_t shard = 0;
};

// The records of one group commit, the last of them at `last_position`, as the journal
// holds them (encode_record), each behind its u32 size. The sequencer hands over bytes it
// has encoded for the journal anyway; a credit takes 89 of them where a decoded write
// took 224, so a queue that falls behind during a mailing holds 40 % of the memory, and
// the replicas decode a window at a time.
class ReplicaBatch {
 public:
  void add(std::string_view record);
  std::size_t size() const { return count_; }
  bool empty() const { return count_ == 0; }
  std::size_t bytes() const { return bytes_.size(); }
  // The records in order; f(std::string_view record).
  template <typename F>
  void for_each(F&& f) const {
    std::size_t at = 0;
    for (std::uint32_t i = 0; i < count_; ++i) {
      std::uint32_t size = 0;
      std::memcpy(&size, bytes_.data() + at, sizeof(size));
      at += sizeof(size);
      f(std::string_view(bytes_.data() + at, size));
      at += size;
    }
  }
  std::size_t capacity() const { return bytes_.capacity(); }
  // Empty, keeping its memory for the next group.
  void clear() {
    bytes_.clear();
    count_ = 0;
    last_position = 0;
  }

  std::uint64_t last_position = 0;

 private:
  std::string bytes_;
  std::uint32_t count_ = 0;
};

struct CheckpointerOptions {
  std::chrono::milliseconds interval{60'000};  // 0: no periodic checkpoints
  std::uint64_t records = 1'000'000;          // journal records between checkpoints; 0: no bound
  // Records waiting for the replicas; past it the sequencer waits (feed blocks), so
  // memory stays bounded when the replicas fall behind.
  std::uint64_t queue_records_max = 4'000'000;
  // The thread's nice value (0: as the rest of the server). Not SCHED_IDLE, which took
  // less from a mailing but starves the thread whenever the machine is busy with anything
  // else: a checkpoint request then waits without bound (a TSan test timed out on it).
  int nice = 10;
  // History (docs/history-format.md): the replicas record events and this thread writes
  // them to `history` (null: history off). Written at least every `history_flush_interval`,
  // as soon as `history_pending_max` events wait (after the write that reached it, even
  // inside a batch: that bounds the memory kept), and before every checkpoint (so history
  // is durable up to a checkpoint's position before the journal before it can go).
  HistoryStore* history = nullptr;
  TimeUs history_retention_us = 400 * kUsPerDay;
  std::chrono::milliseconds history_flush_interval{1000};
  std::size_t history_pending_max = 65'536;
  std::uint32_t history_trim_budget = 10'000;  // events erased per flush at most
};

// What history is doing, for admin status.
struct HistoryStatus {
  bool on = false;
  std::uint64_t position = 0;  // every event up to this log position is in the store
  std::string problem;         // empty: writing; else why history stopped (writes go on)
};

struct CheckpointOutcome {
  bool ok = false;
  std::string message;
  std::uint64_t position = 0;
};

class Checkpointer {
 public:
  using Durable = std::function<void(std::uint64_t position)>;
  using Done = std::function<void(const CheckpointOutcome&)>;

  // `on_durable(P)` runs on this thread after each checkpoint at P is committed.
  Checkpointer(const CheckpointerOptions& options, CheckpointStore& store,
               const EngineConfig& engine, std::uint32_t shards, Durable on_durable);
  ~Checkpointer() { stop(); }

  // Starts the thread: it loads the replicas from the store, then applies what is fed.
  void start();
  // Applies everything fed, writes a last checkpoint if anything is new, ends the thread.
  void stop();

  // From the sequencer after a group is durable: takes the batch's records and leaves
  // `batch` empty, with the memory of an applied batch when one is spare (a steady stream
  // of groups then allocates nothing). Blocks while the queue is over its bound unless
  // `wait_for_room` is false (start-up replay, bounded by the journal).
  void feed(ReplicaBatch& batch, bool wait_for_room = true);
  // A checkpoint now (of everything fed so far); `done` runs on this thread.
  void request(Done done);

  // Position of the last durable checkpoint (0: none).
  std::uint64_t position() const { return position_.load(); }
  // Why checkpoints stopped for good, if they did: the replicas could not be loaded.
  std::optional<std::string> failure() const;
  // Why the last checkpoint failed, if it did (it is tried again at the next trigger).
  std::optional<std::string> last_error() const;
  HistoryStatus history_status() const;

 private:
  void run();
  void apply(const ReplicaBatch& batch);
  // Keeps a few applied batches (not the largest) for feed() to reuse; clears `batches`.
  void recycle(std::deque<ReplicaBatch>& batches);
  // Applies window_[0, window_size_) ending at log position `last`.
  void apply_window(std::uint64_t last);
  void prefetch(std::size_t count, WriteHint* hints) const;
  CheckpointOutcome checkpoint();
  // Starts history after the replicas are loaded: a gap is marked when the checkpoint is
  // past what history holds (history was off or failed while checkpoints went on).
  void start_history();
  // Keeps the events the last apply of replica `shard` made at `position`.
  void keep_events(const Ledger& replica, std::uint64_t position, std::uint32_t& index);
  // Writes the kept events (and the applied position) to the history store, then trims.
  void flush_history();
  void stop_history(const std::string& why);
  std::chrono::steady_clock::time_point next_wake() const;

  CheckpointerOptions options_;
  CheckpointStore& store_;
  EngineConfig engine_;
  std::uint32_t shard_count_;
  Durable on_durable_;
  std::vector<std::unique_ptr<Ledger>> replicas_;  // this thread's
  ReplicaWrite window_[Ledger::kApplyWindow];      // this thread's: the writes being applied
  std::size_t window_size_ = 0;                    // this thread's
  std::uint64_t applied_position_ = 0;   // this thread's
  std::uint64_t records_since_ = 0;      // this thread's: applied since the last checkpoint
  std::chrono::steady_clock::time_point last_checkpoint_{};
  bool history_on_ = false;                    // this thread's
  std::uint64_t history_skip_through_ = 0;     // this thread's: events up to here are stored
  std::vector<HistoryEntry> history_pending_;  // this thread's
  TimeUs last_time_ = 0;                       // this thread's: the last applied write's
  std::chrono::steady_clock::time_point last_history_flush_{};

  mutable std::mutex mutex_;
  std::condition_variable ready_;  // work for the thread
  std::condition_variable room_;   // room in the queue
  std::deque<ReplicaBatch> batches_;     // guarded by mutex_
  std::vector<ReplicaBatch> spares_;     // guarded by mutex_: applied, for feed() to hand back
  std::uint64_t queued_records_ = 0;     // guarded by mutex_
  std::vector<Done> requests_;           // guarded by mutex_
  bool stopping_ = false;                // guarded by mutex_
  std::optional<std::string> failure_;     // guarded by mutex_
  std::optional<std::string> last_error_;  // guarded by mutex_
  std::string history_problem_;            // guarded by mutex_
  std::atomic<std::uint64_t> history_position_{0};
  std::atomic<std::uint64_t> position_{0};
  std::thread thread_;
};

}  // namespace bonus::server
