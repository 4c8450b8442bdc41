// Incremental state: StateCodec::give_changes gives what changed, key by key, and
// StateLoader rebuilds from those records a ledger equal to the original (equal state
// hashes, and the two go on alike); damaged or partial records are refused by name.
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "engine/calendar.h"
#include "engine/ledger.h"
#include "engine/state_codec.h"
#include "engine/state_loader.h"
#include "tests/engine/state_workload.h"

namespace bonus {
namespace {

using test::kStart;
using test::small_windows;
using test::Workload;

// A sorted key-value store: what a checkpoint keeps, in the order a loader reads it.
class MapStore : public StateSink {
 public:
  using Key = std::pair<int, std::string>;

  void put(StateTable table, std::string_view key, std::string_view value) override {
    records[{static_cast<int>(table), std::string(key)}] = std::string(value);
    ++puts;
  }
  void erase(StateTable table, std::string_view key) override {
    records.erase({static_cast<int>(table), std::string(key)});
    ++erases;
  }
  void take(Ledger& ledger) {
    StateCodec::give_changes(ledger, *this);
    StateCodec::forget_changes(ledger);
    header = StateCodec::encode_header(ledger);
  }
  std::optional<std::string> load(Ledger& into) const {
    StateLoader loader(into);
    if (auto error = loader.header(header)) return error;
    for (const auto& [key, value] : records) {
      if (auto error = loader.record(static_cast<StateTable>(key.first), key.second, value)) {
        return error;
      }
    }
    return loader.finish();
  }

  std::map<Key, std::string> records;
  std::string header;
  std::uint64_t puts = 0;
  std::uint64_t erases = 0;
};

TEST(StateChanges, RecordsTakenAtRandomPointsRebuildAnEqualLedger) {
  const std::uint64_t seed = test::seed_from_env();
  std::mt19937_64 rng(seed ^ 0x5eed);
  Workload work(seed);
  Ledger original(small_windows());
  original.track_changes();
  MapStore store;
  TimeUs now = kStart;
  std::uint64_t erases_seen = 0;
  for (int round = 0; round < 12; ++round) {
    const int commands = 1 + static_cast<int>(rng() % 40'000);
    for (int i = 0; i < commands; ++i) original.apply(work.next(), now += work.step());
    const std::uint64_t puts_before = store.puts;
    store.take(original);
    ASSERT_GT(store.puts, puts_before) << "seed " << seed;
    erases_seen = store.erases;

    Ledger restored(small_windows());
    const auto error = store.load(restored);
    ASSERT_FALSE(error) << *error << " (seed " << seed << ", round " << round << ")";
    ASSERT_EQ(restored.state_hash(), original.state_hash()) << "seed " << seed << " round " << round;
    ASSERT_EQ(restored.account_count(), original.account_count());

    if (round % 4 == 3) {
      // The restored ledger and the original go on alike.
      Workload side(seed + static_cast<std::uint64_t>(round));
      TimeUs t = now;
      for (int i = 0; i < 5'000; ++i) {
        const Command c = side.next();
        t += side.step();
        ASSERT_EQ(restored.apply(c, t), original.apply(c, t)) << "seed " << seed << " step " << i;
      }
      now = t;
      ASSERT_EQ(restored.state_hash(), original.state_hash()) << "seed " << seed;
    }
  }
  // Retention made orders and ids go, and the store followed.
  EXPECT_GT(erases_seen, 0u) << "seed " << seed;
}

TEST(StateChanges, ReadsAndAnEmptyStretchGiveNothing) {
  Workload work(3);
  Ledger ledger(small_windows());
  ledger.track_changes();
  TimeUs now = kStart;
  for (int i = 0; i < 2'000; ++i) ledger.apply(work.next(), now += work.step());
  MapStore store;
  store.take(ledger);
  const std::uint64_t puts = store.puts;
  const std::uint64_t erases = store.erases;
  std::vector<AccountView> wallet;
  for (BuyerId b = 1; b < 100; ++b) {
    (void)ledger.balance(1, b, now);
    ledger.wallet(b, now, wallet);
  }
  store.take(ledger);
  EXPECT_EQ(store.puts, puts);
  EXPECT_EQ(store.erases, erases);
}

class StateLoaderDamage : public ::testing::Test {
 protected:
  void SetUp() override {
    Workload work(11);
    Ledger ledger(small_windows());
    ledger.track_changes();
    TimeUs now = kStart;
    for (int i = 0; i < 3'000; ++i) ledger.apply(work.next(), now += work.step());
    store_.take(ledger);
  }
  std::string load_error() {
    Ledger fresh(small_windows());
    const auto error = store_.load(fresh);
    return error ? *error : "";
  }
  std::map<MapStore::Key, std::string>::iterator first_of(StateTable table) {
    return store_.records.lower_bound({static_cast<int>(table), ""});
  }
  MapStore store_;
};

TEST_F(StateLoaderDamage, TheUndamagedStoreLoads) { EXPECT_EQ(load_error(), ""); }

TEST_F(StateLoaderDamage, AMissingAccountIsRefused) {
  // Not the last: a gap in the dense account indexes.
  auto it = first_of(StateTable::accounts);
  store_.records.erase(std::next(it, 5));
  EXPECT_EQ(load_error(), "state: a accounts record is stored under another record's key");
}

TEST_F(StateLoaderDamage, AMissingHoldIsCaughtByTheCount) {
  auto it = first_of(StateTable::holds);
  ASSERT_EQ(it->first.first, static_cast<int>(StateTable::holds));
  store_.records.erase(it);
  const std::string error = load_error();
  EXPECT_NE(error.find("holds records, the header says"), std::string::npos) << error;
}

TEST_F(StateLoaderDamage, ARecordUnderAnotherKeyIsRefused) {
  auto it = first_of(StateTable::ids);
  std::swap(it->second, std::next(it)->second);
  EXPECT_EQ(load_error(), "state: a ids record is stored under another record's key");
}

TEST_F(StateLoaderDamage, AShortRecordIsRefused) {
  auto it = first_of(StateTable::sellers);
  it->second.pop_back();
  EXPECT_EQ(load_error(),
            "state: invalid sellers record (" + std::to_string(it->second.size()) + " bytes)");
}

TEST_F(StateLoaderDamage, AnotherHeaderVersionIsRefusedByName) {
  store_.header[0] = 5;
  EXPECT_EQ(load_error(),
            "state header: format version 5 is not supported (this build reads 3 to 4)");
}

// A checkpoint written before campaigns counted buyers and the limits were state
// (versions 1 and 2) is refused by name.
TEST_F(StateLoaderDamage, AnEarlierCheckpointVersionIsRefusedByName) {
  for (const int version : {1, 2}) {
    store_.header[0] = static_cast<char>(version);
    EXPECT_EQ(load_error(), "state header: format version " + std::to_string(version) +
                                " is not supported (this build reads 3 to 4)");
  }
}

// Format version 4 keeps a credit's reason in a lot's seq bits 29..22 and gives campaign
// records a trailer (revoked amount, sales). A version 3 checkpoint has neither: it loads
// (reasons 0, no revoked amount or sales) when every lot's seq fits 22 bits.
class StateVersion3 : public ::testing::Test {
 protected:
  void SetUp() override {
    ledger_.track_changes();
    auto run = [&](const Command& c) { ASSERT_TRUE(ledger_.apply(c, now_ += kUsPerSecond).ok()); };
    std::uint64_t id = 0;
    auto next = [&] { return Id128{3, ++id}; };
    run(Credit{next(), 1, 7, 100, 5, LotLife::policy()});
    run(Credit{next(), 1, 8, 60, 5, LotLife::policy()});
    run(Spend{next(), 11, 1, 7, 40, 1'000'000});
    run(Credit{next(), 1, 7, 30, 0, LotLife::policy()});  // survives the revoke
    run(RevokeCampaign{next(), 1, 5});
    store_.take(ledger_);
    store_.header[0] = 3;
    // As version 3 wrote them: the header's version, seller records without month
    // reports, campaign records without the trailer.
    for (auto& [key, value] : store_.records) {
      if (key.first == static_cast<int>(StateTable::sellers)) value.resize(128);
      if (key.first == static_cast<int>(StateTable::campaigns)) value.resize(value.size() - 24);
      // No purchases here: the account record's purchase header is its last 16 bytes.
      if (key.first == static_cast<int>(StateTable::accounts)) value.resize(value.size() - 16);
    }
  }
  std::string load_error(Ledger& into) {
    const auto error = store_.load(into);
    return error ? *error : "";
  }
  Ledger ledger_;
  TimeUs now_ = kStart;
  MapStore store_;
};

TEST_F(StateVersion3, LoadsWithNoRevokedAmountOrSales) {
  Ledger restored;
  ASSERT_EQ(load_error(restored), "");
  const CampaignStats c = restored.campaign_stats(1, 5);
  EXPECT_EQ(c.spent, 40u);
  EXPECT_EQ(c.expired, 120u);  // version 3 did not tell a revoke from a lapse
  EXPECT_EQ(c.revoked_amount, 0u);
  EXPECT_EQ(c.sales_orders, 0u);
  EXPECT_EQ(restored.month_report(1, calendar_month(now_)).spent, 0u);  // no month reports
  EXPECT_EQ(ledger_.month_report(1, calendar_month(now_)).spent, 40u);
  EXPECT_EQ(ledger_.campaign_stats(1, 5).revoked_amount, 120u);
  EXPECT_EQ(ledger_.campaign_stats(1, 5).sales_kopecks, 1'000'000u);
  EXPECT_FALSE(restored.audit());
  // The next checkpoint of the loaded ledger writes version 4 records beside the old ones.
  restored.track_changes();
  ASSERT_TRUE(restored.apply(Spend{Id128{4, 1}, 12, 1, 7, 10, 500'000}, now_ + kUsPerSecond).ok());
  store_.take(restored);
  EXPECT_EQ(store_.header[0], 4);
  Ledger again;
  ASSERT_EQ(load_error(again), "");
  EXPECT_EQ(again.state_hash(), restored.state_hash());
}

TEST_F(StateVersion3, ALotWhoseSeqDoesNotFit22BitsIsRefusedByName) {
  auto it = store_.records.lower_bound({static_cast<int>(StateTable::accounts), ""});
  ASSERT_EQ(it->first.first, static_cast<int>(StateTable::accounts));
  // The first lot's seq_flags (record offset 48 + 20): seq 2^22, as version 3 allowed.
  std::string& value = it->second;
  ASSERT_GE(value.size(), 72u);
  const std::uint32_t seq_flags = 1u << 22;
  std::memcpy(value.data() + 68, &seq_flags, 4);
  std::uint32_t lot_seq_next = (1u << 22) + 1;
  std::memcpy(value.data() + 32, &lot_seq_next, 4);
  Ledger restored;
  EXPECT_EQ(load_error(restored),
            "state: account (seller 1, buyer 7) has a lot with sequence number 4194304, past "
            "the 22 bits of format version 4: this build cannot load the version 3 state");
}

TEST_F(StateVersion3, AVersion4LotWithAReservedReasonIsRefused) {
  store_.header[0] = 4;
  for (auto& [key, value] : store_.records) {
    if (key.first == static_cast<int>(StateTable::campaigns)) value.append(24, '\0');
    if (key.first == static_cast<int>(StateTable::sellers)) {
      // The tier window (the default, 365 days), no tiers, no months.
      const std::uint32_t tail[4] = {kTierWindowDaysDefault, 0, 0, 0};
      value.append(reinterpret_cast<const char*>(tail), sizeof tail);
    }
    if (key.first == static_cast<int>(StateTable::accounts)) value.append(16, '\0');  // no purchases
  }
  auto it = store_.records.lower_bound({static_cast<int>(StateTable::accounts), ""});
  std::string& value = it->second;
  std::uint32_t seq_flags = 0;
  std::memcpy(&seq_flags, value.data() + 68, 4);
  seq_flags |= 7u << Lot::kReasonShift;  // 6..15 are reserved
  std::memcpy(value.data() + 68, &seq_flags, 4);
  Ledger restored;
  EXPECT_EQ(load_error(restored), "state: invalid accounts record (88 bytes)");
}

}  // namespace
}  // namespace bonus
