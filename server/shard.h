// Shard: one partition of the buyers, its Ledger and the one thread that owns it. The
// thread runs the partition's event loop (io()): the connections of the partition's own
// port (--partition-ports, server/listener.h), the reads and the slices of writes handed
// to it. Writes arrive from the sequencer in log order and are applied a bounded
// slice per turn of the loop, so the connections' frames and the queued reads are served
// between two slices of a bulk mailing, never after the whole of it.
//
// The Ledger is touched by this thread, by a short read on another thread (the network
// thread, another partition's) while this one is not applying writes (read_here_or_queue:
// ledger_mutex_ is held alone by a slice of writes, shared by reads), and by start-up
// replay, before the thread starts.
#pragma once

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <shared_mutex>
#include <deque>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "engine/ledger.h"
#include "server/ledger_clock.h"
#include "server/outcome.h"
#include "server/write_job.h"

namespace bonus::server {

class Shard {
 public:
  // A read: runs on the shard's thread with the ledger and the time to read at.
  using Read = std::function<void(const Ledger&, TimeUs now)>;

  static constexpr std::size_t kSliceCommands = 256;

  // Shard `index` of `shards`: its ledger is that partition (Ledger::set_partition).
  Shard(std::uint32_t index, std::uint32_t shards, const EngineConfig& config,
        const LedgerClock& clock)
      : index_(index), ledger_(config), clock_(clock) {
    ledger_.set_partition(index, shards);
  }
  ~Shard() { stop(); }

  // Before start(): apply a replayed command directly.
  void replay(const Command& command, TimeUs time) { ledger_.apply(command, time); }
  const Ledger& ledger_before_start() const { return ledger_; }
  Ledger& ledger_to_load() { return ledger_; }  // before start(): the checkpoint's load

  // Before start(): where outcome reports go (Sequencer::report), with the ledger time
  // the shard has applied up to: after each command that has something to report (before
  // its reply), and after each slice of writes.
  using Reports = std::function<void(const std::vector<Outcome>&, TimeUs applied_us)>;
  void set_reports(Reports reports) { reports_sink_ = std::move(reports); }

  // Before start(): `enter` runs on the shard's thread before it reads or applies
  // anything; `let_go` after each round of reads and writes, once the ledger is no longer
  // held (the server flushes the thread's ReplyBatch there).
  void set_thread_hooks(std::function<void()> enter, std::function<void()> let_go) {
    enter_ = std::move(enter);
    let_go_ = std::move(let_go);
  }

  // Starts the thread and its loop, at `nice` (0: as the rest of the server).
  void start(int nice = 0);
  // Applies every write and runs every read already handed over, then ends the loop and
  // the thread. Connections on the loop stay open and unserved until it is destroyed.
  void stop();
  // The partition's event loop. Objects run on it (connections) are destroyed with it,
  // or before it by whoever owns them.
  asio::io_context& io() { return io_; }

  // From the sequencer: the shard's writes of a durable group, in log order, and the
  // group's last position (with no writes too: the shard then reflects the log up to it
  // once it has applied what it holds).
  void write(std::vector<ShardWrite> writes, std::uint64_t through);
  // Any thread: whether writes handed over wait to be taken into a slice (the last one
  // taken may still be applying: a read() queued after this says false runs after it).
  bool writes_pending() {
    std::lock_guard lock(mutex_);
    return !writes_.empty();
  }
  void read(Read read);
  // A short read (a cart, a few balances) on the calling thread when the shard's thread
  // is not applying writes right now (on the shard's own loop it never is): no hand-off
  // to it and back. Otherwise (a slice of writes under way) queued as read() does; the
  // caller never waits. True when it ran here.
  bool read_here_or_queue(Read read);

  std::uint32_t index() const { return index_; }

  // Log positions (reads at a position, server/position_waits.h). Before start(): the
  // position the loaded and replayed ledger reflects. From any thread: the position the
  // ledger reflects now: every record up to it that went to this shard is applied.
  // `on_progress` (before start()) runs on the shard's thread, or the sequencer's,
  // after it moves.
  void set_applied_position(std::uint64_t position) {
    handed_through_ = position;
    applied_position_.store(position, std::memory_order_release);
  }
  std::uint64_t applied_position() const { return applied_position_.load(); }
  void set_on_progress(std::function<void()> on_progress) { on_progress_ = std::move(on_progress); }

  // From any thread: the ledger's next_due_us() and last_time() as of the last slice of
  // writes this shard applied (from the loaded and replayed state before that). Read
  // applied_us() first: the due time read after it is at least as recent.
  TimeUs next_due_us() const { return due_us_.load(std::memory_order_acquire); }
  TimeUs applied_us() const { return applied_us_.load(std::memory_order_acquire); }

 private:
  // Handlers on the loop: every queued read; one slice of writes (posted again while
  // writes are left); the end of the loop once nothing is queued.
  void run_reads();
  void apply_slice();
  void finish();
  // After write `w` was applied (in a batch): its outcomes reported, its result delivered.
  void deliver(ShardWrite& w, const Result& r);
  void publish_due();
  // Under mutex_, with no slice applying: what the ledger reflects now, published.
  void publish_position();

  std::uint32_t index_;
  Ledger ledger_;
  const LedgerClock& clock_;
  Reports reports_sink_;
  std::function<void()> enter_;
  std::function<void()> let_go_;
  std::vector<Outcome> outcomes_;  // of the command being applied
  asio::io_context io_{1};
  asio::executor_work_guard<asio::io_context::executor_type> work_{io_.get_executor()};
  std::mutex mutex_;
  // Held alone by the shard's thread while it applies a slice of writes, and shared by
  // every read (the partition's own, queued or inline, and another loop's inline one):
  // the Ledger's reads are const and touch nothing shared, so two loops read it at once.
  std::shared_mutex ledger_mutex_;
  std::deque<ShardWrite> writes_;  // guarded by mutex_
  std::deque<Read> reads_;         // guarded by mutex_
  bool slice_posted_ = false;      // guarded by mutex_: apply_slice is queued on the loop
  bool reads_posted_ = false;      // guarded by mutex_: run_reads is queued on the loop
  bool applying_ = false;          // guarded by mutex_: a slice is being applied
  std::uint64_t handed_through_ = 0;  // guarded by mutex_: the last group's position
  std::atomic<std::uint64_t> applied_position_{0};
  std::function<void()> on_progress_;
  std::vector<ShardWrite> slice_;  // the loop's
  std::deque<Read> running_reads_;  // the loop's
  std::atomic<TimeUs> due_us_{kTimeNever};
  std::atomic<TimeUs> applied_us_{kTimeNever};
  std::thread thread_;
};

}  // namespace bonus::server
