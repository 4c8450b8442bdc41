#include "server/sequencer.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <future>

#include "engine/command_codec.h"
#include "server/metrics.h"
#include "server/thread_name.h"

namespace bonus::server {

void encode_record(const Command& command, TimeUs time, std::uint32_t shard, std::string& out) {
  out.clear();
  out.append(reinterpret_cast<const char*>(&time), sizeof(time));
  out.append(reinterpret_cast<const char*>(&shard), sizeof(shard));
  encode_command(command, out);
}

bool decode_record(std::string_view payload, Command& command, TimeUs& time,
                   std::uint32_t& shard) {
  if (payload.size() < sizeof(time) + sizeof(shard)) return false;
  std::memcpy(&time, payload.data(), sizeof(time));
  std::memcpy(&shard, payload.data() + sizeof(time), sizeof(shard));
  const std::string_view rest = payload.substr(sizeof(time) + sizeof(shard));
  return decode_command(rest, command) == rest.size();
}

Sequencer::Sequencer(const SequencerOptions& options, Log& log, Admission& admission,
                     LedgerClock& clock, std::vector<std::unique_ptr<Shard>>& shards,
                     Checkpointer* checkpointer)
    : options_(options),
      log_(log),
      admission_(admission),
      clock_(clock),
      shards_(shards),
      outbox_(shards.size()),
      checkpointer_(checkpointer) {
  applied_us_.assign(shards.size(), 0);
  role_ = options.role;
  followed_us_ = options.last_time_us;
}

void Sequencer::step_down(std::string why) {
  std::lock_guard lock(step_down_mutex_);
  step_down_why_ = std::move(why);
  step_down_ = true;
  jobs_.wake();
}

void Sequencer::become(LogRole role, const std::string& why) {
  role_.store(role, std::memory_order_release);
  if (role == LogRole::leading) {
    spdlog::info("bonusd: leading: {}", why);
  } else {
    spdlog::warn("bonusd: following the log, writes refused (not_leader): {}", why);
  }
  if (on_role_) on_role_(role, why);
}

void Sequencer::refuse(WriteJob& job) {
  job.not_leader = true;
  job.remaining.store(1);
  job.delivered();
}

void Sequencer::take_record(std::uint64_t position, std::string_view payload) {
  if (failed_) return;
  Command command;
  TimeUs time = 0;
  std::uint32_t shard = 0;
  if (!decode_record(payload, command, time, shard) ||
      (shard >= shards_.size() && shard != Router::kAllShards)) {
    fail_journal("log record at position " + std::to_string(position) +
                 " is not a command this build can read, or names a shard it does not have");
    return;
  }
  if (checkpointer_ != nullptr) replica_outbox_.add(payload);
  if (shard != Router::kAllShards) {
    outbox_[shard].push_back(ShardWrite{command, time, nullptr, 0, false, position});
  } else {
    for (auto& out : outbox_) out.push_back(ShardWrite{command, time, nullptr, 0, false, position});
  }
  followed_us_ = time;
}

void Sequencer::hand_over() {
  // The replicas before the shards: a write is acknowledged once its shard applies it,
  // and `admin checkpoint` (Checkpointer::request) promises to cover everything
  // acknowledged before it. Fed after the shards, a checkpoint requested right after an
  // acknowledgement could miss the write (CheckpointCoversAcknowledgedWrites).
  if (checkpointer_ != nullptr && !replica_outbox_.empty()) {
    replica_outbox_.last_position = log_.durable_position();
    checkpointer_->feed(replica_outbox_);  // takes the records, leaves a spare batch
  }
  const std::uint64_t through = log_.durable_position();
  for (std::size_t s = 0; s < shards_.size(); ++s) {
    shards_[s]->write(std::move(outbox_[s]), through);
    outbox_[s].clear();
  }
  handed_position_.store(through, std::memory_order_release);
}

bool Sequencer::follow_turn(std::deque<std::shared_ptr<WriteJob>>& group) {
  // Behind the leader (the last turn found records): straight on; else a short wait.
  const auto handed = handed_position_.load(std::memory_order_relaxed);
  const auto idle = log_.watching() ? options_.follow_idle_watched : options_.follow_idle;
  const bool open = jobs_.take_all(group, handed > idle_at_ ? std::chrono::milliseconds(0) : idle);
  idle_at_ = handed;
  for (auto& job : group) refuse(*job);
  group.clear();
  {
    // The admission learns the ledgers anew when this process takes over (take_over).
    std::lock_guard lock(reports_mutex_);
    reports_.clear();
  }
  step_down_ = false;
  if (!open && jobs_.empty()) return false;
  if (failed_) return true;
  auto note = [this](const std::string& error) {
    if (error != follow_error_) spdlog::warn("journal: following the log: {}", error);
    follow_error_ = error;
  };
  if (rejoin_) {
    if (auto error = log_.rejoin()) {
      note(*error);
      return true;
    }
    rejoin_ = false;
  }
  if (promote_.exchange(false)) {
    take_over();
    return true;
  }
  if (auto error =
          log_.follow([this](std::uint64_t p, std::string_view r) { take_record(p, r); })) {
    note(*error);
  } else {
    follow_error_.clear();
  }
  hand_over();
  journal_bytes_ = log_.bytes();
  return true;
}

// The lease is this process's: follow to the log's end and mark it (the writer before
// cannot append after the mark), let the shards apply it all, learn every id and order
// from the ledgers as start-up does, and lead.
void Sequencer::take_over() {
  const auto error =
      log_.take_over([this](std::uint64_t p, std::string_view r) { take_record(p, r); });
  hand_over();
  if (error || failed_) {
    become(LogRole::following, "could not take the log over: " + (error ? *error : failure_));
    return;
  }
  for (bool busy = true; busy;) {
    busy = false;
    for (const auto& shard : shards_) busy = busy || shard->writes_pending();
    if (busy) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  for (std::uint32_t s = 0; s < shards_.size(); ++s) {
    std::promise<void> learned;
    shards_[s]->read([&, s](const Ledger& ledger, TimeUs) {
      if (s == 0) admission_.reset(ledger.config());
      admission_.restore(s, ledger, followed_us_);
      learned.set_value();
    });
    learned.get_future().wait();
  }
  {
    std::lock_guard lock(reports_mutex_);
    reports_.clear();
  }
  const ClockFileRead stored = read_clock_file(options_.data_dir);
  clock_.resume_after(followed_us_, stored.error ? 0 : stored.offset_us);
  become(LogRole::leading,
         "took the log over at position " + std::to_string(log_.durable_position() + 1));
}

void Sequencer::report(std::uint32_t shard, const std::vector<Outcome>& outcomes,
                       TimeUs applied_us) {
  std::lock_guard lock(reports_mutex_);
  applied_us_[shard] = std::max(applied_us_[shard], applied_us);
  reports_.insert(reports_.end(), outcomes.begin(), outcomes.end());
}

void Sequencer::take_reports() {
  {
    std::lock_guard lock(reports_mutex_);
    reports_taken_.swap(reports_);
    applied_taken_.assign(applied_us_.begin(), applied_us_.end());  // no allocation after the first
  }
  for (const Outcome& o : reports_taken_) admission_.report(o);
  reports_taken_.clear();
  for (std::uint32_t s = 0; s < applied_taken_.size(); ++s) {
    admission_.applied_through(s, applied_taken_[s]);
  }
}

void Sequencer::checkpoint_durable(std::uint64_t position) {
  std::uint64_t seen = trim_before_.load();
  while (seen < position + 1 && !trim_before_.compare_exchange_weak(seen, position + 1)) {
  }
}

void Sequencer::trim_journal() {
  const std::uint64_t before = std::min(trim_before_.load(), trim_limit_.load());
  if (before <= trimmed_before_) return;
  trimmed_before_ = before;
  const std::uint64_t first = log_.first_position();
  if (auto error = log_.trim_before(before)) {
    spdlog::warn("journal: deleting records before position {}: {}", before, *error);
    return;
  }
  if (log_.first_position() > first) {
    spdlog::info("journal: deleted records {}..{} (a checkpoint covers everything before {})",
                 first, log_.first_position() - 1, before);
  }
  journal_bytes_ = log_.bytes();
}

void Sequencer::start() {
  journal_bytes_ = log_.bytes();
  if (options_.shared_log && options_.watch_log) {
    // A follower waits for the log's word (with JetStream: the messages themselves)
    // instead of asking it every few milliseconds.
    auto error = log_.watch([this] {
      if (role_.load(std::memory_order_relaxed) == LogRole::following) jobs_.wake();
    });
    if (error)
      spdlog::warn("journal: {}; following the log every {} ms instead", *error,
                   options_.follow_idle.count());
  }
  metrics().journal_opened(log_.durable_position());
  thread_ = std::thread([this] { run(); });
  name_thread(thread_, "bonus-sequencer");
}

void Sequencer::stop() {
  jobs_.close();
  if (thread_.joinable()) thread_.join();
  log_.unwatch();
}

void Sequencer::append(const Command& command, TimeUs time, std::uint32_t shard,
                       const std::shared_ptr<WriteJob>& job, std::uint32_t index) {
  encode_record(command, time, shard, record_);
  followed_us_ = time;
  // A failed append is sticky in the journal; the sync below reports it.
  const std::uint64_t position = log_.append(record_).value_or(appended_position_);
  appended_position_ = position;
  if (job) job->position = position;
  if (checkpointer_ != nullptr) replica_outbox_.add(record_);
  if (shard != Router::kAllShards) {
    outbox_[shard].push_back(ShardWrite{command, time, job, index, false, position});
    return;
  }
  for (auto& out : outbox_) {
    out.push_back(ShardWrite{command, time, job, index, job != nullptr, position});
  }
}

void Sequencer::sequence(WriteJob& job, const std::shared_ptr<WriteJob>& owner) {
  if (job.advance_us > 0) {
    // Test clock: time jumps, and a full sweep at the new time goes through the log.
    clock_.advance(job.advance_us);
    job.commands.assign(1, Sweep{});
  }
  job.results.resize(job.commands.size());
  job.fanned.assign(job.commands.size(), 0);
  job.position = appended_position_;  // a repeat's original is at or before it
  std::uint32_t deliveries = 0;
  for (std::size_t i = 0; i < job.commands.size(); ++i) {
    const TimeUs stamp = clock_.stamp();
    const Admission::Admitted admitted = admission_.admit(job.commands[i], stamp);
    if (admitted.rejected) {
      job.results[i] = *admitted.rejected;  // decided here: nothing to journal or apply
      continue;
    }
    deliveries += admitted.shard == Router::kAllShards ? static_cast<std::uint32_t>(shards_.size()) : 1;
    append(job.commands[i], stamp, admitted.shard, owner, static_cast<std::uint32_t>(i));
  }
  // Nothing reaches a shard before the group's sync, so the count is set in time.
  job.remaining.store(deliveries);
  if (deliveries == 0) job.done(job);
}

void Sequencer::fail(std::deque<std::shared_ptr<WriteJob>>& group, const std::string& why) {
  for (auto& out : outbox_) out.clear();
  replica_outbox_.clear();
  for (auto& job : group) {
    // Answered already: sequenced (results sized) with nothing to deliver.
    if (!job->results.empty() && job->remaining.load() == 0) continue;
    job->storage_failed = true;
    job->storage_error = why;
    job->remaining.store(1);
    job->delivered();
  }
}

void Sequencer::fail_journal(const std::string& error) {
  spdlog::error("journal: {}; refusing writes from now on", error);
  failure_ = error;
  failed_ = true;
}

// A shard's due time is current only once it has applied the last tick; until then the
// tick is on its way and another would be one too many.
bool Sequencer::sweep_due() const {
  const TimeUs now = clock_.read_now();
  bool due = false;
  for (const auto& shard : shards_) {
    if (shard->applied_us() < last_tick_us_) return false;
    due = due || shard->next_due_us() <= now;
  }
  return due;
}

// Test clock: an advance that would leave less than kClockHeadroomUs before the engine's
// last time is refused and changes nothing; an accepted one is in the clock file before
// sequence() moves the offset, so no read reports a time a restart could go back from.
// A refused job is answered here; false then.
bool Sequencer::admit_advance(WriteJob& job) {
  if (!clock_.can_advance(job.advance_us)) {
    job.refused = "clock_advance by " + std::to_string(job.advance_us) +
                  " us refused: the ledger time (" + std::to_string(clock_.read_now()) +
                  " us) must stay at least " + std::to_string(kClockHeadroomUs) +
                  " us below the engine's last time " + std::to_string(kTimeMaxUs) +
                  " us; time not moved";
  } else if (auto error =
                 write_clock_file(options_.data_dir, clock_.offset_us() + job.advance_us)) {
    job.refused = "clock: " + *error + "; time not moved";
    job.storage_failed = true;
  } else {
    return true;
  }
  job.remaining.store(1);
  job.delivered();
  return false;
}

void Sequencer::run() {
  std::deque<std::shared_ptr<WriteJob>> group;
  auto next_sweep = std::chrono::steady_clock::now() + options_.sweep_interval;
  for (;;) {
    if (role_.load(std::memory_order_relaxed) == LogRole::following) {
      if (!follow_turn(group)) return;
      continue;
    }
    const auto wait = std::max(next_sweep - std::chrono::steady_clock::now(),
                               std::chrono::steady_clock::duration::zero());
    const bool open = jobs_.take_all(group, wait);
    take_reports();
    promote_ = false;
    if (step_down_.exchange(false)) {
      for (auto& job : group) refuse(*job);
      group.clear();
      std::string why;
      {
        std::lock_guard lock(step_down_mutex_);
        why = step_down_why_;
      }
      become(LogRole::following, why);
      continue;
    }
    if (failed_) {
      fail(group, failure_);
      group.clear();
      next_sweep = std::chrono::steady_clock::now() + options_.sweep_interval;  // no spinning
      if (!open) return;
      continue;
    }
    std::erase_if(group,
                  [&](const auto& job) { return job->advance_us > 0 && !admit_advance(*job); });
    appended_position_ = log_.durable_position();
    for (auto& job : group) sequence(*job, job);

    // Sweep ticks: at most one per interval, and only when the ledger time has reached
    // what a shard has due (a hold's deadline, an expiry minute over, an order or id to
    // forget): an idle ledger writes nothing. Reads never count an expired lot anyway;
    // the sweep moves amounts into the statistics and releases timed-out holds.
    const auto now = std::chrono::steady_clock::now();
    if (now >= next_sweep) {
      if (sweep_due()) {
        last_tick_us_ = clock_.stamp();
        append(Sweep{options_.sweep_limit, 0}, last_tick_us_, Router::kAllShards, nullptr, 0);
      }
      next_sweep = now + options_.sweep_interval;
    }
    if (!outbox_[0].empty() || group.size() > 0) {
      if (auto error = log_.sync(); error) {
        // Failed first, so that a write sent after this group's answer is refused.
        if (!options_.shared_log) fail_journal(*error);
        fail(group, *error);
        group.clear();
        if (options_.shared_log) {
          // Another writer took the log, or it is out of reach: follow it from what is
          // durable (what this group stored after all comes back that way). A write that
          // comes meanwhile is answered by the follower: not_leader.
          rejoin_ = true;
          become(LogRole::following, *error);
        }
        continue;
      }
      journal_bytes_ = log_.bytes();
      hand_over();
    }
    group.clear();
    trim_journal();
    if (!open && jobs_.empty()) return;
  }
}

}  // namespace bonus::server
