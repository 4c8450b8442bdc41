// Operations, with real bonusd processes: the ledger time never goes back (across
// restarts too) and cannot be advanced past what the engine accepts; an idle server writes
// nothing while what comes due is still swept; a failed journal shows in `admin status`
// and in the stop log.
#include <gtest/gtest.h>
#include <sys/mount.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "clients/cpp/client.h"
#include "engine/limits.h"
#include "server/ledger_clock.h"
#include "tests/server/bonusd_process.h"
#include "tests/server/client_of.h"

namespace bonus::test {
namespace {

using client::Client;
using client::Status;

constexpr SellerId kSeller = 42;
constexpr BuyerId kBuyer = 7;
constexpr Kopecks kGoods = 199'000;

void sleep_ms(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}

class Operations : public ::testing::Test {
 protected:
  void start(const std::vector<std::string>& args) {
    args_ = args;
    ASSERT_TRUE(server_.start(args)) << server_.log();
    std::string error;
    client_ = client_of(server_, error);
    ASSERT_TRUE(client_) << error;
  }
  void restart(int signal) {
    client_.reset();
    const int status = server_.stop(signal);
    if (signal == SIGTERM) {
      ASSERT_EQ(status, 0) << server_.log();
    }
    start(args_);
  }

  Id128 id() { return Id128{0x0E5, ++ids_}; }
  template <typename C>
  Result write(const C& command) {
    const auto reply = client_->write(command);
    EXPECT_TRUE(reply.ok()) << reply.message;
    return reply.value;
  }
  protocol::AdminStatus status() {
    const auto reply = client_->admin(protocol::AdminAction::status);
    EXPECT_TRUE(reply.ok()) << reply.message;
    return reply.value;
  }
  void advance(TimeUs delta_us) {
    const auto reply = client_->admin(protocol::AdminAction::clock_advance, delta_us);
    ASSERT_TRUE(reply.ok()) << reply.message;
    ASSERT_TRUE(reply.value.ok) << reply.value.message;
  }
  AccountView balance() {
    const auto reply = client_->balance(kSeller, kBuyer, true);
    EXPECT_TRUE(reply.ok()) << reply.message;
    return reply.value.account;
  }
  SellerStats stats() {
    const auto reply = client_->seller_stats(kSeller);
    EXPECT_TRUE(reply.ok()) << reply.message;
    return reply.value;
  }

  BonusdProcess server_;
  std::vector<std::string> args_;
  std::unique_ptr<Client> client_;
  std::uint64_t ids_ = 0;
};

// ---------------------------------------------------------------------------------------
// Ledger time

// A read reports the wall clock plus the test clock's offset, which runs ahead of the
// last stamp in the log while the server is idle. Before the clock file, a restart
// resumed from the last stamp: the time reported went back by the idle time. (A sweep
// interval of a minute keeps any tick out of the log, as an idle server does.)
class LedgerTimeAcrossRestarts : public Operations, public ::testing::WithParamInterface<int> {};

TEST_P(LedgerTimeAcrossRestarts, NeverGoesBackBehindWhatStatusReported) {
  start({"--test-clock", "--checkpoint", "off", "--sweep-interval-ms", "60000"});
  ASSERT_EQ(write(Credit{id(), kSeller, kBuyer, 100, 0, LotLife::forever(), 0, 0}).code, Code::ok);
  advance(kUsPerDay);
  sleep_ms(1200);
  const TimeUs reported = status().ledger_time_us;
  restart(GetParam());
  const TimeUs after = status().ledger_time_us;
  EXPECT_GE(after, reported) << "went back by " << reported - after << " us";
  // And stamps go on from there: a write after the restart is at or after it too.
  ASSERT_EQ(write(Credit{id(), kSeller, kBuyer, 5, 0, LotLife::ttl_of(kUsPerHour), 0, 0}).code,
            Code::ok);
  EXPECT_GE(balance().next_expiry_us, reported + kUsPerHour);
}

INSTANTIATE_TEST_SUITE_P(Stops, LedgerTimeAcrossRestarts, ::testing::Values(SIGTERM, SIGKILL),
                         [](const auto& p) { return p.param == SIGTERM ? "SIGTERM" : "SIGKILL"; });

// Before, an advance to near the end of time was taken: the next batch aborted the
// process (the engine asserts now <= kTimeMaxUs) and the journal then refused to start.
TEST_F(Operations, AnAdvancePastTheEnginesLastTimeIsRefusedAndChangesNothing) {
  start({"--test-clock", "--checkpoint", "off"});
  ASSERT_EQ(write(Credit{id(), kSeller, kBuyer, 100, 0, LotLife::forever(), 0, 0}).code, Code::ok);
  const protocol::AdminStatus before = status();
  const TimeUs to_the_end = kTimeMaxUs - before.ledger_time_us;
  for (const TimeUs delta :
       {to_the_end, to_the_end - kUsPerDay, to_the_end - server::kClockHeadroomUs + kUsPerHour}) {
    const auto reply = client_->admin(protocol::AdminAction::clock_advance, delta);
    EXPECT_EQ(reply.status, Status::refused) << delta;
    EXPECT_EQ(reply.error, protocol::FrameError::malformed_body) << delta;
    EXPECT_NE(reply.message.find("refused"), std::string::npos) << reply.message;
  }
  const protocol::AdminStatus after = status();
  EXPECT_LT(after.ledger_time_us - before.ledger_time_us, 60 * kUsPerSecond);  // not moved
  EXPECT_EQ(after.journal_bytes, before.journal_bytes);                        // nothing logged

  // Writes go on, and so does a restart.
  ASSERT_EQ(write(Credit{id(), kSeller, kBuyer, 5, 0, LotLife::forever(), 0, 0}).code, Code::ok);
  restart(SIGTERM);
  EXPECT_EQ(balance().available, 105u);

  // As far as the headroom allows is taken, and the ledger works there.
  const TimeUs most = kTimeMaxUs - server::kClockHeadroomUs - status().ledger_time_us - kUsPerDay;
  advance(most);
  ASSERT_EQ(write(Credit{id(), kSeller, kBuyer, 7, 0, LotLife::forever(), 0, 0}).code, Code::ok);
  EXPECT_EQ(write(Credit{id(), kSeller, kBuyer, 7, 0, LotLife::ttl_of(365 * kUsPerDay), 0, 0}).code,
            Code::ok);
  restart(SIGKILL);
  EXPECT_EQ(balance().available, 119u);
  EXPECT_GT(status().ledger_time_us, kTimeMaxUs - server::kClockHeadroomUs - 2 * kUsPerDay);
}

TEST_F(Operations, ADamagedClockFileStopsTheStartWithItsName) {
  start({"--test-clock", "--checkpoint", "off"});
  advance(kUsPerHour);
  client_.reset();
  ASSERT_EQ(server_.stop(SIGTERM), 0);
  std::ofstream(server_.data_dir() + "/clock", std::ios::trunc) << "not a clock";
  EXPECT_FALSE(server_.start({"--test-clock", "--checkpoint", "off"}));
  EXPECT_NE(server_.log().find(server_.data_dir() + "/clock is damaged"), std::string::npos)
      << server_.log();
}

// ---------------------------------------------------------------------------------------
// Sweep ticks

// Before, an idle server appended a sweep tick and ran fdatasync every second, forever;
// with --checkpoint off its journal grew without bound.
TEST_F(Operations, AnIdleServerWritesNothing) {
  start({"--checkpoint", "off", "--sweep-interval-ms", "10"});
  ASSERT_EQ(write(Credit{id(), kSeller, kBuyer, 100, 0, LotLife::forever(), 0, 0}).code, Code::ok);
  ASSERT_EQ(write(Hold{id(), 1, kSeller, kBuyer, 10, kGoods, kUsPerHour}).code, Code::ok);
  const std::uint64_t bytes = status().journal_bytes;
  ASSERT_GT(bytes, 0u);
  sleep_ms(2500);
  EXPECT_EQ(status().journal_bytes, bytes);
}

// `top -H` and /proc show which of bonusd's threads is busy: each has its name.
TEST_F(Operations, ThreadsAreNamed) {
  start({"--shards", "2"});
  std::multiset<std::string> names;
  for (const auto& task :
       std::filesystem::directory_iterator("/proc/" + std::to_string(server_.pid()) + "/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string name;
    std::getline(comm, name);
    names.insert(name);
  }
  for (const char* expected :
       {"bonus-sequencer", "bonus-checkpt", "bonus-history", "bonus-shard-0", "bonus-shard-1"}) {
    EXPECT_EQ(names.count(expected), 1u) << expected;
  }
  // The network thread keeps the process's name (as does a sanitizer's own thread).
  EXPECT_GE(names.count("bonusd"), 1u);
}

// What comes due is still swept with no write to carry it: a hold times out, an expired
// lot's minute ends and the statistics count it; then the server is idle again.
TEST_F(Operations, WhatComesDueIsSweptWithoutWrites) {
  start({"--test-clock", "--checkpoint", "off", "--sweep-interval-ms", "10"});
  ASSERT_EQ(write(Credit{id(), kSeller, kBuyer, 100, 0, LotLife::forever(), 0, 0}).code, Code::ok);
  ASSERT_EQ(write(Credit{id(), kSeller, kBuyer, 30, 0, LotLife::ttl_of(kUsPerMinute), 0, 0}).code,
            Code::ok);
  ASSERT_EQ(write(Hold{id(), 1, kSeller, kBuyer, 10, kGoods, kUsPerSecond}).code, Code::ok);
  sleep_ms(1500);
  EXPECT_EQ(balance().held, 0u);  // timed out by a tick: no write came
  EXPECT_EQ(stats().held, 0u);

  // Just before the lot's minute is over (the advance's own sweep finds nothing to
  // expire), then a tick once it is.
  const TimeUs expiry = balance().next_expiry_us;
  const TimeUs minute_over = (expiry / kExpiryBucketUs + 1) * kExpiryBucketUs;
  advance(minute_over - status().ledger_time_us - 700 * (kUsPerSecond / 1000));
  ASSERT_EQ(stats().expired, 0u);
  sleep_ms(1500);
  EXPECT_EQ(stats().expired, 30u);
  EXPECT_EQ(balance().available, 100u);

  const std::uint64_t bytes = status().journal_bytes;
  sleep_ms(1000);
  EXPECT_EQ(status().journal_bytes, bytes);
}

// ---------------------------------------------------------------------------------------
// A failed journal

// The data directory on a small tmpfs that is then filled: the group that needs a new
// segment cannot get one (ENOSPC). Before, `admin status` said ok with an empty message
// while every write was refused, and the stop log said everything was flushed.
class FullDisk : public Operations {
 protected:
  void TearDown() override {
    client_.reset();
    if (server_.running()) server_.stop(SIGKILL);
    if (mounted_) umount(server_.data_dir().c_str());
  }
  bool mount_small_tmpfs() {
    mounted_ = mount("tmpfs", server_.data_dir().c_str(), "tmpfs", 0, "size=512k") == 0;
    return mounted_;
  }
  // Fills the file system with a file of zeros until it is full.
  void fill() {
    std::FILE* f = std::fopen((server_.data_dir() + "/filler").c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::vector<char> block(4096, 0);
    while (std::fwrite(block.data(), 1, block.size(), f) == block.size() && std::fflush(f) == 0) {
    }
    std::fclose(f);
  }
  bool mounted_ = false;
};

TEST_F(FullDisk, AdminStatusReportsTheFailedJournalAndTheStopLogSaysWhatWasLost) {
  if (!mount_small_tmpfs()) GTEST_SKIP() << "cannot mount a tmpfs here (needs root)";
  start({"--checkpoint", "off", "--journal-segment-bytes", "65536"});
  ASSERT_EQ(write(Credit{id(), kSeller, kBuyer, 1, 0, LotLife::forever(), 0, 0}).code, Code::ok);
  fill();

  // More than a segment's worth in one batch: the group spills into a segment the disk
  // has no room for.
  std::vector<Credit> batch;
  for (BuyerId b = 1; b <= 2000; ++b)
    batch.push_back(Credit{id(), kSeller, b, 1, 0, LotLife::forever(), 0, 0});
  const auto reply = client_->write_batch(std::span<const Credit>(batch));
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.error, protocol::FrameError::storage_failed) << reply.message;

  const protocol::AdminStatus s = status();
  EXPECT_FALSE(s.ok);
  EXPECT_NE(s.message.find("journal failed"), std::string::npos) << s.message;
  EXPECT_NE(s.message.find("No space left on device"), std::string::npos) << s.message;
  const auto refused =
      client_->write(Credit{id(), kSeller, kBuyer, 1, 0, LotLife::forever(), 0, 0});
  EXPECT_EQ(refused.error, protocol::FrameError::storage_failed);

  client_.reset();
  EXPECT_EQ(server_.stop(SIGTERM), 1);
  const std::string log = server_.log();
  EXPECT_NE(log.find("bonusd stopped after a journal failure"), std::string::npos) << log;
  EXPECT_EQ(log.find("applied and is durable"), std::string::npos) << log;
  EXPECT_EQ(log.find("flushed"), std::string::npos) << log;
}

// The same without root: the data directory is moved away under the running server, so
// the segment the next group needs cannot be created (ENOENT).
TEST_F(Operations, AJournalThatCannotCreateASegmentShowsInStatusAndInTheStopLog) {
  start({"--checkpoint", "off", "--journal-segment-bytes", "65536"});
  ASSERT_EQ(write(Credit{id(), kSeller, kBuyer, 1, 0, LotLife::forever(), 0, 0}).code, Code::ok);
  EXPECT_TRUE(status().ok);
  const std::string moved = server_.data_dir() + ".moved";
  std::filesystem::rename(server_.data_dir(), moved);

  std::vector<Credit> batch;
  for (BuyerId b = 1; b <= 2000; ++b)
    batch.push_back(Credit{id(), kSeller, b, 1, 0, LotLife::forever(), 0, 0});
  const auto reply = client_->write_batch(std::span<const Credit>(batch));
  EXPECT_EQ(reply.error, protocol::FrameError::storage_failed) << reply.message;
  const protocol::AdminStatus s = status();
  EXPECT_FALSE(s.ok);
  EXPECT_NE(s.message.find("journal failed, every write is refused until a restart"),
            std::string::npos)
      << s.message;

  client_.reset();
  const int exit_status = server_.stop(SIGTERM);
  std::filesystem::rename(moved, server_.data_dir());
  EXPECT_EQ(exit_status, 1);
  const std::string log = server_.log();
  EXPECT_NE(log.find("bonusd stopped after a journal failure"), std::string::npos) << log;
  EXPECT_EQ(log.find("flushed"), std::string::npos) << log;
}

TEST_F(Operations, ACleanStopSaysEverythingIsDurable) {
  start({"--checkpoint", "off"});
  ASSERT_EQ(write(Credit{id(), kSeller, kBuyer, 1, 0, LotLife::forever(), 0, 0}).code, Code::ok);
  EXPECT_TRUE(status().ok);
  client_.reset();
  EXPECT_EQ(server_.stop(SIGTERM), 0);
  EXPECT_NE(server_.log().find("everything accepted was applied and is durable in the journal"),
            std::string::npos)
      << server_.log();
}

}  // namespace
}  // namespace bonus::test
