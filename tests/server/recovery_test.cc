// bonusd's start-up on a damaged journal: a torn record at the very end is cut off with a
// log line and everything acknowledged before it is served; a corrupt record in the middle
// stops start-up with an error naming the file and offset, and nothing is changed on disk.
#include <gtest/gtest.h>

#include <filesystem>
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
  // Tear the last record: zero its last 5 bytes, as a crash mid-write leaves it.
  write_at(segment, written_end(data) - 5, std::string(5, '\0'));

  ASSERT_TRUE(server.start()) << server.log();
  EXPECT_NE(server.log().find("cut a torn record off the end of"), std::string::npos)
      << server.log();
  // The torn record is the last credit (sweeps are a minute apart here): the other 19
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

}  // namespace
}  // namespace bonus::test
