// The data directory's lock (server/data_lock.h): one process at a time writes a data
// directory. In-process, then with real bonusd and journal-repair processes: a second
// bonusd on the same --data exits at once naming the holder's pid; once the holder is
// SIGKILLed the next one starts (no stale lock); journal-repair refuses while bonusd runs.
#include "server/data_lock.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/server/bonusd_process.h"
#include "tests/server/child_process.h"
#include "tests/server/temp_dir.h"

namespace bonus::test {
namespace {

using server::DataLock;

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The pid written in <dir>/lock by its holder.
std::string holder_pid(const std::string& dir) {
  const std::string text = read_file(dir + "/" + DataLock::kFileName);
  if (text.rfind("pid ", 0) != 0) return "";
  return text.substr(4, text.find('\n') - 4);
}

TEST(DataLock, SecondHolderIsRefusedWithTheFirstOnesPidUntilItIsReleased) {
  TempDir dir("data-lock-test");
  auto first = DataLock::acquire(dir.path(), "first");
  ASSERT_TRUE(std::holds_alternative<std::unique_ptr<DataLock>>(first))
      << std::get<std::string>(first);
  const std::string pid = std::to_string(getpid());
  EXPECT_EQ(holder_pid(dir.path()), pid);
  EXPECT_NE(read_file(dir.path() + "/lock").find("program first\n"), std::string::npos);

  // flock locks belong to an open file: a second open in the same process conflicts too.
  auto second = DataLock::acquire(dir.path(), "second");
  ASSERT_TRUE(std::holds_alternative<std::string>(second));
  const std::string& refusal = std::get<std::string>(second);
  EXPECT_NE(refusal.find("in use by another process (pid " + pid + ", program first"),
            std::string::npos)
      << refusal;
  EXPECT_EQ(holder_pid(dir.path()), pid) << "a refused taker must not overwrite the holder";

  std::get<std::unique_ptr<DataLock>>(first).reset();
  auto third = DataLock::acquire(dir.path(), "third");
  ASSERT_TRUE(std::holds_alternative<std::unique_ptr<DataLock>>(third))
      << std::get<std::string>(third);
  EXPECT_NE(read_file(dir.path() + "/lock").find("program third\n"), std::string::npos);
}

TEST(DataLock, LockFileIsPrivateEvenIfAnOlderOneWasNot) {
  TempDir dir("data-lock-test");
  const std::string path = dir.path() + "/lock";
  std::ofstream(path) << "pid 1\nprogram old\nstarted long ago and with a longer text\n";
  ::chmod(path.c_str(), 0644);
  auto lock = DataLock::acquire(dir.path(), "bonusd");
  ASSERT_TRUE(std::holds_alternative<std::unique_ptr<DataLock>>(lock));
  struct stat s {};
  ASSERT_EQ(::stat(path.c_str(), &s), 0);
  EXPECT_EQ(s.st_mode & 0777, 0600u);
  EXPECT_EQ(read_file(path).find("old"), std::string::npos) << read_file(path);
}

TEST(DataLockProcess, SecondBonusdExitsAtOnceNamingTheHolder) {
  BonusdProcess first;
  ASSERT_TRUE(first.start()) << first.log();
  const std::string pid = holder_pid(first.data_dir());
  ASSERT_FALSE(pid.empty());

  const auto started = std::chrono::steady_clock::now();
  const auto second = ChildProcess::run(
      {BONUSD_PATH, "--listen", "127.0.0.1:0", "--data", first.data_dir()}, 30000);
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(second.status, 1) << second.err;
  EXPECT_NE(second.err.find("pid " + pid + ", program bonusd"), std::string::npos) << second.err;
  EXPECT_EQ(second.err.find("listening on"), std::string::npos) << second.err;
  EXPECT_LT(took, std::chrono::seconds(5)) << "it must not wait for the lock";
  EXPECT_EQ(holder_pid(first.data_dir()), pid);
  EXPECT_EQ(first.stop(SIGTERM), 0) << first.log();  // the first one never noticed
}

TEST(DataLockProcess, NextBonusdStartsAfterTheHolderIsKilled) {
  BonusdProcess server;
  ASSERT_TRUE(server.start()) << server.log();
  const std::string killed = holder_pid(server.data_dir());
  EXPECT_EQ(server.stop(SIGKILL), 128 + SIGKILL);
  // The lock file is still there, naming a dead pid: the lock itself went with the process.
  EXPECT_EQ(holder_pid(server.data_dir()), killed);
  ASSERT_TRUE(server.start()) << server.log();
  EXPECT_NE(holder_pid(server.data_dir()), killed);
  EXPECT_EQ(server.stop(SIGTERM), 0) << server.log();
}

TEST(DataLockProcess, JournalRepairRefusesWhileBonusdRunsAndRunsAfter) {
  BonusdProcess server;
  ASSERT_TRUE(server.start()) << server.log();
  const std::string pid = holder_pid(server.data_dir());
  const std::vector<std::string> repair = {JOURNAL_REPAIR_PATH, "--data", server.data_dir(),
                                           "--drop"};
  const auto refused = ChildProcess::run(repair);
  EXPECT_EQ(refused.status, 2) << refused.out << refused.err;
  EXPECT_NE(refused.err.find("pid " + pid + ", program bonusd"), std::string::npos) << refused.err;
  EXPECT_EQ(holder_pid(server.data_dir()), pid);

  EXPECT_EQ(server.stop(SIGTERM), 0) << server.log();
  const auto ran = ChildProcess::run(repair);
  EXPECT_EQ(ran.status, 0) << ran.out << ran.err;
  EXPECT_NE(ran.out.find("the journal is whole"), std::string::npos) << ran.out;
  // And bonusd starts after it: journal-repair let go of the lock when it exited.
  ASSERT_TRUE(server.start()) << server.log();
}

}  // namespace
}  // namespace bonus::test
