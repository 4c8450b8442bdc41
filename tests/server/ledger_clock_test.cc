// LedgerClock and its clock file: the offset survives a restart, a damaged file is named,
// and an advance must leave kClockHeadroomUs before the engine's last time.
#include "server/ledger_clock.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

namespace bonus::server {
namespace {

class ClockFile : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/clock-test-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_F(ClockFile, MissingMeansNoOffset) {
  const ClockFileRead read = read_clock_file(dir_);
  EXPECT_FALSE(read.error);
  EXPECT_EQ(read.offset_us, 0);
}

TEST_F(ClockFile, WrittenOffsetReadsBackAndReplacesTheLastOne) {
  ASSERT_FALSE(write_clock_file(dir_, 5 * kUsPerDay));
  ASSERT_FALSE(write_clock_file(dir_, 7 * kUsPerDay));
  EXPECT_EQ(std::filesystem::file_size(dir_ + "/clock"), kClockFileBytes);
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/clock.tmp"));
  const ClockFileRead read = read_clock_file(dir_);
  EXPECT_FALSE(read.error) << *read.error;
  EXPECT_EQ(read.offset_us, 7 * kUsPerDay);
}

TEST_F(ClockFile, AFlippedBitOrAShortFileIsNamedAsDamaged) {
  ASSERT_FALSE(write_clock_file(dir_, kUsPerHour));
  {
    std::fstream f(dir_ + "/clock", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(9);
    f.put('\x7f');
  }
  ClockFileRead read = read_clock_file(dir_);
  ASSERT_TRUE(read.error);
  EXPECT_NE(read.error->find(dir_ + "/clock is damaged"), std::string::npos) << *read.error;
  std::filesystem::resize_file(dir_ + "/clock", 10);
  EXPECT_TRUE(read_clock_file(dir_).error);
}

TEST_F(ClockFile, AWriteIntoAMissingDirectorySaysWhy) {
  const auto error = write_clock_file(dir_ + "/gone", kUsPerHour);
  ASSERT_TRUE(error);
  EXPECT_NE(error->find("No such file or directory"), std::string::npos) << *error;
}

TEST(LedgerClock, ResumesWithTheStoredOffsetSoReadsDoNotGoBack) {
  LedgerClock before;
  before.advance(kUsPerDay);
  const TimeUs reported = before.read_now();
  const TimeUs last_stamp = reported - kUsPerSecond;  // idle for a second before the stop

  LedgerClock after;
  after.resume_after(last_stamp, before.offset_us());
  EXPECT_GE(after.read_now(), reported);
  EXPECT_GT(after.stamp(), last_stamp);
}

TEST(LedgerClock, ALogAheadOfTheStoredOffsetWins) {
  LedgerClock clock;
  const TimeUs last_stamp = LedgerClock::wall_us() + 3 * kUsPerDay;  // no clock file yet
  clock.resume_after(last_stamp, 0);
  EXPECT_GE(clock.read_now(), last_stamp);
  EXPECT_GT(clock.stamp(), last_stamp);
}

TEST(LedgerClock, AnAdvanceMustLeaveTheHeadroom) {
  LedgerClock clock;
  const TimeUs now = clock.stamp();
  const TimeUs room = kTimeMaxUs - kClockHeadroomUs - now;
  EXPECT_TRUE(clock.can_advance(room - kUsPerSecond));
  EXPECT_FALSE(clock.can_advance(room + kUsPerSecond));
  EXPECT_FALSE(clock.can_advance(kTimeMaxUs));
  EXPECT_FALSE(clock.can_advance(kTimeNever));  // no overflow
  EXPECT_FALSE(clock.can_advance(0));
  EXPECT_FALSE(clock.can_advance(-1));
}

}  // namespace
}  // namespace bonus::server
