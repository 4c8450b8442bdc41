// bonusd and its environment: SIGPIPE does not kill it (it is ignored before any thread
// starts), and its log goes to stderr, leaving stdout empty.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>

#include "tests/server/bonusd_child.h"
#include "tests/server/bonusd_process.h"
#include "tests/server/wire.h"

namespace bonus::test {
namespace {

// A ping answered on a fresh connection: the server is alive and serving.
bool answers_ping(std::uint16_t port) {
  RawConnection c(port);
  if (!c.connected()) return false;
  if (!c.send(protocol::make_frame(protocol::Opcode::ping, 0, 7, protocol::Body{}))) return false;
  const WireReply reply = read_reply(c);
  return reply.got && reply.header.request_id == 7;
}

TEST(BonusdSignals, SigpipeDoesNotKillIt) {
  ChildProcess bonusd;
  char pattern[] = "/tmp/bonusd-signals-test-XXXXXX";
  const std::string dir = mkdtemp(pattern);
  ASSERT_TRUE(bonusd.start({BONUSD_PATH, "--listen", "127.0.0.1:0", "--data", dir + "/data",
                            "--journal-segment-bytes", "8388608"}));
  const std::uint16_t port = wait_listening(bonusd);
  ASSERT_NE(port, 0) << bonusd.err();
  for (int i = 0; i < 3; ++i) ASSERT_EQ(::kill(bonusd.pid(), SIGPIPE), 0);
  EXPECT_TRUE(answers_ping(port)) << bonusd.err();
  EXPECT_EQ(bonusd.wait(0), -1) << "bonusd died of the SIGPIPE: " << bonusd.err();
  EXPECT_EQ(bonusd.stop(SIGTERM), 0) << bonusd.err();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

TEST(BonusdSignals, LogGoesToStderrAndStdoutStaysEmpty) {
  ChildProcess bonusd;
  char pattern[] = "/tmp/bonusd-signals-test-XXXXXX";
  const std::string dir = mkdtemp(pattern);
  ASSERT_TRUE(bonusd.start({BONUSD_PATH, "--listen", "127.0.0.1:0", "--data", dir + "/data",
                            "--journal-segment-bytes", "8388608"}));
  ASSERT_NE(wait_listening(bonusd), 0) << bonusd.out() << bonusd.err();
  EXPECT_EQ(bonusd.stop(SIGTERM), 0) << bonusd.err();
  EXPECT_NE(bonusd.err().find("bonusd listening on 127.0.0.1:"), std::string::npos);
  EXPECT_NE(bonusd.err().find("[info]"), std::string::npos) << bonusd.err();
  EXPECT_EQ(bonusd.out(), "");
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

}  // namespace
}  // namespace bonus::test
