// JetStreamLog against a real nats-server with JetStream (one node, the stream with one
// replica), started by each test on a free port with its store in a temporary directory:
// groups synced come back in order after the log is opened again, from any position; a
// group larger than a message is split and replays whole; trimming purges whole messages
// and keeps the last; a second writer on the stream fences the first, and a server that
// goes away fails the sync; both failures are sticky. A message another client put in the
// stream (too short for a header, or shorter than the records its header announces) is
// an error naming it, at open or at replay, never a record. A second process follows the
// first's records, takes the log over, and the first rejoins and follows it. A follower
// that watches is fed every message and woken for it; what the feed drops is read from
// the stream, once and in order; a feed past a trim is the trim's clear error; a leader
// has no feed.
#include "server/jetstream_log.h"

#include <gtest/gtest.h>
#include <nats/nats.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tests/engine/state_workload.h"
#include "tests/server/nats_server.h"

namespace bonus::server {
namespace {

using test::NatsServer;

JetStreamLogOptions options_for(const NatsServer& server) {
  JetStreamLogOptions o;
  o.urls = server.url();
  o.replicas = 1;
  o.wait_ms = 2000;
  o.message_bytes_max = 64 << 10;  // small, so that groups split
  return o;
}

std::unique_ptr<JetStreamLog> open_log(const JetStreamLogOptions& o) {
  auto opened = JetStreamLog::open(o);
  if (auto* error = std::get_if<std::string>(&opened)) {
    ADD_FAILURE() << *error;
    return nullptr;
  }
  return std::move(std::get<std::unique_ptr<JetStreamLog>>(opened));
}

std::vector<std::pair<std::uint64_t, std::string>> replayed(const JetStreamLog& log,
                                                            std::uint64_t from) {
  std::vector<std::pair<std::uint64_t, std::string>> out;
  auto error = log.replay(
      from, [&](std::uint64_t p, std::string_view r) { out.emplace_back(p, std::string(r)); });
  EXPECT_FALSE(error) << *error;
  return out;
}

// Publishes `data` to `subject` as any NATS client on the server could: no message id, no
// expected sequence. False (with a failure) when JetStream does not store it.
bool publish_raw(const std::string& url, const std::string& subject, const std::string& data) {
  natsConnection* nc = nullptr;
  jsCtx* js = nullptr;
  jsPubAck* ack = nullptr;
  natsStatus s = natsConnection_ConnectTo(&nc, url.c_str());
  if (s == NATS_OK) s = natsConnection_JetStream(&js, nc, nullptr);
  if (s == NATS_OK) {
    s = js_Publish(&ack, js, subject.c_str(), data.data(), static_cast<int>(data.size()), nullptr,
                   nullptr);
  }
  jsPubAck_Destroy(ack);
  jsCtx_Destroy(js);
  natsConnection_Destroy(nc);
  EXPECT_EQ(s, NATS_OK) << natsStatus_GetText(s);
  return s == NATS_OK;
}

class JetStreamLogTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(server_.start()) << server_.log(); }
  NatsServer server_;
};

// Two writers in turn, as a leader and its standby (issue 15): the standby follows what
// the leader syncs, in order; its take_over marks the stream, after which the leader's
// next sync fails; the old leader rejoins and follows the new one's records.
TEST_F(JetStreamLogTest, AFollowerTakesOverTheOldWriterIsFencedRejoinsAndFollows) {
  const JetStreamLogOptions o = options_for(server_);
  auto leader = open_log(o);
  ASSERT_TRUE(leader);
  for (int i = 1; i <= 3; ++i) ASSERT_EQ(leader->append("a" + std::to_string(i)), std::uint64_t(i));
  ASSERT_FALSE(leader->sync());
  auto standby = open_log(o);
  ASSERT_TRUE(standby);
  EXPECT_EQ(standby->durable_position(), 3u);
  for (int i = 4; i <= 5; ++i) ASSERT_EQ(leader->append("a" + std::to_string(i)), std::uint64_t(i));
  ASSERT_FALSE(leader->sync());
  std::vector<std::pair<std::uint64_t, std::string>> got;
  const auto collect = [&](std::uint64_t p, std::string_view r) {
    got.emplace_back(p, std::string(r));
  };
  ASSERT_FALSE(standby->follow(collect));
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0], (std::pair<std::uint64_t, std::string>{4, "a4"}));
  EXPECT_EQ(got[1], (std::pair<std::uint64_t, std::string>{5, "a5"}));
  EXPECT_EQ(standby->durable_position(), 5u);
  ASSERT_FALSE(standby->follow(collect));  // nothing new
  EXPECT_EQ(got.size(), 2u);

  ASSERT_FALSE(standby->take_over(collect));
  ASSERT_EQ(leader->append("a6"), 6u);
  const auto fenced = leader->sync();
  ASSERT_TRUE(fenced);
  EXPECT_NE(fenced->find("another writer took the log"), std::string::npos) << *fenced;
  ASSERT_EQ(standby->append("b6"), 6u);
  ASSERT_FALSE(standby->sync());

  // The old writer drops its failed record and follows from what it had durable.
  ASSERT_FALSE(leader->rejoin());
  EXPECT_EQ(leader->durable_position(), 5u);
  got.clear();
  ASSERT_FALSE(leader->follow(collect));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], (std::pair<std::uint64_t, std::string>{6, "b6"}));
  // And the whole log, as a new reader replays it: the mark holds no record.
  auto reader = open_log(o);
  ASSERT_TRUE(reader);
  const auto all = replayed(*reader, 1);
  ASSERT_EQ(all.size(), 6u);
  EXPECT_EQ(all[5].second, "b6");
}

// Counts watch()'s wake-ups, and waits for them.
class Wakes {
 public:
  std::function<void()> callback() {
    return [this] {
      std::lock_guard lock(mutex_);
      ++count_;
      changed_.notify_all();
    };
  }
  // True once `n` wake-ups came (within `timeout`).
  bool wait_for(std::uint64_t n, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return count_ >= n; });
  }
  std::uint64_t count() {
    std::lock_guard lock(mutex_);
    return count_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::uint64_t count_ = 0;
};

// Syncs `groups` groups of one record each ("<tag><n>", n from `first`): one message each.
void write_groups(JetStreamLog& log, const std::string& tag, int first, int groups) {
  for (int n = first; n < first + groups; ++n) {
    ASSERT_TRUE(log.append(tag + std::to_string(n)));
    ASSERT_FALSE(log.sync());
  }
}

// A follower that watches is fed: every message comes with its wake-up, and follow()
// takes them all without a request to the stream.
TEST_F(JetStreamLogTest, AWatchingFollowerIsFedEveryMessageAndWokenForIt) {
  const JetStreamLogOptions o = options_for(server_);
  auto leader = open_log(o);
  ASSERT_TRUE(leader);
  write_groups(*leader, "a", 1, 3);
  auto standby = open_log(o);
  ASSERT_TRUE(standby);
  Wakes wakes;
  ASSERT_FALSE(standby->watch(wakes.callback()));
  EXPECT_TRUE(standby->watching());
  write_groups(*leader, "a", 4, 30);
  ASSERT_TRUE(wakes.wait_for(30)) << wakes.count() << " wake-ups";
  std::vector<std::string> got;
  ASSERT_FALSE(standby->follow([&](std::uint64_t p, std::string_view r) {
    EXPECT_EQ(p, got.size() + 4);
    got.emplace_back(r);
  }));
  ASSERT_EQ(got.size(), 30u);
  for (std::size_t k = 0; k < got.size(); ++k) EXPECT_EQ(got[k], "a" + std::to_string(k + 4));
  EXPECT_EQ(standby->durable_position(), 33u);
  EXPECT_EQ(standby->followed_fed(), 30u);
  EXPECT_EQ(standby->followed_read(), 0u) << "the feed had every message";
  standby->unwatch();
  EXPECT_FALSE(standby->watching());
}

// Deliveries past the fed queue's bound are dropped; follow() reads what the feed
// missed from the stream, so every record still comes once, in order.
TEST_F(JetStreamLogTest, WhatTheFeedDroppedIsReadFromTheStreamOnceInOrder) {
  JetStreamLogOptions o = options_for(server_);
  auto leader = open_log(o);
  ASSERT_TRUE(leader);
  o.fed_bytes_max = 5 * (12 + 4 + 3);  // five of the messages below
  auto standby = open_log(o);
  ASSERT_TRUE(standby);
  Wakes wakes;
  ASSERT_FALSE(standby->watch(wakes.callback()));
  std::vector<std::pair<std::uint64_t, std::string>> got;
  const auto collect = [&](std::uint64_t p, std::string_view r) { got.emplace_back(p, r); };
  for (int round = 0; round < 3; ++round) {
    write_groups(*leader, "b", 10 + 20 * round, 20);  // "b10".."b69": 3 bytes each
    ASSERT_TRUE(wakes.wait_for(20 * (round + 1)));
    ASSERT_FALSE(standby->follow(collect));
  }
  ASSERT_EQ(got.size(), 60u);
  for (std::size_t k = 0; k < got.size(); ++k) {
    EXPECT_EQ(got[k].first, k + 1);
    EXPECT_EQ(got[k].second, "b" + std::to_string(k + 10));
  }
  EXPECT_EQ(standby->followed_fed(), 15u) << "five a round fit the queue";
  EXPECT_EQ(standby->followed_read(), 45u);
}

// A feed that starts past where this node is (the stream was trimmed past it meanwhile)
// is a gap the stream cannot fill: follow() says so, naming the way out, and applies
// nothing after the hole.
TEST_F(JetStreamLogTest, AFeedPastATrimIsAClearErrorNotRecordsAfterAHole) {
  const JetStreamLogOptions o = options_for(server_);
  auto leader = open_log(o);
  ASSERT_TRUE(leader);
  write_groups(*leader, "e", 1, 3);
  auto standby = open_log(o);
  ASSERT_TRUE(standby);
  write_groups(*leader, "e", 4, 17);
  ASSERT_FALSE(leader->trim_before(15));  // a message a record: 1..14 go
  ASSERT_EQ(leader->first_position(), 15u);
  Wakes wakes;
  ASSERT_FALSE(standby->watch(wakes.callback()));  // from message 4, gone: 15 comes first
  ASSERT_TRUE(wakes.wait_for(6));
  std::vector<std::string> got;
  const auto error =
      standby->follow([&](std::uint64_t, std::string_view r) { got.emplace_back(r); });
  ASSERT_TRUE(error);
  EXPECT_NE(error->find("were trimmed"), std::string::npos) << *error;
  EXPECT_NE(error->find("start it from a newer checkpoint"), std::string::npos) << *error;
  EXPECT_TRUE(got.empty()) << got.size() << " records applied past the hole";
  EXPECT_EQ(standby->durable_position(), 3u);
}

// A leader has no feed (its own messages would only come back): take_over() ends it, and
// the follow() of a node that follows again starts it from where that node is.
TEST_F(JetStreamLogTest, TakingOverEndsTheFeedAndFollowingAgainStartsIt) {
  const JetStreamLogOptions o = options_for(server_);
  auto first = open_log(o);
  ASSERT_TRUE(first);
  write_groups(*first, "c", 1, 2);
  auto second = open_log(o);
  ASSERT_TRUE(second);
  Wakes wakes;
  ASSERT_FALSE(second->watch(wakes.callback()));
  ASSERT_TRUE(second->watching());
  std::vector<std::string> got;
  const auto collect = [&](std::uint64_t, std::string_view r) { got.emplace_back(r); };
  ASSERT_FALSE(second->take_over(collect));
  EXPECT_FALSE(second->watching());
  write_groups(*second, "c", 3, 5);
  EXPECT_EQ(second->followed_fed() + second->followed_read(), 0u);

  // A third node takes over; the second, fenced, rejoins and follows it, fed again.
  auto third = open_log(o);
  ASSERT_TRUE(third);
  ASSERT_FALSE(third->take_over(collect));
  ASSERT_TRUE(second->append("lost"));
  ASSERT_TRUE(second->sync());
  ASSERT_FALSE(second->rejoin());
  EXPECT_FALSE(second->watching());
  ASSERT_FALSE(second->follow(collect));
  EXPECT_TRUE(second->watching());
  // (The new feed may deliver again what that follow() read: a wake-up each, skipped.)
  const std::uint64_t fed_before = second->followed_fed();
  write_groups(*third, "d", 1, 10);
  got.clear();
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (got.size() < 10 && std::chrono::steady_clock::now() < until) {
    const std::uint64_t woken = wakes.count();
    ASSERT_FALSE(second->follow(collect));
    if (got.size() < 10) wakes.wait_for(woken + 1, std::chrono::milliseconds(100));
  }
  ASSERT_EQ(got.size(), 10u);
  for (int n = 1; n <= 10; ++n) EXPECT_EQ(got[n - 1], "d" + std::to_string(n));
  EXPECT_EQ(second->durable_position(), 17u);
  EXPECT_GE(second->followed_fed() - fed_before, 5u) << "the feed brought most";
}

TEST_F(JetStreamLogTest, GroupsComeBackInOrderFromAnyPositionAfterAReopen) {
  const std::uint64_t seed = test::seed_from_env();
  std::mt19937_64 rng(seed);
  std::vector<std::string> records;
  {
    auto log = open_log(options_for(server_));
    ASSERT_TRUE(log);
    EXPECT_EQ(log->first_position(), 1u);
    EXPECT_EQ(log->durable_position(), 0u);
    for (int group = 0; group < 40; ++group) {
      // Empty records, small ones, and now and then a group past one message's bound.
      const int count = group % 10 == 9 ? 300 : 1 + static_cast<int>(rng() % 20);
      for (int i = 0; i < count; ++i) {
        std::string r(rng() % 700, '\0');
        for (char& c : r) c = static_cast<char>(rng());
        const auto position = log->append(r);
        ASSERT_TRUE(position);
        records.push_back(r);
        EXPECT_EQ(*position, records.size());
      }
      EXPECT_EQ(log->durable_position(), records.size() - count) << "not durable before sync";
      const auto synced = log->sync();
      ASSERT_FALSE(synced) << *synced << ", group " << group << ", seed " << seed;
      EXPECT_EQ(log->durable_position(), records.size());
    }
  }
  auto log = open_log(options_for(server_));
  ASSERT_TRUE(log);
  EXPECT_EQ(log->durable_position(), records.size());
  EXPECT_GT(log->bytes(), 0u);
  for (std::uint64_t from : {std::uint64_t{1}, std::uint64_t{2}, records.size() / 2, records.size(),
                             records.size() + 1}) {
    const auto got = replayed(*log, from);
    ASSERT_EQ(got.size(), records.size() + 1 - from) << "from " << from << ", seed " << seed;
    for (std::size_t k = 0; k < got.size(); ++k) {
      ASSERT_EQ(got[k].first, from + k);
      ASSERT_EQ(got[k].second, records[from + k - 1]) << "position " << from + k;
    }
  }
  EXPECT_TRUE(log->replay(records.size() + 2, [](std::uint64_t, std::string_view) {}));
  // And the positions go on after the reopen.
  ASSERT_EQ(log->append("next"), records.size() + 1);
  ASSERT_FALSE(log->sync());
  EXPECT_EQ(replayed(*log, records.size() + 1).at(0).second, "next");
}

TEST_F(JetStreamLogTest, TrimmingPurgesWholeMessagesAndKeepsTheLast) {
  auto log = open_log(options_for(server_));
  ASSERT_TRUE(log);
  for (int group = 0; group < 10; ++group) {
    for (int i = 0; i < 5; ++i) {
      std::string record = "r";
      record += std::to_string(group * 5 + i + 1);
      ASSERT_TRUE(log->append(record));
    }
    ASSERT_FALSE(log->sync());
  }
  ASSERT_FALSE(log->trim_before(23));  // groups of 5: 21..25 holds 23
  EXPECT_EQ(log->first_position(), 21u);
  EXPECT_TRUE(log->replay(20, [](std::uint64_t, std::string_view) {}))
      << "what was trimmed cannot be replayed";
  EXPECT_EQ(replayed(*log, 21).front().second, "r21");
  ASSERT_FALSE(log->trim_before(1000));  // past the end: the last message stays
  EXPECT_EQ(log->first_position(), 46u);
  auto again = open_log(options_for(server_));
  ASSERT_TRUE(again);
  EXPECT_EQ(again->first_position(), 46u);
  EXPECT_EQ(again->durable_position(), 50u);
  EXPECT_EQ(again->append("r51"), 51u) << "positions go on past a trim";
}

TEST_F(JetStreamLogTest, ASecondWriterFencesTheFirstWhichStaysFailed) {
  auto first = open_log(options_for(server_));
  ASSERT_TRUE(first);
  ASSERT_TRUE(first->append("a"));
  ASSERT_FALSE(first->sync());
  auto second = open_log(options_for(server_));
  ASSERT_TRUE(second);
  ASSERT_EQ(second->append("b"), 2u);
  ASSERT_FALSE(second->sync());
  ASSERT_TRUE(first->append("c"));
  const auto error = first->sync();
  ASSERT_TRUE(error) << "the fenced writer's group must not be acknowledged";
  EXPECT_NE(error->find("another writer took the log"), std::string::npos) << *error;
  EXPECT_FALSE(first->append("d")) << "sticky";
  EXPECT_TRUE(first->sync());
  const auto got = replayed(*second, 1);
  ASSERT_EQ(got.size(), 2u) << "only the first writer's acknowledged record and the second's";
  EXPECT_EQ(got[0].second, "a");
  EXPECT_EQ(got[1].second, "b");
}

TEST_F(JetStreamLogTest, PastTheDuplicateWindowTheExpectedSequenceStillFencesTheFirstWriter) {
  // The first writer's next group starts at the position the second writer's did, so
  // within the window JetStream drops it as a duplicate (the test above); past it, only the
  // expected last sequence stops it.
  JetStreamLogOptions o = options_for(server_);
  o.duplicate_window_ms = 200;
  auto first = open_log(o);
  ASSERT_TRUE(first);
  ASSERT_TRUE(first->append("a"));
  ASSERT_FALSE(first->sync());
  auto second = open_log(o);
  ASSERT_TRUE(second);
  ASSERT_TRUE(second->append("b"));
  ASSERT_FALSE(second->sync());
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  ASSERT_TRUE(first->append("c"));
  const auto error = first->sync();
  ASSERT_TRUE(error);
  EXPECT_NE(error->find("has messages this writer did not write"), std::string::npos) << *error;
  const auto got = replayed(*second, 1);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1].second, "b");
}

TEST_F(JetStreamLogTest, AForeignMessageLastInTheStreamStopsTheOpenSayingWhich) {
  {
    auto log = open_log(options_for(server_));
    ASSERT_TRUE(log);
    ASSERT_TRUE(log->append("a"));
    ASSERT_FALSE(log->sync());
  }
  ASSERT_TRUE(publish_raw(server_.url(), "bonus.log", "hello"));  // another client's
  auto opened = JetStreamLog::open(options_for(server_));
  ASSERT_TRUE(std::holds_alternative<std::string>(opened));
  EXPECT_NE(std::get<std::string>(opened).find("message 2 of stream BONUS_LOG is not a log "
                                               "message (5 bytes)"),
            std::string::npos)
      << std::get<std::string>(opened);
}

TEST_F(JetStreamLogTest, AMessageShorterThanItsRecordsIsAReplayErrorNotARecord) {
  auto log = open_log(options_for(server_));
  ASSERT_TRUE(log);
  ASSERT_TRUE(log->append("a"));
  ASSERT_FALSE(log->sync());
  // A header for positions 2..4 whose first record says 100 bytes and has 3.
  std::string forged(12 + 4 + 3, '\0');
  const std::uint64_t first = 2;
  const std::uint32_t count = 3;
  const std::uint32_t size = 100;
  std::memcpy(forged.data(), &first, 8);
  std::memcpy(forged.data() + 8, &count, 4);
  std::memcpy(forged.data() + 12, &size, 4);
  ASSERT_TRUE(publish_raw(server_.url(), "bonus.log", forged));
  auto reopened = open_log(options_for(server_));
  ASSERT_TRUE(reopened);
  EXPECT_EQ(reopened->durable_position(), 4u) << "the forged header is read as it says";
  std::vector<std::string> got;
  const auto error =
      reopened->replay(1, [&](std::uint64_t, std::string_view r) { got.emplace_back(r); });
  ASSERT_TRUE(error) << "a forged message must not replay";
  EXPECT_NE(error->find("message 2 of stream BONUS_LOG ends inside record 2"), std::string::npos)
      << *error;
  EXPECT_EQ(got, std::vector<std::string>{"a"}) << "only the real record before it";
}

TEST_F(JetStreamLogTest, ASyncWithTheServerGoneFailsAndStaysFailed) {
  auto log = open_log(options_for(server_));
  ASSERT_TRUE(log);
  ASSERT_TRUE(log->append("a"));
  ASSERT_FALSE(log->sync());
  server_.kill();
  ASSERT_TRUE(log->append("b"));
  const auto error = log->sync();
  ASSERT_TRUE(error);
  EXPECT_NE(error->find("jetstream"), std::string::npos) << *error;
  EXPECT_EQ(log->durable_position(), 1u) << "what failed is not durable";
  EXPECT_TRUE(log->sync()) << "sticky";
}

TEST_F(JetStreamLogTest, AListOfServersIsTriedInTurn) {
  JetStreamLogOptions o = options_for(server_);
  o.urls = "nats://127.0.0.1:1," + server_.url();  // the first answers nothing
  auto log = open_log(o);
  ASSERT_TRUE(log);
  ASSERT_TRUE(log->append("a"));
  EXPECT_FALSE(log->sync());
}

TEST(JetStreamLog, NoServerIsAClearErrorAtOpen) {
  JetStreamLogOptions o;
  o.urls = "nats://127.0.0.1:1";
  o.wait_ms = 500;
  auto opened = JetStreamLog::open(o);
  ASSERT_TRUE(std::holds_alternative<std::string>(opened));
  EXPECT_NE(std::get<std::string>(opened).find("connect to nats://127.0.0.1:1"), std::string::npos)
      << std::get<std::string>(opened);
}

}  // namespace
}  // namespace bonus::server
