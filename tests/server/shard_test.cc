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
      writes.push_back(std::move(w));
    }
    shard.write(std::move(writes));
    shard.read([&](const Ledger&, TimeUs) { ++reads; });
  }
  // Every write and read handed over is applied by stop(); the prober's own queued reads
  // (if any) too.
  shard.stop();
  probing = false;
  EXPECT_EQ(reads.load(), 50);
  EXPECT_GT(p.free(), 50) << "let_go ran too seldom";
  EXPECT_EQ(p.busy(), 0) << "let_go ran while the shard held its ledger";
}

}  // namespace
}  // namespace bonus::server
