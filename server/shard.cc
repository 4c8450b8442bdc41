#include "server/shard.h"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "engine/code.h"
#include "server/admission.h"
#include "server/metrics.h"
#include "server/thread_name.h"

namespace bonus::server {

void Shard::start() {
  publish_due();
  thread_ = std::thread([this] {
    if (enter_) enter_();
    run();
  });
  name_thread(thread_, "bonus-shard-" + std::to_string(index_));
}

void Shard::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  ready_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Shard::write(std::vector<ShardWrite> writes) {
  {
    std::lock_guard lock(mutex_);
    for (ShardWrite& w : writes) writes_.push_back(std::move(w));
  }
  ready_.notify_one();
}

void Shard::read(Read read) {
  {
    std::lock_guard lock(mutex_);
    reads_.push_back(std::move(read));
  }
  ready_.notify_one();
}

bool Shard::read_here_or_queue(Read read) {
  std::unique_lock ledger(ledger_mutex_, std::try_to_lock);
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

void Shard::run() {
  std::deque<Read> reads;
  std::vector<ShardWrite> slice;
  slice.reserve(kSliceCommands);
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      ready_.wait(lock, [&] { return stopping_ || !writes_.empty() || !reads_.empty(); });
      if (stopping_ && writes_.empty() && reads_.empty()) return;
      reads.swap(reads_);
      const std::size_t n = std::min(kSliceCommands, writes_.size());
      for (std::size_t i = 0; i < n; ++i) {
        slice.push_back(std::move(writes_.front()));
        writes_.pop_front();
      }
    }
    // The reads first, and their replies out (let_go) before the slice of writes.
    if (!reads.empty()) {
      {
        std::lock_guard ledger(ledger_mutex_);
        for (Read& read : reads) read(ledger_, std::max(clock_.read_now(), ledger_.last_time()));
      }
      reads.clear();
      if (let_go_) let_go_();
    }
    if (!slice.empty()) {
      std::lock_guard ledger(ledger_mutex_);
      const auto slice_start = std::chrono::steady_clock::now();
      ledger_.apply_batch(
          slice.size(),
          [&](std::size_t i) {
            return std::pair<const Command&, TimeUs>(slice[i].command, slice[i].time);
          },
          [&](std::size_t i, const Result& r) { deliver(slice[i], r); });
      metrics().observe_since(Histogram::apply_slice, slice_start);
      publish_due();
      if (reports_sink_) reports_sink_(outcomes_, slice.back().time);  // none: how far
    }
    slice.clear();
    if (let_go_) let_go_();
  }
}

}  // namespace bonus::server
