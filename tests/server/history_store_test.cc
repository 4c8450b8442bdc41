// HistoryStore on a real LMDB file: pages of an account newest first and of an order
// oldest first, cursors that resume exactly, the page bound, trimming by time (with
// every database's entry of an event going together), the gap mark, reopening, a
// foreign format or truncated file refused with a message, an index entry without its
// event reported, and a store of format 1 (written here through LMDB itself) upgraded in
// place, also when the upgrade was cut off.
#include "server/history_store.h"

#include <gtest/gtest.h>
#include <lmdb.h>

#include <cstring>
#include <filesystem>
#include <memory>
#include <random>
#include <string>

#include "tests/server/history_raw.h"
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
    RawEnv raw(dir.path());
    const std::uint64_t format = 99;
    raw.put(raw.db("meta"), "format", &format, sizeof(format));
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

TEST(HistoryStoreTest, AnIndexEntryWithoutItsEventIsAnErrorNamingIt) {
  test::TempDir dir("bonus-history");
  {
    auto store = open_store(dir.path());
    ASSERT_TRUE(store);
    ASSERT_FALSE(store->write(std::vector<HistoryEntry>{entry(3, 0, 1, 100, K::held, 5, 7),
                                                        entry(4, 0, 1, 100, K::credited, 6)},
                              4));
  }
  {
    RawEnv raw(dir.path());
    raw.del(raw.db("event"), be(3, 8) + be(0, 4));
  }
  auto store = open_store(dir.path());
  ASSERT_TRUE(store);
  HistoryPage page;
  auto error = store->account_page(1, 100, {}, 10, page);
  ASSERT_TRUE(error);
  EXPECT_NE(error->find("missing event at position 3 index 0"), std::string::npos) << *error;
  error = store->order_page(7, {}, 10, page);
  ASSERT_TRUE(error);
  EXPECT_NE(error->find("position 3"), std::string::npos) << *error;
}

// More events than one upgrade transaction moves, over a few accounts and orders.
std::vector<HistoryEntry> format_1_events(std::uint64_t count) {
  std::vector<HistoryEntry> out;
  for (std::uint64_t p = 1; p <= count; ++p) {
    out.push_back(p % 3 == 0 ? entry(p, 0, 1, 100 + p % 5, K::held, p, 1 + p % 7)
                             : entry(p, 0, 2, 100 + p % 5, K::credited, p));
  }
  return out;
}

void expect_all_readable(const HistoryStore& store, const std::vector<HistoryEntry>& events) {
  std::uint64_t n = 0;
  ASSERT_FALSE(store.count(n));
  EXPECT_EQ(n, events.size());
  for (SellerId seller : {1, 2}) {
    for (BuyerId buyer = 100; buyer < 105; ++buyer) {
      std::vector<HistoryEntry> want;
      for (const HistoryEntry& h : events) {
        if (h.event.seller == seller && h.event.buyer == buyer) want.push_back(h);
      }
      std::reverse(want.begin(), want.end());
      std::vector<HistoryEntry> got;
      HistoryPage page;
      HistoryCursor from;
      do {
        ASSERT_FALSE(store.account_page(seller, buyer, from, HistoryStore::kPageEntriesMax, page));
        got.insert(got.end(), page.entries.begin(), page.entries.end());
        from = page.next;
      } while (!page.done);
      EXPECT_EQ(got, want) << "seller " << seller << " buyer " << buyer;
    }
  }
  for (OrderId order = 1; order <= 7; ++order) {
    std::size_t want = 0;
    for (const HistoryEntry& h : events) want += h.event.names_order() && h.event.ref == order;
    HistoryPage page;
    ASSERT_FALSE(store.order_page(order, {}, HistoryStore::kPageEntriesMax, page));
    std::size_t got = page.entries.size();
    while (!page.done) {
      ASSERT_FALSE(store.order_page(order, page.next, HistoryStore::kPageEntriesMax, page));
      got += page.entries.size();
    }
    EXPECT_EQ(got, want) << "order " << order;
  }
}

TEST(HistoryStoreTest, AFormat1StoreIsUpgradedInPlaceAndKeepsEveryEvent) {
  test::TempDir dir("bonus-history");
  const auto events = format_1_events(HistoryStore::kUpgradeChunkEvents * 2 + 100);
  {
    RawEnv raw(dir.path());
    write_format_1(raw, events, events.size() + 3);
  }
  {
    auto store = open_store(dir.path());
    ASSERT_TRUE(store);
    EXPECT_EQ(store->info().position, events.size() + 3);
    expect_all_readable(*store, events);
    // It goes on as a format-2 store: new events, and trimming the upgraded ones.
    ASSERT_FALSE(store->write(std::vector<HistoryEntry>{entry(events.size() + 4, 0, 2, 100,
                                                              K::credited, 9)},
                              events.size() + 4));
    std::uint64_t erased = 0;
    bool more = false;
    ASSERT_FALSE(store->trim(11 * kUsPerSecond, 1'000, erased, more));
    EXPECT_EQ(erased, 10u);
    EXPECT_FALSE(more);
  }
  // Reopened: the upgrade is done (format 2, no "time" left), the events as they were.
  auto store = open_store(dir.path());
  ASSERT_TRUE(store);
  std::vector<HistoryEntry> left(events.begin() + 10, events.end());
  left.push_back(entry(events.size() + 4, 0, 2, 100, K::credited, 9));
  expect_all_readable(*store, left);
  store.reset();
  RawEnv raw(dir.path());
  EXPECT_EQ(raw.u64(raw.db("meta"), "format"), 2u);
  EXPECT_FALSE(raw.has("time"));
}

TEST(HistoryStoreTest, AnUpgradeCutOffIsFinishedByTheNextOpen) {
  test::TempDir dir("bonus-history");
  const auto events = format_1_events(HistoryStore::kUpgradeChunkEvents + 500);
  {
    // What an upgrade cut off after its first chunk leaves: format 2 in "meta", the first
    // chunk's events in "event" and their index entries key-only, "time" still whole.
    RawEnv raw(dir.path());
    write_format_1(raw, events, events.size());
    const MDB_dbi meta = raw.db("meta");
    const MDB_dbi event = raw.db("event");
    const MDB_dbi account = raw.db("account");
    const MDB_dbi order = raw.db("order");
    const std::uint64_t format = 2;
    raw.put(meta, "format", &format, sizeof(format));
    for (std::size_t i = 0; i < HistoryStore::kUpgradeChunkEvents; ++i) {
      const HistoryEntry& h = events[i];
      const LedgerEvent& e = h.event;
      raw.put(event, be(h.position, 8) + be(h.index, 4), &e, sizeof(e));
      raw.put(account, account_key_of(h), "", 0);
      if (e.names_order()) raw.put(order, order_key_of(h), "", 0);
    }
  }
  auto store = open_store(dir.path());
  ASSERT_TRUE(store);
  expect_all_readable(*store, events);
}

// A format-1 event whose "account" entry is gone stops the upgrade with its position; the
// events after it are not taken for the end of the table (nothing is dropped).
TEST(HistoryStoreTest, AFormat1StoreMissingAnEntryIsRefusedNotTruncated) {
  test::TempDir dir("bonus-history");
  const auto events = format_1_events(100);
  {
    RawEnv raw(dir.path());
    write_format_1(raw, events, events.size());
    const HistoryEntry& h = events[40];
    raw.del(raw.db("account"), account_key_of(h));
  }
  for (int attempt = 0; attempt < 2; ++attempt) {  // and again: the same, nothing lost
    auto opened = HistoryStore::open(dir.path());
    ASSERT_TRUE(std::holds_alternative<std::string>(opened));
    const std::string& error = std::get<std::string>(opened);
    EXPECT_NE(error.find("upgrading"), std::string::npos) << error;
    EXPECT_NE(error.find("position 41 index 0"), std::string::npos) << error;
  }
  RawEnv raw(dir.path());
  EXPECT_TRUE(raw.has("time"));
}

}  // namespace
}  // namespace bonus::server
