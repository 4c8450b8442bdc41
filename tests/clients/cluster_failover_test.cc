// Standbys and failover on NATS JetStream (issue 15), end to end: three real nats-servers
// in one JetStream cluster, real bonusd processes following one 3-replica stream, bonusctl
// and the C++ client given every node's address. Each test is bounded in time.
// - A mailing of 200,000 buyers through bonusctl while the leader is SIGKILLed: it
//   finishes against the standby that takes over; every buyer is credited exactly once;
//   the survivors' audits hold and their state hashes agree; a C++ client given every
//   address finds the new leader from a standby, past the dead node; the killed node,
//   started again on its data, catches up as a standby to the same hash.
// - A leader paused (SIGSTOP) past its lease: a standby takes over; resumed, the old
//   leader acknowledges nothing (a write queued to it while paused fails), steps down and
//   says so; nothing acknowledged is lost or doubled.
// - One nats-server of three lost: writes go on. Two lost: writes stop with a clear
//   error; with the servers back, every acknowledged write is there.
#include <gtest/gtest.h>
#include <signal.h>

#include <array>
#include <atomic>
#include <chrono>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "clients/cpp/client.h"
#include "tests/clients/run_bonusctl.h"
#include "tests/server/bonusd_process.h"
#include "tests/server/http_get.h"
#include "tests/server/nats_cluster.h"
#include "tests/server/temp_dir.h"

namespace bonus::test {
namespace {

using Clock = std::chrono::steady_clock;
constexpr SellerId kSeller = 42;

// Waits up to `timeout` for `done`, checking every 50 ms.
template <typename F>
bool wait_until(F done, std::chrono::milliseconds timeout) {
  const auto until = Clock::now() + timeout;
  while (!done()) {
    if (Clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return true;
}

std::unique_ptr<client::Client> client_to(
    std::uint16_t port, std::vector<std::uint16_t> others = {},
    std::chrono::milliseconds timeout = std::chrono::seconds(3)) {
  client::ClientOptions options;
  options.port = port;
  options.timeout = timeout;
  for (const std::uint16_t o : others) options.others.push_back("127.0.0.1:" + std::to_string(o));
  auto connected = client::Client::connect(options);
  if (std::holds_alternative<std::string>(connected)) return nullptr;
  return std::move(std::get<std::unique_ptr<client::Client>>(connected));
}

// admin status (or audit) of the node on `port`; ok false when it does not answer.
client::Reply<protocol::AdminStatus> ask(
    std::uint16_t port, protocol::AdminAction action = protocol::AdminAction::status) {
  auto c = client_to(port);
  if (!c) return {client::Status::disconnected, protocol::FrameError::none, "cannot connect", {}};
  return c->admin(action);
}

Credit credit(std::uint64_t id, BuyerId buyer, Amount amount) {
  Credit c;
  c.id = Id128{0x1515, id};
  c.seller = kSeller;
  c.buyer = buyer;
  c.amount = amount;
  c.life = LotLife::forever();
  return c;
}

class ClusterFailover : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(nats_.start()) << nats_.log(); }

  // Starts node n; JetStream answers only once the cluster has its meta leader, so the
  // first start is tried again for up to 30 s.
  void start_node(int n, const std::vector<std::string>& more = {}) {
    std::vector<std::string> args = {"--log",      "jetstream", "--nats",
                                     nats_.urls(), "--node",    "node" + std::to_string(n),
                                     "--lease-ms", "1000",      "--partition-ports",
                                     "off"};
    args.insert(args.end(), more.begin(), more.end());
    const bool started =
        wait_until([&] { return nodes_[n].start(args); }, std::chrono::seconds(30));
    ASSERT_TRUE(started) << nodes_[n].log() << nats_.log();
  }
  std::uint16_t port(int n) const { return nodes_[n].port(); }
  std::string state(int n) const {
    const auto s = ask(port(n));
    return s.ok() ? s.value.node_state : "down";
  }
  std::uint64_t position(int n) const { return ask(port(n)).value.log_position; }
  // Waits until node n leads (writes accepted).
  bool leads(int n, std::chrono::milliseconds timeout = std::chrono::seconds(20)) const {
    return wait_until([&] { return state(n) == "leader"; }, timeout);
  }
  // Nodes `live` all at one log position, then their audits: each ok, all one hash.
  void expect_same_state(const std::vector<int>& live, std::uint64_t accounts) {
    ASSERT_TRUE(wait_until(
        [&] {
          const std::uint64_t p = position(live.front());
          for (int n : live) {
            if (position(n) != p) return false;
          }
          return p > 0;
        },
        std::chrono::seconds(30)));
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the shards apply it
    std::uint64_t hash = 0;
    for (int n : live) {
      const auto audit = ask(port(n), protocol::AdminAction::audit);
      ASSERT_TRUE(audit.ok()) << audit.message;
      EXPECT_TRUE(audit.value.ok) << "node " << n << ": " << audit.value.message;
      EXPECT_EQ(audit.value.accounts, accounts) << "node " << n;
      if (hash == 0) hash = audit.value.state_hash;
      EXPECT_EQ(audit.value.state_hash, hash) << "node " << n << " differs";
    }
  }

  NatsCluster nats_;
  std::array<BonusdProcess, 3> nodes_;
  TempDir dir_{"bonus-cluster"};
};

TEST_F(ClusterFailover, AMailingFinishesAcrossTheLeadersDeathEveryBuyerOnce) {
  constexpr int kBuyers = 200'000;
  start_node(0);
  ASSERT_TRUE(leads(0)) << nodes_[0].log();
  start_node(1);
  start_node(2);
  EXPECT_EQ(state(1), "standby");
  const std::string buyers = dir_.path() + "/buyers.txt";
  {
    std::ofstream out(buyers);
    for (int b = 1; b <= kBuyers; ++b) out << b << '\n';
  }
  const std::string servers = "127.0.0.1:" + std::to_string(port(0)) +
                              ",127.0.0.1:" + std::to_string(port(1)) +
                              ",127.0.0.1:" + std::to_string(port(2));
  Ran mail;
  std::atomic<bool> mailed{false};
  std::thread mailer([&] {
    mail = run_bonusctl(dir_.path(), {"--server", servers, "mail", "--seller", "42", "--campaign",
                                      "10", "--amount", "300", "--ttl", "3d", "--buyers", buyers});
    mailed = true;
  });
  // Partway: the leader has taken some of it.
  const bool partway =
      wait_until([&] { return mailed || position(0) >= 20'000; }, std::chrono::seconds(60)) &&
      !mailed;
  const auto killed_at = Clock::now();
  nodes_[0].stop(SIGKILL);
  mailer.join();
  ASSERT_TRUE(partway) << "the leader never reached position 20000: " << mail.out << mail.err
                       << nodes_[0].log();
  EXPECT_EQ(mail.code, 0) << mail.out << mail.err;
  EXPECT_NE(mail.out.find("200000 of 200000 buyers answered"), std::string::npos) << mail.out;
  EXPECT_NE(mail.out.find("rejected   0 buyers"), std::string::npos) << mail.out;
  const bool taken = wait_until([&] { return state(1) == "leader" || state(2) == "leader"; },
                                std::chrono::seconds(10));
  ASSERT_TRUE(taken);
  std::printf(
      "takeover and the rest of the mailing: %lld ms after the kill\n",
      static_cast<long long>(
          std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - killed_at).count()));

  // Exactly once: the seller issued 300 to each buyer, and a sample of buyers has 300.
  expect_same_state({1, 2}, kBuyers);
  auto c = client_to(port(2));
  ASSERT_TRUE(c);
  const auto stats = c->seller_stats(kSeller);
  ASSERT_TRUE(stats.ok()) << stats.message;
  EXPECT_EQ(stats.value.issued, Amount{300} * kBuyers);
  const unsigned seed = std::random_device{}();
  std::printf("seed %u (buyers sampled)\n", seed);
  std::mt19937 rng(seed);
  for (int i = 0; i < 500; ++i) {
    const BuyerId b = std::uniform_int_distribution<BuyerId>(1, kBuyers)(rng);
    const auto r = c->balance(kSeller, b);
    ASSERT_TRUE(r.ok()) << r.message;
    EXPECT_EQ(r.value.account.available, 300u) << "buyer " << b << " (seed " << seed << ")";
  }

  // A client given every address, starting at the standby, past the dead node, finds the
  // leader within three tries of one write (same id).
  const int standby = state(1) == "leader" ? 2 : 1;
  auto finder = client_to(port(standby), {port(0), port(3 - standby)});
  ASSERT_TRUE(finder);
  int tries = 0;
  client::Reply<Result> found;
  do {
    found = finder->write(credit(kBuyers + 1, kBuyers + 1, 300));
    ++tries;
  } while (!found.ok() && tries < 10);
  EXPECT_TRUE(found.ok() && found.value.ok()) << found.message;
  EXPECT_LE(tries, 3);

  // The killed node, on its data again: a standby that catches up to the same state.
  start_node(0);
  EXPECT_NE(state(0), "leader");
  expect_same_state({0, 1, 2}, kBuyers + 1);
}

// Read your writes on a standby: each write acknowledged by the leader is read at once
// from the standby at the writer's position (read_at_least); the standby waits until it
// has applied that far, so every read sees its write. A standby refuses the write of a
// client at a position as any other (not_leader).
TEST_F(ClusterFailover, AStandbyReadAtTheWritersPositionSeesTheWrite) {
  start_node(0);
  ASSERT_TRUE(leads(0)) << nodes_[0].log();
  start_node(1, {"--metrics-listen", "127.0.0.1:0"});
  client::ClientOptions options;
  options.port = port(0);
  options.read_your_writes = true;
  auto connected = client::Client::connect(options);
  ASSERT_TRUE(std::holds_alternative<std::unique_ptr<client::Client>>(connected));
  auto writer = std::move(std::get<std::unique_ptr<client::Client>>(connected));
  auto reader = client_to(port(1));
  ASSERT_TRUE(reader);
  for (std::uint64_t b = 1; b <= 300; ++b) {
    const auto w = writer->write(credit(b, b, 10 + b));
    ASSERT_TRUE(w.ok() && w.value.ok()) << w.message;
    reader->read_at_least(writer->position());
    const auto r = reader->balance(kSeller, b);
    ASSERT_TRUE(r.ok()) << r.message;
    ASSERT_EQ(r.value.account.available, 10 + b) << "buyer " << b << ": the standby's read missed the write";
    ASSERT_GE(reader->position(), writer->position());
  }
  // The standby was fed the leader's messages by the stream's consumer; it read by
  // request at most what the feed had not brought yet when it looked.
  const double fed =
      scraped_metric(nodes_[1].metrics_port(), "bonus_log_followed_messages_total{how=\"fed\"}");
  const double read =
      scraped_metric(nodes_[1].metrics_port(), "bonus_log_followed_messages_total{how=\"read\"}");
  EXPECT_GE(fed, 150) << read << " read";
  EXPECT_GT(fed, read);
  options.port = port(1);
  connected = client::Client::connect(options);
  ASSERT_TRUE(std::holds_alternative<std::unique_ptr<client::Client>>(connected));
  auto on_standby = std::move(std::get<std::unique_ptr<client::Client>>(connected));
  on_standby->read_at_least(writer->position());
  const auto w = writer->write(credit(1000, 1000, 7));
  ASSERT_TRUE(w.ok() && w.value.ok()) << w.message;
  on_standby->read_at_least(writer->position());
  const auto r = on_standby->balance(kSeller, 1000);
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_EQ(r.value.account.available, 7u);
  EXPECT_EQ(on_standby->write(credit(1001, 1001, 1)).error, protocol::FrameError::not_leader);
}

TEST_F(ClusterFailover, ALeaderPausedPastItsLeaseAcknowledgesNothingAfter) {
  start_node(0);
  ASSERT_TRUE(leads(0)) << nodes_[0].log();
  start_node(1);
  auto to_old = client_to(port(0));
  ASSERT_TRUE(to_old);
  for (std::uint64_t b = 1; b <= 100; ++b) {
    const auto r = to_old->write(credit(b, b, 10));
    ASSERT_TRUE(r.ok() && r.value.ok()) << r.message;
  }
  ASSERT_EQ(kill(nodes_[0].pid(), SIGSTOP), 0);
  // A write to the paused leader waits in its socket.
  auto queued = to_old->write_async(credit(1000, 1000, 10));
  ASSERT_TRUE(leads(1)) << nodes_[1].log();
  auto to_new = client_to(port(1));
  ASSERT_TRUE(to_new);
  for (std::uint64_t b = 101; b <= 200; ++b) {
    const auto r = to_new->write(credit(b, b, 10));
    ASSERT_TRUE(r.ok() && r.value.ok()) << r.message;
  }
  ASSERT_EQ(kill(nodes_[0].pid(), SIGCONT), 0);
  const auto late = queued.get();
  EXPECT_FALSE(late.ok()) << "the deposed leader acknowledged a write";
  EXPECT_TRUE(late.error == protocol::FrameError::storage_failed ||
              late.error == protocol::FrameError::not_leader)
      << client::status_name(late.status) << ": " << late.message;
  const auto after = to_old->write(credit(2000, 2000, 10));
  EXPECT_FALSE(after.ok());
  EXPECT_TRUE(
      wait_until([&] { return state(0).rfind("standby", 0) == 0; }, std::chrono::seconds(10)))
      << state(0);
  EXPECT_NE(nodes_[0].log().find("following the log, writes refused"), std::string::npos)
      << nodes_[0].log();
  // Nothing lost, nothing doubled: 200 buyers of 10 each on both nodes, one state.
  expect_same_state({0, 1}, 200);
  const auto stats = to_new->seller_stats(kSeller);
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats.value.issued, Amount{10} * 200);
}

TEST_F(ClusterFailover, OneNatsServerLostChangesNothingTwoStopWritesLosingNothing) {
  start_node(0);
  ASSERT_TRUE(leads(0)) << nodes_[0].log();
  start_node(1);
  auto c = client_to(port(0), {port(1)});
  ASSERT_TRUE(c);
  std::uint64_t acknowledged = 0;
  // Writes with retries (same ids), as a client of several nodes does.
  const auto write_with_retries = [&](std::uint64_t b, std::chrono::seconds patience) {
    const auto until = Clock::now() + patience;
    for (;;) {
      const auto r = c->write(credit(b, b, 10));
      if (r.ok() && r.value.ok()) return true;
      if (Clock::now() > until) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  };
  for (std::uint64_t b = 1; b <= 100; ++b) {
    ASSERT_TRUE(write_with_retries(b, std::chrono::seconds(20)));
    ++acknowledged;
  }
  nats_.kill(2);
  for (std::uint64_t b = 101; b <= 200; ++b) {
    ASSERT_TRUE(write_with_retries(b, std::chrono::seconds(20))) << "buyer " << b;
    ++acknowledged;
  }
  nats_.kill(1);
  // No quorum: a write fails, with a reason, within the JetStream wait (5 s).
  auto patient = client_to(port(0), {port(1)}, std::chrono::seconds(15));
  ASSERT_TRUE(patient);
  const auto refused = patient->write(credit(10'000, 10'000, 10));
  EXPECT_FALSE(refused.ok() && refused.value.ok());
  EXPECT_EQ(refused.status, client::Status::refused) << refused.message;
  EXPECT_NE(refused.message.find("jetstream"), std::string::npos) << refused.message;
  std::printf("with one nats-server of three: %s: %s\n",
              std::string(client::status_name(refused.status)).c_str(), refused.message.c_str());
  ASSERT_TRUE(nats_.restart(1)) << nats_.log();
  ASSERT_TRUE(nats_.restart(2)) << nats_.log();
  // Back: a leader again, and every acknowledged write is there.
  ASSERT_TRUE(write_with_retries(201, std::chrono::seconds(60)))
      << nodes_[0].log() << nodes_[1].log();
  ++acknowledged;
  auto reader = client_to(port(0), {port(1)}, std::chrono::seconds(15));
  ASSERT_TRUE(reader);
  for (std::uint64_t b = 1; b <= 201; ++b) {
    const auto r = reader->balance(kSeller, b);
    ASSERT_TRUE(r.ok()) << r.message;
    EXPECT_EQ(r.value.account.available, 10u) << "buyer " << b;
  }
  EXPECT_EQ(acknowledged, 201u);
  // The standby, whose connection and feed went through the same outages, follows on:
  // it reaches the last write's position and serves it.
  client::ClientOptions at;
  at.port = port(1);
  at.read_your_writes = true;
  auto connected = client::Client::connect(at);
  ASSERT_TRUE(std::holds_alternative<std::unique_ptr<client::Client>>(connected));
  auto standby = std::move(std::get<std::unique_ptr<client::Client>>(connected));
  const std::uint64_t last = position(0);
  ASSERT_GT(last, 0u);
  standby->read_at_least(last);
  client::Reply<protocol::BalanceEntry> seen;
  ASSERT_TRUE(wait_until(
      [&] {
        seen = standby->balance(kSeller, 201);
        return seen.ok();
      },
      std::chrono::seconds(20)))
      << seen.message << nodes_[1].log();
  EXPECT_EQ(seen.value.account.available, 10u);
  EXPECT_GE(standby->position(), last);
}

}  // namespace
}  // namespace bonus::test
