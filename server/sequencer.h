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
#include <functional>
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

// The sequencer's part in a log other processes write too (Log::follow, issue 15).
enum class LogRole : std::uint8_t {
  leading,    // this process writes the log (always, with the local journal)
  following,  // a standby: it applies what the leader writes and refuses writes
};

struct SequencerOptions {
  std::chrono::milliseconds sweep_interval{100};
  std::uint32_t sweep_limit = 10'000;  // work per sweep tick; the rest waits for the next
  bool sync = true;                    // false: --durability none (benchmarks only)
  std::string data_dir;                // for the clock file (ledger_clock.h)
  LogRole role = LogRole::leading;     // how it starts
  // A log other processes write too: a failed sync makes this one follow (Log::rejoin)
  // rather than refuse writes for good.
  bool shared_log = false;
  bool watch_log = true;    // with shared_log: follow on the log's word (Log::watch)
  TimeUs last_time_us = 0;  // the last record's time at start (loaded and replayed)
  // While following: how long to wait before asking the log again when it had nothing new
  // and cannot say when it has (Log::watch); and when it can, the safety net's period.
  std::chrono::milliseconds follow_idle{2};
  std::chrono::milliseconds follow_idle_watched{100};
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

  // Following (issue 15, server/leadership.h). From any thread: promote() asks the
  // follower to take the log over and lead; step_down() asks the leader to stop writing
  // and follow (the group under way is answered not_leader). `on_role` (before start())
  // hears every change, on the sequencer's thread, with why.
  LogRole role() const { return role_.load(std::memory_order_acquire); }
  void promote() {
    promote_ = true;
    jobs_.wake();  // not at the end of a follower's idle wait (up to follow_idle_watched)
  }
  void step_down(std::string why);
  using RoleChange = std::function<void(LogRole, const std::string& why)>;
  void set_on_role(RoleChange on_role) { on_role_ = std::move(on_role); }
  // The last log position handed to the shards (applied once they get to it).
  std::uint64_t handed_position() const { return handed_position_.load(std::memory_order_acquire); }
  // The last durable checkpoint's position (0: none yet).
  std::uint64_t checkpoint_position() const {
    const std::uint64_t before = trim_before_.load();
    return before == 0 ? 0 : before - 1;
  }
  // From any thread: the log is trimmed below this position at most (the lowest
  // checkpoint of every node that follows the log, plus one).
  void limit_trim(std::uint64_t before) { trim_limit_ = before; }

  bool failed() const { return failed_.load(); }
  // Why the journal failed (the sticky error), once failed(); empty before.
  std::string failure() const { return failed() ? failure_ : std::string(); }
  std::uint64_t journal_bytes() const { return journal_bytes_.load(); }

 private:
  void run();
  // One turn of following: what the leader wrote, to the shards; writes refused. False
  // when the queue is closed and empty (the stop).
  bool follow_turn(std::deque<std::shared_ptr<WriteJob>>& group);
  // A record read from the log (following, or on the way to taking it over): to the
  // shards and the replicas as a group of the leader's.
  void take_record(std::uint64_t position, std::string_view payload);
  // The durable group gathered in outbox_ and replica_outbox_, to the replicas and shards.
  void hand_over();
  void take_over();
  void become(LogRole role, const std::string& why);
  // Answers a job the follower cannot take (not_leader).
  static void refuse(WriteJob& job);
  void sequence(WriteJob& job, const std::shared_ptr<WriteJob>& owner);
  void append(const Command& command, TimeUs time, std::uint32_t shard,
              const std::shared_ptr<WriteJob>& job, std::uint32_t index);
  // Answers the group storage_failed, `why` the log's error.
  void fail(std::deque<std::shared_ptr<WriteJob>>& group, const std::string& why);
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
  std::atomic<LogRole> role_{LogRole::leading};
  std::atomic<bool> promote_{false};
  std::atomic<bool> step_down_{false};
  std::mutex step_down_mutex_;
  std::string step_down_why_;  // guarded by step_down_mutex_
  RoleChange on_role_;
  bool rejoin_ = false;       // following after a failure: the log must rejoin first
  TimeUs followed_us_ = 0;    // the last record's time, followed or written
  std::string follow_error_;  // the last one logged, so a repeat is not logged again
  std::atomic<std::uint64_t> handed_position_{0};
  std::uint64_t appended_position_ = 0;  // leading: the last record appended
  std::uint64_t idle_at_ = 0;            // following: handed_position_ as of the turn before
  std::atomic<std::uint64_t> trim_limit_{UINT64_MAX};
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
