// Sequencer: the one writer of the log (server/log.h; the local journal today). It takes
// write requests from the network thread, stamps every command with the ledger time,
// routes it, appends it to the log, and once the whole group is durable (one sync for
// everything that arrived during the previous one: group commit) hands the commands to
// their shards. It also writes the sweep tick into the log, so a replay sweeps alike:
// only when a shard has something due (Shard::next_due_us), so an idle server writes
// nothing. Each durable group also goes to the checkpointer's replicas, and once a
// checkpoint is durable the sequencer lets the log drop the records before it.
//
// Every write passes the Admission first (ledger-wide ids and orders); what it rejects is
// answered at once and never journaled.
//
// Uses the log and the admission (the server owns both); runs on its own thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "server/admission.h"
#include "server/checkpointer.h"
#include "server/ledger_clock.h"
#include "server/log.h"
#include "server/outcome.h"
#include "server/shard.h"
#include "server/work_queue.h"
#include "server/write_job.h"

namespace bonus::server {

struct SequencerOptions {
  std::chrono::milliseconds sweep_interval{100};
  std::uint32_t sweep_limit = 10'000;  // work per sweep tick; the rest waits for the next
  bool sync = true;                    // false: --durability none (benchmarks only)
  std::string data_dir;                // for the clock file (ledger_clock.h)
};

class Sequencer {
 public:
  // `checkpointer` may be null (checkpoints off).
  Sequencer(const SequencerOptions& options, Log& log, Admission& admission, LedgerClock& clock,
            std::vector<std::unique_ptr<Shard>>& shards, Checkpointer* checkpointer);
  ~Sequencer() { stop(); }

  void start();
  // Sequences what was submitted, then ends the thread.
  void stop();

  // From any thread. A job with advance_us > 0 moves the test clock instead.
  void submit(std::shared_ptr<WriteJob> job) { jobs_.push(std::move(job)); }

  // From shard threads: what their ledgers say after applying commands (outcome.h); the
  // sequencer hands them to the admission before it admits the next group.
  // `applied_us`: the shard has applied everything up to that ledger time.
  void report(std::uint32_t shard, const std::vector<Outcome>& outcomes, TimeUs applied_us);

  // From any thread: a checkpoint as of `position` is durable; the segments wholly
  // before position + 1 are deleted on the sequencer's thread, between groups.
  void checkpoint_durable(std::uint64_t position);

  bool failed() const { return failed_.load(); }
  // Why the journal failed (the sticky error), once failed(); empty before.
  std::string failure() const { return failed() ? failure_ : std::string(); }
  std::uint64_t journal_bytes() const { return journal_bytes_.load(); }

 private:
  void run();
  void sequence(WriteJob& job, const std::shared_ptr<WriteJob>& owner);
  void append(const Command& command, TimeUs time, std::uint32_t shard,
              const std::shared_ptr<WriteJob>& job, std::uint32_t index);
  void fail(std::deque<std::shared_ptr<WriteJob>>& group);
  void take_reports();
  void trim_journal();
  void fail_journal(const std::string& error);
  bool sweep_due() const;
  bool admit_advance(WriteJob& job);

  SequencerOptions options_;
  Log& log_;
  Admission& admission_;
  std::mutex reports_mutex_;
  std::vector<Outcome> reports_;  // guarded by reports_mutex_
  std::vector<Outcome> reports_taken_;
  std::vector<TimeUs> applied_us_;  // per shard; guarded by reports_mutex_
  std::vector<TimeUs> applied_taken_;
  LedgerClock& clock_;
  std::vector<std::unique_ptr<Shard>>& shards_;
  WorkQueue<std::shared_ptr<WriteJob>> jobs_;
  std::vector<std::vector<ShardWrite>> outbox_;  // per shard, for the current group
  Checkpointer* checkpointer_;
  ReplicaBatch replica_outbox_;                   // the current group, for the replicas
  std::atomic<std::uint64_t> trim_before_{0};     // delete segments before this position
  std::uint64_t trimmed_before_ = 0;
  std::string record_;
  TimeUs last_tick_us_ = std::numeric_limits<TimeUs>::min();  // the last sweep tick's stamp
  std::string failure_;  // written once, before failed_ becomes true
  std::atomic<bool> failed_{false};
  std::atomic<std::uint64_t> journal_bytes_{0};
  std::thread thread_;
};

// Journal record payload: the command's ledger time (i64), the shard it went to (u32;
// Router::kAllShards for every shard), then the command (command_codec). The shard is in
// the log so that a replay sends every command where it went, whatever the directories
// knew at the time.
void encode_record(const Command& command, TimeUs time, std::uint32_t shard, std::string& out);
bool decode_record(std::string_view payload, Command& command, TimeUs& time,
                   std::uint32_t& shard);

}  // namespace bonus::server
