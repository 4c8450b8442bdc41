// Shard: one slice of the buyers, its Ledger and the one thread that owns it. Writes
// arrive from the sequencer in log order; reads arrive from the network thread. The
// thread runs every waiting read, then one bounded slice of writes, and again, so a read
// waits for at most one slice of a bulk mailing, never for the whole of it.
//
// The Ledger is touched by this shard's thread, by a short read on the network thread
// while the shard's thread is not using it (read_here_or_queue: ledger_mutex_ keeps it to
// one thread at a time), and by start-up replay, before the thread starts.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
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

  void start();
  // Applies every write already handed over, then ends the thread.
  void stop();

  void write(std::vector<ShardWrite> writes);
  void read(Read read);
  // A short read (a cart, a few balances) on the calling thread when the shard's thread
  // is not using the ledger right now: no hand-off to it and back. Otherwise (a slice of
  // writes or reads under way) queued as read() does; the caller never waits. True when
  // it ran here.
  bool read_here_or_queue(Read read);

  std::uint32_t index() const { return index_; }

  // From any thread: the ledger's next_due_us() and last_time() as of the last slice of
  // writes this shard applied (from the loaded and replayed state before that). Read
  // applied_us() first: the due time read after it is at least as recent.
  TimeUs next_due_us() const { return due_us_.load(std::memory_order_acquire); }
  TimeUs applied_us() const { return applied_us_.load(std::memory_order_acquire); }

 private:
  void run();
  // After write `w` was applied (in a batch): its outcomes reported, its result delivered.
  void deliver(ShardWrite& w, const Result& r);
  void publish_due();

  std::uint32_t index_;
  Ledger ledger_;
  const LedgerClock& clock_;
  Reports reports_sink_;
  std::function<void()> enter_;
  std::function<void()> let_go_;
  std::vector<Outcome> outcomes_;  // of the command being applied
  std::mutex mutex_;
  std::condition_variable ready_;
  // Held by the shard's thread while it reads and applies, and by a read run here from
  // another thread.
  std::mutex ledger_mutex_;
  std::deque<ShardWrite> writes_;  // guarded by mutex_
  std::deque<Read> reads_;         // guarded by mutex_
  bool stopping_ = false;          // guarded by mutex_
  std::atomic<TimeUs> due_us_{kTimeNever};
  std::atomic<TimeUs> applied_us_{kTimeNever};
  std::thread thread_;
};

}  // namespace bonus::server
