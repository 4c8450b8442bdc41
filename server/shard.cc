#include "server/shard.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <asio/post.hpp>
#include <utility>

#include <spdlog/spdlog.h>

#include "engine/code.h"
#include "server/admission.h"
#include "server/metrics.h"
#include "server/thread_name.h"

namespace bonus::server {

void Shard::start(int nice) {
  publish_due();
  thread_ = std::thread([this, nice] {
    // From inside: Linux applies a nice value to the calling thread alone.
    if (nice != 0) setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), nice);
    if (enter_) enter_();
    io_.run();
  });
  name_thread(thread_, "bonus-shard-" + std::to_string(index_));
}

void Shard::stop() {
  if (!thread_.joinable()) return;
  asio::post(io_, [this] { finish(); });
  thread_.join();
}

void Shard::finish() {
  {
    std::lock_guard lock(mutex_);
    if (slice_posted_ || reads_posted_) {
      // Behind what is queued, which may post more of itself.
      asio::post(io_, [this] { finish(); });
      return;
    }
  }
  work_.reset();
  io_.stop();
}

void Shard::write(std::vector<ShardWrite> writes, std::uint64_t through) {
  bool post = false;
  bool moved = false;
  {
    std::lock_guard lock(mutex_);
    handed_through_ = std::max(handed_through_, through);
    for (ShardWrite& w : writes) writes_.push_back(std::move(w));
    if (!writes_.empty()) {
      post = !std::exchange(slice_posted_, true);
    } else if (!applying_ && applied_position_.load(std::memory_order_relaxed) < handed_through_) {
      publish_position();  // nothing of the group for this shard: it reflects it already
      moved = true;
    }
  }
  if (post) asio::post(io_, [this] { apply_slice(); });
  if (moved && on_progress_) on_progress_();
}

// Writes are handed over in log order: the ledger reflects everything before the first
// write still waiting, or, with none waiting, the last group handed over.
void Shard::publish_position() {
  applied_position_.store(writes_.empty() ? handed_through_ : writes_.front().position - 1);
}

void Shard::read(Read read) {
  bool post = false;
  {
    std::lock_guard lock(mutex_);
    reads_.push_back(std::move(read));
    post = !std::exchange(reads_posted_, true);
  }
  if (post) asio::post(io_, [this] { run_reads(); });
}

bool Shard::read_here_or_queue(Read read) {
  std::shared_lock ledger(ledger_mutex_, std::try_to_lock);
  if (!ledger.owns_lock()) {
    this->read(std::move(read));
    return false;
  }
  read(ledger_, std::max(clock_.read_now(), ledger_.last_time()));
  metrics().count_read_here();
  return true;
}

void Shard::deliver(ShardWrite& w, const Result& r) {
  if (reports_sink_) {
    // Reported before the reply goes: a client that sends its next write after this
    // reply finds the directories up to date.
    collect_outcomes(w.command, r, ledger_, index_, w.time, outcomes_);
    if (!outcomes_.empty()) {
      reports_sink_(outcomes_, w.time);
      outcomes_.clear();
    }
  }
  if (!w.job) return;
  WriteJob& job = *w.job;
  if (w.fan_out) {
    std::lock_guard lock(job.merge_mutex);
    const bool first = job.fanned[w.index]++ == 0;
    const Code before = job.results[w.index].code;
    if (merge_seller_wide(job.results[w.index], r, first)) {
      spdlog::error("shards disagree on a seller-wide command: {} on one, {} on shard {}",
                    code_name(before), code_name(r.code), index_);
    }
  } else {
    job.results[w.index] = r;
  }
  job.delivered();
}

// For the sequencer's tick decision (Sequencer::sweep_due): due first, then the time
// it is as of, which the sequencer reads first.
void Shard::publish_due() {
  due_us_.store(ledger_.next_due_us(), std::memory_order_release);
  applied_us_.store(ledger_.last_time(), std::memory_order_release);
  metrics().shard_accounts(index_, ledger_.account_count());
}

void Shard::run_reads() {
  {
    std::lock_guard lock(mutex_);
    running_reads_.swap(reads_);
    reads_posted_ = false;
  }
  {
    std::shared_lock ledger(ledger_mutex_);
    for (Read& read : running_reads_) read(ledger_, std::max(clock_.read_now(), ledger_.last_time()));
  }
  running_reads_.clear();
  if (let_go_) let_go_();
}

// One slice, then the loop's other handlers (the connections' frames, queued reads)
// before the next.
void Shard::apply_slice() {
  bool more = false;
  {
    std::lock_guard lock(mutex_);
    const std::size_t n = std::min(kSliceCommands, writes_.size());
    for (std::size_t i = 0; i < n; ++i) {
      slice_.push_back(std::move(writes_.front()));
      writes_.pop_front();
    }
    more = !writes_.empty();
    slice_posted_ = more;
    applying_ = n > 0;
  }
  if (!slice_.empty()) {
    std::lock_guard ledger(ledger_mutex_);
    const auto slice_start = std::chrono::steady_clock::now();
    ledger_.apply_batch(
        slice_.size(),
        [&](std::size_t i) {
          return std::pair<const Command&, TimeUs>(slice_[i].command, slice_[i].time);
        },
        [&](std::size_t i, const Result& r) { deliver(slice_[i], r); });
    metrics().observe_since(Histogram::apply_slice, slice_start);
    publish_due();
    if (reports_sink_) reports_sink_(outcomes_, slice_.back().time);  // none: how far
    {
      std::lock_guard lock(mutex_);
      applying_ = false;
      publish_position();
    }
    if (on_progress_) on_progress_();
  }
  slice_.clear();
  if (let_go_) let_go_();
  if (more) asio::post(io_, [this] { apply_slice(); });
}

}  // namespace bonus::server
