// bonusd's flags are parsed strictly: each bad value below is a usage error (exit status
// 2, before anything is created) with a message naming the flag; good values at the edges
// of the same ranges still start.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "tests/server/bonusd_child.h"
#include "tests/server/temp_dir.h"

namespace bonus::test {
namespace {

struct BadFlag {
  std::string flag;
  std::string value;
};

// flag, value: each alone on an otherwise good command line.
const std::vector<BadFlag> kBadFlags = {
    {"--log", "kafka"},
    {"--nats-replicas", "0"},
    {"--nats-replicas", "6"},
    {"--listen", "127.0.0.1:7400junk"},
    {"--listen", ":"},
    {"--listen", "127.0.0.1:"},
    {"--listen", ":7400"},
    {"--listen", "127.0.0.1:65536"},
    {"--listen", "127.0.0.1:-1"},
    {"--listen", "127.0.0.1:+80"},
    {"--listen", "127.0.0.1"},
    {"--listen", "localhost:7400"},
    {"--listen", "::1:7400"},  // IPv6 needs brackets
    {"--listen", "[::1]:7400x"},
    {"--listen", "[127.0.0.1]:7400"},
    {"--listen", "300.0.0.1:7400"},
    {"--in-flight-max", "0"},
    {"--in-flight-max", "-1"},
    {"--in-flight-max", "4294967296"},
    {"--connections-max", "0"},
    {"--connections-max", "0x10"},
    {"--connections-max", "2000000"},
    {"--id-window-s", "0"},
    {"--id-window-s", "-5"},
    {"--id-window-s", "9223372036855"},  // × 10^6 overflows int64
    {"--id-window-s", "9223372036854775807"},
    {"--id-window-s", "99999999999999999999"},
    {"--partition-ports", "0"},
    {"--partition-ports", "65536"},
    {"--partition-ports", "-1"},
    {"--partition-ports", "nex"},
    {"--partition-ports", "7401,7402"},
    {"--shards", "257"},
    {"--shards", "-1"},
    {"--sweep-interval-ms", "0"},
    {"--sweep-interval-ms", "60001"},
    {"--journal-segment-bytes", "0"},
    {"--journal-segment-bytes", "4095"},
    {"--journal-segment-bytes", "1073741825"},
    {"--journal-segment-bytes", "-1"},
    {"--checkpoint-records", "-1"},
    {"--checkpoint-records", "1e6"},
    {"--checkpoint-interval-s", "604801"},
    {"--checkpoint-interval-s", "-1"},
    {"--checkpoint-map-mib", "0"},
    {"--accounts-max", "0"},
    {"--accounts-max", "4294967297"},
    {"--accounts-max", "-1"},
    {"--orders-max", "0"},
    {"--ids-max", "0"},
    {"--ids-max", "18446744073709551616"},
    {"--frame-size-max", "1023"},
    {"--batch-commands-max", "0"},
    {"--durability", "sometimes"},
    {"--checkpoint", "yes"},
    {"--network-nice", "-21"},
    {"--network-nice", "20"},
    {"--network-nice", "high"},
    {"--lease-ms", "299"},
    {"--lease-ms", "60001"},
    {"--position-wait-ms", "60001"},
    {"--position-wait-ms", "-1"},
    {"--log-retain-records", "-1"},
    {"--log-watch", "sometimes"},
    {"--log-retain-records", "281474976710657"},
};

TEST(BonusdFlags, EachBadValueIsAUsageErrorNamingTheFlag) {
  TempDir dir("bonusd-flags-test");
  const std::string data = dir.path() + "/data";
  for (const BadFlag& bad : kBadFlags) {
    std::vector<std::string> argv = {BONUSD_PATH, "--data", data};
    if (bad.flag != "--listen") argv.insert(argv.end(), {"--listen", "127.0.0.1:0"});
    argv.push_back(bad.flag + "=" + bad.value);  // '=': a value may start with '-'
    const auto run = ChildProcess::run(argv, 30000);
    EXPECT_EQ(run.status, 2) << bad.flag << " " << bad.value << ": " << run.err;
    EXPECT_NE(run.err.find(bad.flag), std::string::npos)
        << bad.flag << " " << bad.value << ": " << run.err;
    EXPECT_EQ(run.err.find("listening on"), std::string::npos) << run.err;
    EXPECT_FALSE(std::filesystem::exists(data))
        << bad.flag << " " << bad.value << ": a usage error must create nothing";
    std::error_code ec;
    std::filesystem::remove_all(data, ec);
  }
}

TEST(BonusdFlags, UnknownFlagsAndStrayArgumentsAreUsageErrors) {
  for (const std::vector<std::string>& extra :
       {std::vector<std::string>{"--no-such-flag"}, {"stray"}, {"--listen"}}) {
    std::vector<std::string> argv = {BONUSD_PATH, "--data", "/nonexistent/never"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    const auto run = ChildProcess::run(argv, 30000);
    EXPECT_EQ(run.status, 2) << extra.front() << ": " << run.err;
  }
}

TEST(BonusdFlags, TheLogOnJetStreamNeedsItsServersAndTheyMustAnswer) {
  TempDir dir("bonusd-flags-test");
  const std::string data = dir.path() + "/data";
  const std::string nats = "nats://127.0.0.1:1";
  const std::vector<std::pair<std::vector<std::string>, std::string>> usage = {
      {{"--log", "jetstream"}, "--log jetstream needs --nats"},
      {{"--nats", nats}, "--nats needs --log jetstream"},
      {{"--log", "jetstream", "--nats", nats, "--durability", "none"},
       "--durability none is the journal's"},
      {{"--node", "a"},
       "--node, --advertise, --log-retain-records and --log-watch need --log jetstream"},
      {{"--log-watch", "off"}, "need --log jetstream"},
      {{"--advertise", "127.0.0.1:7400"}, "need --log jetstream"},
      {{"--log-retain-records", "1000"}, "need --log jetstream"},
      {{"--log", "jetstream", "--nats", nats, "--node", "two words"},
       "--node two words: want 1..64 of [A-Za-z0-9_-]"},
      {{"--log", "jetstream", "--nats", nats, "--node", std::string(65, 'n')}, "want 1..64"},
  };
  for (const auto& [extra, why] : usage) {
    std::vector<std::string> argv = {BONUSD_PATH, "--data", data, "--listen", "127.0.0.1:0"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    const auto run = ChildProcess::run(argv, 30000);
    EXPECT_EQ(run.status, 2) << extra.front() << ": " << run.err;
    EXPECT_NE(run.err.find(why), std::string::npos) << run.err;
    EXPECT_FALSE(std::filesystem::exists(data)) << "a usage error must create nothing";
  }
  // No server there: the start fails, saying where it tried.
  const auto run = ChildProcess::run({BONUSD_PATH, "--data", data, "--listen", "127.0.0.1:0",
                                      "--log", "jetstream", "--nats", "nats://127.0.0.1:1"},
                                     30000);
  EXPECT_EQ(run.status, 1) << run.err;
  EXPECT_NE(run.err.find("cannot start: jetstream: connect to nats://127.0.0.1:1"),
            std::string::npos)
      << run.err;
}

TEST(BonusdFlags, HelpExitsZeroOnStdout) {
  const auto run = ChildProcess::run({BONUSD_PATH, "--help"}, 30000);
  EXPECT_EQ(run.status, 0) << run.err;
  EXPECT_NE(run.out.find("--connections-max"), std::string::npos) << run.out;
}

// Good values at the edges start, and the server takes them.
TEST(BonusdFlags, ValuesAtTheEdgesStart) {
  const std::vector<std::vector<std::string>> good = {
      {"--connections-max", "1", "--in-flight-max", "1", "--sweep-interval-ms", "1"},
      {"--connections-max", "010"},  // ten, not CLI11's octal eight
      {"--id-window-s", "3153600000", "--journal-segment-bytes", "4096", "--shards", "1",
       "--checkpoint-records", "0", "--checkpoint-interval-s", "0"},
      {"--accounts-max", "1", "--orders-max", "1", "--ids-max", "1"},
  };
  for (const auto& args : good) {
    TempDir dir("bonusd-flags-test");
    std::vector<std::string> argv = {BONUSD_PATH, "--listen", "127.0.0.1:0", "--data",
                                     dir.path() + "/data"};
    argv.insert(argv.end(), args.begin(), args.end());
    ChildProcess bonusd;
    ASSERT_TRUE(bonusd.start(argv));
    EXPECT_NE(wait_listening(bonusd), 0) << ::testing::PrintToString(args) << bonusd.err();
    EXPECT_EQ(bonusd.stop(SIGTERM), 0) << bonusd.err();
  }
}

bool ipv6_loopback_works() {
  const int fd = ::socket(AF_INET6, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in6 addr{};
  addr.sin6_family = AF_INET6;
  addr.sin6_addr = in6addr_loopback;
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

// Connects to [::1]:port: whether anything accepts there.
bool connects_ipv6(std::uint16_t port) {
  const int fd = ::socket(AF_INET6, SOCK_STREAM, 0);
  sockaddr_in6 addr{};
  addr.sin6_family = AF_INET6;
  addr.sin6_addr = in6addr_loopback;
  addr.sin6_port = htons(port);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

TEST(BonusdFlags, ListensOnIpv6InBrackets) {
  if (!ipv6_loopback_works()) GTEST_SKIP() << "no IPv6 loopback on this machine";
  TempDir dir("bonusd-flags-test");
  ChildProcess bonusd;
  ASSERT_TRUE(bonusd.start({BONUSD_PATH, "--listen", "[::1]:0", "--data", dir.path() + "/data",
                            "--journal-segment-bytes", "8388608"}));
  const std::uint16_t port = wait_listening(bonusd);
  ASSERT_NE(port, 0) << bonusd.err();
  EXPECT_NE(bonusd.err().find("listening on [::1]:" + std::to_string(port) + " "),
            std::string::npos)
      << bonusd.err();
  EXPECT_TRUE(connects_ipv6(port));
  EXPECT_EQ(bonusd.stop(SIGTERM), 0) << bonusd.err();
}

// The nice value of thread `tid` of process `pid` (field 19 of its stat).
int nice_of(pid_t pid, const std::string& tid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/task/" + tid + "/stat");
  std::string line;
  std::getline(stat, line);
  std::istringstream fields(line.substr(line.rfind(')') + 2));  // from field 3, the state
  std::string field;
  for (int i = 3; i <= 19; ++i) fields >> field;
  return std::stoi(field);
}

// Each of a process's threads by name (a name may repeat): its nice value.
std::multimap<std::string, int> thread_nices(pid_t pid) {
  std::multimap<std::string, int> out;
  for (const auto& task :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string name;
    std::getline(comm, name);
    out.emplace(name, nice_of(pid, task.path().filename().string()));
  }
  return out;
}

// --network-nice is the network thread's alone (the process's first thread): the threads
// it started keep the value they were started with, the checkpointer its own nice 10.
// The partitions' loops serve the connections (and apply their partitions' writes), and
// the main thread takes the connections: those run at --network-nice, the sequencer keeps
// the value it started with and the checkpointer its own.
TEST(BonusdFlags, NetworkNiceIsTheLoopsThatServeConnectionsAlone) {
  if (::geteuid() != 0) GTEST_SKIP() << "a nice value below 0 needs root";
  TempDir dir("bonusd-flags-test");
  ChildProcess bonusd;
  ASSERT_TRUE(bonusd.start({BONUSD_PATH, "--listen", "127.0.0.1:0", "--data", dir.path() + "/data",
                            "--shards", "2", "--network-nice", "-7"}));
  ASSERT_NE(wait_listening(bonusd), 0) << bonusd.err();
  const auto nices = thread_nices(bonusd.pid());
  // The threads start with this test's nice value (CI runs under `nice`).
  const int inherited = ::getpriority(PRIO_PROCESS, 0);
  for (const auto& [name, nice] :
       std::vector<std::pair<std::string, int>>{{"bonus-shard-0", -7},
                                                {"bonus-shard-1", -7},
                                                {"bonus-sequencer", inherited},
                                                {"bonus-checkpt", 10},
                                                {"bonus-history", 10}}) {
    ASSERT_EQ(nices.count(name), 1u) << name;
    EXPECT_EQ(nices.find(name)->second, nice) << name;
  }
  EXPECT_EQ(nice_of(bonusd.pid(), std::to_string(bonusd.pid())), -7) << "the main thread";
  EXPECT_EQ(bonusd.stop(SIGTERM), 0) << bonusd.err();
}

// Without the privilege a value below 0 stops the start with a message that says why
// (not a server that runs with less than it was told).
TEST(BonusdFlags, NetworkNiceBelowZeroWithoutThePrivilegeStopsTheStart) {
  TempDir dir("bonusd-flags-test");
  std::vector<std::string> argv = {BONUSD_PATH,          "--listen",       "127.0.0.1:0", "--data",
                                   dir.path() + "/data", "--network-nice", "-10"};
  if (::geteuid() == 0) {
    // As root: run it as nobody (util-linux's setpriv), in a directory nobody may write,
    // with the sanitizers' reports on stderr (nobody cannot write the stage's log folder).
    const std::vector<std::string> as_nobody = {"/usr/bin/env",  "-u",
                                                "ASAN_OPTIONS",  "-u",
                                                "TSAN_OPTIONS",  "-u",
                                                "UBSAN_OPTIONS", "/usr/bin/setpriv",
                                                "--reuid=65534", "--regid=65534",
                                                "--clear-groups"};
    std::vector<std::string> help = as_nobody;
    help.insert(help.end(), {BONUSD_PATH, "--help"});
    if (ChildProcess::run(help, 30000).status != 0) {
      GTEST_SKIP() << "nobody cannot run " << BONUSD_PATH << " here";
    }
    std::filesystem::permissions(dir.path(), std::filesystem::perms::all);
    argv.insert(argv.begin(), as_nobody.begin(), as_nobody.end());
  }
  const auto run = ChildProcess::run(argv, 30000);
  EXPECT_NE(run.status, 0);
  EXPECT_NE(run.err.find("--network-nice -10: Permission denied"), std::string::npos) << run.err;
}

}  // namespace
}  // namespace bonus::test
