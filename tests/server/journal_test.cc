// Journal: real files in a temporary directory under /tmp, real fdatasync. Round trips
// across segments and reopens, the on-disk format read by an independent parser, torn
// tails cut with a note, damage anywhere else refused with file and offset, segment
// deletion, and sticky write failures (made real with RLIMIT_FSIZE).
#include "server/journal.h"

#include <gtest/gtest.h>
#include <sys/resource.h>

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
    if (name.starts_with("journal-")) files.push_back(entry.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::map<std::string, std::string> snapshot(const std::string& dir) {
  std::map<std::string, std::string> files;
  for (const std::string& path : segment_files(dir)) files[path] = read_file(path);
  return files;
}

// The records of one segment file, read by a parser written from docs/journal-format.md
// alone: it checks every field of every record, and that the rest of the file is zero.
struct RecordAt {
  std::uint64_t offset = 0;
  std::uint32_t length = 0;
  std::uint64_t position = 0;
  std::string payload;
};

std::vector<RecordAt> parse_records(const std::string& path) {
  const std::string data = read_file(path);
  std::vector<RecordAt> records;
  std::size_t offset = 0;
  while (offset + 16 <= data.size()) {
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
  EXPECT_EQ(fs::path(files[0]).filename().string(), "journal-0000000000000001.log");
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
  EXPECT_EQ(journal->bytes(), 3u * (16 + 5));
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
        const std::size_t size = rng() % 4 == 0 ? rng() % (kSmallSegment - 16 + 1) : rng() % 300;
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
    std::snprintf(name, sizeof name, "journal-%016llx.log",
                  static_cast<unsigned long long>(expected));
    EXPECT_EQ(fs::path(path).filename().string(), name);
    EXPECT_EQ(fs::file_size(path), kSmallSegment);
    for (const RecordAt& r : parse_records(path)) {
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
  std::ofstream(options.dir + "/journal-0000000000000004.log");  // 0 bytes
  auto journal = open_ok(options);
  ASSERT_TRUE(journal);
  EXPECT_EQ(journal->segment_count(), 2u);
  EXPECT_EQ(fs::file_size(options.dir + "/journal-0000000000000004.log"), kSmallSegment);
  append_to(&written, append_group(*journal, 2, 100));
  EXPECT_EQ(parse_records(options.dir + "/journal-0000000000000004.log").size(), 2u);
  EXPECT_EQ(replay_all(*journal, 1), written);
}

// --- Torn tails: cut, with a note ---

struct TornCase {
  const char* name;
  // Damages the last record (at `offset`, `size` bytes long incl. header) of `path`.
  void (*damage)(const std::string& path, std::uint64_t offset, std::uint64_t size);
  const char* reason;
};

void PrintTo(const TornCase& c, std::ostream* os) {
  *os << c.name;
}

void zero_payload_half(const std::string& path, std::uint64_t offset, std::uint64_t size) {
  write_at(path, offset + size / 2, std::string(size - size / 2, '\0'));
}
void partial_header(const std::string& path, std::uint64_t offset, std::uint64_t size) {
  write_at(path, offset + 6, std::string(size - 6, '\0'));
}
void only_length_written(const std::string& path, std::uint64_t offset, std::uint64_t size) {
  write_at(path, offset + 4, std::string(size - 4, '\0'));
}
void length_past_end(const std::string& path, std::uint64_t offset, std::uint64_t) {
  write_at(path, offset, std::string("\xff\xff\x00\x00", 4));
}
void flipped_payload_byte(const std::string& path, std::uint64_t offset, std::uint64_t size) {
  std::string data = read_file(path);
  write_at(path, offset + size - 1, std::string(1, static_cast<char>(data[offset + size - 1] ^ 1)));
}

class TornTail : public testing::TestWithParam<TornCase> {};

TEST_P(TornTail, IsCutWithANoteAndAppendsContinue) {
  TempDir dir;
  const JournalOptions options = small_options(dir);
  Records written;
  {
    auto journal = open_ok(options);
    ASSERT_TRUE(journal);
    written = append_group(*journal, 14, 300);  // 12 fit in a segment: over two
    append_to(&written, append_group(*journal, 2, 300));
  }
  const std::string last = segment_files(options.dir).back();
  const auto records = parse_records(last);
  ASSERT_GE(records.size(), 2u);
  const RecordAt& victim = records.back();
  GetParam().damage(last, victim.offset, 16 + victim.length);
  const auto before = snapshot(options.dir);

  std::string note;
  auto journal = open_ok(options, &note);
  ASSERT_TRUE(journal);
  EXPECT_NE(note.find(last), std::string::npos) << note;
  EXPECT_NE(note.find("offset " + std::to_string(victim.offset)), std::string::npos) << note;
  EXPECT_NE(note.find(GetParam().reason), std::string::npos) << note;
  EXPECT_NE(note.find("ends at position " + std::to_string(victim.position - 1)), std::string::npos)
      << note;
  written.pop_back();
  EXPECT_EQ(replay_all(*journal, 1), written);
  EXPECT_EQ(journal->next_position(), victim.position);
  // The torn bytes were zeroed: the file is now exactly the good records and zeros.
  EXPECT_NE(read_file(last), before.at(last));
  EXPECT_EQ(parse_records(last).size(), records.size() - 1);

  // Appending over the cut, then reopening, is clean.
  append_to(&written, append_group(*journal, 3, 50));
  journal.reset();
  journal = open_ok(options, &note);
  ASSERT_TRUE(journal);
  EXPECT_EQ(note, "");
  EXPECT_EQ(replay_all(*journal, 1), written);
}

INSTANTIATE_TEST_SUITE_P(
    Journal, TornTail,
    testing::Values(TornCase{"ZeroedPayloadHalf", zero_payload_half, "checksum mismatch"},
                    TornCase{"PartialHeader", partial_header, "checksum mismatch"},
                    TornCase{"OnlyLengthWritten", only_length_written, "checksum mismatch"},
                    TornCase{"LengthPastEnd", length_past_end, "runs past the end"},
                    TornCase{"FlippedLastByte", flipped_payload_byte, "checksum mismatch"}),
    [](const testing::TestParamInfo<TornCase>& param_info) { return param_info.param.name; });

// In a growing (not preallocated) file a torn write shows as a file cut mid-record.
TEST(Journal, TornTailOfAGrowingFileIsCut) {
  TempDir dir;
  JournalOptions options = small_options(dir);
  options.preallocate = false;
  Records written;
  {
    auto journal = open_ok(options);
    ASSERT_TRUE(journal);
    written = append_group(*journal, 4, 100);
  }
  const std::string path = segment_files(options.dir).back();
  const std::string whole = read_file(path);
  for (std::uint64_t keep : {3u * 116 + 10, 3u * 116 + 100}) {  // partial header; partial payload
    std::ofstream(path, std::ios::binary | std::ios::trunc) << whole.substr(0, keep);
    std::string note;
    auto journal = open_ok(options, &note);
    ASSERT_TRUE(journal);
    EXPECT_NE(note.find("offset " + std::to_string(3 * 116)), std::string::npos) << note;
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
  expect_refused(d, d.files.back(), r.offset, "checksum mismatch; non-zero bytes follow");
}

TEST(Journal, DamagedLastRecordOfAnEarlierSegmentIsRefused) {
  TempDir dir;
  const Damaged d = write_three_segments(dir);
  const auto records = parse_records(d.files[1]);
  const RecordAt& r = records.back();
  write_at(d.files[1], r.offset + 16 + r.length - 1, "\x01");
  expect_refused(d, d.files[1], r.offset, "not the last segment");
}

TEST(Journal, TruncatedEarlierSegmentIsRefused) {
  TempDir dir;
  const Damaged d = write_three_segments(dir);
  const auto records = parse_records(d.files[0]);
  fs::resize_file(d.files[0], records.back().offset + 20);
  expect_refused(d, d.files[0], records.back().offset, "runs past the end");
}

// A record whose length word grew so large that the rest of the segment looks like its
// payload must not pass for a torn tail: later good records inside it show it is not.
TEST(Journal, RegressionCorruptLengthSwallowingGoodRecordsIsRefused) {
  TempDir dir;
  const Damaged d = write_three_segments(dir);
  const auto records = parse_records(d.files.back());
  ASSERT_GE(records.size(), 3u);
  const RecordAt& r = records[records.size() - 3];
  const std::uint32_t length = static_cast<std::uint32_t>(kSmallSegment - r.offset - 16);
  write_at(d.files.back(), r.offset, std::string(reinterpret_cast<const char*>(&length), 4));
  expect_refused(
      d, d.files.back(), r.offset,
      "a valid record follows at offset " + std::to_string(records[records.size() - 2].offset));
  // And the same with a length past the end of the file.
  const std::uint32_t huge = 1u << 30;
  write_at(d.files.back(), r.offset, std::string(reinterpret_cast<const char*>(&huge), 4));
  expect_refused(d, d.files.back(), r.offset,
                 "runs past the end of the file; a valid record follows");
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
    written = append_group(*journal, 3, 100);  // 348 bytes
    ASSERT_TRUE(journal->append(std::string(1000, 'x')));
    std::optional<std::string> error;
    {
      const FileSizeLimit limit(348 + 100);  // the write gets 100 bytes in, then EFBIG
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
  EXPECT_NE(note.find("offset 348"), std::string::npos) << note;
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

}  // namespace
}  // namespace bonus::server
