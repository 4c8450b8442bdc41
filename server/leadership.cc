#include "server/leadership.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "server/thread_name.h"

namespace bonus::server {

Leadership::Opened Leadership::open(const LeadershipOptions& options) {
  std::unique_ptr<Leadership> made(new Leadership(options));
  auto opened = LeaderLease::open(options.lease);
  if (auto* error = std::get_if<std::string>(&opened)) return *error;
  made->lease_ = std::move(std::get<std::unique_ptr<LeaderLease>>(opened));
  // A write to the lease (a release above all) is looked at now, not at the next tick.
  Leadership* self = made.get();
  if (auto error = made->lease_->watch([self] { self->poke(); })) {
    spdlog::warn("bonusd: {}; looking at the lease every {} ms only", *error,
                 std::max<std::int64_t>(options.lease.ttl_ms / 6, 50));
  }
  return made;
}

std::variant<bool, std::string> Leadership::take_at_start() {
  auto taken = lease_->take(options_.address);
  if (auto* error = std::get_if<std::string>(&taken)) return *error;
  std::string holder;
  if (std::get<bool>(taken)) {
    renewed_ = std::chrono::steady_clock::now();
    holder = options_.address;
  } else if (auto error = lease_->read_holder(holder)) {
    return *error;
  }
  {
    std::lock_guard lock(mutex_);
    leader_ = holder;
    state_ = std::get<bool>(taken) ? "leader" : "standby";
  }
  thread_ = std::thread([this] { run(); });
  name_thread(thread_, "bonus-leadership");
  return std::get<bool>(taken);
}

void Leadership::poke() {
  {
    std::lock_guard lock(mutex_);
    poked_ = true;
  }
  wake_.notify_all();
}

void Leadership::start(Sequencer& sequencer) {
  {
    std::lock_guard lock(mutex_);
    sequencer_ = &sequencer;
    poked_ = true;
  }
  wake_.notify_all();
}

void Leadership::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (lease_ && lease_->held()) {
    lease_->release();
    spdlog::info("bonusd: let the lease go: a standby takes over now");
  }
  lease_.reset();  // its watch pokes this object: it ends before the mutex does
}

std::string Leadership::leader() const {
  std::lock_guard lock(mutex_);
  return leader_;
}

std::string Leadership::state() const {
  std::lock_guard lock(mutex_);
  return state_;
}

void Leadership::role_changed(LogRole role, const std::string& why) {
  {
    std::lock_guard lock(mutex_);
    promoting_ = false;
    if (role == LogRole::leading) {
      state_ = "leader";
      leader_ = options_.address;
    } else {
      release_ = true;
      state_ = "standby (stepped down: " + why + ")";
      if (leader_ == options_.address) leader_.clear();
    }
    poked_ = true;
  }
  wake_.notify_all();
}

void Leadership::forget(std::string node, Forgotten done) {
  if (node == options_.node) {
    return done("node " + node + " is this one: a running node reports its position every second");
  }
  {
    std::lock_guard lock(mutex_);
    if (!stopping_) {
      forgets_.push_back(Forget{std::move(node), std::move(done)});
      poked_ = true;
      wake_.notify_all();
      return;
    }
  }
  done(std::string("bonusd is stopping"));
}

void Leadership::forget_asked() {
  std::vector<Forget> asked;
  {
    std::lock_guard lock(mutex_);
    asked.swap(forgets_);
  }
  // Alive: reported within three of its one-second reports.
  for (Forget& f : asked) {
    auto error = lease_->forget(f.node, 3000);
    if (!error)
      spdlog::info("bonusd: forgot node {}: it no longer holds back the log's trimming", f.node);
    f.done(std::move(error));
  }
}

void Leadership::run() {
  const auto tick =
      std::chrono::milliseconds(std::max<std::int64_t>(options_.lease.ttl_ms / 6, 50));
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    // A poke that came while the last turn ran is not lost: it is a flag.
    wake_.wait_for(lock, tick, [&] { return stopping_ || poked_; });
    poked_ = false;
    if (stopping_) break;
    if (sequencer_ == nullptr) {
      // The start's replay: a lease taken is kept; nothing else until the sequencer runs.
      lock.unlock();
      if (lease_->held()) renew_at_start(std::chrono::steady_clock::now());
      lock.lock();
      continue;
    }
    const bool release = std::exchange(release_, false);
    lock.unlock();
    const auto now = std::chrono::steady_clock::now();
    if (release && lease_->held()) lease_->release();
    if (lease_->held()) {
      lead(now);  // renewed while taking over too: a takeover may outlast a lease
    } else if (sequencer_->role() == LogRole::leading) {
      sequencer_->step_down("the lease is not this node's");
    } else {
      follow();
    }
    report_position(now);
    forget_asked();
    lock.lock();
  }
  for (Forget& f : forgets_) f.done(std::string("bonusd is stopping"));
  forgets_.clear();
}

void Leadership::renew_at_start(std::chrono::steady_clock::time_point now) {
  if (now - renewed_ < std::chrono::milliseconds(options_.lease.ttl_ms) / 3) return;
  auto renewed = lease_->renew();
  if (auto* ok = std::get_if<bool>(&renewed); ok && *ok) {
    renewed_ = now;
    return;
  }
  // Lost (or out of reach too long): once the sequencer runs, lead() or run() steps it
  // down, and the log's fence stops it anyway.
  if (auto* error = std::get_if<std::string>(&renewed)) {
    spdlog::warn("bonusd: renewing the lease during the start: {}", *error);
  } else {
    spdlog::warn("bonusd: the lease taken at the start was lost during the replay");
  }
}

void Leadership::lead(std::chrono::steady_clock::time_point now) {
  const auto ttl = std::chrono::milliseconds(options_.lease.ttl_ms);
  if (now - renewed_ < ttl / 3) return;
  auto renewed = lease_->renew();
  if (auto* ok = std::get_if<bool>(&renewed); ok && *ok) {
    renewed_ = now;
    return;
  }
  const auto since_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now - renewed_).count();
  if (auto* error = std::get_if<std::string>(&renewed)) {
    if (now - renewed_ < ttl) {
      spdlog::warn("bonusd: renewing the lease: {} (renewed {} ms ago)", *error, since_ms);
      return;
    }
    sequencer_->step_down("could not renew the lease for " + std::to_string(since_ms) +
                          " ms, past its " + std::to_string(options_.lease.ttl_ms) +
                          " ms: " + *error);
    lease_->release();
    return;
  }
  sequencer_->step_down("the lease is no longer this node's (renewed " + std::to_string(since_ms) +
                        " ms ago, for " + std::to_string(options_.lease.ttl_ms) +
                        " ms): another node leads or is taking over");
}

void Leadership::follow() {
  {
    std::lock_guard lock(mutex_);
    if (promoting_) return;
  }
  std::string holder;
  std::string error;
  if (auto failed = lease_->read_holder(holder)) error = *failed;
  if (error.empty() && holder.empty()) {
    auto taken = lease_->take(options_.address);
    if (auto* failed = std::get_if<std::string>(&taken)) {
      error = *failed;
    } else if (std::get<bool>(taken)) {
      renewed_ = std::chrono::steady_clock::now();
      std::lock_guard lock(mutex_);
      promoting_ = true;
      state_ = "taking over";
      spdlog::info("bonusd: the lease had lapsed and is this node's now: taking the log over");
      sequencer_->promote();
      return;
    } else if (auto again = lease_->read_holder(holder)) {
      error = *again;
    }
  }
  std::lock_guard lock(mutex_);
  if (!error.empty() && error != lease_error_) spdlog::warn("bonusd: reading the lease: {}", error);
  lease_error_ = error;
  leader_ = error.empty() ? holder : "";
}

void Leadership::report_position(std::chrono::steady_clock::time_point now) {
  if (now - reported_ < std::chrono::seconds(1)) return;
  reported_ = now;
  const std::uint64_t position = sequencer_->checkpoint_position();
  // Every second, changed or not: a fresh report is how `forget_node` tells a running
  // node from one gone.
  if (auto error = lease_->report_position(options_.node, position)) {
    spdlog::warn("bonusd: reporting the checkpoint position: {}", *error);
    return;
  }
  if (sequencer_->role() != LogRole::leading) return;
  auto positions = lease_->positions();
  if (auto* error = std::get_if<std::string>(&positions)) {
    // Not knowing where the others are, trim nothing more.
    sequencer_->limit_trim(0);
    spdlog::warn("bonusd: reading the nodes' checkpoint positions: {}", *error);
    return;
  }
  const auto& nodes = std::get<std::map<std::string, std::uint64_t>>(positions);
  std::uint64_t lowest = UINT64_MAX;
  std::string lowest_node;
  for (const auto& [node, at] : nodes) {
    if (at < lowest) {
      lowest = at;
      lowest_node = node;
    }
  }
  std::uint64_t limit = lowest == UINT64_MAX ? 0 : lowest + 1;
  std::string note;
  // --log-retain-records: no more than that behind this node's checkpoint, whoever lags.
  const std::uint64_t retain = options_.retain_records;
  if (retain > 0 && position + 1 > retain && position + 1 - retain > limit) {
    limit = position + 1 - retain;
    note = "the log keeps " + std::to_string(retain) +
           " records behind this node's checkpoint (--log-retain-records), so it is trimmed "
           "past the checkpoints of";
    for (const auto& [node, at] : nodes) {
      if (at + 1 < limit) note += " node " + node + " (at " + std::to_string(at) + ")";
    }
    note +=
        ": they cannot catch up from their checkpoints any more; start each from a copy of "
        "another node's data directory, then forget_node the old name if it changes";
  } else if (lowest < position) {
    note = "node " + lowest_node + "'s checkpoint at position " + std::to_string(lowest) +
           " keeps the log from being trimmed to this node's " + std::to_string(position);
  }
  sequencer_->limit_trim(limit);
  if (!note.empty() && note != trim_note_) {
    if (limit > lowest + 1) {
      spdlog::warn("bonusd: {}", note);
    } else {
      spdlog::info("bonusd: {}", note);
    }
  }
  trim_note_ = note;
}

}  // namespace bonus::server
