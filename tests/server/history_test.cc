// Statements end to end, against real bonusd processes over TCP with real LMDB files:
// what a statement says after credits, spends, refunds and expiry; paging; an order's
// view; no event lost or doubled across SIGKILL restarts with checkpoints trimming the
// journal; retention trimming; the gap left when history was off; history off; and a
// history of format 1 upgraded when bonusd starts on it.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "tests/server/bonusd_process.h"
#include "tests/server/client_of.h"
#include "tests/server/history_raw.h"

namespace bonus::test {
namespace {

using K = LedgerEvent::Kind;

std::unique_ptr<client::Client> connect(const BonusdProcess& server) {
  std::string error;
  auto c = client_of(server, error);
  EXPECT_TRUE(c) << error;
  return c;
}

// A checkpoint writes history first: after it every event so far is readable.
void flush(client::Client& c) {
  const auto status = c.admin(protocol::AdminAction::checkpoint);
  ASSERT_TRUE(status.ok()) << status.message;
  ASSERT_TRUE(status.value.ok) << status.value.message;
}

// Every event of an account, newest first, following the cursor with pages of `limit`.
std::vector<HistoryEntry> statement(client::Client& c, SellerId s, BuyerId b,
                                    std::uint32_t limit = 1000) {
  std::vector<HistoryEntry> out;
  HistoryCursor from;
  for (;;) {
    const auto page = c.history(s, b, limit, from);
    EXPECT_TRUE(page.ok()) << page.message;
    if (!page.ok()) return out;
    EXPECT_LE(page.value.entries.size(), limit);
    out.insert(out.end(), page.value.entries.begin(), page.value.entries.end());
    if (page.value.done) return out;
    from = page.value.next;
  }
}

Credit credit(std::uint64_t id, SellerId s, BuyerId b, Amount amount,
              LotLife life = LotLife::forever(), CampaignId campaign = 0) {
  Credit c;
  c.id = Id128{0x415, id};
  c.seller = s;
  c.buyer = b;
  c.amount = amount;
  c.campaign = campaign;
  c.life = life;
  return c;
}

TEST(History, StatementAfterCreditSpendRefundAndExpiry) {
  BonusdProcess server;
  ASSERT_TRUE(server.start({"--test-clock", "--sweep-interval-ms", "10"})) << server.log();
  auto c = connect(server);
  ASSERT_TRUE(c);
  Credit gift = credit(1, 1, 2, 100, LotLife::ttl_of(kUsPerHour), 7);
  gift.reason = 4;
  ASSERT_TRUE(c->write(gift).value.ok());
  ASSERT_TRUE(c->write(credit(2, 1, 2, 50)).value.ok());
  ASSERT_TRUE(c->write(Spend{Id128{0x415, 3}, 9, 1, 2, 30, 100'000}).value.ok());
  ASSERT_TRUE(c->write(Refund{Id128{0x415, 4}, 9, 10}).value.ok());
  ASSERT_TRUE(c->admin(protocol::AdminAction::clock_advance, 2 * kUsPerHour).value.ok);
  flush(*c);

  const auto events = statement(*c, 1, 2);
  std::vector<std::pair<K, Amount>> got;
  for (const HistoryEntry& h : events) got.emplace_back(h.event.kind, h.event.amount);
  // Newest first: the sweep's expiry of what is left of the gift (the spend took 30 of
  // it, the refund gave 10 back), the refund, the spend, the credits.
  EXPECT_EQ(got, (std::vector<std::pair<K, Amount>>{{K::expired, 80},
                                                     {K::refunded, 10},
                                                     {K::spent, 30},
                                                     {K::held, 30},
                                                     {K::credited, 50},
                                                     {K::credited, 100}}));
  ASSERT_EQ(events.size(), 6u);
  EXPECT_EQ(events[0].event.balance_after, 50u);
  EXPECT_EQ(events[0].event.ref, 7u);
  EXPECT_EQ(events[0].event.ref_kind, LedgerEvent::Ref::campaign);
  EXPECT_EQ(events[1].event.balance_after, 130u);
  EXPECT_EQ(events[5].event.reason, 4u);
  EXPECT_EQ(c->balance(1, 2).value.account.available, events[0].event.balance_after);
  for (std::size_t i = 1; i < events.size(); ++i) {
    EXPECT_GE(events[i - 1].event.time_us, events[i].event.time_us);
  }

  const auto order = c->order(9, 0);
  ASSERT_TRUE(order.ok()) << order.message;
  std::vector<K> kinds;
  for (const HistoryEntry& h : order.value.entries) kinds.push_back(h.event.kind);
  EXPECT_EQ(kinds, (std::vector<K>{K::held, K::spent, K::refunded}));
  EXPECT_TRUE(order.value.done);
  EXPECT_GT(order.value.position, 0u);
  EXPECT_EQ(order.value.complete_from, 0u);
}

TEST(History, PagesFollowTheCursorAndAreBounded) {
  BonusdProcess server;
  ASSERT_TRUE(server.start({"--shards", "2"})) << server.log();
  auto c = connect(server);
  ASSERT_TRUE(c);
  std::vector<Credit> batch;
  for (std::uint64_t i = 1; i <= 1500; ++i) {
    batch.push_back(credit(i, 3, 4, 1, LotLife::forever(), i));  // campaign i names it
  }
  const auto written = c->write_batch(std::span<const Credit>(batch));
  ASSERT_TRUE(written.ok()) << written.message;
  flush(*c);
  // Asked for more than a page may hold, the server answers 1000.
  const auto first = c->history(3, 4, 100'000);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first.value.entries.size(), 1000u);
  EXPECT_FALSE(first.value.done);
  for (std::uint32_t limit : {1u, 7u, 1000u}) {
    const auto all = statement(*c, 3, 4, limit);
    ASSERT_EQ(all.size(), 1500u) << "limit " << limit;
    // Newest first: the campaigns (1..1500, credited in order) come back 1500..1.
    for (std::size_t i = 0; i < all.size(); ++i) {
      ASSERT_EQ(all[i].event.ref, 1500 - i) << "limit " << limit;
      ASSERT_EQ(all[i].event.balance_after, 1500 - i) << "limit " << limit;
    }
  }
  EXPECT_TRUE(statement(*c, 3, 5).empty());
}

// Random credits and spends over a few accounts while bonusd is SIGKILLed at random
// moments, with checkpoints every 2000 records (so the journal behind them goes).
// After each restart every account's events, oldest first, add up to its balance and
// none repeats: nothing lost, nothing doubled.
TEST(History, NoEventLostOrDoubledAcrossSigkillRestarts) {
  const std::uint64_t seed = std::random_device{}();
  std::printf("seed %llu\n", static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  BonusdProcess server;
  // History is written every second and at checkpoints (every 2000 records here): a kill
  // finds it ahead of the checkpoint as often as level with it.
  const std::vector<std::string> args = {"--shards", "2", "--checkpoint-records", "2000",
                                         "--checkpoint-interval-s", "0"};
  constexpr BuyerId kBuyers = 6;
  std::atomic<std::uint64_t> next_id{1};
  for (int round = 0; round < 3; ++round) {
    ASSERT_TRUE(server.start(args)) << server.log();
    std::atomic<bool> stop{false};
    std::atomic<std::uint64_t> acknowledged{0};
    std::thread writer([&] {
      auto c = connect(server);
      if (!c) return;
      std::mt19937_64 r(seed + round);
      while (!stop) {
        std::vector<Credit> batch;
        for (int i = 0; i < 50; ++i) {
          batch.push_back(credit(next_id++, 1, 1 + r() % kBuyers, 1 + r() % 20));
        }
        if (!c->write_batch(std::span<const Credit>(batch)).ok()) return;
        const Spend spend{Id128{0x5BE, next_id}, next_id, 1, 1 + r() % kBuyers, 1 + r() % 5,
                          1'000'000};
        ++next_id;
        if (!c->write(spend).ok()) return;
        acknowledged += 51;
      }
    });
    for (int i = 0; i < 500 && acknowledged < 100; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500 + rng() % 2000));
    EXPECT_EQ(server.stop(SIGKILL), 128 + SIGKILL);
    stop = true;
    writer.join();

    ASSERT_TRUE(server.start(args)) << server.log();
    auto c = connect(server);
    ASSERT_TRUE(c);
    flush(*c);
    for (BuyerId b = 1; b <= kBuyers; ++b) {
      const auto events = statement(*c, 1, b);
      std::set<std::pair<std::uint64_t, std::uint32_t>> seen;
      std::int64_t balance = 0;
      for (auto e = events.rbegin(); e != events.rend(); ++e) {
        ASSERT_TRUE(seen.emplace(e->position, e->index).second)
            << "seed " << seed << " round " << round << ": event at " << e->position << ":"
            << e->index << " twice";
        const auto amount = static_cast<std::int64_t>(e->event.amount);
        balance += e->event.kind == K::credited ? amount : e->event.kind == K::held ? -amount : 0;
        ASSERT_EQ(balance, e->event.balance_after)
            << "seed " << seed << " round " << round << " buyer " << b << ": an event is "
            << "missing before position " << e->position;
      }
      const auto view = c->balance(1, b);
      ASSERT_TRUE(view.ok());
      EXPECT_EQ(static_cast<std::uint64_t>(balance), view.value.account.available)
          << "seed " << seed << " round " << round << " buyer " << b;
    }
    EXPECT_EQ(server.stop(SIGTERM), 0) << server.log();
  }
}

// More events than the checkpointer keeps in memory (65,536) between two writes of
// history, then SIGKILL before any checkpoint: history is written in parts as they come
// and the rest is replayed from the journal at the restart, each event once.
TEST(History, MoreEventsThanThePendingBoundSurviveSigkill) {
  BonusdProcess server;
  const std::vector<std::string> args = {"--checkpoint-records", "0", "--checkpoint-interval-s",
                                         "0"};
  ASSERT_TRUE(server.start(args)) << server.log();
  auto c = connect(server);
  ASSERT_TRUE(c);
  constexpr std::uint64_t kAccounts = 700, kEach = 100;
  std::vector<Credit> batch;
  for (std::uint64_t i = 0; i < kAccounts * kEach; ++i) {
    batch.push_back(credit(i + 1, 9, 1 + i % kAccounts, 1 + i % 3));
  }
  const auto written = c->write_batch(std::span<const Credit>(batch));
  ASSERT_TRUE(written.ok()) << written.message;
  c.reset();
  EXPECT_EQ(server.stop(SIGKILL), 128 + SIGKILL);
  ASSERT_TRUE(server.start(args)) << server.log();
  c = connect(server);
  ASSERT_TRUE(c);
  flush(*c);
  for (BuyerId b = 1; b <= kAccounts; ++b) {
    const auto events = statement(*c, 9, b);
    ASSERT_EQ(events.size(), kEach) << "buyer " << b;
    Amount sum = 0;
    for (const HistoryEntry& h : events) sum += h.event.amount;
    ASSERT_EQ(sum, c->balance(9, b).value.account.available) << "buyer " << b;
    ASSERT_EQ(sum, events.front().event.balance_after) << "buyer " << b;
  }
}

// `admin checkpoint` covers every write acknowledged before it, so history (written before
// each checkpoint) holds a write as soon as the checkpoint after its acknowledgement
// answers. Regression: the sequencer once fed the replicas after the shards, and a
// checkpoint requested right after an acknowledgement could miss the write (seen in CI as
// RetentionTrimsOldEventsInTheBackground finding no event).
TEST(History, CheckpointCoversAcknowledgedWrites) {
  constexpr auto kBulkPoll = std::chrono::microseconds(100);
  BonusdProcess server;
  ASSERT_TRUE(server.start()) << server.log();
  auto c = connect(server);
  ASSERT_TRUE(c);
  // Another client's credits keep the sequencer, the shards and the replicas busy, so
  // that a checkpoint request would overtake a write's batch if the order allowed it:
  // a batch a round, at most one round ahead (a checkpoint waits for the replicas to
  // apply all before it, so the load must not outrun them, under TSan either).
  std::atomic<bool> done{false};
  std::atomic<std::uint32_t> round{0};
  std::thread bulk([&] {
    auto other = connect(server);
    std::vector<Credit> batch;
    for (std::uint32_t k = 0; other && !done.load(); ++k) {
      while (round.load() + 1 < k && !done.load()) std::this_thread::sleep_for(kBulkPoll);
      batch.clear();
      for (std::uint64_t j = 0; j < 500; ++j) {
        batch.push_back(credit(1'000'000 + k * 500ull + j, 3, 1 + j, 1));
      }
      if (!other->write_batch(std::span<const Credit>(batch)).ok()) return;
    }
  });
  struct Join {
    std::atomic<bool>& done;
    std::thread& thread;
    ~Join() {
      done = true;
      thread.join();
    }
  } join{done, bulk};
  constexpr std::uint32_t kRounds = 300;
  for (std::uint32_t i = 1; i <= kRounds; ++i) {
    round = i;
    ASSERT_TRUE(c->write(credit(i, 1, 2, 1)).value.ok());
    flush(*c);
    const auto page = c->history(1, 2, 1);
    ASSERT_TRUE(page.ok()) << page.message;
    ASSERT_EQ(page.value.entries.size(), 1u) << "round " << i;
    // Newest first: the write just acknowledged, with the balance it left.
    ASSERT_EQ(page.value.entries[0].event.balance_after, i) << "round " << i;
  }
}

TEST(History, RetentionTrimsOldEventsInTheBackground) {
  BonusdProcess server;
  ASSERT_TRUE(server.start({"--test-clock", "--history-retention-days", "1"})) << server.log();
  auto c = connect(server);
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->write(credit(1, 1, 2, 100)).value.ok());
  ASSERT_TRUE(c->write(credit(2, 1, 3, 100)).value.ok());
  flush(*c);
  ASSERT_EQ(statement(*c, 1, 2).size(), 1u);
  ASSERT_TRUE(c->admin(protocol::AdminAction::clock_advance, 2 * kUsPerDay).value.ok);
  ASSERT_TRUE(c->write(credit(3, 1, 2, 5)).value.ok());
  flush(*c);
  const auto events = statement(*c, 1, 2);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].event.amount, 5u);
  EXPECT_TRUE(statement(*c, 1, 3).empty());
  const auto page = c->history(1, 2, 10);
  EXPECT_GT(page.value.trimmed_before_us, 0);

  // A restart with a longer retention keeps what is left.
  EXPECT_EQ(server.stop(SIGTERM), 0);
  ASSERT_TRUE(server.start({"--test-clock", "--history-retention-days", "400"})) << server.log();
  c = connect(server);
  ASSERT_TRUE(c);
  EXPECT_EQ(statement(*c, 1, 2).size(), 1u);
}

TEST(History, OffIsRefusedWithAReasonAndTurningItOnLaterMarksTheGap) {
  BonusdProcess server;
  ASSERT_TRUE(server.start({"--history", "off"})) << server.log();
  auto c = connect(server);
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->write(credit(1, 1, 2, 100)).value.ok());
  auto page = c->history(1, 2, 10);
  EXPECT_EQ(page.error, protocol::FrameError::history_unavailable);
  EXPECT_NE(page.message.find("--history off"), std::string::npos) << page.message;
  flush(*c);
  EXPECT_EQ(server.stop(SIGTERM), 0);

  ASSERT_TRUE(server.start()) << server.log();
  c = connect(server);
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->write(credit(2, 1, 2, 7)).value.ok());
  flush(*c);
  page = c->history(1, 2, 10);
  ASSERT_TRUE(page.ok()) << page.message;
  ASSERT_EQ(page.value.entries.size(), 1u);  // the first credit came while history was off
  EXPECT_EQ(page.value.entries[0].event.balance_after, 107u);
  EXPECT_GT(page.value.complete_from, 1u);
  EXPECT_LE(page.value.complete_from, page.value.entries[0].position);
  EXPECT_EQ(server.stop(SIGTERM), 0);

  ASSERT_TRUE(server.start({"--checkpoint", "off"})) << server.log();
  c = connect(server);
  ASSERT_TRUE(c);
  page = c->order(1, 10);
  EXPECT_EQ(page.error, protocol::FrameError::history_unavailable);
  EXPECT_NE(page.message.find("--checkpoint off"), std::string::npos) << page.message;
}

// A data directory whose history bonusd wrote in format 1 (before 2026-12-03): the next
// start upgrades it in place, says so in its log, and every statement reads as before;
// new events go on after it.
TEST(History, AFormat1HistoryIsUpgradedAtStartAndReadsAsBefore) {
  BonusdProcess server;
  ASSERT_TRUE(server.start()) << server.log();
  auto c = connect(server);
  ASSERT_TRUE(c);
  for (std::uint64_t i = 1; i <= 30; ++i) {
    ASSERT_TRUE(c->write(credit(i, 1, 100 + i % 3, 10 * i)).value.ok());
  }
  for (OrderId order = 1; order <= 5; ++order) {
    ASSERT_TRUE(
        c->write(Hold{Id128{0x416, order}, order, 1, 100 + order % 3, 5, 100'000}).value.ok());
    ASSERT_TRUE(c->write(Capture{Id128{0x417, order}, order, 5}).value.ok());
  }
  flush(*c);
  std::map<BuyerId, std::vector<HistoryEntry>> before;
  for (BuyerId b = 100; b < 103; ++b) before[b] = statement(*c, 1, b);
  const auto order_before = c->order(3, 100);
  ASSERT_TRUE(order_before.ok()) << order_before.message;
  ASSERT_EQ(order_before.value.entries.size(), 2u);  // held, spent
  c.reset();
  ASSERT_EQ(server.stop(SIGTERM), 0) << server.log();

  server::downgrade_to_format_1(server.data_dir() + "/history");
  ASSERT_TRUE(server.start()) << server.log();
  EXPECT_NE(server.log().find("upgraded from format 1 to 2"), std::string::npos) << server.log();
  c = connect(server);
  ASSERT_TRUE(c);
  for (BuyerId b = 100; b < 103; ++b) EXPECT_EQ(statement(*c, 1, b), before[b]) << "buyer " << b;
  const auto order_after = c->order(3, 100);
  ASSERT_TRUE(order_after.ok()) << order_after.message;
  EXPECT_EQ(order_after.value.entries, order_before.value.entries);
  ASSERT_TRUE(c->write(credit(31, 1, 100, 7)).value.ok());
  flush(*c);
  const auto after = statement(*c, 1, 100);
  ASSERT_EQ(after.size(), before[100].size() + 1);
  EXPECT_EQ(after[0].event.amount, 7u);
  EXPECT_EQ(server.stop(SIGTERM), 0) << server.log();
}

}  // namespace
}  // namespace bonus::test
