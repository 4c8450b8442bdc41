// Short reads served on the network thread while their shard's thread is idle
// (Shard::read_here_or_queue), against a real bonusd: they are counted
// (bonus_reads_on_network_thread_total), long reads never are, and every read, served
// there or by the shard, sees every write acknowledged before it, also while a mailing
// keeps the shards busy (run under TSan in CI: the ledger is shared by two threads here).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <random>
#include <span>
#include <thread>
#include <vector>

#include "tests/server/client_of.h"
#include "tests/server/http_get.h"

namespace bonus::test {
namespace {

constexpr SellerId kSeller = 3;

double reads_here(const BonusdProcess& server) {
  return scraped_metric(server.metrics_port(), "bonus_reads_on_network_thread_total");
}

Credit credit_of(std::uint64_t id, BuyerId buyer, Amount amount) {
  return Credit{Id128{11, id}, kSeller, buyer, amount, 0, LotLife::forever()};
}

// A bonusd with its metrics endpoint, and a client of it.
class ReadsOnTheNetworkThread : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server.start({"--metrics-listen", "127.0.0.1:0"})) << server.log();
    client = connect();
    ASSERT_TRUE(client);
  }
  std::unique_ptr<client::Client> connect() {
    std::string error;
    auto c = client_of(server, error);
    EXPECT_TRUE(c) << error;
    return c;
  }

  BonusdProcess server;
  std::unique_ptr<client::Client> client;
};

TEST_F(ReadsOnTheNetworkThread, AnIdleShardsShortReadsAreServedThereLongOnesNever) {
  ASSERT_TRUE(client->write(credit_of(1, 42, 700)).ok());

  // An idle server: nothing holds the shard's thread, so the short reads are served on
  // the network thread (a sweep tick could take one away: most, then, not all).
  const double before = reads_here(server);
  const std::vector<CartLine> lines = {{kSeller, 100'000}, {kSeller + 1, 1'000}, {kSeller + 2, 5}};
  for (int i = 0; i < 20; ++i) {
    const auto b = client->balance(kSeller, 42);
    ASSERT_TRUE(b.ok()) << b.message;
    EXPECT_EQ(b.value.account.available, 700u);
    const auto c = client->cart(42, lines, 0);
    ASSERT_TRUE(c.ok()) << c.message;
    ASSERT_EQ(c.value.size(), 3u);
    EXPECT_EQ(c.value[0].available, 700u);
  }
  const double short_reads = reads_here(server) - before;
  EXPECT_GE(short_reads, 30) << "of 40 short reads on an idle server";
  EXPECT_LE(short_reads, 40);

  // With lots, or more than 16 accounts, or a wallet: the shard's thread, always.
  const double middle = reads_here(server);
  std::vector<protocol::AccountKey> many;
  for (BuyerId b = 1; b <= 17; ++b) many.push_back({kSeller, b});
  for (int i = 0; i < 10; ++i) {
    const auto lots = client->balance(kSeller, 42, true);
    ASSERT_TRUE(lots.ok()) << lots.message;
    EXPECT_EQ(lots.value.lots.size(), 1u);
    ASSERT_TRUE(client->balances(many).ok());
    ASSERT_TRUE(client->wallet(42).ok());
  }
  EXPECT_EQ(reads_here(server), middle);
}

TEST_F(ReadsOnTheNetworkThread, EveryReadSeesEveryAcknowledgedWriteWhileAMailingGoesIn) {
  auto& writer = client;
  auto mailer = connect();
  ASSERT_TRUE(mailer);

  // A mailing to other buyers keeps the shards' threads busy (so reads go both ways)
  // until the checks are done.
  std::atomic<bool> done{false};
  std::atomic<std::uint64_t> mailed{0};
  std::thread mailing([&] {
    std::uint64_t id = 1'000'000;
    while (!done) {
      std::vector<Credit> batch;
      for (int i = 0; i < 2'000; ++i, ++id) batch.push_back(credit_of(id, 1'000 + id % 50'000, 1));
      if (mailer->write_batch(std::span<const Credit>(batch)).ok()) mailed += batch.size();
    }
  });

  const std::uint64_t seed = std::random_device{}();
  std::printf("seed %llu\n", static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  const double before = reads_here(server);
  Amount expected = 0;
  const std::vector<CartLine> lines = {{kSeller, 1'000'000}};
  for (std::uint64_t k = 1; k <= 300; ++k) {
    const Amount amount = 1 + rng() % 50;
    const auto w = writer->write(credit_of(k, 7, amount));
    ASSERT_TRUE(w.ok()) << w.message;
    ASSERT_EQ(w.value.code, Code::ok);
    expected += amount;
    // Acknowledged: whichever thread serves the read, it sees the write.
    const auto b = writer->balance(kSeller, 7);
    ASSERT_TRUE(b.ok()) << b.message;
    ASSERT_EQ(b.value.account.available, expected) << "after write " << k << ", seed " << seed;
    const auto c = writer->cart(7, lines, 0);
    ASSERT_TRUE(c.ok()) << c.message;
    ASSERT_EQ(c.value.at(0).available, expected) << "after write " << k << ", seed " << seed;
  }
  done = true;
  mailing.join();
  EXPECT_GT(mailed.load(), 0u);
  std::printf("%.0f of 600 reads on the network thread, %llu credits mailed meanwhile\n",
              reads_here(server) - before, static_cast<unsigned long long>(mailed.load()));
}

}  // namespace
}  // namespace bonus::test
