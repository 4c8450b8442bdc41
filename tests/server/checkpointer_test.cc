// Checkpointer on a real LMDB file, fed as the sequencer feeds it: journal records
// (encode_record) in batches of random sizes, across the replicas' apply windows. A
// checkpoint of the replicas must load back into ledgers equal to ones that applied the
// same commands directly (equal state hashes); a record that does not decode stops
// checkpoints with a message instead of leaving the replicas wrong.
#include "server/checkpointer.h"

#include <gtest/gtest.h>

#include <future>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "engine/ledger.h"
#include "server/checkpoint_store.h"
#include "server/router.h"
#include "server/sequencer.h"
#include "tests/engine/state_workload.h"
#include "tests/server/temp_dir.h"

namespace bonus::server {
namespace {

using test::kStart;
using test::small_windows;
using test::TempDir;
using test::Workload;

std::unique_ptr<CheckpointStore> open_store(const std::string& dir) {
  auto opened = CheckpointStore::open(dir, 1ull << 30);
  if (auto* error = std::get_if<std::string>(&opened)) {
    ADD_FAILURE() << *error;
    return nullptr;
  }
  return std::move(std::get<std::unique_ptr<CheckpointStore>>(opened));
}

CheckpointerOptions on_request_only() {
  CheckpointerOptions options;
  options.interval = std::chrono::milliseconds(0);
  options.records = 0;
  options.nice = 0;
  return options;
}

CheckpointOutcome checkpoint_now(Checkpointer& checkpointer) {
  std::promise<CheckpointOutcome> done;
  auto outcome = done.get_future();
  checkpointer.request([&](const CheckpointOutcome& o) { done.set_value(o); });
  return outcome.get();
}

TEST(ReplicaBatch, RecordsComeBackInOrderAndClearKeepsTheMemory) {
  const std::uint64_t seed = test::seed_from_env();
  std::mt19937_64 rng(seed);
  ReplicaBatch batch;
  std::vector<std::string> added;
  for (int i = 0; i < 500; ++i) {
    std::string record(rng() % 300, '\0');  // empty ones too
    for (char& c : record) c = static_cast<char>(rng());
    batch.add(record);
    added.push_back(record);
  }
  ASSERT_EQ(batch.size(), added.size());
  std::size_t k = 0;
  batch.for_each([&](std::string_view record) {
    ASSERT_LT(k, added.size());
    EXPECT_EQ(record, added[k]) << "record " << k << ", seed " << seed;
    ++k;
  });
  EXPECT_EQ(k, added.size());
  const std::size_t capacity = batch.capacity();
  batch.clear();
  EXPECT_TRUE(batch.empty());
  EXPECT_EQ(batch.bytes(), 0u);
  EXPECT_EQ(batch.capacity(), capacity);
  batch.for_each([&](std::string_view) { ADD_FAILURE() << "a record after clear()"; });
}

TEST(Checkpointer, ReplicasFedInBatchesOfAnySizeCheckpointWhatTheShardsHold) {
  const std::uint64_t seed = test::seed_from_env();
  std::mt19937_64 rng(seed);
  TempDir dir("bonus-checkpointer");
  auto store = open_store(dir.path());
  ASSERT_TRUE(store);
  const EngineConfig config = small_windows();
  std::unique_ptr<Ledger> shards[2];
  for (std::uint32_t s = 0; s < 2; ++s) {
    shards[s] = std::make_unique<Ledger>(config);
    shards[s]->set_partition(s, 2);
  }
  Checkpointer checkpointer(on_request_only(), *store, config, 2, nullptr);
  checkpointer.start();

  Workload work(seed);
  TimeUs now = kStart;
  std::uint64_t position = 0;
  std::string record;
  ReplicaBatch batch;
  for (int round = 0; round < 4; ++round) {
    for (int group = 0; group < 60; ++group) {
      // 1 to 200 records: shorter than a window, a window exactly, several and a part.
      const int count = 1 + static_cast<int>(rng() % 200);
      for (int i = 0; i < count; ++i) {
        const Command c = work.next();
        now += work.step();
        ++position;
        const std::uint32_t shard = std::holds_alternative<Sweep>(c)
                                        ? Router::kAllShards
                                        : static_cast<std::uint32_t>(rng() % 2);
        for (std::uint32_t s = 0; s < 2; ++s) {
          if (shard == s || shard == Router::kAllShards) shards[s]->apply(c, now);
        }
        encode_record(c, now, shard, record);
        batch.add(record);
      }
      batch.last_position = position;
      checkpointer.feed(batch);
      ASSERT_TRUE(batch.empty()) << "feed leaves the caller an empty batch";
    }
    const CheckpointOutcome outcome = checkpoint_now(checkpointer);
    ASSERT_TRUE(outcome.ok) << outcome.message;
    EXPECT_EQ(outcome.position, position);
    EXPECT_EQ(checkpointer.position(), position);
    for (std::uint32_t s = 0; s < 2; ++s) {
      Ledger loaded(config);
      loaded.set_partition(s, 2);
      const auto error = store->load(s, loaded);
      ASSERT_FALSE(error) << *error;
      ASSERT_EQ(loaded.state_hash(), shards[s]->state_hash())
          << "seed " << seed << " round " << round << " shard " << s;
    }
  }
  checkpointer.stop();
}

TEST(Checkpointer, ARecordThatDoesNotDecodeStopsCheckpointsWithAMessage) {
  TempDir dir("bonus-checkpointer");
  auto store = open_store(dir.path());
  ASSERT_TRUE(store);
  const EngineConfig config = small_windows();
  Checkpointer checkpointer(on_request_only(), *store, config, 2, nullptr);
  checkpointer.start();
  Workload work(7);
  std::string record;
  ReplicaBatch batch;
  encode_record(work.next(), kStart + 1, 0, record);
  batch.add(record);
  batch.add("not a journal record");
  batch.last_position = 2;
  checkpointer.feed(batch);
  const CheckpointOutcome outcome = checkpoint_now(checkpointer);
  EXPECT_FALSE(outcome.ok);
  ASSERT_TRUE(checkpointer.failure().has_value());
  EXPECT_NE(checkpointer.failure()->find("log position 2 does not decode"), std::string::npos)
      << *checkpointer.failure();
  EXPECT_EQ(checkpointer.position(), 0u) << "nothing after the bad record is checkpointed";
  checkpointer.stop();
}

}  // namespace
}  // namespace bonus::server
