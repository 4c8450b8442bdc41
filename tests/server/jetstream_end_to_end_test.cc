// bonusd with its log on NATS JetStream (`--log jetstream`), end to end: real nats-server,
// real bonusd processes, the C++ client. What the stream buys: a bonusd whose data
// directory is lost starts on an empty one and has every acknowledged write back from
// the stream. What it must refuse: an empty data directory on a stream a checkpoint has
// trimmed (the records before it are gone), with a message that says so; the original
// directory still starts from its checkpoint and the stream. A node gone for good holds
// the log's trimming back until it is forgotten (admin forget_node, refused for a running
// node), or until --log-retain-records lets the leader trim past it, saying so.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "tests/server/bonusd_process.h"
#include "tests/server/client_of.h"
#include "tests/server/nats_server.h"

namespace bonus::test {
namespace {

Credit credit(std::uint64_t id, BuyerId buyer, Amount amount) {
  Credit c;
  c.id = Id128{0x15, id};
  c.seller = 3;
  c.buyer = buyer;
  c.amount = amount;
  c.life = LotLife::forever();
  return c;
}

class JetStreamEndToEnd : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(nats_.start()) << nats_.log(); }
  std::vector<std::string> args(std::vector<std::string> more = {}) const {
    std::vector<std::string> a = {"--log",     "jetstream",       "--nats",
                                  nats_.url(), "--nats-replicas", "1"};
    a.insert(a.end(), more.begin(), more.end());
    return a;
  }
  // Credits buyers 1..n with buyer + 10 bonuses each, every one acknowledged.
  static void credit_all(const BonusdProcess& server, int n) {
    std::string error;
    auto c = client_of(server, error);
    ASSERT_TRUE(c) << error;
    for (int b = 1; b <= n; ++b) {
      const auto r = c->write(credit(static_cast<std::uint64_t>(b), static_cast<BuyerId>(b),
                                     static_cast<Amount>(b + 10)));
      ASSERT_TRUE(r.ok() && r.value.ok()) << "buyer " << b << ": " << r.message;
    }
  }
  static void expect_balances(const BonusdProcess& server, int n) {
    std::string error;
    auto c = client_of(server, error);
    ASSERT_TRUE(c) << error;
    for (int b = 1; b <= n; ++b) {
      const auto r = c->balance(3, static_cast<BuyerId>(b));
      ASSERT_TRUE(r.ok()) << r.message;
      EXPECT_EQ(r.value.account.available, static_cast<Amount>(b + 10)) << "buyer " << b;
    }
  }
  NatsServer nats_;
};

TEST_F(JetStreamEndToEnd, ADataDirectoryLostIsRebuiltFromTheStream) {
  constexpr int kBuyers = 300;
  {
    BonusdProcess first;
    ASSERT_TRUE(first.start(args({"--checkpoint", "off"}))) << first.log();
    credit_all(first, kBuyers);
    first.stop(SIGKILL);  // and its data directory goes with it
  }
  BonusdProcess second;  // a fresh data directory
  ASSERT_TRUE(second.start(args({"--checkpoint", "off"}))) << second.log();
  EXPECT_NE(second.log().find("replayed " + std::to_string(kBuyers) + " journal records"),
            std::string::npos)
      << second.log();
  expect_balances(second, kBuyers);
}

TEST_F(JetStreamEndToEnd, AnEmptyDirectoryOnATrimmedStreamIsRefusedTheOriginalStarts) {
  constexpr int kBuyers = 100;
  BonusdProcess first;  // its data directory stays with it across its starts
  ASSERT_TRUE(first.start(args())) << first.log();
  credit_all(first, kBuyers);
  {
    std::string error;
    auto c = client_of(first, error);
    ASSERT_TRUE(c) << error;
    const auto status = c->admin(protocol::AdminAction::checkpoint);
    ASSERT_TRUE(status.ok() && status.value.ok) << status.message << status.value.message;
  }
  // The sequencer trims the log between groups once the checkpoint is durable.
  bool trimmed = false;
  for (int i = 0; i < 100 && !trimmed; ++i) {
    trimmed = first.log().find("journal: deleted records") != std::string::npos;
    if (!trimmed) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(trimmed) << first.log();
  first.stop(SIGKILL);

  BonusdProcess fresh;
  EXPECT_FALSE(fresh.start(args())) << "an empty directory cannot start on a trimmed stream";
  EXPECT_NE(fresh.log().find("there is no checkpoint to start from"), std::string::npos)
      << fresh.log();

  ASSERT_TRUE(first.start(args())) << first.log();  // its checkpoint, then the stream
  expect_balances(first, kBuyers);
}

// Waits up to 10 s for `text` in the server's log.
bool logged(const BonusdProcess& server, const std::string& text) {
  for (int i = 0; i < 200; ++i) {
    if (server.log().find(text) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

TEST_F(JetStreamEndToEnd, AGoneNodeHoldsTrimmingBackUntilItIsForgotten) {
  BonusdProcess a, b;
  ASSERT_TRUE(a.start(args({"--node", "a", "--lease-ms", "1000"}))) << a.log();
  ASSERT_TRUE(b.start(args({"--node", "b", "--lease-ms", "1000"}))) << b.log();
  std::string error;
  auto c = client_of(a, error);
  ASSERT_TRUE(c) << error;
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // b has reported
  auto forgot = c->forget_node("b");
  ASSERT_TRUE(forgot.ok()) << forgot.message;
  EXPECT_FALSE(forgot.value.ok) << "a running node forgotten";
  EXPECT_NE(forgot.value.message.find("it is running"), std::string::npos) << forgot.value.message;
  forgot = c->forget_node("a");
  EXPECT_FALSE(forgot.value.ok);
  EXPECT_NE(forgot.value.message.find("is this one"), std::string::npos) << forgot.value.message;
  forgot = c->forget_node("zz");
  EXPECT_FALSE(forgot.value.ok);
  EXPECT_NE(forgot.value.message.find("no node zz"), std::string::npos) << forgot.value.message;
  EXPECT_NE(forgot.value.message.find("(there: a, b)"), std::string::npos) << forgot.value.message;

  b.stop();
  credit_all(a, 50);
  const auto checkpoint = c->admin(protocol::AdminAction::checkpoint);
  ASSERT_TRUE(checkpoint.ok() && checkpoint.value.ok) << checkpoint.value.message;
  EXPECT_TRUE(logged(a, "node b's checkpoint at position")) << a.log();
  EXPECT_EQ(a.log().find("journal: deleted records"), std::string::npos)
      << "trimmed past a node that still needs the records";
  std::this_thread::sleep_for(std::chrono::milliseconds(3000));  // b's last report is old
  forgot = c->forget_node("b");
  ASSERT_TRUE(forgot.ok()) << forgot.message;
  EXPECT_TRUE(forgot.value.ok) << forgot.value.message;
  EXPECT_TRUE(logged(a, "journal: deleted records")) << "forgotten, b holds nothing back";
  forgot = c->forget_node("b");
  EXPECT_FALSE(forgot.value.ok) << "forgotten twice";
}

// A node that takes the lease at its start keeps it through a replay longer than the
// lease lives (the leadership thread renews it from the start on): it leads after the
// start without stepping down.
TEST_F(JetStreamEndToEnd, ALeaseTakenAtTheStartIsKeptThroughALongReplay) {
  // Enough records for a replay of well over the lease: fewer under a sanitizer, whose
  // bonusd replays several times slower.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  constexpr std::uint64_t kRecords = 200'000;
#else
  constexpr std::uint64_t kRecords = 600'000;
#endif
  const std::vector<std::string> flags =
      args({"--node", "a", "--lease-ms", "300", "--checkpoint", "off"});
  BonusdProcess a;
  ASSERT_TRUE(a.start(flags)) << a.log();
  {
    std::string error;
    auto c = client_of(a, error);
    ASSERT_TRUE(c) << error;
    std::vector<Credit> batch;
    for (std::uint64_t b = 1; b <= kRecords; ++b) {
      batch.push_back(credit(b, static_cast<BuyerId>(b), 1));
      if (batch.size() < 8192 && b < kRecords) continue;
      // A node this busy may miss a 300 ms renewal and step down for a moment (it takes
      // the lease back itself): the same batch again, same ids, is applied once.
      auto r = c->write_batch(std::span<const Credit>(batch));
      for (int again = 0; !r.ok() && again < 50; ++again) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        r = c->write_batch(std::span<const Credit>(batch));
      }
      ASSERT_TRUE(r.ok()) << r.message;
      batch.clear();
    }
  }
  a.stop(SIGKILL);
  std::this_thread::sleep_for(std::chrono::milliseconds(600));  // the lease lapses
  const std::size_t before = a.log().size();                    // what the restart logs comes after
  ASSERT_TRUE(a.start(flags)) << a.log();
  const std::string log = a.log().substr(before);
  const auto at = log.rfind("replayed ");
  ASSERT_NE(at, std::string::npos) << log;
  const int replay_ms = std::atoi(log.substr(log.find(" in ", at) + 4).c_str());
  std::printf("the start replayed %llu records for %d ms against a 300 ms lease\n",
              static_cast<unsigned long long>(kRecords), replay_ms);
  ASSERT_GT(replay_ms, 600) << "the replay must outlast the lease for this test to mean anything: "
                            << log.substr(at, 80);
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  EXPECT_EQ(a.log().substr(before).find("following the log"), std::string::npos)
      << a.log().substr(before);
  std::string error;
  auto c = client_of(a, error);
  ASSERT_TRUE(c) << error;
  const auto status = c->admin(protocol::AdminAction::status);
  ASSERT_TRUE(status.ok()) << status.message;
  EXPECT_EQ(status.value.node_state, "leader");
  EXPECT_EQ(status.value.accounts, kRecords);
}

TEST_F(JetStreamEndToEnd, PastTheRetentionTheLeaderTrimsPastALaggingNodeAndSaysSo) {
  BonusdProcess a, b;
  ASSERT_TRUE(a.start(args({"--node", "a", "--lease-ms", "1000", "--log-retain-records", "10"})))
      << a.log();
  ASSERT_TRUE(b.start(args({"--node", "b", "--lease-ms", "1000"}))) << b.log();
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // b has reported
  b.stop();
  credit_all(a, 50);
  std::string error;
  auto c = client_of(a, error);
  ASSERT_TRUE(c) << error;
  const auto checkpoint = c->admin(protocol::AdminAction::checkpoint);
  ASSERT_TRUE(checkpoint.ok() && checkpoint.value.ok) << checkpoint.value.message;
  EXPECT_TRUE(logged(a, "trimmed past the checkpoints of node b")) << a.log();
  EXPECT_TRUE(logged(a, "journal: deleted records")) << a.log();
  // b's records are gone: it cannot start from its own directory.
  EXPECT_FALSE(b.start(args({"--node", "b", "--lease-ms", "1000"})));
  EXPECT_NE(b.log().find("there is no checkpoint to start from"), std::string::npos) << b.log();
  expect_balances(a, 50);
}

}  // namespace
}  // namespace bonus::test
