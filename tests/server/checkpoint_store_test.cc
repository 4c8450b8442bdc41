// CheckpointStore on a real LMDB file: checkpoints written at random points of a random
// workload over several shards load back into ledgers equal to the originals (equal
// state hashes), and a damaged file, a foreign format version or a missing record stop
// the load with a message, never a partial state.
#include "server/checkpoint_store.h"

#include <gtest/gtest.h>
#include <lmdb.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <random>

#include "engine/ledger.h"
#include "tests/engine/state_workload.h"

namespace bonus::server {
namespace {

namespace fs = std::filesystem;
using test::kStart;
using test::small_windows;
using test::Workload;

class TempDir {
 public:
  TempDir() {
    char name[] = "/tmp/bonus-checkpoint-XXXXXX";
    path_ = ::mkdtemp(name);
  }
  ~TempDir() { fs::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::unique_ptr<CheckpointStore> open_store(const std::string& dir) {
  auto opened = CheckpointStore::open(dir, 1ull << 30);
  if (auto* error = std::get_if<std::string>(&opened)) {
    ADD_FAILURE() << *error;
    return nullptr;
  }
  return std::move(std::get<std::unique_ptr<CheckpointStore>>(opened));
}

// Two shards of one random workload (commands dealt by buyer, sweeps to both).
struct Shards {
  explicit Shards(std::uint64_t seed) : work(seed) {
    for (auto& l : ledgers) {
      l = std::make_unique<Ledger>(small_windows());
      l->track_changes();
    }
  }
  void apply(int commands) {
    for (int i = 0; i < commands; ++i) {
      const Command c = work.next();
      now += work.step();
      ++position;
      if (std::holds_alternative<Sweep>(c)) {
        for (auto& l : ledgers) l->apply(c, now);
      } else {
        ledgers[position % 2]->apply(c, now);
      }
    }
  }
  std::vector<Ledger*> pointers() { return {ledgers[0].get(), ledgers[1].get()}; }

  Workload work;
  std::unique_ptr<Ledger> ledgers[2];
  TimeUs now = kStart;
  std::uint64_t position = 0;
};

TEST(CheckpointStore, CheckpointsAtRandomPointsLoadBackExactly) {
  const std::uint64_t seed = test::seed_from_env();
  std::mt19937_64 rng(seed);
  TempDir dir;
  Shards shards(seed);
  for (int round = 0; round < 8; ++round) {
    shards.apply(1 + static_cast<int>(rng() % 30'000));
    {
      auto store = open_store(dir.path());
      ASSERT_TRUE(store);
      CheckpointWriteStats stats;
      const auto error = store->write(shards.position, shards.pointers(), stats);
      ASSERT_FALSE(error) << *error;
      EXPECT_GT(stats.records_put, 0u);
    }
    // Reopened, as a restart does: the position and each shard come back as they were.
    auto store = open_store(dir.path());
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->info().present);
    EXPECT_EQ(store->info().position, shards.position);
    EXPECT_EQ(store->info().shards, 2u);
    for (std::uint32_t s = 0; s < 2; ++s) {
      Ledger loaded(small_windows());
      const auto error = store->load(s, loaded);
      ASSERT_FALSE(error) << *error << " (seed " << seed << ", round " << round << ")";
      ASSERT_EQ(loaded.state_hash(), shards.ledgers[s]->state_hash())
          << "seed " << seed << " round " << round << " shard " << s;
    }
  }
}

TEST(CheckpointStore, AFailedWriteKeepsTheChangesForTheNext) {
  TempDir dir;
  Shards shards(9);
  shards.apply(40'000);
  {
    auto opened = CheckpointStore::open(dir.path(), 1u << 16, 1u << 16);  // too small: full
    auto& store = std::get<std::unique_ptr<CheckpointStore>>(opened);
    CheckpointWriteStats stats;
    const auto error = store->write(shards.position, shards.pointers(), stats);
    ASSERT_TRUE(error);
    EXPECT_NE(error->find("MDB_MAP_FULL"), std::string::npos) << *error;
    EXPECT_FALSE(store->info().present);
  }
  auto store = open_store(dir.path());
  ASSERT_TRUE(store);
  EXPECT_FALSE(store->info().present);
  CheckpointWriteStats stats;
  ASSERT_FALSE(store->write(shards.position, shards.pointers(), stats));
  for (std::uint32_t s = 0; s < 2; ++s) {
    Ledger loaded(small_windows());
    ASSERT_FALSE(store->load(s, loaded));
    EXPECT_EQ(loaded.state_hash(), shards.ledgers[s]->state_hash());
  }
}

TEST(CheckpointStore, TheMapGrowsAsCheckpointsNeedIt) {
  TempDir dir;
  Shards shards(13);
  shards.apply(40'000);
  auto opened = CheckpointStore::open(dir.path(), 1ull << 30, 1u << 16);  // starts at 64 KiB
  auto& store = std::get<std::unique_ptr<CheckpointStore>>(opened);
  CheckpointWriteStats stats;
  const auto error = store->write(shards.position, shards.pointers(), stats);
  ASSERT_FALSE(error) << *error;
  EXPECT_GT(store->file_bytes(), 1u << 16);
  for (std::uint32_t s = 0; s < 2; ++s) {
    Ledger loaded(small_windows());
    ASSERT_FALSE(store->load(s, loaded));
    EXPECT_EQ(loaded.state_hash(), shards.ledgers[s]->state_hash());
  }
}

// A store with one checkpoint of a small workload, for the damage tests.
class CheckpointDamage : public ::testing::Test {
 protected:
  void SetUp() override {
    Shards shards(5);
    shards.apply(3'000);
    auto store = open_store(dir_.path());
    ASSERT_TRUE(store);
    CheckpointWriteStats stats;
    ASSERT_FALSE(store->write(shards.position, shards.pointers(), stats));
  }
  std::string load_error() {
    auto opened = CheckpointStore::open(dir_.path(), 1ull << 30);
    if (auto* error = std::get_if<std::string>(&opened)) return *error;
    auto& store = std::get<std::unique_ptr<CheckpointStore>>(opened);
    for (std::uint32_t s = 0; s < 2; ++s) {
      Ledger ledger(small_windows());
      if (auto error = store->load(s, ledger)) return *error;
    }
    return "";
  }
  // Runs `f(txn, dbi)` in a write transaction on database `name` of the store.
  template <typename F>
  void edit(const char* name, F&& f) {
    MDB_env* env = nullptr;
    ASSERT_EQ(mdb_env_create(&env), 0);
    mdb_env_set_maxdbs(env, 64);
    mdb_env_set_mapsize(env, 1ull << 30);
    ASSERT_EQ(mdb_env_open(env, dir_.path().c_str(), 0, 0644), 0);
    MDB_txn* txn = nullptr;
    ASSERT_EQ(mdb_txn_begin(env, nullptr, 0, &txn), 0);
    MDB_dbi dbi = 0;
    ASSERT_EQ(mdb_dbi_open(txn, name, 0, &dbi), 0);
    f(txn, dbi);
    ASSERT_EQ(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
  }
  TempDir dir_;
};

TEST_F(CheckpointDamage, TheUndamagedStoreLoads) { EXPECT_EQ(load_error(), ""); }

TEST_F(CheckpointDamage, MdbStatFromLmdbUtilsReadsTheFile) {
  const std::string command = "mdb_stat -a " + dir_.path() + " 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string out;
  char buffer[4096];
  while (std::size_t n = std::fread(buffer, 1, sizeof(buffer), pipe)) out.append(buffer, n);
  ASSERT_EQ(::pclose(pipe), 0) << out;
  for (const char* name : {"Status of meta", "Status of accounts.0", "Status of accounts.1",
                           "Status of ids.1", "Status of holds.0"}) {
    EXPECT_NE(out.find(name), std::string::npos) << name << " in:\n" << out;
  }
}

TEST_F(CheckpointDamage, AnotherFormatVersionIsRefusedByName) {
  edit("meta", [](MDB_txn* txn, MDB_dbi dbi) {
    std::uint32_t version = 2;
    MDB_val k{6, const_cast<char*>("format")};
    MDB_val v{sizeof(version), &version};
    ASSERT_EQ(mdb_put(txn, dbi, &k, &v, 0), 0);
  });
  const std::string error = load_error();
  EXPECT_NE(error.find("has format version 2; this build reads version 1"), std::string::npos)
      << error;
}

TEST_F(CheckpointDamage, AMissingAccountIsRefused) {
  edit("accounts.0", [](MDB_txn* txn, MDB_dbi dbi) {
    MDB_cursor* cursor = nullptr;
    ASSERT_EQ(mdb_cursor_open(txn, dbi, &cursor), 0);
    MDB_val k;
    MDB_val v;
    ASSERT_EQ(mdb_cursor_get(cursor, &k, &v, MDB_FIRST), 0);
    ASSERT_EQ(mdb_cursor_get(cursor, &k, &v, MDB_NEXT), 0);
    ASSERT_EQ(mdb_cursor_del(cursor, 0), 0);
    mdb_cursor_close(cursor);
  });
  EXPECT_EQ(load_error(),
            "checkpoint shard 0: state: a accounts record is stored under another record's key");
}

TEST_F(CheckpointDamage, ADamagedValueInTheFileFailsItsChecksum) {
  // Find an account record in the file by its buyer and seller fields and flip a bit of
  // its `held` field, as a bad disk would: LMDB reads it fine, the checksum does not.
  const fs::path file = fs::path(dir_.path()) / "data.mdb";
  std::string data;
  {
    std::ifstream in(file, std::ios::binary);
    data.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  Shards probe(5);
  probe.apply(3'000);
  // The first account of shard 0 (seller and buyer are its first 16 bytes).
  std::string pattern;
  {
    const Ledger& l = *probe.ledgers[0];
    std::vector<AccountView> wallet;
    for (BuyerId b = 1; b < 4'000 && pattern.empty(); ++b) {
      l.wallet(b, probe.now, wallet);
      if (wallet.empty()) continue;
      const SellerId seller = wallet[0].seller;
      pattern.append(reinterpret_cast<const char*>(&seller), 8);
      pattern.append(reinterpret_cast<const char*>(&b), 8);
    }
  }
  ASSERT_FALSE(pattern.empty());
  const std::size_t at = data.find(pattern);
  ASSERT_NE(at, std::string::npos);
  data[at + 16] ^= 0x01;
  {
    std::fstream out(file, std::ios::binary | std::ios::in | std::ios::out);
    out.seekp(static_cast<std::streamoff>(at + 16));
    out.write(&data[at + 16], 1);
  }
  const std::string error = load_error();
  EXPECT_NE(error.find("accounts record fails its checksum"), std::string::npos) << error;
}

TEST_F(CheckpointDamage, ATruncatedFileIsRefused) {
  const fs::path file = fs::path(dir_.path()) / "data.mdb";
  // Cut to a whole number of pages, past the meta pages: LMDB opens it, the store must
  // notice that the pages it needs are gone (reading them would be SIGBUS).
  const auto size = fs::file_size(file);
  ASSERT_GT(size, 4 * 4096u);
  fs::resize_file(file, size / 2 / 4096 * 4096);
  std::string error = load_error();
  EXPECT_NE(error.find("the file was truncated"), std::string::npos) << error;
  fs::resize_file(file, 4096);
  error = load_error();
  EXPECT_NE(error.find("checkpoint: "), std::string::npos) << error;
}

TEST_F(CheckpointDamage, AStoreThatIsNotLmdbIsRefused) {
  const fs::path file = fs::path(dir_.path()) / "data.mdb";
  fs::remove(fs::path(dir_.path()) / "lock.mdb");
  std::ofstream(file, std::ios::binary | std::ios::trunc) << std::string(16384, 'x');
  const std::string error = load_error();
  EXPECT_NE(error.find("checkpoint: open"), std::string::npos) << error;
}

}  // namespace
}  // namespace bonus::server
