#include "server/checkpointer.h"

#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include "server/metrics.h"
#include "server/router.h"

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
  thread_ = std::thread([this] { run(); });
}

void Checkpointer::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  ready_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Checkpointer::feed(ReplicaBatch batch, bool wait_for_room) {
  {
    std::unique_lock lock(mutex_);
    if (wait_for_room) {
      room_.wait(lock, [&] {
        return queued_records_ < options_.queue_records_max || failure_.has_value();
      });
    }
    queued_records_ += batch.writes.size();
    batches_.push_back(std::move(batch));
  }
  ready_.notify_one();
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

void Checkpointer::apply(ReplicaBatch& batch) {
  for (const ReplicaWrite& w : batch.writes) {
    if (w.shard == Router::kAllShards) {
      for (auto& replica : replicas_) replica->apply(w.command, w.time);
    } else {
      replicas_[w.shard]->apply(w.command, w.time);
    }
  }
  records_since_ += batch.writes.size();
  applied_position_ = batch.last_position;
  metrics().replicas_applied(applied_position_);
}

CheckpointOutcome Checkpointer::checkpoint() {
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
  // Below the shards and the sequencer: under a burst of writes the replicas fall behind
  // (up to the queue bound) and catch up when it passes, instead of taking CPU from the
  // writers. Linux applies a thread's nice value to that thread alone.
  if (options_.nice > 0) setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), options_.nice);
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
      const auto wake = options_.interval.count() > 0
                            ? last_checkpoint_ + options_.interval
                            : std::chrono::steady_clock::time_point::max();
      ready_.wait_until(lock, wake, [&] {
        return stopping_ || !batches_.empty() || !requests_.empty();
      });
      batches.swap(batches_);
      queued_records_ = 0;
      requests.swap(requests_);
      stopping = stopping_;
    }
    room_.notify_all();
    const bool failed = failure().has_value();
    if (!failed) {
      for (ReplicaBatch& batch : batches) apply(batch);
    }
    batches.clear();

    const bool due =
        !requests.empty() || stopping ||
        (options_.records > 0 && records_since_ >= options_.records) ||
        (options_.interval.count() > 0 &&
         std::chrono::steady_clock::now() >= last_checkpoint_ + options_.interval);
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
