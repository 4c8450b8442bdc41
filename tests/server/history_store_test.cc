// HistoryStore on a real LMDB file: pages of an account newest first and of an order
// oldest first, cursors that resume exactly, the page bound, trimming by time (with
// every database's entry of an event going together), the gap mark, reopening, and a
// foreign format or truncated file refused with a message.
#include "server/history_store.h"

#include <gtest/gtest.h>
#include <lmdb.h>

#include <filesystem>
#include <memory>
#include <random>

#include "tests/server/temp_dir.h"

namespace bonus::server {
namespace {

using K = LedgerEvent::Kind;

std::unique_ptr<HistoryStore> open_store(const std::string& dir) {
  auto opened = HistoryStore::open(dir);
  if (auto* error = std::get_if<std::string>(&opened)) {
    ADD_FAILURE() << *error;
    return nullptr;
  }
  return std::move(std::get<std::unique_ptr<HistoryStore>>(opened));
}

HistoryEntry entry(std::uint64_t position, std::uint32_t index, SellerId seller, BuyerId buyer,
                   K kind, Amount amount, std::uint64_t order = 0) {
  HistoryEntry h;
  h.position = position;
  h.index = index;
  h.event.seller = seller;
  h.event.buyer = buyer;
  h.event.kind = kind;
  h.event.amount = amount;
  h.event.time_us = static_cast<TimeUs>(position) * kUsPerSecond;
  h.event.ref = order;
  h.event.ref_kind = order != 0 ? LedgerEvent::Ref::order : LedgerEvent::Ref::none;
  return h;
}

std::vector<std::uint64_t> positions(const HistoryPage& page) {
  std::vector<std::uint64_t> out;
  for (const HistoryEntry& h : page.entries) out.push_back(h.position * 10 + h.index);
  return out;
}

TEST(HistoryStoreTest, AccountPagesAreNewestFirstAndResumeAtTheCursor) {
  test::TempDir dir("bonus-history");
  auto store = open_store(dir.path());
  ASSERT_TRUE(store);
  std::vector<HistoryEntry> batch;
  for (std::uint64_t p = 1; p <= 5; ++p) {
    batch.push_back(entry(p, 0, 1, 100, K::credited, p));
    batch.push_back(entry(p, 1, 1, 101, K::credited, p));  // another buyer
    batch.push_back(entry(p, 2, 1, 100, K::held, p, 7));
  }
  ASSERT_FALSE(store->write(batch, 6));
  EXPECT_EQ(store->info().position, 6u);

  HistoryPage page;
  ASSERT_FALSE(store->account_page(1, 100, {}, 4, page));
  EXPECT_EQ(positions(page), (std::vector<std::uint64_t>{52, 50, 42, 40}));
  EXPECT_FALSE(page.done);
  EXPECT_EQ(page.info.position, 6u);
  ASSERT_FALSE(store->account_page(1, 100, page.next, 4, page));
  EXPECT_EQ(positions(page), (std::vector<std::uint64_t>{32, 30, 22, 20}));
  ASSERT_FALSE(store->account_page(1, 100, page.next, 4, page));
  EXPECT_EQ(positions(page), (std::vector<std::uint64_t>{12, 10}));
  EXPECT_TRUE(page.done);
  // An account with nothing, and one whose keys sort right after another's.
  ASSERT_FALSE(store->account_page(1, 99, {}, 10, page));
  EXPECT_TRUE(page.entries.empty());
  EXPECT_TRUE(page.done);
  ASSERT_FALSE(store->account_page(1, 101, {}, 10, page));
  EXPECT_EQ(page.entries.size(), 5u);

  ASSERT_FALSE(store->order_page(7, {}, 2, page));
  EXPECT_EQ(positions(page), (std::vector<std::uint64_t>{12, 22}));
  ASSERT_FALSE(store->order_page(7, page.next, 10, page));
  EXPECT_EQ(positions(page), (std::vector<std::uint64_t>{32, 42, 52}));
  EXPECT_TRUE(page.done);
  EXPECT_EQ(page.entries[0].event.kind, K::held);
}

TEST(HistoryStoreTest, TrimErasesOldEventsFromEveryDatabaseWithinItsBudget) {
  test::TempDir dir("bonus-history");
  auto store = open_store(dir.path());
  ASSERT_TRUE(store);
  std::vector<HistoryEntry> batch;
  for (std::uint64_t p = 1; p <= 10; ++p) batch.push_back(entry(p, 0, 1, 100, K::held, p, 7));
  ASSERT_FALSE(store->write(batch, 10));
  std::uint64_t erased = 0;
  bool more = false;
  ASSERT_FALSE(store->trim(6 * kUsPerSecond, 3, erased, more));  // events at 1..5 s are old
  EXPECT_EQ(erased, 3u);
  EXPECT_TRUE(more);
  EXPECT_EQ(store->info().trimmed_before_us, 0);  // older events are still there
  ASSERT_FALSE(store->trim(6 * kUsPerSecond, 3, erased, more));
  EXPECT_EQ(erased, 2u);
  EXPECT_FALSE(more);
  EXPECT_EQ(store->info().trimmed_before_us, 6 * kUsPerSecond);
  std::uint64_t n = 0;
  ASSERT_FALSE(store->count(n));
  EXPECT_EQ(n, 5u);
  HistoryPage page;
  ASSERT_FALSE(store->account_page(1, 100, {}, 100, page));
  EXPECT_EQ(positions(page), (std::vector<std::uint64_t>{100, 90, 80, 70, 60}));
  ASSERT_FALSE(store->order_page(7, {}, 100, page));
  EXPECT_EQ(positions(page), (std::vector<std::uint64_t>{60, 70, 80, 90, 100}));
}

TEST(HistoryStoreTest, ReopenKeepsEventsPositionAndGap) {
  test::TempDir dir("bonus-history");
  {
    auto store = open_store(dir.path());
    ASSERT_TRUE(store);
    ASSERT_FALSE(store->mark_gap(41));
    EXPECT_EQ(store->info().position, 40u);
    ASSERT_FALSE(store->write(std::vector<HistoryEntry>{entry(41, 0, 1, 100, K::credited, 5)}, 45));
  }
  auto store = open_store(dir.path());
  ASSERT_TRUE(store);
  EXPECT_EQ(store->info().position, 45u);
  EXPECT_EQ(store->info().complete_from, 41u);
  HistoryPage page;
  ASSERT_FALSE(store->account_page(1, 100, {}, 10, page));
  ASSERT_EQ(page.entries.size(), 1u);
  EXPECT_EQ(page.entries[0].event.amount, 5u);
  EXPECT_EQ(page.info.complete_from, 41u);
}

TEST(HistoryStoreTest, ForeignFormatAndTruncatedFileAreRefusedWithAMessage) {
  test::TempDir dir("bonus-history");
  {
    auto store = open_store(dir.path());
    ASSERT_TRUE(store);
    std::vector<HistoryEntry> batch;
    for (std::uint64_t p = 1; p <= 2000; ++p) batch.push_back(entry(p, 0, p, 100, K::credited, p));
    ASSERT_FALSE(store->write(batch, 2000));
  }
  {
    MDB_env* env = nullptr;
    ASSERT_EQ(mdb_env_create(&env), 0);
    mdb_env_set_maxdbs(env, 4);
    ASSERT_EQ(mdb_env_open(env, dir.path().c_str(), 0, 0600), 0);
    MDB_txn* txn = nullptr;
    MDB_dbi meta = 0;
    ASSERT_EQ(mdb_txn_begin(env, nullptr, 0, &txn), 0);
    ASSERT_EQ(mdb_dbi_open(txn, "meta", 0, &meta), 0);
    std::uint64_t format = 99;
    MDB_val k{6, const_cast<char*>("format")};
    MDB_val v{sizeof(format), &format};
    ASSERT_EQ(mdb_put(txn, meta, &k, &v, 0), 0);
    ASSERT_EQ(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
  }
  auto opened = HistoryStore::open(dir.path());
  ASSERT_TRUE(std::holds_alternative<std::string>(opened));
  EXPECT_NE(std::get<std::string>(opened).find("has format 99"), std::string::npos);

  std::filesystem::resize_file(dir.path() + "/data.mdb", 4096 * 3);
  opened = HistoryStore::open(dir.path());
  ASSERT_TRUE(std::holds_alternative<std::string>(opened));
  EXPECT_NE(std::get<std::string>(opened).find("truncated"), std::string::npos)
      << std::get<std::string>(opened);
}

}  // namespace
}  // namespace bonus::server
