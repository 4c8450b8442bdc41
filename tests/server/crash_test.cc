// Crash: writers on several connections record every acknowledged write; bonusd is
// killed with SIGKILL at a random moment; after a restart every acknowledged write is
// there, resending all of them applies nothing twice, and the audit holds. Several rounds
// on the same data directory: with the default checkpoints, and with checkpoints running
// back to back (a small record trigger and a client asking for more), so that kills land
// while a checkpoint is being written and while journal segments are being deleted.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <random>
#include <thread>

#include "tests/server/wire.h"

namespace bonus::test {
namespace {

constexpr int kWriters = 4;
constexpr int kBatch = 50;

// Credit number n: its own buyer, so its presence is visible as that buyer's balance.
Credit credit_number(std::uint64_t n) {
  return Credit{Id128{0xC0FFEE, n}, 7, 1'000'000 + n, 1 + n % 97, 0, LotLife::forever()};
}

void crash_rounds(const std::vector<std::string>& args, bool ask_for_checkpoints) {
  const std::uint64_t seed = std::random_device{}();
  std::printf("seed %llu\n", static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  BonusdProcess server;
  std::vector<std::uint64_t> acknowledged;  // credit numbers
  std::uint64_t next = 0;
  int checkpoints = 0;

  for (int round = 0; round < 4; ++round) {
    ASSERT_TRUE(server.start(args)) << server.log();
    std::mutex mutex;
    std::atomic<bool> stop{false};
    std::vector<std::thread> writers;
    if (ask_for_checkpoints) {
      writers.emplace_back([&] {
        RawConnection c(server.port());
        while (!stop) {
          const auto status = admin(c, protocol::AdminAction::checkpoint);
          if (!status) return;  // killed
          std::lock_guard lock(mutex);
          checkpoints += status->ok;
        }
      });
    }
    const std::uint64_t base = next;
    for (int w = 0; w < kWriters; ++w) {
      writers.emplace_back([&, w] {
        RawConnection c(server.port());
        for (std::uint64_t b = 0; !stop; ++b) {
          std::vector<Credit> batch;
          for (int i = 0; i < kBatch; ++i) {
            batch.push_back(credit_number(base + (b * kWriters + w) * kBatch + i));
          }
          const auto results = write_batch(c, b + 1, std::span<const Credit>(batch));
          if (!results) return;  // killed
          std::lock_guard lock(mutex);
          for (std::size_t i = 0; i < batch.size(); ++i) {
            if ((*results)[i].code == Code::ok) acknowledged.push_back(batch[i].id.lo);
          }
        }
      });
    }
    // The kill comes at a random moment after the first acknowledgement (on a loaded
    // machine the first group may take longer than the shortest wait).
    for (int i = 0; i < 1000; ++i) {
      {
        std::lock_guard lock(mutex);
        if (!acknowledged.empty()) break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(150 + rng() % 600));
    EXPECT_EQ(server.stop(SIGKILL), 128 + SIGKILL);
    stop = true;
    for (auto& t : writers) t.join();
    next = base + 1'000'000;  // fresh numbers next round
    ASSERT_GT(acknowledged.size(), 0u) << "round " << round << ": nothing was acknowledged";

    // Restart: every acknowledged credit is there and resending it is a repeat.
    ASSERT_TRUE(server.start(args)) << server.log();
    RawConnection c(server.port());
    for (std::size_t from = 0; from < acknowledged.size(); from += 1000) {
      std::vector<Credit> again;
      for (std::size_t i = from; i < std::min(acknowledged.size(), from + 1000); ++i) {
        again.push_back(credit_number(acknowledged[i]));
      }
      const auto results = write_batch(c, 1000 + from, std::span<const Credit>(again));
      ASSERT_TRUE(results) << "seed " << seed << " round " << round;
      for (std::size_t i = 0; i < again.size(); ++i) {
        ASSERT_EQ((*results)[i].code, Code::ok) << "seed " << seed;
        ASSERT_TRUE((*results)[i].flags & Result::kRepeat)
            << "seed " << seed << " round " << round << ": acknowledged credit "
            << again[i].id.lo << " is missing after the crash";
        ASSERT_EQ((*results)[i].amount, again[i].amount);
      }
    }
    const auto status = admin(c, protocol::AdminAction::audit);
    ASSERT_TRUE(status);
    EXPECT_TRUE(status->ok) << status->message;
    EXPECT_EQ(server.stop(SIGTERM), 0) << server.log();
  }
  std::printf("acknowledged %zu credits over 4 crashes; %d checkpoints asked for and written\n",
              acknowledged.size(), checkpoints);
  if (ask_for_checkpoints) {
    EXPECT_GT(checkpoints, 0);
  }
}

TEST(Crash, EveryAcknowledgedWriteSurvivesSigkill) { crash_rounds({}, false); }

TEST(Crash, EveryAcknowledgedWriteSurvivesSigkillDuringCheckpoints) {
  crash_rounds({"--checkpoint-records", "3000", "--checkpoint-interval-s", "1"}, true);
}

}  // namespace
}  // namespace bonus::test
