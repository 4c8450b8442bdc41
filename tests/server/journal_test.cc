// Journal: real files in a temporary directory under /tmp, real fdatasync. Round trips
// across segments and reopens, the on-disk format (records and group trailers) read by an
// independent parser, torn groups cut with a note and a kept copy however their pages
// landed, damage in a group whose trailer follows refused with file and offset, segment
// deletion, sticky write failures (made real with RLIMIT_FSIZE, or injected) that leave no
// part of their group behind, the fence against the page cache, and journal-repair.
#include "server/journal.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "protocol/crc32c.h"

namespace bonus::server {
namespace {

namespace fs = std::filesystem;

constexpr std::uint64_t kSmallSegment = 4096;

class TempDir {
 public:
  TempDir() {
    char name[] = "/tmp/journal_test.XXXXXX";
    const char* made = ::mkdtemp(name);
    if (made == nullptr) std::abort();
    path_ = made;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string journal_dir() const { return path_ + "/journal"; }

 private:
  std::string path_;
};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_at(const std::string& path, std::uint64_t offset, std::string_view bytes) {
  std::fstream out(path, std::ios::binary | std::ios::in | std::ios::out);
  out.seekp(static_cast<std::streamoff>(offset));
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

std::vector<std::string> segment_files(const std::string& dir) {
  std::vector<std::string> files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.starts_with("journal-") && name.ends_with(".v2.log")) {
      files.push_back(entry.path().string());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::map<std::string, std::string> snapshot(const std::string& dir) {
  std::map<std::string, std::string> files;
  for (const std::string& path : segment_files(dir)) files[path] = read_file(path);
  return files;
}

std::vector<std::string> cut_files(const std::string& dir) {
  std::vector<std::string> files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().filename().string().starts_with("cut-")) {
      files.push_back(entry.path().string());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

// The records and group trailers of one segment file, read by a parser written from
// docs/journal-format.md alone: it checks every field of every record and trailer, and
// that the rest of the file is zero. (Group sums across segments are checked by callers.)
struct RecordAt {
  std::uint64_t offset = 0;
  std::uint32_t length = 0;
  std::uint64_t position = 0;
  std::string payload;
  bool trailer = false;
  // A trailer's fields.
  std::uint64_t first_position = 0;
  std::uint32_t record_count = 0;
  std::uint32_t group_crc = 0;
  std::uint64_t group_bytes = 0;
};

constexpr std::uint32_t kTrailerTag = 0xB7A11E55u;

RecordAt parse_trailer(const std::string& data, std::size_t offset) {
  RecordAt t;
  t.offset = offset;
  t.trailer = true;
  std::uint32_t crc = 0;
  std::memcpy(&crc, data.data() + offset + 4, 4);
  std::memcpy(&t.first_position, data.data() + offset + 8, 8);
  std::memcpy(&t.record_count, data.data() + offset + 16, 4);
  std::memcpy(&t.group_crc, data.data() + offset + 20, 4);
  std::memcpy(&t.group_bytes, data.data() + offset + 24, 8);
  EXPECT_EQ(crc, crc32c(data.data() + offset + 8, 24)) << "trailer at " << offset;
  return t;
}

std::vector<RecordAt> parse_items(const std::string& path) {
  const std::string data = read_file(path);
  std::vector<RecordAt> records;
  std::size_t offset = 0;
  while (offset + 16 <= data.size()) {
    std::uint32_t tag = 0;
    std::memcpy(&tag, data.data() + offset, 4);
    if (tag == kTrailerTag) {
      EXPECT_LE(offset + 32, data.size()) << path << " offset " << offset;
      records.push_back(parse_trailer(data, offset));
      offset += 32;
      continue;
    }
    RecordAt r;
    r.offset = offset;
    std::uint32_t crc = 0;
    std::memcpy(&r.length, data.data() + offset, 4);
    std::memcpy(&crc, data.data() + offset + 4, 4);
    std::memcpy(&r.position, data.data() + offset + 8, 8);
    if (r.length == 0 && crc == 0 && r.position == 0) break;
    EXPECT_LE(offset + 16 + r.length, data.size()) << path << " offset " << offset;
    r.payload = data.substr(offset + 16, r.length);
    EXPECT_EQ(crc, crc32c(r.payload.data(), r.payload.size(), crc32c(&r.position, 8)))
        << path << " offset " << offset;
    offset += 16 + r.length;
    records.push_back(std::move(r));
  }
  for (std::size_t i = offset; i < data.size(); ++i) {
    if (data[i] != 0) {
      ADD_FAILURE() << path << ": non-zero byte after the records at " << i;
      break;
    }
  }
  return records;
}

std::vector<RecordAt> parse_records(const std::string& path) {
  std::vector<RecordAt> records;
  for (RecordAt& r : parse_items(path)) {
    if (!r.trailer) records.push_back(std::move(r));
  }
  return records;
}

std::vector<RecordAt> parse_trailers(const std::string& path) {
  std::vector<RecordAt> trailers;
  for (RecordAt& r : parse_items(path)) {
    if (r.trailer) trailers.push_back(std::move(r));
  }
  return trailers;
}

std::string payload_of(std::uint64_t position, std::size_t size) {
  std::string payload(size, '\0');
  for (std::size_t i = 0; i < size; ++i)
    payload[i] = static_cast<char>('a' + (position * 7 + i) % 26);
  return payload;
}

JournalOptions small_options(const TempDir& dir) {
  JournalOptions options;
  options.dir = dir.journal_dir();
  options.segment_bytes = kSmallSegment;
  return options;
}

std::unique_ptr<Journal> open_ok(const JournalOptions& options, std::string* note = nullptr) {
  std::string ignored;
  auto opened = Journal::open(options, note ? note : &ignored);
  if (auto* error = std::get_if<std::string>(&opened)) {
    ADD_FAILURE() << "open failed: " << *error;
    return nullptr;
  }
  return std::move(std::get<std::unique_ptr<Journal>>(opened));
}

std::string open_error(const JournalOptions& options) {
  std::string note;
  auto opened = Journal::open(options, &note);
  if (auto* error = std::get_if<std::string>(&opened)) return *error;
  ADD_FAILURE() << "open succeeded where it should have failed; note: " << note;
  return {};
}

using Records = std::vector<std::pair<std::uint64_t, std::string>>;

Records replay_all(const Journal& journal, std::uint64_t from) {
  Records records;
  const auto error = journal.replay(from, [&](std::uint64_t position, std::string_view payload) {
    records.emplace_back(position, std::string(payload));
  });
  EXPECT_FALSE(error) << *error;
  return records;
}

// Appends `count` records of `size` bytes each and syncs them as one group.
Records append_group(Journal& journal, int count, std::size_t size) {
  Records written;
  for (int i = 0; i < count; ++i) {
    const std::string payload = payload_of(journal.next_position(), size);
    const auto position = journal.append(payload);
    EXPECT_TRUE(position.has_value());
    if (position) written.emplace_back(*position, payload);
  }
  const auto error = journal.sync();
  EXPECT_FALSE(error) << *error;
  return written;
}

void append_to(Records* all, const Records& more) {
  all->insert(all->end(), more.begin(), more.end());
}

TEST(Journal, OpenCreatesDirectoryAndPreallocatedFirstSegment) {
  TempDir dir;
  JournalOptions options = small_options(dir);
  options.dir = dir.path() + "/a/b";
  std::string note = "stale";
  auto journal = open_ok(options, &note);
  ASSERT_TRUE(journal);
  EXPECT_EQ(note, "");
  EXPECT_EQ(journal->next_position(), 1u);
  EXPECT_EQ(journal->first_position(), 1u);
  EXPECT_EQ(journal->durable_position(), 0u);
  EXPECT_EQ(journal->bytes(), 0u);
  const auto files = segment_files(options.dir);
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(fs::path(files[0]).filename().string(), "journal-0000000000000001.v2.log");
  EXPECT_EQ(fs::file_size(options.dir + "/journal.fence"), 4096u);
  EXPECT_EQ(fs::file_size(files[0]), kSmallSegment);
  EXPECT_TRUE(replay_all(*journal, 1).empty());
}

TEST(Journal, RejectsBadOptions) {
  TempDir dir;
  JournalOptions options = small_options(dir);
  options.segment_bytes = kJournalSegmentBytesMin - 1;
  EXPECT_NE(open_error(options).find("segment size"), std::string::npos);
  options.segment_bytes = kJournalSegmentBytesMax + 1;
  EXPECT_NE(open_error(options).find("segment size"), std::string::npos);
  options.segment_bytes = kSmallSegment;
  options.zero_ahead_bytes = kJournalZeroAheadBytesMax + 1;
  EXPECT_NE(open_error(options).find("zero-ahead"), std::string::npos);
  options.zero_ahead_bytes = 0;
  options.dir = "";
  EXPECT_NE(open_error(options).find("no directory"), std::string::npos);
}

TEST(Journal, OnDiskFormatMatchesTheDocument) {
  TempDir dir;
  auto journal = open_ok(small_options(dir));
  ASSERT_TRUE(journal);
  const Records written = append_group(*journal, 3, 5);
  ASSERT_EQ(written.size(), 3u);
  EXPECT_EQ(journal->bytes(), 3u * (16 + 5) + 32);
  const std::string data = read_file(segment_files(dir.journal_dir())[0]);
  // Record 1 at offset 0: length 5, crc32c(position LE, payload), position 1, payload.
  const std::string expected_head = std::string("\x05\0\0\0", 4);
  EXPECT_EQ(data.substr(0, 4), expected_head);
  const std::uint64_t one = 1;
  const std::uint32_t crc = crc32c(written[0].second.data(), 5, crc32c(&one, 8));
  EXPECT_EQ(data.substr(4, 4), std::string(reinterpret_cast<const char*>(&crc), 4));
  EXPECT_EQ(data.substr(8, 8), std::string("\x01\0\0\0\0\0\0\0", 8));
  EXPECT_EQ(data.substr(16, 5), written[0].second);
  const auto records = parse_records(segment_files(dir.journal_dir())[0]);
  ASSERT_EQ(records.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(records[i].offset, i * 21);
    EXPECT_EQ(records[i].position, i + 1);
    EXPECT_EQ(records[i].payload, written[i].second);
  }
  // The group trailer at offset 63: tag, crc32c of bytes 8..32, first position 1, three
  // records, crc32c of the 63 record bytes, 63.
  const std::uint32_t tag = 0xB7A11E55u;
  EXPECT_EQ(data.substr(63, 4), std::string(reinterpret_cast<const char*>(&tag), 4));
  const std::uint32_t trailer_crc = crc32c(data.data() + 63 + 8, 24);
  EXPECT_EQ(data.substr(67, 4), std::string(reinterpret_cast<const char*>(&trailer_crc), 4));
  EXPECT_EQ(data.substr(71, 8), std::string("\x01\0\0\0\0\0\0\0", 8));
  EXPECT_EQ(data.substr(79, 4), std::string("\x03\0\0\0", 4));
  const std::uint32_t group_crc = crc32c(data.data(), 63);
  EXPECT_EQ(data.substr(83, 4), std::string(reinterpret_cast<const char*>(&group_crc), 4));
  EXPECT_EQ(data.substr(87, 8), std::string("\x3f\0\0\0\0\0\0\0", 8));
  EXPECT_TRUE(std::all_of(data.begin() + 95, data.end(), [](char c) { return c == 0; }));
}

TEST(Journal, EmptyPayloadsAreRecords) {
  TempDir dir;
  Records written;
  {
    auto journal = open_ok(small_options(dir));
    ASSERT_TRUE(journal);
    written = append_group(*journal, 4, 0);
  }
  auto journal = open_ok(small_options(dir));
  ASSERT_TRUE(journal);
  EXPECT_EQ(journal->next_position(), 5u);
  EXPECT_EQ(replay_all(*journal, 1), written);
}

// Random groups of random sizes (some larger than a segment) over many small segments,
// with reopens in between; the journal must read back exactly what was synced.
TEST(Journal, RandomGroupsRoundTripAcrossSegmentsAndReopens) {
  const char* env = std::getenv("JOURNAL_SEED");
  const std::uint64_t seed = env ? std::strtoull(env, nullptr, 10) : std::random_device{}();
  std::printf("JOURNAL_SEED=%llu\n", static_cast<unsigned long long>(seed));
  SCOPED_TRACE("JOURNAL_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  TempDir dir;
  const JournalOptions options = small_options(dir);
  Records written;
  std::uint64_t last_position = 0;
  for (int round = 0; round < 8; ++round) {
    std::string note;
    auto journal = open_ok(options, &note);
    ASSERT_TRUE(journal);
    EXPECT_EQ(note, "");
    ASSERT_EQ(journal->next_position(), last_position + 1);
    for (int group = 0; group < 10; ++group) {
      const int count = 1 + static_cast<int>(rng() % 12);
      for (int i = 0; i < count; ++i) {
        const std::size_t size =
            rng() % 4 == 0 ? rng() % (kSmallSegment - 16 - 32 + 1) : rng() % 300;
        const std::string payload = payload_of(rng(), size);
        const auto position = journal->append(payload);
        ASSERT_TRUE(position);
        ASSERT_GT(*position, last_position);  // strictly increasing, across reopens too
        last_position = *position;
        written.emplace_back(*position, payload);
      }
      const auto error = journal->sync();
      ASSERT_FALSE(error) << *error;
      ASSERT_EQ(journal->durable_position(), last_position);
    }
    ASSERT_EQ(replay_all(*journal, 1), written);
  }
  // Every file holds what its name says, and the files join up.
  std::uint64_t expected = 1;
  std::uint64_t total_bytes = 0;
  const auto files = segment_files(options.dir);
  EXPECT_GT(files.size(), 10u);
  for (const std::string& path : files) {
    char name[64];
    std::snprintf(name, sizeof name, "journal-%016llx.v2.log",
                  static_cast<unsigned long long>(expected));
    EXPECT_EQ(fs::path(path).filename().string(), name);
    EXPECT_EQ(fs::file_size(path), kSmallSegment);
    for (const RecordAt& r : parse_items(path)) {
      if (r.trailer) {
        EXPECT_LT(r.first_position, expected);
        total_bytes += 32;
        continue;
      }
      EXPECT_EQ(r.position, expected);
      ++expected;
      total_bytes += 16 + r.length;
    }
  }
  EXPECT_EQ(expected, last_position + 1);
  auto journal = open_ok(options);
  ASSERT_TRUE(journal);
  EXPECT_EQ(journal->bytes(), total_bytes);
  EXPECT_EQ(journal->segment_count(), files.size());
  // Replay from the middle gives the tail only.
  const std::uint64_t from = written.size() / 2;
  const Records tail(written.begin() + static_cast<std::ptrdiff_t>(from - 1), written.end());
  EXPECT_EQ(replay_all(*journal, from), tail);
}

// Zeroing ahead of the records (on by default, clamped to these small segments above)
// must never touch a record: here the zeroed part ends inside segments and groups.
TEST(Journal, ZeroAheadNeverTouchesRecords) {
  for (const std::uint64_t zero_ahead :
       {std::uint64_t{0}, std::uint64_t{1000}, std::uint64_t{4096}}) {
    SCOPED_TRACE("zero_ahead_bytes=" + std::to_string(zero_ahead));
    TempDir dir;
    JournalOptions options = small_options(dir);
    options.segment_bytes = 16 * 1024;
    options.zero_ahead_bytes = zero_ahead;
    Records written;
    for (int round = 0; round < 3; ++round) {
      auto journal = open_ok(options);
      ASSERT_TRUE(journal);
      for (int group = 0; group < 12; ++group) {
        append_to(&written,
                  append_group(*journal, 1 + group % 5, 97 + static_cast<std::size_t>(group) * 31));
      }
      ASSERT_EQ(replay_all(*journal, 1), written);
    }
    std::size_t records = 0;
    for (const std::string& path : segment_files(options.dir))
      records += parse_records(path).size();
    EXPECT_EQ(records, written.size());
  }
}

TEST(Journal, OneGroupLargerThanSeveralSegments) {
  TempDir dir;
  const JournalOptions options = small_options(dir);
  Records written;
  {
    auto journal = open_ok(options);
    ASSERT_TRUE(journal);
    written = append_group(*journal, 20, 1500);  // 2 records fit per segment
    EXPECT_EQ(journal->segment_count(), 10u);
    EXPECT_EQ(journal->pending_bytes(), 0u);
  }
  auto journal = open_ok(options);
  ASSERT_TRUE(journal);
  EXPECT_EQ(replay_all(*journal, 1), written);
  EXPECT_EQ(segment_files(options.dir).size(), 10u);
}

TEST(Journal, UnsyncedRecordsAreNotReplayedAndNotKept) {
  TempDir dir;
  const JournalOptions options = small_options(dir);
  Records written;
  {
    auto journal = open_ok(options);
    ASSERT_TRUE(journal);
    written = append_group(*journal, 3, 10);
    ASSERT_TRUE(journal->append("never synced"));
    EXPECT_EQ(journal->pending_bytes(), 16u + 12);
    EXPECT_EQ(journal->durable_position(), 3u);
    EXPECT_EQ(replay_all(*journal, 1), written);
  }
  auto journal = open_ok(options);
  ASSERT_TRUE(journal);
  EXPECT_EQ(journal->next_position(), 4u);
  EXPECT_EQ(replay_all(*journal, 1), written);
}

TEST(Journal, ReplayRangeIsChecked) {
  TempDir dir;
  auto journal = open_ok(small_options(dir));
  ASSERT_TRUE(journal);
  append_group(*journal, 5, 10);
  const auto nothing = [](std::uint64_t, std::string_view) {};
  EXPECT_FALSE(journal->replay(6, nothing));  // nothing after the end: fine, and empty
  const auto past = journal->replay(7, nothing);
  ASSERT_TRUE(past);
  EXPECT_NE(past->find("positions 1 to 5"), std::string::npos) << *past;
  EXPECT_TRUE(journal->replay(0, nothing));
}

TEST(Journal, SyncFalseStillWritesRecords) {
  TempDir dir;
  JournalOptions options = small_options(dir);
  options.sync = false;
  Records written;
  {
    auto journal = open_ok(options);
    ASSERT_TRUE(journal);
    written = append_group(*journal, 30, 200);
  }
  auto journal = open_ok(options);
  ASSERT_TRUE(journal);
  EXPECT_EQ(replay_all(*journal, 1), written);
}

TEST(Journal, GrowingSegmentsRoundTrip) {
  TempDir dir;
  JournalOptions options = small_options(dir);
  options.preallocate = false;
  Records written;
  {
    auto journal = open_ok(options);
    ASSERT_TRUE(journal);
    append_to(&written, append_group(*journal, 30, 200));
  }
  const auto files = segment_files(options.dir);
  ASSERT_GT(files.size(), 1u);
  EXPECT_LT(fs::file_size(files.back()), kSmallSegment);
  auto journal = open_ok(options);
  ASSERT_TRUE(journal);
  append_to(&written, append_group(*journal, 5, 200));
  EXPECT_EQ(replay_all(*journal, 1), written);
}

TEST(Journal, UnknownFilesInTheDirectoryAreLeftAlone) {
  TempDir dir;
  const JournalOptions options = small_options(dir);
  { ASSERT_TRUE(open_ok(options)); }
  std::ofstream(options.dir + "/journal-notes.txt") << "hello";
  std::ofstream(options.dir + "/journal-00000000000000zz.log") << "hello";
  auto journal = open_ok(options);
  ASSERT_TRUE(journal);
  EXPECT_EQ(journal->segment_count(), 1u);
}

// A crash right after a new segment was created leaves it empty (or even 0 bytes long).
TEST(Journal, EmptyLastSegmentFromACrashAfterRotation) {
  TempDir dir;
  const JournalOptions options = small_options(dir);
  Records written;
  {
    auto journal = open_ok(options);
    ASSERT_TRUE(journal);
    written = append_group(*journal, 3, 100);
  }
  std::ofstream(options.dir + "/journal-0000000000000004.v2.log");  // 0 bytes
  auto journal = open_ok(options);
  ASSERT_TRUE(journal);
  EXPECT_EQ(journal->segment_count(), 2u);
  EXPECT_EQ(fs::file_size(options.dir + "/journal-0000000000000004.v2.log"), kSmallSegment);
  append_to(&written, append_group(*journal, 2, 100));
  EXPECT_EQ(parse_records(options.dir + "/journal-0000000000000004.v2.log").size(), 2u);
  EXPECT_EQ(replay_all(*journal, 1), written);
}

// --- Torn groups: cut, with a note and a kept copy ---

// The state a crash leaves when the last group's sync did not finish: its trailer never
// written, and its records damaged in some way a torn write can leave them.
struct TornCase {
  const char* name;
  // Damages the last group, whose records are at [offset, trailer) of `path`; the
  // trailer (32 bytes at `trailer`) is zeroed already.
  void (*damage)(const std::string& path, std::uint64_t offset, std::uint64_t trailer);
  const char* reason;  // in the note
};

void PrintTo(const TornCase& c, std::ostream* os) {
  *os << c.name;
}

void records_whole(const std::string&, std::uint64_t, std::uint64_t) {}
void zero_second_half(const std::string& path, std::uint64_t offset, std::uint64_t trailer) {
  const std::uint64_t mid = offset + (trailer - offset) / 2;
  write_at(path, mid, std::string(trailer - mid, '\0'));
}
void partial_header(const std::string& path, std::uint64_t offset, std::uint64_t trailer) {
  write_at(path, offset + 6, std::string(trailer - offset - 6, '\0'));
}
void length_past_end(const std::string& path, std::uint64_t offset, std::uint64_t) {
  write_at(path, offset, std::string("\xff\xff\x00\x00", 4));
}
// A power loss that kept later pages of the group but not its first: zeros from the group's
// start to the next 512-byte sector, the rest as written.
void first_sector_lost(const std::string& path, std::uint64_t offset, std::uint64_t) {
  const std::uint64_t sector_end = (offset / 512 + 1) * 512;
  write_at(path, offset, std::string(sector_end - offset, '\0'));
}
// A trailer whose write was torn: its first half there, the rest not.
void half_a_trailer(const std::string& path, std::uint64_t, std::uint64_t trailer) {
  std::uint32_t tag = 0xB7A11E55u;
  write_at(path, trailer, std::string(reinterpret_cast<const char*>(&tag), 4) + "\x12\x34");
}

class TornGroup : public testing::TestWithParam<TornCase> {};

TEST_P(TornGroup, IsCutWithANoteAndACopyAndAppendsContinue) {
  TempDir dir;
  const JournalOptions options = small_options(dir);
  Records written;
  {
    auto journal = open_ok(options);
    ASSERT_TRUE(journal);
    written = append_group(*journal, 14, 300);  // 12 fit in a segment: over two
    append_to(&written, append_group(*journal, 3, 300));
  }
  const std::string last = segment_files(options.dir).back();
  const auto records = parse_records(last);
  const auto trailers = parse_trailers(last);
  ASSERT_GE(records.size(), 3u);
  ASSERT_EQ(trailers.size(), 2u);
  const RecordAt& group_start = records[records.size() - 3];
  const std::uint64_t trailer = trailers.back().offset;
  write_at(last, trailer, std::string(32, '\0'));
  GetParam().damage(last, group_start.offset, trailer);
  const std::string before = read_file(last);
  const std::uint64_t before_end = before.find_last_not_of('\0') + 1;

  std::string note;
  auto journal = open_ok(options, &note);
  ASSERT_TRUE(journal);
  EXPECT_NE(note.find(last + " offset " + std::to_string(group_start.offset)), std::string::npos)
      << note;
  EXPECT_NE(note.find("a torn group"), std::string::npos) << note;
  EXPECT_NE(note.find(GetParam().reason), std::string::npos) << note;
  EXPECT_NE(note.find("ends at position " + std::to_string(group_start.position - 1)),
            std::string::npos)
      << note;
  written.resize(written.size() - 3);
  EXPECT_EQ(replay_all(*journal, 1), written);
  EXPECT_EQ(journal->next_position(), group_start.position);
  // The cut bytes are kept beside the journal, and zeroed in it.
  const auto copies = cut_files(options.dir);
  if (before_end > group_start.offset) {
    ASSERT_EQ(copies.size(), 1u);
    EXPECT_NE(note.find(copies[0]), std::string::npos) << note;
    EXPECT_EQ(read_file(copies[0]),
              before.substr(group_start.offset, before_end - group_start.offset));
  }
  EXPECT_EQ(parse_records(last).size(), records.size() - 3);

  // Appending over the cut, then reopening, is clean.
  append_to(&written, append_group(*journal, 3, 50));
  journal.reset();
  journal = open_ok(options, &note);
  ASSERT_TRUE(journal);
  EXPECT_EQ(note, "");
  EXPECT_EQ(replay_all(*journal, 1), written);
}

INSTANTIATE_TEST_SUITE_P(
    Journal, TornGroup,
    testing::Values(TornCase{"RecordsWholeTrailerMissing", records_whole, "3 record(s) with no"},
                    TornCase{"SecondHalfMissing", zero_second_half, "checksum mismatch"},
                    TornCase{"PartialHeader", partial_header, "checksum mismatch"},
                    TornCase{"LengthPastEnd", length_past_end, "runs past the end"},
                    // Regression: refused before ("zero header where data follows;
                    // non-zero bytes follow") although nothing acknowledged was lost.
                    TornCase{"RegressionFirstSectorLostLaterOnesLanded", first_sector_lost,
                             "zero header where data follows"},
                    TornCase{"HalfATrailer", half_a_trailer, "trailer checksum mismatch"}),
    [](const testing::TestParamInfo<TornCase>& param_info) { return param_info.param.name; });

// A torn group is cut however its pages landed: here a group of many pages lost its first
// page (4 KiB of zeros at its start, which also held part of the group before it, synced
// and kept) while the later pages reached the disk.
TEST(Journal, RegressionTornGroupWhoseFirstPageWasLostIsCut) {
  TempDir dir;
  JournalOptions options = small_options(dir);
  options.segment_bytes = 64 * 1024;
  Records written;
  {
    auto journal = open_ok(options);
    ASSERT_TRUE(journal);
    written = append_group(*journal, 5, 500);  // 2,612 bytes with its trailer
    append_to(&written, append_group(*journal, 30, 500));
  }
  const std::string path = segment_files(options.dir).back();
  const auto trailers = parse_trailers(path);
  ASSERT_EQ(trailers.size(), 2u);
  const std::uint64_t group_start = trailers[0].offset + 32;
  const std::string whole = read_file(path);
  // The page cache had the page [0, 4096) dirty with both groups; the disk kept its old
  // version (the first group only), the later pages new, and not the trailer.
  write_at(path, group_start, std::string(4096 - group_start, '\0'));
  write_at(path, trailers[1].offset, std::string(32, '\0'));

  std::string note;
  auto journal = open_ok(options, &note);
  ASSERT_TRUE(journal);
  EXPECT_NE(note.find("offset " + std::to_string(group_start)), std::string::npos) << note;
  EXPECT_NE(note.find("ends at position 5"), std::string::npos) << note;
  written.resize(5);
  EXPECT_EQ(replay_all(*journal, 1), written);
  const auto copies = cut_files(options.dir);
  ASSERT_EQ(copies.size(), 1u);
  const std::string copy = read_file(copies[0]);
  EXPECT_EQ(copy.size(), trailers[1].offset - group_start);
  EXPECT_EQ(copy.substr(4096 - group_start), whole.substr(4096, trailers[1].offset - 4096));
  append_to(&written, append_group(*journal, 2, 10));
  journal.reset();
  journal = open_ok(options, &note);
  ASSERT_TRUE(journal);
  EXPECT_EQ(note, "");
  EXPECT_EQ(replay_all(*journal, 1), written);
}

// A group over two segments whose trailer never came: both parts go, the second segment
// whole (kept under a cut-* name), and appends continue in the first.
TEST(Journal, TornGroupOverTwoSegmentsIsCutInBoth) {
  TempDir dir;
  const JournalOptions options = small_options(dir);
  Records written;
  {
    auto journal = open_ok(options);
    ASSERT_TRUE(journal);
    written = append_group(*journal, 4, 300);
    append_to(&written, append_group(*journal, 12, 300));  // spills into a second segment
  }
  auto files = segment_files(options.dir);
  ASSERT_EQ(files.size(), 2u);
  const auto trailers = parse_trailers(files[1]);
  ASSERT_EQ(trailers.size(), 1u);
  write_at(files[1], trailers[0].offset, std::string(32, '\0'));
  const std::uint64_t group_start = parse_trailers(files[0])[0].offset + 32;

  std::string note;
  auto journal = open_ok(options, &note);
  ASSERT_TRUE(journal);
  EXPECT_NE(note.find(files[0] + " offset " + std::to_string(group_start)), std::string::npos)
      << note;
  EXPECT_EQ(segment_files(options.dir), std::vector<std::string>{files[0]});
  EXPECT_EQ(cut_files(options.dir).size(), 2u);  // the second segment and the first's tail
  written.resize(4);
  EXPECT_EQ(replay_all(*journal, 1), written);
  append_to(&written, append_group(*journal, 12, 300));
  journal.reset();
  journal = open_ok(options, &note);
  ASSERT_TRUE(journal);
  EXPECT_EQ(note, "");
  EXPECT_EQ(replay_all(*journal, 1), written);
}

// In a growing (not preallocated) file a torn write shows as a file cut mid-group.
TEST(Journal, TornGroupOfAGrowingFileIsCut) {
  TempDir dir;
  JournalOptions options = small_options(dir);
  options.preallocate = false;
  Records written;
  {
    auto journal = open_ok(options);
    ASSERT_TRUE(journal);
    written = append_group(*journal, 3, 100);  // 3 * 116 + 32 = 380 bytes
    append_to(&written, append_group(*journal, 1, 100));
  }
  const std::string path = segment_files(options.dir).back();
  const std::string whole = read_file(path);
  ASSERT_EQ(whole.size(), 380u + 116 + 32);
  // Partial header; partial payload; the record whole but no trailer.
  for (std::uint64_t keep : {380u + 10, 380u + 100, 380u + 116}) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << whole.substr(0, keep);
    std::string note;
    auto journal = open_ok(options, &note);
    ASSERT_TRUE(journal);
    EXPECT_NE(note.find("offset 380"), std::string::npos) << note;
    EXPECT_EQ(replay_all(*journal, 1), Records(written.begin(), written.begin() + 3));
    EXPECT_EQ(journal->next_position(), 4u);
  }
}

// --- Damage anywhere else: refused, naming file and offset, and nothing changed ---

struct Damaged {
  JournalOptions options;
  Records written;
  std::vector<std::string> files;
};

Damaged write_three_segments(const TempDir& dir) {
  Damaged d;
  d.options = small_options(dir);
  auto journal = open_ok(d.options);
  if (!journal) return d;
  for (int i = 0; i < 6; ++i) append_to(&d.written, append_group(*journal, 5, 300));
  d.files = segment_files(d.options.dir);
  EXPECT_GE(d.files.size(), 3u);
  return d;
}

void expect_refused(const Damaged& d, const std::string& file, std::uint64_t offset,
                    const std::string& reason) {
  const auto before = snapshot(d.options.dir);
  const std::string error = open_error(d.options);
  EXPECT_NE(error.find(file + ": corrupt record at offset " + std::to_string(offset) + " "),
            std::string::npos)
      << error;
  EXPECT_NE(error.find(reason), std::string::npos) << error;
  EXPECT_EQ(snapshot(d.options.dir), before) << "a refused open changed the files";
}

TEST(Journal, ChecksumMismatchInTheMiddleOfTheLastSegmentIsRefused) {
  TempDir dir;
  const Damaged d = write_three_segments(dir);
  const auto records = parse_records(d.files.back());
  ASSERT_GE(records.size(), 3u);
  const RecordAt& r = records[records.size() - 2];
  write_at(d.files.back(), r.offset + 20, "X");
  expect_refused(d, d.files.back(), r.offset, "checksum mismatch; a valid group trailer follows");
}

TEST(Journal, DamagedLastRecordOfAnEarlierSegmentIsRefused) {
  TempDir dir;
  const Damaged d = write_three_segments(dir);
  const auto records = parse_records(d.files[1]);
  const RecordAt& r = records.back();
  write_at(d.files[1], r.offset + 16 + r.length - 1, "\x01");
  expect_refused(d, d.files[1], r.offset, "a valid group trailer follows at ");
}

TEST(Journal, TruncatedEarlierSegmentIsRefused) {
  TempDir dir;
  const Damaged d = write_three_segments(dir);
  const auto records = parse_records(d.files[0]);
  fs::resize_file(d.files[0], records.back().offset + 20);
  expect_refused(d, d.files[0], records.back().offset, "runs past the end");
}

// A record whose length word grew so large that the rest of the segment looks like its
// payload must not pass for a torn group: the valid trailer inside it shows it is not.
TEST(Journal, RegressionCorruptLengthSwallowingGoodRecordsIsRefused) {
  TempDir dir;
  const Damaged d = write_three_segments(dir);
  const auto records = parse_records(d.files.back());
  ASSERT_GE(records.size(), 3u);
  const RecordAt& r = records[records.size() - 3];
  const auto trailers = parse_trailers(d.files.back());
  const std::uint32_t length = static_cast<std::uint32_t>(kSmallSegment - r.offset - 16);
  write_at(d.files.back(), r.offset, std::string(reinterpret_cast<const char*>(&length), 4));
  std::uint64_t next_trailer = 0;
  for (const RecordAt& t : trailers) {
    if (t.offset > r.offset) {
      next_trailer = t.offset;
      break;
    }
  }
  ASSERT_GT(next_trailer, 0u);
  expect_refused(d, d.files.back(), r.offset,
                 "a valid group trailer follows at " + d.files.back() + " offset " +
                     std::to_string(next_trailer));
  // And the same with a length past the end of the file.
  const std::uint32_t huge = 1u << 29;
  write_at(d.files.back(), r.offset, std::string(reinterpret_cast<const char*>(&huge), 4));
  expect_refused(d, d.files.back(), r.offset,
                 "runs past the end of the file; a valid group trailer follows");
}

TEST(Journal, ZeroedHeaderWithDataAfterItIsRefused) {
  TempDir dir;
  const Damaged d = write_three_segments(dir);
  const auto records = parse_records(d.files.back());
  ASSERT_GE(records.size(), 2u);
  write_at(d.files.back(), records[0].offset, std::string(16, '\0'));
  expect_refused(d, d.files.back(), records[0].offset, "zero header");
}

// A well-formed record with the wrong position (here: the right bytes of a later record)
// is never a torn write, even at the very end.
TEST(Journal, WrongPositionIsRefusedEvenAtTheEnd) {
  TempDir dir;
  const Damaged d = write_three_segments(dir);
  const auto records = parse_records(d.files.back());
  const RecordAt& r = records.back();
  const std::uint64_t wrong = r.position + 1;
  const std::uint32_t crc = crc32c(r.payload.data(), r.payload.size(), crc32c(&wrong, 8));
  write_at(d.files.back(), r.offset + 4, std::string(reinterpret_cast<const char*>(&crc), 4));
  write_at(d.files.back(), r.offset + 8, std::string(reinterpret_cast<const char*>(&wrong), 8));
  expect_refused(d, d.files.back(), r.offset,
                 "position " + std::to_string(wrong) + " where " + std::to_string(r.position));
}

// A flipped bit in the last record of the last group, which was acknowledged (its trailer
// is there and valid): bit rot, not a torn write. Was cut as torn, losing the record.
TEST(Journal, RegressionBitRotInTheLastAcknowledgedGroupIsRefusedNotCut) {
  TempDir dir;
  const Damaged d = write_three_segments(dir);
  const auto records = parse_records(d.files.back());
  const RecordAt& r = records.back();
  const auto trailers = parse_trailers(d.files.back());
  const std::uint64_t at = r.offset + 16 + r.length - 1;
  write_at(d.files.back(), at, std::string(1, static_cast<char>(r.payload.back() ^ 1)));
  expect_refused(d, d.files.back(), r.offset,
                 "checksum mismatch; a valid group trailer follows at " + d.files.back() +
                     " offset " + std::to_string(trailers.back().offset) +
                     ", so the damaged group was fully written");
  EXPECT_TRUE(cut_files(d.options.dir).empty());
}

// A trailer that does not describe the records before it (here: one record of the group
// replaced by another well-formed one with the same position) is corruption too.
TEST(Journal, TrailerNotMatchingItsRecordsIsRefused) {
  TempDir dir;
  const Damaged d = write_three_segments(dir);
  const auto records = parse_records(d.files.back());
  const RecordAt& r = records.back();
  std::string payload = r.payload;
  payload[0] = static_cast<char>(payload[0] ^ 1);
  const std::uint32_t crc = crc32c(payload.data(), payload.size(), crc32c(&r.position, 8));
  const auto trailers = parse_trailers(d.files.back());
  write_at(d.files.back(), r.offset + 4, std::string(reinterpret_cast<const char*>(&crc), 4));
  write_at(d.files.back(), r.offset + 16, payload);
  expect_refused(d, d.files.back(), trailers.back().offset,
                 "group trailer does not match the records before it; a valid group trailer "
                 "follows at " + d.files.back() + " offset " +
                     std::to_string(trailers.back().offset));
}

// Segments of format version 1 (named journal-<position>.log, no trailers) are refused by
// name, not read as torn groups and cut.
TEST(Journal, FormatVersion1SegmentIsRefusedByName) {
  TempDir dir;
  const JournalOptions options = small_options(dir);
  fs::create_directories(options.dir);
  const std::string old = options.dir + "/journal-0000000000000001.log";
  std::ofstream(old) << std::string("\x05\0\0\0", 4) << "xxxxxxxxxxxxxxxxx";
  const std::string error = open_error(options);
  EXPECT_NE(error.find(old + ": a segment of journal format version 1"), std::string::npos)
      << error;
  EXPECT_TRUE(segment_files(options.dir).empty());
}

TEST(Journal, MissingMiddleSegmentIsRefused) {
  TempDir dir;
  const Damaged d = write_three_segments(dir);
  fs::remove(d.files[1]);
  const auto before = snapshot(d.options.dir);
  const std::string error = open_error(d.options);
  EXPECT_NE(error.find("missing records"), std::string::npos) << error;
  EXPECT_NE(error.find(d.files[0]), std::string::npos) << error;
  EXPECT_NE(error.find(d.files[2]), std::string::npos) << error;
  EXPECT_EQ(snapshot(d.options.dir), before);
}

// --- Deleting old segments ---

TEST(Journal, DeleteSegmentsBeforeKeepsEveryRecordFromThePosition) {
  TempDir dir;
  const JournalOptions options = small_options(dir);
  auto journal = open_ok(options);
  ASSERT_TRUE(journal);
  Records written;
  for (int i = 0; i < 10; ++i) append_to(&written, append_group(*journal, 5, 300));
  const std::size_t segments = journal->segment_count();
  ASSERT_GE(segments, 5u);

  EXPECT_FALSE(journal->delete_segments_before(1));
  EXPECT_EQ(journal->segment_count(), segments);
  const std::uint64_t keep_from = 23;
  EXPECT_FALSE(journal->delete_segments_before(keep_from));
  EXPECT_LT(journal->segment_count(), segments);
  EXPECT_LE(journal->first_position(), keep_from);
  EXPECT_GT(journal->first_position(), 1u);
  EXPECT_EQ(segment_files(options.dir).size(), journal->segment_count());
  const Records tail(written.begin() + static_cast<std::ptrdiff_t>(keep_from - 1), written.end());
  EXPECT_EQ(replay_all(*journal, keep_from), tail);
  EXPECT_TRUE(journal->replay(1, [](std::uint64_t, std::string_view) {}));  // deleted

  // Past the end: everything but the segment being appended to goes.
  EXPECT_FALSE(journal->delete_segments_before(journal->next_position() + 100));
  EXPECT_EQ(journal->segment_count(), 1u);
  append_to(&written, append_group(*journal, 5, 300));
  const std::uint64_t first = journal->first_position();
  journal.reset();

  journal = open_ok(options);
  ASSERT_TRUE(journal);
  EXPECT_EQ(journal->first_position(), first);
  EXPECT_EQ(replay_all(*journal, first),
            Records(written.begin() + static_cast<std::ptrdiff_t>(first - 1), written.end()));
}

// --- Sticky failures, made real by a file size limit (root ignores permissions) ---

class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    std::signal(SIGXFSZ, SIG_IGN);  // get EFBIG instead of the signal
    ::getrlimit(RLIMIT_FSIZE, &saved_);
    rlimit limit = saved_;
    limit.rlim_cur = bytes;
    ::setrlimit(RLIMIT_FSIZE, &limit);
  }
  ~FileSizeLimit() { ::setrlimit(RLIMIT_FSIZE, &saved_); }

 private:
  rlimit saved_{};
};

TEST(Journal, FailedWriteIsStickyAndTheTornWriteIsCutOnReopen) {
  TempDir dir;
  const JournalOptions options = small_options(dir);
  Records written;
  {
    auto journal = open_ok(options);
    ASSERT_TRUE(journal);
    written = append_group(*journal, 3, 100);  // 348 bytes and a 32-byte trailer
    ASSERT_TRUE(journal->append(std::string(1000, 'x')));
    std::optional<std::string> error;
    {
      const FileSizeLimit limit(380 + 100);  // the write gets 100 bytes in, then EFBIG
      error = journal->sync();
    }
    ASSERT_TRUE(error);
    EXPECT_NE(error->find("cannot write"), std::string::npos) << *error;
    EXPECT_EQ(journal->error(), error);
    EXPECT_FALSE(journal->append("more"));
    EXPECT_EQ(journal->sync(), error);
    EXPECT_EQ(journal->durable_position(), 3u);
  }
  std::string note;
  auto journal = open_ok(options, &note);
  ASSERT_TRUE(journal);
  EXPECT_NE(note.find("offset 380"), std::string::npos) << note;
  EXPECT_NE(note.find("failed write or sync"), std::string::npos) << note;
  EXPECT_EQ(replay_all(*journal, 1), written);
  append_to(&written, append_group(*journal, 2, 10));
  EXPECT_EQ(replay_all(*journal, 1), written);
}

TEST(Journal, FailedSegmentCreationIsSticky) {
  TempDir dir;
  const JournalOptions options = small_options(dir);
  Records written;
  {
    auto journal = open_ok(options);
    ASSERT_TRUE(journal);
    written = append_group(*journal, 2, 1500);  // fills the first segment
    ASSERT_TRUE(journal->append(std::string(1500, 'y')));
    std::optional<std::string> error;
    {
      const FileSizeLimit limit(kSmallSegment / 2);  // the new segment cannot be allocated
      error = journal->sync();
    }
    ASSERT_TRUE(error);
    EXPECT_NE(error->find("cannot preallocate"), std::string::npos) << *error;
    EXPECT_FALSE(journal->append("more"));
    EXPECT_TRUE(journal->sync());
  }
  std::string note;
  auto journal = open_ok(options, &note);
  ASSERT_TRUE(journal);
  EXPECT_EQ(note, "");
  EXPECT_EQ(replay_all(*journal, 1), written);
  append_to(&written, append_group(*journal, 2, 1500));
  EXPECT_EQ(replay_all(*journal, 1), written);
}

// A group that spills into a new segment and fails there (the new segment cannot be
// allocated: a full disk) after its first part was written and synced in the old one.
// Regression: the first part came back after a restart although sync() had failed (with
// bonusd: 5,481 of 8,192 credits of a batch answered storage_failed were applied).
TEST(Journal, RegressionGroupSpillingIntoANewSegmentThatFailsLeavesNothing) {
  for (const bool fence_lost : {false, true}) {
    SCOPED_TRACE(fence_lost ? "fence lost too (a crash, not a reported failure)" : "fence kept");
    TempDir dir;
    const JournalOptions options = small_options(dir);
    Records written;
    {
      auto journal = open_ok(options);
      ASSERT_TRUE(journal);
      written = append_group(*journal, 2, 1000);  // 2,064 bytes with the trailer
      for (int i = 0; i < 4; ++i) ASSERT_TRUE(journal->append(std::string(1000, 'z')));
      std::optional<std::string> error;
      {
        // The first record fits the old segment (to 3,080, zeroed already); the new
        // segment cannot be preallocated past 3,500 bytes.
        const FileSizeLimit limit(3500);
        error = journal->sync();
      }
      ASSERT_TRUE(error);
      EXPECT_NE(error->find("cannot preallocate"), std::string::npos) << *error;
      EXPECT_EQ(journal->durable_position(), 2u);
      EXPECT_EQ(replay_all(*journal, 1), written);
    }
    // The first part did reach the disk, synced.
    ASSERT_EQ(parse_records(segment_files(options.dir)[0]).size(), 3u);
    if (fence_lost) write_at(options.dir + "/journal.fence", 0, std::string(40, '\0'));
    std::string note;
    auto journal = open_ok(options, &note);
    ASSERT_TRUE(journal);
    EXPECT_NE(note.find("offset 2064"), std::string::npos) << note;
    EXPECT_NE(note.find(fence_lost ? "a torn group (1 record(s)" : "failed write or sync"),
              std::string::npos)
        << note;
    EXPECT_EQ(journal->next_position(), 3u);
    EXPECT_EQ(replay_all(*journal, 1), written);
    append_to(&written, append_group(*journal, 4, 1000));
    journal.reset();
    journal = open_ok(options, &note);
    ASSERT_TRUE(journal);
    EXPECT_EQ(note, "");
    EXPECT_EQ(replay_all(*journal, 1), written);
  }
}

// The same with the failure injected at each later step of a spilling group: the sync of
// the new segment's part, the trailer write, the trailer sync.
TEST(Journal, GroupFailingAtAnyStepLeavesNothingAfterReopen) {
  for (const JournalStep step : {JournalStep::write_records, JournalStep::sync_records,
                                 JournalStep::create_segment, JournalStep::write_trailer,
                                 JournalStep::sync_trailer}) {
    for (const int nth : {1, 2}) {  // the step's first or second time in the group
      SCOPED_TRACE("step " + std::to_string(static_cast<int>(step)) + " time " +
                   std::to_string(nth));
      TempDir dir;
      JournalOptions options = small_options(dir);
      int seen = 0;
      bool armed = false;
      options.fault_for_test = [&](JournalStep s) {
        return armed && s == step && ++seen == nth ? EIO : 0;
      };
      Records written;
      {
        auto journal = open_ok(options);
        ASSERT_TRUE(journal);
        written = append_group(*journal, 2, 1000);
        for (int i = 0; i < 6; ++i) ASSERT_TRUE(journal->append(std::string(1000, 'z')));
        armed = true;
        const auto error = journal->sync();
        // This group of six goes over three segments: records are written and synced
        // three times, segments created twice, the trailer once.
        const bool twice = step != JournalStep::write_trailer && step != JournalStep::sync_trailer;
        if (nth == 2 && !twice) {
          EXPECT_FALSE(error);  // create_segment and the trailer come once in this group
          continue;
        }
        ASSERT_TRUE(error);
        EXPECT_NE(error->find(std::strerror(EIO)), std::string::npos) << *error;
        EXPECT_EQ(journal->durable_position(), 2u);
      }
      armed = false;
      std::string note;
      auto journal = open_ok(options, &note);
      ASSERT_TRUE(journal);
      EXPECT_EQ(journal->next_position(), 3u) << note;
      EXPECT_EQ(replay_all(*journal, 1), written);
      EXPECT_EQ(segment_files(options.dir).size(), 1u);
      EXPECT_EQ(read_file(options.dir + "/journal.fence"), std::string(4096, '\0'));
    }
  }
}

// After a failed fdatasync Linux may mark the failed pages clean and keep them in the page
// cache, so a restart without a reboot reads the failed group back whole. The fence
// written at the failure makes recovery cut it anyway. (Injected: the trailer's fdatasync
// reports EIO; what was written stays in the page cache, as there.)
TEST(Journal, RegressionFailedSyncDoesNotComeBackFromThePageCache) {
  TempDir dir;
  JournalOptions options = small_options(dir);
  bool fail_sync = false;
  options.fault_for_test = [&](JournalStep s) {
    return fail_sync && s == JournalStep::sync_trailer ? EIO : 0;
  };
  Records written;
  Records failed;
  {
    auto journal = open_ok(options);
    ASSERT_TRUE(journal);
    written = append_group(*journal, 3, 100);
    fail_sync = true;
    for (int i = 0; i < 3; ++i) {
      const std::string payload = payload_of(journal->next_position(), 100);
      failed.emplace_back(*journal->append(payload), payload);
    }
    const auto error = journal->sync();
    ASSERT_TRUE(error);
    EXPECT_NE(error->find("cannot fdatasync the group trailer"), std::string::npos) << *error;
    fail_sync = false;
  }
  // Everything of the failed group reads back whole: records and trailer.
  const std::string segment = segment_files(options.dir)[0];
  ASSERT_EQ(parse_records(segment).size(), 6u);
  ASSERT_EQ(parse_trailers(segment).size(), 2u);
  const std::string whole = read_file(segment);
  const std::string fence = read_file(options.dir + "/journal.fence");
  EXPECT_NE(fence.substr(0, 40), std::string(40, '\0'));

  std::string note;
  auto journal = open_ok(options, &note);
  ASSERT_TRUE(journal);
  EXPECT_NE(note.find("failed write or sync (fence in " + options.dir + "/journal.fence)"),
            std::string::npos)
      << note;
  EXPECT_EQ(replay_all(*journal, 1), written);
  EXPECT_EQ(journal->next_position(), 4u);
  EXPECT_EQ(read_file(options.dir + "/journal.fence"), std::string(4096, '\0'));
  ASSERT_EQ(cut_files(options.dir).size(), 1u);
  // The copy holds the failed group's bytes up to its last non-zero one.
  EXPECT_EQ(read_file(cut_files(options.dir)[0]),
            whole.substr(380, whole.find_last_not_of('\0') + 1 - 380));
  journal.reset();

  // Without the fence, the same files would bring the failed group back as durable.
  write_at(segment, 380, read_file(cut_files(options.dir)[0]));
  journal = open_ok(options, &note);
  ASSERT_TRUE(journal);
  Records both = written;
  append_to(&both, failed);
  EXPECT_EQ(replay_all(*journal, 1), both);
}

// After deleting old segments the first one may start inside a group that spans it and
// the next: that group's trailer, in the second segment, is checked by positions only.
TEST(Journal, TrimmedJournalWhoseFirstGroupSpansTwoSegmentsOpens) {
  TempDir dir;
  const JournalOptions options = small_options(dir);
  Records written;
  {
    auto journal = open_ok(options);
    ASSERT_TRUE(journal);
    written = append_group(*journal, 2, 1500);              // segment 1 (positions 1-2)
    append_to(&written, append_group(*journal, 5, 1500));  // positions 3-7 over 3 segments
    ASSERT_EQ(journal->segment_count(), 4u);
    ASSERT_FALSE(journal->delete_segments_before(5));  // positions 5 on (segment 3) stay
    ASSERT_EQ(journal->first_position(), 5u);
  }
  std::string note;
  auto journal = open_ok(options, &note);
  ASSERT_TRUE(journal);
  EXPECT_EQ(note, "");
  EXPECT_EQ(replay_all(*journal, 5), Records(written.begin() + 4, written.end()));
}

// A failed journal deletes no segment (a checkpoint may still ask it to), so the segment
// the fence names is there at recovery.
TEST(Journal, FailedJournalDeletesNoSegments) {
  TempDir dir;
  JournalOptions options = small_options(dir);
  bool fail = false;
  options.fault_for_test = [&](JournalStep s) {
    return fail && s == JournalStep::write_records ? EIO : 0;
  };
  Records written;
  {
    auto journal = open_ok(options);
    ASSERT_TRUE(journal);
    written = append_group(*journal, 2, 1500);  // fills the first segment
    ASSERT_TRUE(journal->append(std::string(1500, 'y')));  // goes to a second one
    fail = true;
    ASSERT_TRUE(journal->sync());
    EXPECT_EQ(journal->segment_count(), 2u);
    EXPECT_FALSE(journal->delete_segments_before(journal->durable_position() + 1));
    EXPECT_EQ(journal->segment_count(), 2u);
  }
  fail = false;
  std::string note;
  auto journal = open_ok(options, &note);
  ASSERT_TRUE(journal);
  EXPECT_EQ(replay_all(*journal, 1), written);
  EXPECT_EQ(segment_files(options.dir).size(), 1u);  // the failed group's segment is cut
}

// If the fence cannot be written either (the disk is failing), the failed group is zeroed
// in place and the segments it created are deleted: a restart before a reboot reads
// zeros from the page cache, not the group.
TEST(Journal, WithoutAFenceTheFailedGroupIsScrubbed) {
  TempDir dir;
  JournalOptions options = small_options(dir);
  bool fail = false;
  options.fault_for_test = [&](JournalStep s) {
    return fail && (s == JournalStep::sync_trailer || s == JournalStep::write_fence) ? EIO : 0;
  };
  Records written;
  {
    auto journal = open_ok(options);
    ASSERT_TRUE(journal);
    written = append_group(*journal, 2, 1000);
    for (int i = 0; i < 4; ++i) ASSERT_TRUE(journal->append(std::string(1000, 'z')));
    fail = true;
    const auto error = journal->sync();  // spilled into a second segment, then failed
    ASSERT_TRUE(error);
    EXPECT_NE(error->find("the fence could not be written"), std::string::npos) << *error;
    EXPECT_NE(error->find("so the failed group was zeroed and its new segments deleted"),
              std::string::npos)
        << *error;
    EXPECT_EQ(journal->segment_count(), 1u);
  }
  fail = false;
  EXPECT_EQ(read_file(options.dir + "/journal.fence"), std::string(4096, '\0'));
  EXPECT_EQ(segment_files(options.dir).size(), 1u);
  std::string note;
  auto journal = open_ok(options, &note);
  ASSERT_TRUE(journal);
  EXPECT_EQ(note, "");
  EXPECT_EQ(journal->next_position(), 3u);
  EXPECT_EQ(replay_all(*journal, 1), written);
}

// A fence past the end of what reads back means acknowledged records are missing.
TEST(Journal, FencePastTheEndOfTheJournalIsRefused) {
  TempDir dir;
  JournalOptions options = small_options(dir);
  bool fail = false;
  options.fault_for_test = [&](JournalStep s) {
    return fail && s == JournalStep::write_records ? EIO : 0;
  };
  {
    auto journal = open_ok(options);
    ASSERT_TRUE(journal);
    append_group(*journal, 3, 100);
    ASSERT_TRUE(journal->append("x"));
    fail = true;
    ASSERT_TRUE(journal->sync());
  }
  const std::string segment = segment_files(options.dir)[0];
  write_at(segment, 348, std::string(32, '\0'));  // the acknowledged group's trailer
  const std::string error = open_error(options);
  EXPECT_NE(error.find("journal.fence says the journal was durable up to position 3"),
            std::string::npos)
      << error;
  EXPECT_NE(error.find("acknowledged records are missing"), std::string::npos) << error;
}

// A fence file that is neither cleared nor a valid fence cannot say what the last failure
// left: start-up stops, naming it, and changes nothing.
TEST(Journal, UnreadableFenceIsRefused) {
  TempDir dir;
  const JournalOptions options = small_options(dir);
  { ASSERT_TRUE(open_ok(options)); }
  write_at(options.dir + "/journal.fence", 0, "JNFENCE2 not really");
  const auto before = snapshot(options.dir);
  const std::string error = open_error(options);
  EXPECT_NE(error.find(options.dir + "/journal.fence: not a valid fence"), std::string::npos)
      << error;
  EXPECT_EQ(snapshot(options.dir), before);
}

// --- journal-repair ---

// A torn group is reported by repair too (what start-up would cut), and not cut without
// --drop.
TEST(Journal, RepairReportsATornGroupWithoutCuttingIt) {
  TempDir dir;
  const JournalOptions options = small_options(dir);
  {
    auto journal = open_ok(options);
    ASSERT_TRUE(journal);
    append_group(*journal, 3, 100);
    append_group(*journal, 2, 100);
  }
  const std::string segment = segment_files(options.dir)[0];
  write_at(segment, 380 + 2 * 116, std::string(32, '\0'));  // the second group's trailer
  const auto before = snapshot(options.dir);
  const auto repaired = Journal::repair(options, false);
  ASSERT_TRUE(std::holds_alternative<JournalRepair>(repaired)) << std::get<std::string>(repaired);
  const JournalRepair& report = std::get<JournalRepair>(repaired);
  EXPECT_TRUE(report.damaged);
  EXPECT_FALSE(report.dropped);
  EXPECT_NE(report.report.find("would cut everything from " + segment + " offset 380"),
            std::string::npos)
      << report.report;
  EXPECT_NE(report.report.find("a torn group (2 record(s)"), std::string::npos) << report.report;
  EXPECT_EQ(snapshot(options.dir), before);
  EXPECT_TRUE(cut_files(options.dir).empty());
}

TEST(Journal, RepairReportsDamageChangingNothingAndDropsItOnlyWhenTold) {
  TempDir dir;
  const Damaged d = write_three_segments(dir);
  const auto records = parse_records(d.files[1]);
  const RecordAt& r = records[records.size() / 2];
  write_at(d.files[1], r.offset + 20, "X");
  const auto before = snapshot(d.options.dir);

  auto repaired = Journal::repair(d.options, false);
  ASSERT_TRUE(std::holds_alternative<JournalRepair>(repaired)) << std::get<std::string>(repaired);
  JournalRepair report = std::get<JournalRepair>(repaired);
  EXPECT_TRUE(report.damaged);
  EXPECT_FALSE(report.dropped);
  EXPECT_NE(report.report.find(d.files[1] + ": corrupt record at offset " +
                               std::to_string(r.offset)),
            std::string::npos)
      << report.report;
  EXPECT_NE(report.report.find("would cut everything from"), std::string::npos) << report.report;
  EXPECT_NE(report.report.find("1 later segment(s) whole"), std::string::npos) << report.report;
  EXPECT_EQ(snapshot(d.options.dir), before);
  EXPECT_TRUE(cut_files(d.options.dir).empty());

  repaired = Journal::repair(d.options, true);
  ASSERT_TRUE(std::holds_alternative<JournalRepair>(repaired)) << std::get<std::string>(repaired);
  report = std::get<JournalRepair>(repaired);
  EXPECT_TRUE(report.damaged);
  EXPECT_TRUE(report.dropped);
  EXPECT_NE(report.report.find("cut the end of the journal at " + d.files[1]), std::string::npos)
      << report.report;
  EXPECT_EQ(cut_files(d.options.dir).size(), 2u);  // the last segment and d.files[1]'s tail

  // Now the journal opens, holding every group before the damaged one.
  std::string note;
  auto journal = open_ok(d.options, &note);
  ASSERT_TRUE(journal);
  EXPECT_EQ(note, "");
  const Records kept = replay_all(*journal, 1);
  ASSERT_FALSE(kept.empty());
  EXPECT_LT(kept.back().first, r.position);
  EXPECT_EQ(kept, Records(d.written.begin(), d.written.begin() + static_cast<std::ptrdiff_t>(
                                                                     kept.size())));
  EXPECT_EQ(kept.size() % 5, 0u);  // whole groups of five
  // And a second repair finds nothing.
  journal.reset();
  repaired = Journal::repair(d.options, false);
  ASSERT_TRUE(std::holds_alternative<JournalRepair>(repaired));
  EXPECT_FALSE(std::get<JournalRepair>(repaired).damaged);
  EXPECT_NE(std::get<JournalRepair>(repaired).report.find("the journal is whole"),
            std::string::npos);
}

TEST(Journal, RepairDropsEverythingAfterAMissingSegment) {
  TempDir dir;
  const Damaged d = write_three_segments(dir);
  fs::remove(d.files[1]);
  auto repaired = Journal::repair(d.options, true);
  ASSERT_TRUE(std::holds_alternative<JournalRepair>(repaired)) << std::get<std::string>(repaired);
  EXPECT_TRUE(std::get<JournalRepair>(repaired).dropped);
  EXPECT_NE(std::get<JournalRepair>(repaired).report.find("missing records"), std::string::npos);
  auto journal = open_ok(d.options);
  ASSERT_TRUE(journal);
  EXPECT_EQ(segment_files(d.options.dir), std::vector<std::string>{d.files[0]});
  const Records kept = replay_all(*journal, 1);
  // The first two groups: the third began in the first segment and went on in the
  // missing one.
  EXPECT_EQ(kept, Records(d.written.begin(), d.written.begin() + 10));
}

int run(const std::string& command, std::string* out) {
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return -1;
  char buffer[4096];
  out->clear();
  while (std::size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) out->append(buffer, n);
  const int status = ::pclose(pipe);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(Journal, RepairToolReportsThenDropsWithExitStatus) {
  TempDir dir;
  const Damaged d = write_three_segments(dir);
  const auto records = parse_records(d.files.back());
  write_at(d.files.back(), records.front().offset + 20, "X");
  const std::string tool = std::string(JOURNAL_REPAIR_PATH) + " --data " + d.options.dir;
  std::string out;
  EXPECT_EQ(run(tool, &out), 1) << out;
  EXPECT_NE(out.find("would cut everything from"), std::string::npos) << out;
  EXPECT_EQ(run(tool + " --drop", &out), 0) << out;
  EXPECT_NE(out.find("cut the end of the journal"), std::string::npos) << out;
  EXPECT_EQ(run(tool, &out), 0) << out;
  EXPECT_NE(out.find("the journal is whole"), std::string::npos) << out;
  EXPECT_EQ(run(std::string(JOURNAL_REPAIR_PATH) + " --data " + dir.path() + "/none", &out), 2)
      << out;
  EXPECT_TRUE(open_ok(d.options));
}

// Cut bytes are kept in files as private as the journal's (server/private_files.h),
// whatever the umask.
TEST(Journal, RepairToolCutFilesAreTheOwnersAlone) {
  const mode_t old_umask = ::umask(022);
  TempDir dir;
  const Damaged d = write_three_segments(dir);
  const auto records = parse_records(d.files.back());
  write_at(d.files.back(), records.front().offset + 20, "X");
  std::string out;
  EXPECT_EQ(run(std::string(JOURNAL_REPAIR_PATH) + " --data " + d.options.dir + " --drop", &out), 0)
      << out;
  ::umask(old_umask);
  int cuts = 0;
  for (const auto& entry : std::filesystem::directory_iterator(d.options.dir)) {
    struct stat s {};
    ASSERT_EQ(::stat(entry.path().c_str(), &s), 0);
    EXPECT_EQ(s.st_mode & 0777, entry.is_directory() ? 0700u : 0600u) << entry.path();
    if (entry.path().filename().string().rfind("cut-", 0) == 0) ++cuts;
  }
  EXPECT_GT(cuts, 0);
}

}  // namespace
}  // namespace bonus::server
