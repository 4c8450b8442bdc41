#include "server/checkpointer.h"

#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <future>

#include "server/metrics.h"
#include "server/router.h"
#include "server/sequencer.h"
#include "server/thread_name.h"

namespace bonus::server {

Checkpointer::Checkpointer(const CheckpointerOptions& options, CheckpointStore& store,
                           const EngineConfig& engine, std::uint32_t shards, Durable on_durable)
    : options_(options), store_(store), engine_(engine), shard_count_(shards),
      on_durable_(std::move(on_durable)) {
  position_ = store_.info().position;
  applied_position_ = store_.info().position;
}

void Checkpointer::start() {
  metrics().checkpoints_started(position_.load());
  // start() returns once the thread is at its nice value (set from inside: Linux applies
  // it to the calling thread alone), as it returns with the thread named.
  std::promise<void> niced;
  std::future<void> at_nice = niced.get_future();
  thread_ = std::thread([this, niced = std::move(niced)]() mutable {
    if (options_.nice > 0) setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), options_.nice);
    niced.set_value();
    run();
  });
  name_thread(thread_, "bonus-checkpt");
  at_nice.wait();
}

void Checkpointer::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  ready_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Checkpointer::feed(ReplicaBatch& batch, bool wait_for_room) {
  {
    std::unique_lock lock(mutex_);
    if (wait_for_room) {
      room_.wait(lock, [&] {
        return queued_records_ < options_.queue_records_max || failure_.has_value();
      });
    }
    queued_records_ += batch.size();
    batches_.push_back(std::move(batch));
    if (spares_.empty()) {
      batch = ReplicaBatch{};
    } else {
      batch = std::move(spares_.back());
      spares_.pop_back();
    }
  }
  ready_.notify_one();
}

void Checkpointer::recycle(std::deque<ReplicaBatch>& batches) {
  // Enough for the groups in flight between two wake-ups; a batch larger than a big
  // group (the replay at start) goes back to the allocator.
  constexpr std::size_t kSpares = 4;
  constexpr std::size_t kSpareBytesMax = std::size_t{16} << 20;
  std::lock_guard lock(mutex_);
  for (ReplicaBatch& batch : batches) {
    if (spares_.size() == kSpares) break;
    if (batch.capacity() > kSpareBytesMax) continue;
    batch.clear();
    spares_.push_back(std::move(batch));
  }
  batches.clear();
}

void Checkpointer::request(Done done) {
  {
    std::lock_guard lock(mutex_);
    requests_.push_back(std::move(done));
  }
  ready_.notify_one();
}

std::optional<std::string> Checkpointer::failure() const {
  std::lock_guard lock(mutex_);
  return failure_;
}

std::optional<std::string> Checkpointer::last_error() const {
  std::lock_guard lock(mutex_);
  return last_error_;
}

HistoryStatus Checkpointer::history_status() const {
  HistoryStatus out;
  out.on = options_.history != nullptr;
  out.position = history_position_.load();
  std::lock_guard lock(mutex_);
  out.problem = history_problem_;
  return out;
}

void ReplicaBatch::add(std::string_view record) {
  const auto size = static_cast<std::uint32_t>(record.size());
  bytes_.append(reinterpret_cast<const char*>(&size), sizeof(size));
  bytes_.append(record);
  ++count_;
}

// One journal record per write: the batch's records end at last_position. They are
// decoded a window at a time, into window_, which stays in the cache.
void Checkpointer::apply(const ReplicaBatch& batch) {
  std::uint64_t position = batch.last_position + 1 - batch.size();
  bool bad = false;
  batch.for_each([&](std::string_view record) {
    if (bad) return;
    ReplicaWrite& w = window_[window_size_];
    // The bytes are encode_record's, in this process (or the journal's, checked by the
    // replay): one that does not decode is a bug, and the replicas would go wrong after it.
    if (!decode_record(record, w.command, w.time, w.shard) ||
        (w.shard >= replicas_.size() && w.shard != Router::kAllShards)) {
      bad = true;
      const std::string why =
          "replicas: the record at log position " + std::to_string(position) + " does not decode";
      spdlog::error("{}; checkpoints stopped (the journal keeps everything)", why);
      {
        std::lock_guard lock(mutex_);
        failure_ = why + "; checkpoints stopped (the journal keeps everything)";
      }
      // Its events so far are of replicas that stop inside a batch: none is written.
      if (history_on_) stop_history(why);
      return;
    }
    ++position;
    if (++window_size_ == Ledger::kApplyWindow) apply_window(position - 1);
  });
  if (bad) {
    window_size_ = 0;
    return;
  }
  if (window_size_ > 0) apply_window(batch.last_position);
  records_since_ += batch.size();
  applied_position_ = batch.last_position;
  metrics().replicas_applied(applied_position_);
}

void Checkpointer::apply_window(std::uint64_t last) {
  WriteHint hints[Ledger::kApplyWindow];
  prefetch(window_size_, hints);
  std::uint64_t position = last + 1 - window_size_;
  for (std::size_t k = 0; k < window_size_; ++k) {
    const ReplicaWrite& w = window_[k];
    const bool keep = history_on_ && position > history_skip_through_;
    std::uint32_t index = 0;
    if (w.shard == Router::kAllShards) {
      for (auto& replica : replicas_) {
        replica->apply(w.command, w.time);
        if (keep) keep_events(*replica, position, index);
      }
    } else {
      replicas_[w.shard]->apply(w.command, w.time, hints[k]);
      if (keep) keep_events(*replicas_[w.shard], position, index);
    }
    last_time_ = w.time;
    // The kept events stay bounded even within one large batch (the replay at start).
    if (history_pending_.size() >= options_.history_pending_max) {
      applied_position_ = position;
      flush_history();
    }
    ++position;
  }
  window_size_ = 0;
}

// What window_[0, count) will touch, brought into the cache in the replicas' prefetch
// phases (Ledger::apply_batch does the same for one ledger); hints[k] is write k's, for
// its apply.
void Checkpointer::prefetch(std::size_t count, WriteHint* hints) const {
  const TimeUs last = window_[count - 1].time;
  for (std::size_t k = 0; k < count; ++k) hints[k] = WriteHint{};
  for (int phase = 0; phase < Ledger::kPrefetchPhases; ++phase) {
    for (const auto& replica : replicas_) replica->prefetch_upkeep(last, count, phase);
    for (std::size_t k = 0; k < count; ++k) {
      const ReplicaWrite& w = window_[k];
      if (w.shard != Router::kAllShards) replicas_[w.shard]->prefetch(w.command, phase, hints[k]);
    }
  }
}

void Checkpointer::keep_events(const Ledger& replica, std::uint64_t position,
                               std::uint32_t& index) {
  for (const LedgerEvent& e : replica.events()) {
    history_pending_.push_back(HistoryEntry{position, index++, e});
  }
}

void Checkpointer::start_history() {
  HistoryStore& history = *options_.history;
  const std::uint64_t checkpoint = store_.info().position;
  if (history.info().position < checkpoint) {
    // The journal before the checkpoint is gone: what history lacks of it is lost.
    spdlog::warn("history: holds events up to position {} but the checkpoint is at {}: events "
                 "of positions {}..{} are missing (history was off or failed meanwhile)",
                 history.info().position, checkpoint, history.info().position + 1, checkpoint);
    if (auto error = history.mark_gap(checkpoint + 1)) return stop_history(*error);
  }
  history_skip_through_ = history.info().position;
  history_position_ = history_skip_through_;
  history_on_ = true;
  for (auto& replica : replicas_) replica->record_events(true);
  last_history_flush_ = std::chrono::steady_clock::now();
}

void Checkpointer::stop_history(const std::string& why) {
  const std::string problem = why + "; history stopped at position " +
                              std::to_string(history_position_.load()) +
                              " (writes go on; a restart resumes it after a gap)";
  spdlog::error("{}", problem);
  {
    std::lock_guard lock(mutex_);
    history_problem_ = problem;
  }
  history_on_ = false;
  history_pending_.clear();
  history_pending_.shrink_to_fit();
  for (auto& replica : replicas_) replica->record_events(false);
}

void Checkpointer::flush_history() {
  last_history_flush_ = std::chrono::steady_clock::now();
  if (!history_on_ || applied_position_ <= history_position_.load()) return;
  HistoryStore& history = *options_.history;
  if (auto error = history.write(history_pending_, applied_position_)) return stop_history(*error);
  history_pending_.clear();
  history_position_ = applied_position_;
  history_skip_through_ = applied_position_;
  if (last_time_ <= options_.history_retention_us) return;
  std::uint64_t erased = 0;
  bool more = false;
  if (auto error = history.trim(last_time_ - options_.history_retention_us,
                                options_.history_trim_budget, erased, more)) {
    // The next flush tries again; history itself is whole.
    spdlog::warn("{}", *error);
  }
}

std::chrono::steady_clock::time_point Checkpointer::next_wake() const {
  auto wake = options_.interval.count() > 0 ? last_checkpoint_ + options_.interval
                                            : std::chrono::steady_clock::time_point::max();
  if (history_on_ && !history_pending_.empty()) {
    wake = std::min(wake, last_history_flush_ + options_.history_flush_interval);
  }
  return wake;
}

CheckpointOutcome Checkpointer::checkpoint() {
  // History first: the journal up to the checkpoint's position goes once it commits.
  flush_history();
  CheckpointOutcome out;
  out.position = applied_position_;
  if (applied_position_ == position_.load()) {
    out.ok = true;
    out.message = "checkpoint at position " + std::to_string(applied_position_) +
                  " is current: nothing new to write";
    records_since_ = 0;
    last_checkpoint_ = std::chrono::steady_clock::now();
    metrics().checkpoint_written(applied_position_);
    return out;
  }
  const auto start = std::chrono::steady_clock::now();
  CheckpointWriteStats stats;
  std::vector<Ledger*> ledgers;
  for (auto& replica : replicas_) ledgers.push_back(replica.get());
  if (auto error = store_.write(applied_position_, ledgers, stats)) {
    // Nothing of it is in the store and the replicas still hold their changes: the next
    // trigger tries again. The journal keeps everything since the last checkpoint.
    out.message = *error + "; the journal keeps everything since position " +
                  std::to_string(position_.load()) + ", the next checkpoint tries again";
    spdlog::error("{}", out.message);
    {
      std::lock_guard lock(mutex_);
      last_error_ = out.message;
    }
    metrics().checkpoint_failed();
    records_since_ = 0;
    last_checkpoint_ = std::chrono::steady_clock::now();
    return out;
  }
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - start)
                      .count();
  position_ = applied_position_;
  metrics().checkpoint_written(applied_position_);
  {
    std::lock_guard lock(mutex_);
    last_error_.reset();
  }
  records_since_ = 0;
  last_checkpoint_ = std::chrono::steady_clock::now();
  out.ok = true;
  out.message = "checkpoint at position " + std::to_string(applied_position_) + ": " +
                std::to_string(stats.accounts_put) + " accounts, " +
                std::to_string(stats.records_put) + " records written, " +
                std::to_string(stats.records_erased) + " erased, " +
                std::to_string(stats.value_bytes >> 10) + " KiB in " + std::to_string(ms) + " ms";
  // An idle server still checkpoints its sweep ticks: those go to the debug log.
  if (stats.records_put + stats.records_erased > 0) {
    spdlog::info("{}", out.message);
  } else {
    spdlog::debug("{}", out.message);
  }
  if (on_durable_) on_durable_(applied_position_);
  return out;
}

void Checkpointer::run() {
  // At options_.nice (start()), below the shards and the sequencer: under a burst of
  // writes the replicas fall behind (up to the queue bound) and catch up when it passes,
  // instead of taking CPU from the writers.
  for (std::uint32_t s = 0; s < shard_count_; ++s) {
    replicas_.push_back(std::make_unique<Ledger>(engine_));
    replicas_.back()->set_partition(s, shard_count_);  // as its shard's (Shard)
  }
  if (store_.info().present) {
    for (std::uint32_t s = 0; s < shard_count_; ++s) {
      if (auto error = store_.load(s, *replicas_[s])) {
        std::lock_guard lock(mutex_);
        failure_ = *error + "; checkpoints stopped (the journal keeps everything)";
        break;
      }
    }
  }
  for (auto& replica : replicas_) replica->track_changes();
  if (options_.history != nullptr && !failure()) start_history();
  if (auto problem = failure()) {
    spdlog::error("{}", *problem);
    room_.notify_all();
  }
  last_checkpoint_ = std::chrono::steady_clock::now();

  std::deque<ReplicaBatch> batches;
  std::vector<Done> requests;
  for (;;) {
    bool stopping = false;
    {
      std::unique_lock lock(mutex_);
      const auto wake = next_wake();
      ready_.wait_until(lock, wake, [&] {
        return stopping_ || !batches_.empty() || !requests_.empty();
      });
      batches.swap(batches_);
      queued_records_ = 0;
      requests.swap(requests_);
      stopping = stopping_;
    }
    room_.notify_all();
    if (!failure()) {
      for (const ReplicaBatch& batch : batches) {
        apply(batch);
        if (failure()) break;  // a record did not decode: the replicas stop where it is
      }
    }
    recycle(batches);
    // After the apply: a failure in it must not be followed by a checkpoint of replicas
    // that stopped inside a batch.
    const bool failed = failure().has_value();

    const bool due =
        !requests.empty() || stopping ||
        (options_.records > 0 && records_since_ >= options_.records) ||
        (options_.interval.count() > 0 &&
         std::chrono::steady_clock::now() >= last_checkpoint_ + options_.interval);
    const auto now = std::chrono::steady_clock::now();
    if (!due && history_on_ &&
        (history_pending_.size() >= options_.history_pending_max ||
         now >= last_history_flush_ + options_.history_flush_interval)) {
      flush_history();
    }
    CheckpointOutcome outcome;
    if (failed) {
      outcome.message = *failure();
    } else if (due) {
      outcome = checkpoint();
    }
    for (Done& done : requests) done(outcome);
    requests.clear();
    if (stopping) return;
  }
}

}  // namespace bonus::server
