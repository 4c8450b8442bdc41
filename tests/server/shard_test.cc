// Shard's thread hooks (server/shard.h): `let_go` runs after each round of reads and
// each slice of writes once the ledger is no longer held, which is what lets the server
// flush a shard's replies there (server/reply_batch.h): when a reply wakes the network
// thread, a short read it then takes finds the ledger free. Checked from another
// thread, as the network thread would see it.
#include "server/shard.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "server/ledger_clock.h"

namespace bonus::server {
namespace {

// At each let_go the shard's thread asks a prober thread to serve a read here
// (read_here_or_queue, a try_lock of the ledger) and waits for the answer.
class Prober {
 public:
  explicit Prober(Shard& shard) : shard_(shard), thread_([this] { run(); }) {}
  ~Prober() {
    {
      std::lock_guard lock(m_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  // On the shard's thread, from let_go.
  void probe() {
    std::unique_lock lock(m_);
    asked_ = true;
    cv_.notify_all();
    cv_.wait(lock, [&] { return !asked_; });
  }
  int free() {
    std::lock_guard lock(m_);
    return free_;
  }
  int busy() {
    std::lock_guard lock(m_);
    return busy_;
  }

 private:
  void run() {
    std::unique_lock lock(m_);
    for (;;) {
      cv_.wait(lock, [&] { return stop_ || asked_; });
      if (stop_) return;
      // A read that does nothing; if the ledger is held it is queued and runs later.
      const bool here = shard_.read_here_or_queue([](const Ledger&, TimeUs) {});
      ++(here ? free_ : busy_);
      asked_ = false;
      cv_.notify_all();
    }
  }

  Shard& shard_;
  std::mutex m_;
  std::condition_variable cv_;
  bool asked_ = false;
  bool stop_ = false;
  int free_ = 0;  // guarded by m_
  int busy_ = 0;  // guarded by m_
  std::thread thread_;
};

TEST(Shard, LetGoRunsWithTheLedgerFreeAfterReadsAndAfterWrites) {
  LedgerClock clock;
  Shard shard(0, 1, EngineConfig{}, clock);
  std::atomic<bool> probing{true};
  Prober* prober = nullptr;
  shard.set_thread_hooks([] {},
                         [&] {
                           if (probing && prober != nullptr) prober->probe();
                         });
  Prober p(shard);
  prober = &p;
  shard.start();

  std::atomic<int> reads{0};
  for (int round = 0; round < 50; ++round) {
    std::vector<ShardWrite> writes;
    for (int i = 0; i < 300; ++i) {  // more than a slice
      ShardWrite w;
      w.command = Credit{Id128{1, static_cast<std::uint64_t>(round * 1000 + i + 1)},
                         7,
                         static_cast<BuyerId>(i + 1),
                         10,
                         0,
                         LotLife::forever()};
      w.time = clock.stamp();
      w.position = static_cast<std::uint64_t>(round * 300 + i + 1);
      writes.push_back(std::move(w));
    }
    shard.write(std::move(writes), static_cast<std::uint64_t>(round * 300 + 300));
    shard.read([&](const Ledger&, TimeUs) { ++reads; });
  }
  // Every write and read handed over is applied by stop(); the prober's own queued reads
  // (if any) too.
  shard.stop();
  probing = false;
  EXPECT_EQ(reads.load(), 50);
  EXPECT_EQ(shard.applied_position(), 50u * 300u) << "every group applied: the last position";
  EXPECT_GT(p.free(), 50) << "let_go ran too seldom";
  EXPECT_EQ(p.busy(), 0) << "let_go ran while the shard held its ledger";
}

// Log positions (Shard::applied_position): a shard reflects the log up to the write it
// has not applied yet, and a group with nothing for it moves it at once.
TEST(ShardPosition, FollowsAppliedWritesAndEmptyGroups) {
  EngineConfig config;
  LedgerClock clock;
  Shard shard(0, 1, config, clock);
  shard.set_applied_position(10);
  std::atomic<int> progress{0};
  shard.set_on_progress([&] { ++progress; });
  shard.start();
  EXPECT_EQ(shard.applied_position(), 10u);
  shard.write({}, 15);  // a group of other shards' records only
  EXPECT_EQ(shard.applied_position(), 15u);
  EXPECT_EQ(progress.load(), 1);
  shard.write({}, 12);  // never back
  EXPECT_EQ(shard.applied_position(), 15u);

  // A write at 20 held back by a read that blocks the shard's thread: the shard reflects
  // 19 at most until it is applied, then the group's end.
  std::mutex gate;
  std::unique_lock closed(gate);
  shard.read([&](const Ledger&, TimeUs) { std::lock_guard wait(gate); });
  ShardWrite w;
  w.command = Credit{Id128{1, 1}, 7, 1, 10, 0, LotLife::forever()};
  w.time = clock.stamp();
  w.position = 20;
  std::vector<ShardWrite> writes;
  writes.push_back(w);
  shard.write(std::move(writes), 25);
  EXPECT_EQ(shard.applied_position(), 15u);
  shard.write({}, 30);  // behind the queued write: no jump past it
  EXPECT_EQ(shard.applied_position(), 15u);
  closed.unlock();
  for (int i = 0; i < 2000 && shard.applied_position() != 30; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(shard.applied_position(), 30u);
  shard.stop();
  EXPECT_EQ(shard.ledger_before_start().account_count(), 1u);
}

}  // namespace
}  // namespace bonus::server
