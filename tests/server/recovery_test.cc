// bonusd's start-up on a damaged journal: a torn group at the very end is cut off with a
// log line and everything acknowledged before it is served; a corrupt record in the middle
// stops start-up with an error naming the file and offset, and nothing is changed on disk.
//
// And with checkpoints: start-up loads the checkpoint and replays only the journal after
// it; segments before a durable checkpoint are deleted; a missing segment, a journal that
// ends before the checkpoint, a damaged checkpoint file, a missing checkpoint directory or
// another shard count stop start-up with a message saying which.
#include <gtest/gtest.h>
#include <sys/mount.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <thread>
#include <fstream>
#include <iterator>

#include "tests/server/wire.h"

namespace bonus::test {
namespace {

namespace fs = std::filesystem;

// Writes `count` credits of 10 bonuses each to distinct buyers, acknowledged, then stops.
void fill(BonusdProcess& server, int count) {
  // No checkpoints: these tests are about the journal, which then keeps every record.
  ASSERT_TRUE(server.start({"--sweep-interval-ms", "60000", "--checkpoint", "off"})) << server.log();
  RawConnection c(server.port());
  for (int i = 0; i < count; ++i) {
    const Credit credit{Id128{0x5EC, std::uint64_t(i + 1)}, 1, std::uint64_t(100 + i), 10, 0,
                        LotLife::forever(), 0, 0};
    const auto results = write_batch(c, std::uint64_t(i + 1), std::span<const Credit>(&credit, 1));
    ASSERT_TRUE(results && results->at(0).code == Code::ok);
  }
  c.close();
  ASSERT_EQ(server.stop(SIGTERM), 0) << server.log();
}

fs::path only_segment(const std::string& dir) {
  std::vector<fs::path> segments;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().filename().string().starts_with("journal-")) segments.push_back(e.path());
  }
  EXPECT_EQ(segments.size(), 1u);
  return segments.empty() ? fs::path() : segments[0];
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_at(const fs::path& p, std::size_t offset, const std::string& bytes) {
  std::fstream f(p, std::ios::binary | std::ios::in | std::ios::out);
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// End of the written records: the last non-zero byte + 1.
std::size_t written_end(const std::string& data) {
  std::size_t end = data.size();
  while (end > 0 && data[end - 1] == 0) --end;
  return end;
}

TEST(Recovery, ACorruptRecordInTheMiddleStopsStartUpNamingFileAndOffset) {
  BonusdProcess server;
  fill(server, 20);
  const fs::path segment = only_segment(server.data_dir());
  const std::string before = read_file(segment);
  write_at(segment, written_end(before) / 2, "\xFF\xFF\xFF");
  const std::string damaged = read_file(segment);

  EXPECT_FALSE(server.start()) << server.log();
  const std::string log = server.log();
  EXPECT_NE(log.find("cannot start"), std::string::npos) << log;
  EXPECT_NE(log.find(segment.string() + ": corrupt record at offset"), std::string::npos) << log;
  EXPECT_EQ(read_file(segment), damaged) << "start-up must not change a corrupt journal";
}

TEST(Recovery, ATornLastRecordIsCutWithALogLineAndTheRestIsServed) {
  BonusdProcess server;
  fill(server, 20);
  const fs::path segment = only_segment(server.data_dir());
  const std::string data = read_file(segment);
  // Tear the last group: zero the last 5 bytes of its trailer, as a crash before the
  // trailer's sync finished leaves it.
  write_at(segment, written_end(data) - 5, std::string(5, '\0'));

  ASSERT_TRUE(server.start()) << server.log();
  EXPECT_NE(server.log().find("cut the end of the journal at " + segment.string()),
            std::string::npos)
      << server.log();
  EXPECT_NE(server.log().find("a torn group"), std::string::npos) << server.log();
  // The torn group is the last credit's (sweeps are a minute apart here): the other 19
  // are there, the last one applies afresh, and the ledger balances.
  RawConnection c(server.port());
  int present = 0;
  for (int i = 0; i < 20; ++i) {
    const Credit credit{Id128{0x5EC, std::uint64_t(i + 1)}, 1, std::uint64_t(100 + i), 10, 0,
                        LotLife::forever(), 0, 0};
    const auto results = write_batch(c, std::uint64_t(100 + i), std::span<const Credit>(&credit, 1));
    ASSERT_TRUE(results);
    present += (results->at(0).flags & Result::kRepeat) != 0;
  }
  EXPECT_EQ(present, 19);
  const auto audit = admin(c, protocol::AdminAction::audit);
  ASSERT_TRUE(audit);
  EXPECT_TRUE(audit->ok) << audit->message;
}

std::vector<fs::path> segments(const std::string& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().filename().string().starts_with("journal-")) out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// A tmpfs of `bytes` mounted on `dir` (root only), unmounted (lazily) when it goes; a
// small disk that really runs out of space.
class TmpfsMount {
 public:
  TmpfsMount(std::string dir, std::uint64_t bytes) : dir_(std::move(dir)) {
    mounted_ = ::mount("tmpfs", dir_.c_str(), "tmpfs", 0, options(bytes).c_str()) == 0;
  }
  ~TmpfsMount() {
    if (mounted_) ::umount2(dir_.c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }
  bool resize(std::uint64_t bytes) {
    return ::mount("tmpfs", dir_.c_str(), "tmpfs", MS_REMOUNT, options(bytes).c_str()) == 0;
  }

 private:
  static std::string options(std::uint64_t bytes) { return "size=" + std::to_string(bytes); }
  std::string dir_;
  bool mounted_ = false;
};

// Regression: a group commit that spilled into a new segment failed there (the disk was
// full) after its first part was written and synced into the old one; the client was told
// storage_failed, and after the disk was freed and bonusd restarted, that first part
// (5,481 of 8,192 credits in the report) was applied. Now none of the batch is.
TEST(Recovery, RegressionABatchFailingWhereItSpillsIntoANewSegmentIsNotAppliedAfterRestart) {
  BonusdProcess server;
  // Room for the first 8 MiB segment (bonusd_process's size) and little more.
  TmpfsMount disk(server.data_dir(), (8u << 20) + (256u << 10));
  if (!disk.mounted()) GTEST_SKIP() << "cannot mount a tmpfs here (not root?)";
  ASSERT_TRUE(server.start({"--sweep-interval-ms", "60000", "--checkpoint", "off"}))
      << server.log();
  const auto batch_of = [](std::uint64_t first) {
    std::vector<Credit> batch;
    for (std::uint64_t n = first; n < first + 8192; ++n) {
      batch.push_back(Credit{Id128{0x5B11, n}, 3, 7'000'000 + n, 10, 0, LotLife::forever(), 0, 0});
    }
    return batch;
  };
  std::optional<std::uint64_t> failed_first;
  {
    RawConnection c(server.port());
    for (std::uint64_t first = 0; first < 64 * 8192 && !failed_first; first += 8192) {
      const auto batch = batch_of(first);
      ASSERT_TRUE(c.send(write_frame(first + 1, std::span<const Credit>(batch))));
      const WireReply r = read_reply(c, 60000);
      ASSERT_TRUE(r.got) << server.log();
      if (r.header.opcode == protocol::Opcode::error) {
        std::string aligned = r.body;
        protocol::ErrorInfo info;
        ASSERT_EQ(protocol::decode_error_reply(
                      protocol::Body{reinterpret_cast<const std::uint8_t*>(aligned.data()),
                                     aligned.size()},
                      info),
                  protocol::FrameError::none);
        ASSERT_EQ(info.code, protocol::FrameError::storage_failed) << info.message;
        failed_first = first;
      }
    }
  }
  ASSERT_TRUE(failed_first) << "the disk never filled up";
  ASSERT_GT(*failed_first, 0u);
  // The failed batch's first part is in the first segment, synced.
  server.stop(SIGTERM);
  const auto files = segments(server.data_dir());
  ASSERT_EQ(files.size(), 1u);

  ASSERT_TRUE(disk.resize(64u << 20));
  ASSERT_TRUE(server.start({"--sweep-interval-ms", "60000", "--checkpoint", "off"}))
      << server.log();
  const std::string log = server.log();
  const auto cut_line = log.find("cut the end of the journal at " + files[0].string());
  ASSERT_NE(cut_line, std::string::npos) << log;
  std::printf("%s\n", log.substr(cut_line, log.find('\n', cut_line) - cut_line).c_str());
  // What was cut is the failed batch's first part, which had reached the first segment
  // (the old journal replayed it): kept in a cut-* file, and more than a few records.
  std::uintmax_t cut_bytes = 0;
  for (const auto& e : fs::directory_iterator(server.data_dir())) {
    if (e.path().filename().string().starts_with("cut-")) cut_bytes += fs::file_size(e.path());
  }
  EXPECT_GT(cut_bytes, 100'000u);
  RawConnection c(server.port());
  // None of the failed batch was applied: every credit of it applies now, none a repeat.
  const auto retried = batch_of(*failed_first);
  const auto results = write_batch(c, 999'999, std::span<const Credit>(retried));
  ASSERT_TRUE(results);
  int repeats = 0;
  for (const Result& r : *results) {
    ASSERT_EQ(r.code, Code::ok);
    repeats += (r.flags & Result::kRepeat) != 0;
  }
  EXPECT_EQ(repeats, 0);
  // And the batches before it were all kept.
  const auto earlier = batch_of(*failed_first - 8192);
  const auto again = write_batch(c, 1'000'000, std::span<const Credit>(earlier));
  ASSERT_TRUE(again);
  for (const Result& r : *again) ASSERT_NE(r.flags & Result::kRepeat, 0) << "lost a credit";
  const auto audit = admin(c, protocol::AdminAction::audit);
  ASSERT_TRUE(audit);
  EXPECT_TRUE(audit->ok) << audit->message;
  c.close();
  server.stop(SIGTERM);
}

// Credits numbered [first, first + count), 10 bonuses each to their own buyer, in
// batches of 1,000; all must be applied (or, with `repeats`, all must be repeats).
void credits(RawConnection& c, std::uint64_t first, std::uint64_t count, bool repeats = false) {
  for (std::uint64_t from = first; from < first + count; from += 1000) {
    std::vector<Credit> batch;
    for (std::uint64_t n = from; n < std::min(first + count, from + 1000); ++n) {
      batch.push_back(Credit{Id128{0xC4, n}, 3, 5'000'000 + n, 10, 0, LotLife::forever(), 0, 0});
    }
    const auto results = write_batch(c, from, std::span<const Credit>(batch));
    ASSERT_TRUE(results);
    for (const Result& r : *results) {
      ASSERT_EQ(r.code, Code::ok);
      ASSERT_EQ((r.flags & Result::kRepeat) != 0, repeats) << "credit " << from;
    }
  }
}

std::optional<protocol::AdminStatus> checkpoint(RawConnection& c) {
  return admin(c, protocol::AdminAction::checkpoint);
}

// Manual checkpoints only (no timer, no record trigger), idle sweeps far apart.
const std::vector<std::string> kManual = {"--checkpoint-interval-s", "0", "--checkpoint-records",
                                          "0", "--sweep-interval-ms", "60000"};

TEST(CheckpointRecovery, StartUpLoadsTheCheckpointAndReplaysTheRest) {
  BonusdProcess server;
  ASSERT_TRUE(server.start(kManual)) << server.log();
  {
    RawConnection c(server.port());
    credits(c, 0, 3'000);
    const auto status = checkpoint(c);
    ASSERT_TRUE(status && status->ok) << (status ? status->message : "no answer");
    EXPECT_NE(status->message.find("3000 accounts"), std::string::npos) << status->message;
    credits(c, 3'000, 2'000);
  }
  EXPECT_EQ(server.stop(SIGKILL), 128 + SIGKILL);
  ASSERT_TRUE(server.start(kManual)) << server.log();
  EXPECT_NE(server.log().find("loaded the checkpoint at position"), std::string::npos)
      << server.log();
  RawConnection c(server.port());
  credits(c, 0, 5'000, true);
  const auto audit = admin(c, protocol::AdminAction::audit);
  ASSERT_TRUE(audit);
  EXPECT_TRUE(audit->ok) << audit->message;
  EXPECT_EQ(audit->accounts, 5'000u);
}

// Sends one command and returns its result (nothing if the connection broke).
template <typename C>
std::optional<Result> one(RawConnection& c, const C& command) {
  static std::uint64_t request = 1'000'000;
  const auto results = write_batch(c, ++request, std::span<const C>(&command, 1));
  if (!results) return std::nullopt;
  return results->at(0);
}

TEST(CheckpointRecovery, OrdersFromBeforeTheCheckpointStillFindTheirShard) {
  // Holds and accruals of buyers on every shard, then a checkpoint and a crash: the
  // restarted router learns from the checkpoint where each order went.
  BonusdProcess server;
  ASSERT_TRUE(server.start(kManual)) << server.log();
  std::uint64_t id = 0;
  {
    RawConnection c(server.port());
    for (BuyerId b = 1; b <= 16; ++b) {
      ASSERT_EQ(one(c, Credit{Id128{0x0D, ++id}, 5, b, 1000, 0, LotLife::forever(), 0, 0})->code,
                Code::ok);
      ASSERT_EQ(one(c, Hold{Id128{0x0D, ++id}, 100 + b, 5, b, 100, 1'000'000, 0})->code, Code::ok);
      ASSERT_EQ(one(c, Accrue{Id128{0x0D, ++id}, 200 + b, 5, b, 50, LotLife::forever()})->code,
                Code::ok);
    }
    const auto status = checkpoint(c);
    ASSERT_TRUE(status && status->ok) << (status ? status->message : "no answer");
  }
  EXPECT_EQ(server.stop(SIGKILL), 128 + SIGKILL);
  ASSERT_TRUE(server.start(kManual)) << server.log();
  RawConnection c(server.port());
  for (BuyerId b = 1; b <= 16; ++b) {
    const auto captured = one(c, Capture{Id128{0x0D, ++id}, 100 + b, kAmountAll});
    ASSERT_TRUE(captured);
    EXPECT_EQ(captured->code, Code::ok) << "buyer " << b;
    EXPECT_EQ(captured->amount, 100u) << "buyer " << b;
    const auto confirmed = one(c, ConfirmAccrual{Id128{0x0D, ++id}, 200 + b});
    ASSERT_TRUE(confirmed);
    EXPECT_EQ(confirmed->code, Code::ok) << "buyer " << b;
  }
}

TEST(CheckpointRecovery, SegmentsBeforeTheCheckpointAreDeleted) {
  BonusdProcess server;
  ASSERT_TRUE(server.start(kManual)) << server.log();
  RawConnection c(server.port());
  credits(c, 0, 250'000);  // about 25 MB of journal: 8 MiB segments
  const std::size_t before = segments(server.data_dir()).size();
  ASSERT_GE(before, 3u);
  const auto status = checkpoint(c);
  ASSERT_TRUE(status && status->ok) << (status ? status->message : "no answer");
  // The sequencer deletes them between groups; a write makes one.
  for (int i = 0; i < 100 && segments(server.data_dir()).size() > 1; ++i) {
    credits(c, 1'000'000 + std::uint64_t(i), 1);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(segments(server.data_dir()).size(), 1u) << "of " << before;
  c.close();
  EXPECT_EQ(server.stop(SIGKILL), 128 + SIGKILL);
  ASSERT_TRUE(server.start(kManual)) << server.log();
  RawConnection again(server.port());
  credits(again, 0, 250'000, true);
}

// Fills three segments, checkpoints (the journal is cut to its last segment), fills
// three more and is killed: the data directory of the damage tests below.
void checkpoint_then_more(BonusdProcess& server) {
  ASSERT_TRUE(server.start(kManual)) << server.log();
  RawConnection c(server.port());
  credits(c, 0, 100'000);
  const auto status = checkpoint(c);
  ASSERT_TRUE(status && status->ok) << (status ? status->message : "no answer");
  credits(c, 100'000, 200'000);
  c.close();
  EXPECT_EQ(server.stop(SIGKILL), 128 + SIGKILL);
  ASSERT_GE(segments(server.data_dir()).size(), 3u);
}

TEST(CheckpointRecovery, AMissingSegmentAfterTheCheckpointStopsStartUp) {
  BonusdProcess server;
  checkpoint_then_more(server);
  fs::remove(segments(server.data_dir()).front());
  EXPECT_FALSE(server.start(kManual));
  const std::string log = server.log();
  EXPECT_NE(log.find("are missing: the checkpoint is at position"), std::string::npos) << log;
}

TEST(CheckpointRecovery, AMissingCheckpointWithATrimmedJournalStopsStartUp) {
  BonusdProcess server;
  checkpoint_then_more(server);
  fs::remove_all(fs::path(server.data_dir()) / "checkpoint");
  EXPECT_FALSE(server.start(kManual));
  const std::string log = server.log();
  EXPECT_NE(log.find("there is no checkpoint to start from"), std::string::npos) << log;
}

TEST(CheckpointRecovery, ADamagedCheckpointFileStopsStartUp) {
  BonusdProcess server;
  checkpoint_then_more(server);
  // Flip a bit in the middle of every page of the file's second half: records' values.
  const fs::path file = fs::path(server.data_dir()) / "checkpoint" / "data.mdb";
  const std::string data = read_file(file);
  for (std::size_t page = data.size() / 2 / 4096; page < data.size() / 4096; ++page) {
    const std::size_t at = page * 4096 + 3000;
    write_at(file, at, std::string(1, static_cast<char>(data[at] ^ 0x10)));
  }
  EXPECT_FALSE(server.start(kManual));
  const std::string log = server.log();
  EXPECT_NE(log.find("cannot start: checkpoint"), std::string::npos) << log;
  std::printf("%s\n", log.substr(log.rfind("cannot start")).c_str());
}

TEST(CheckpointRecovery, AJournalThatEndsBeforeTheCheckpointStopsStartUp) {
  BonusdProcess server;
  ASSERT_TRUE(server.start({"--sweep-interval-ms", "60000"})) << server.log();
  {
    RawConnection c(server.port());
    credits(c, 0, 20);
  }
  ASSERT_EQ(server.stop(SIGTERM), 0) << server.log();  // a last checkpoint at the end
  const fs::path segment = segments(server.data_dir()).back();
  const std::string data = read_file(segment);
  write_at(segment, written_end(data) - 5, std::string(5, '\0'));
  EXPECT_FALSE(server.start());
  const std::string log = server.log();
  EXPECT_NE(log.find("before the checkpoint's position"), std::string::npos) << log;
}

TEST(CheckpointRecovery, AFailedCheckpointLosesNothingAndIsTriedAgain) {
  // A map too small for the checkpoint: LMDB answers MDB_MAP_FULL.
  BonusdProcess server;
  std::vector<std::string> args = kManual;
  args.insert(args.end(), {"--checkpoint-map-mib", "1"});
  ASSERT_TRUE(server.start(args)) << server.log();
  {
    RawConnection c(server.port());
    credits(c, 0, 20'000);
    auto status = checkpoint(c);
    ASSERT_TRUE(status);
    EXPECT_FALSE(status->ok);
    EXPECT_NE(status->message.find("MDB_MAP_FULL"), std::string::npos) << status->message;
    status = admin(c, protocol::AdminAction::status);
    ASSERT_TRUE(status);
    EXPECT_NE(status->message.find("the next checkpoint tries again"), std::string::npos)
        << status->message;
    credits(c, 20'000, 100);
  }
  EXPECT_EQ(server.stop(SIGKILL), 128 + SIGKILL);
  // With room, the same server writes it all; after another crash everything is there.
  ASSERT_TRUE(server.start(kManual)) << server.log();
  {
    RawConnection c(server.port());
    const auto status = checkpoint(c);
    ASSERT_TRUE(status && status->ok) << (status ? status->message : "no answer");
    EXPECT_NE(status->message.find("20100 accounts"), std::string::npos) << status->message;
  }
  EXPECT_EQ(server.stop(SIGKILL), 128 + SIGKILL);
  ASSERT_TRUE(server.start(kManual)) << server.log();
  RawConnection c(server.port());
  credits(c, 0, 20'100, true);
}

TEST(CheckpointRecovery, AnotherShardCountIsRefusedAndZeroFollowsTheManifest) {
  BonusdProcess server;
  ASSERT_TRUE(server.start({"--shards", "3"})) << server.log();
  {
    RawConnection c(server.port());
    credits(c, 0, 100);
  }
  ASSERT_EQ(server.stop(SIGTERM), 0) << server.log();
  EXPECT_FALSE(server.start({"--shards", "2"}));
  // The shard count is in the manifest now, which is checked before the checkpoint.
  EXPECT_NE(server.log().find("--shards 2 differs from the data directory's 3 shards"),
            std::string::npos)
      << server.log();
  ASSERT_TRUE(server.start({"--shards", "0"})) << server.log();
  RawConnection c(server.port());
  const auto status = admin(c, protocol::AdminAction::status);
  ASSERT_TRUE(status);
  EXPECT_EQ(status->shards, 3u);
  credits(c, 0, 100, true);
}

}  // namespace
}  // namespace bonus::test
