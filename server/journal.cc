#include "server/journal.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <utility>

#include "engine/assert.h"
#include "protocol/crc32c.h"
#include "server/metrics.h"
#include "server/private_files.h"

namespace bonus::server {
namespace {

static_assert(std::endian::native == std::endian::little, "the journal is little-endian on disk");

using RecordFn = std::function<void(std::uint64_t, std::string_view)>;

constexpr std::string_view kNamePrefix = "journal-";
constexpr std::string_view kNameSuffix = ".v2.log";     // format version 2
constexpr std::string_view kNameSuffixV1 = ".log";      // format version 1: refused
constexpr std::size_t kNameHexDigits = 16;
constexpr std::string_view kCutPrefix = "cut-";
constexpr std::string_view kFenceName = "journal.fence";
// A trailer's first word; a record's first word is its length, below 2^30.
constexpr std::uint32_t kTrailerTag = 0xB7A1'1E55u;
static_assert(kTrailerTag > kJournalSegmentBytesMax);
constexpr std::uint64_t kFenceMagic = 0x32'45'43'4E'45'46'4E'4Aull;  // "JNFENCE2"
constexpr std::size_t kFenceBytes = 40;
constexpr std::size_t kFenceFileBytes = 4096;

// fdatasync, timed into bonus_journal_fdatasync_seconds (the group commit's syncs).
int timed_fdatasync(int fd) {
  const auto start = std::chrono::steady_clock::now();
  const int r = ::fdatasync(fd);
  metrics().observe_since(Histogram::journal_fdatasync, start);
  return r;
}

std::uint32_t load_u32(const char* p) {
  std::uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
std::uint64_t load_u64(const char* p) {
  std::uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
void store(std::string* out, std::size_t at, const void* value, std::size_t size) {
  std::memcpy(out->data() + at, value, size);
}

std::uint32_t record_crc(std::uint64_t position, std::string_view payload) {
  return crc32c(payload.data(), payload.size(), crc32c(&position, sizeof position));
}

std::string segment_name(std::uint64_t first_position) {
  char name[64];
  std::snprintf(name, sizeof name, "journal-%016" PRIx64 ".v2.log", first_position);
  return name;
}

// The position in journal-<16 hex digits><suffix>, or nullopt if the name is not one.
std::optional<std::uint64_t> parse_name(std::string_view name, std::string_view suffix) {
  if (name.size() != kNamePrefix.size() + kNameHexDigits + suffix.size() ||
      !name.starts_with(kNamePrefix) || !name.ends_with(suffix)) {
    return std::nullopt;
  }
  std::uint64_t value = 0;
  for (char c : name.substr(kNamePrefix.size(), kNameHexDigits)) {
    const int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (digit < 0) return std::nullopt;
    value = value << 4 | static_cast<std::uint64_t>(digit);
  }
  return value;
}

std::string errno_text(std::string_view what, const std::string& path, int error) {
  return std::string(what) + " " + path + ": " + std::strerror(error);
}

bool all_zero(std::string_view bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](char c) { return c == 0; });
}

// One past the last non-zero byte of data[from, to), or `from` if there is none.
std::uint64_t nonzero_end(std::string_view data, std::uint64_t from, std::uint64_t to) {
  while (to > from && data[to - 1] == 0) --to;
  return to;
}

// --- Group trailers ---

struct Trailer {
  std::uint64_t first_position = 0;  // of the group's first record
  std::uint32_t record_count = 0;
  std::uint32_t group_crc = 0;       // crc32c of the group's record bytes, headers included
  std::uint64_t group_bytes = 0;     // those bytes
};

std::string encode_trailer(const Trailer& t) {
  std::string out(kJournalTrailerBytes, '\0');
  store(&out, 0, &kTrailerTag, 4);
  store(&out, 8, &t.first_position, 8);
  store(&out, 16, &t.record_count, 4);
  store(&out, 20, &t.group_crc, 4);
  store(&out, 24, &t.group_bytes, 8);
  const std::uint32_t crc = crc32c(out.data() + 8, kJournalTrailerBytes - 8);
  store(&out, 4, &crc, 4);
  return out;
}

// The trailer at `offset` if one is there whole with a good checksum.
std::optional<Trailer> trailer_at(std::string_view data, std::uint64_t offset) {
  if (data.size() - offset < kJournalTrailerBytes) return std::nullopt;
  const char* p = data.data() + offset;
  if (load_u32(p) != kTrailerTag || load_u32(p + 4) != crc32c(p + 8, kJournalTrailerBytes - 8)) {
    return std::nullopt;
  }
  return Trailer{load_u64(p + 8), load_u32(p + 16), load_u32(p + 20), load_u64(p + 24)};
}

// The records of the group being read, as its trailer must describe them.
struct GroupSum {
  std::uint64_t first_position = 0;
  std::uint32_t record_count = 0;
  std::uint32_t crc = 0;
  std::uint64_t bytes = 0;

  void add(std::string_view record) {
    ++record_count;
    crc = crc32c(record.data(), record.size(), crc);
    bytes += record.size();
  }
  bool matches(const Trailer& t) const {
    return t.first_position == first_position && t.record_count == record_count &&
           t.group_crc == crc && t.group_bytes == bytes;
  }
  // For the first group of a journal whose older segments were deleted: the trailer of a
  // group that began in a deleted segment and ends with these records. Its sums cover
  // deleted bytes and cannot be checked; its positions can.
  bool ends(const Trailer& t) const {
    return t.first_position < first_position &&
           t.first_position + t.record_count == first_position + record_count;
  }
};

// --- Reading ---

enum class ItemKind { end, record, trailer, damage };

struct Item {
  ItemKind kind = ItemKind::end;
  std::uint64_t size = 0;  // bytes, for a record or a trailer
  Trailer trailer;         // for a trailer
  std::string reason;      // for damage
};

Item damage(std::string reason) {
  return Item{ItemKind::damage, 0, {}, std::move(reason)};
}

// Reads what is at `offset`, where a record with `position` or a trailer should start.
// The end is where every remaining byte is zero (or there are none).
Item read_item(std::string_view data, std::uint64_t offset, std::uint64_t position) {
  const std::uint64_t rest = data.size() - offset;
  if (rest == 0) return Item{};
  const std::string_view head = data.substr(offset, kJournalHeaderBytes);
  if (all_zero(head)) {
    return all_zero(data.substr(offset)) ? Item{} : damage("zero header where data follows");
  }
  if (rest >= 4 && load_u32(head.data()) == kTrailerTag) {
    if (rest < kJournalTrailerBytes) return damage("partial trailer");
    const auto trailer = trailer_at(data, offset);
    if (!trailer) return damage("trailer checksum mismatch");
    return Item{ItemKind::trailer, kJournalTrailerBytes, *trailer, {}};
  }
  if (rest < kJournalHeaderBytes) return damage("partial header");
  const std::uint32_t length = load_u32(head.data());
  const std::uint64_t record_position = load_u64(head.data() + 8);
  if (length > rest - kJournalHeaderBytes) {
    return damage("length " + std::to_string(length) + " runs past the end of the file");
  }
  const std::string_view payload = data.substr(offset + kJournalHeaderBytes, length);
  if (load_u32(head.data() + 4) != record_crc(record_position, payload)) {
    return damage("checksum mismatch");
  }
  if (record_position != position) {
    return damage("position " + std::to_string(record_position) + " where " +
                  std::to_string(position) + " was expected");
  }
  return Item{ItemKind::record, kJournalHeaderBytes + length, {}, {}};
}

// Reads the first `limit` bytes of the file (all of it if nullopt) into *out.
std::optional<std::string> read_segment(const std::string& path, std::optional<std::uint64_t> limit,
                                        std::string* out) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno_text("cannot open", path, errno);
  struct stat st {};
  std::optional<std::string> error;
  if (::fstat(fd, &st) != 0) {
    error = errno_text("cannot stat", path, errno);
  } else if (static_cast<std::uint64_t>(st.st_size) > kJournalSegmentBytesMax) {
    error = path + " is " + std::to_string(st.st_size) + " bytes, more than a segment may be (" +
            std::to_string(kJournalSegmentBytesMax) + ")";
  } else if (limit && *limit > static_cast<std::uint64_t>(st.st_size)) {
    error = path + " is shorter than at open (" + std::to_string(st.st_size) +
            " bytes, records up to " + std::to_string(*limit) + ")";
  } else {
    out->resize(limit ? *limit : static_cast<std::uint64_t>(st.st_size));
    std::size_t done = 0;
    while (done < out->size() && !error) {
      const ssize_t n =
          ::pread(fd, out->data() + done, out->size() - done, static_cast<off_t>(done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) error = errno_text("cannot read", path, errno);
      if (n == 0) error = path + " ended early while reading";
      if (n > 0) done += static_cast<std::size_t>(n);
    }
  }
  ::close(fd);
  return error;
}

// pwrite all of `bytes` at `offset`; 0 or an errno.
int pwrite_all(int fd, std::string_view bytes, std::uint64_t offset) {
  while (!bytes.empty()) {
    const ssize_t n = ::pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    if (n == 0) return EIO;
    bytes.remove_prefix(static_cast<std::size_t>(n));
    offset += static_cast<std::uint64_t>(n);
  }
  return 0;
}

// --- The whole log ---

// A place in the log: a segment (index), an offset in it, and the position of the record
// that would start there.
struct LogPoint {
  std::size_t segment = 0;
  std::uint64_t offset = 0;
  std::uint64_t position = 0;
};
bool before(const LogPoint& a, const LogPoint& b) {
  return a.segment != b.segment ? a.segment < b.segment : a.offset < b.offset;
}

// What reading every segment found.
struct LogEnd {
  LogPoint committed;  // just past the last valid trailer (the log's start if none)
  LogPoint stop;       // where reading stopped: the end of the log, or the damage
  std::uint64_t open_records = 0;     // records between `committed` and `stop`
  std::optional<std::string> damage;  // why reading stopped early, naming file and offset
  bool gap = false;                   // the damage is a missing segment
  bool closed_any = false;            // a trailer closed a group
  // With damage: a valid trailer of the damaged group or a later one, "<file> offset N".
  // Trailers are written only after their group's records are synced, so it shows the
  // damage is in records that were durable, not a torn write.
  std::optional<std::string> trailer_after;
};

// Looks for a trailer with a good checksum, of a group from `position_min` on, in
// data[from, end) and then in the segments after `segment`. A later segment that cannot
// be read counts as one found: nothing is cut that could not be looked at.
std::optional<std::string> find_trailer(const std::vector<JournalSegment>& segments,
                                        std::size_t segment, std::string_view data,
                                        std::uint64_t from, std::uint64_t position_min) {
  std::string later;
  for (std::size_t i = segment;; ++i) {
    for (std::uint64_t offset = from; offset + kJournalTrailerBytes <= data.size(); ++offset) {
      const auto trailer = trailer_at(data, offset);
      if (trailer && trailer->first_position >= position_min) {
        return segments[i].path + " offset " + std::to_string(offset);
      }
    }
    if (i + 1 >= segments.size()) return std::nullopt;
    if (auto error = read_segment(segments[i + 1].path, std::nullopt, &later)) {
      return *error + " (so it cannot be shown that no trailer follows)";
    }
    data = later;
    from = 0;
  }
}

// Reads one segment's items from the start, continuing the group and log state; returns
// false at damage (recorded in *end).
bool scan_segment(const std::vector<JournalSegment>& segments, std::size_t i,
                  std::string_view data, GroupSum* group, LogEnd* end) {
  const JournalSegment& segment = segments[i];
  std::uint64_t offset = 0;
  std::uint64_t position = segment.first_position;
  for (;;) {
    end->stop = LogPoint{i, offset, position};
    end->open_records = group->record_count;
    Item item = read_item(data, offset, position);
    if (item.kind == ItemKind::end) return true;
    if (item.kind == ItemKind::trailer && !group->matches(item.trailer) &&
        !(!end->closed_any && group->ends(item.trailer))) {
      if (item.trailer.first_position >= end->committed.position) {
        end->trailer_after = segment.path + " offset " + std::to_string(offset);
      }
      item = damage("group trailer does not match the records before it");
    }
    if (item.kind == ItemKind::damage) {
      end->damage = segment.path + ": corrupt record at offset " + std::to_string(offset) +
                    " (position " + std::to_string(position) + "): " + item.reason;
      if (!end->trailer_after) {
        end->trailer_after = find_trailer(segments, i, data, offset + 1, end->committed.position);
      }
      return false;
    }
    if (item.kind == ItemKind::record) {
      group->add(data.substr(offset, item.size));
      ++position;
    } else {
      end->committed = LogPoint{i, offset + item.size, position};
      end->closed_any = true;
      *group = GroupSum{position, 0, 0, 0};
    }
    offset += item.size;
  }
}

// Reads every segment in order, checking every record and every trailer, and sets each
// segment's end_offset, next_position and capacity as far as it was read.
std::optional<std::string> scan_log(std::vector<JournalSegment>& segments,
                                    std::uint64_t segment_bytes, LogEnd* end) {
  const std::uint64_t first = segments.front().first_position;
  end->committed = LogPoint{0, 0, first};
  GroupSum group{first, 0, 0, 0};
  std::string data;
  for (std::size_t i = 0; i < segments.size(); ++i) {
    JournalSegment& segment = segments[i];
    if (i > 0 && segment.first_position != segments[i - 1].next_position) {
      end->gap = true;
      end->damage = "missing records: " + segments[i - 1].path + " ends before position " +
                    std::to_string(segments[i - 1].next_position) + " but the next segment, " +
                    segment.path + ", starts at position " +
                    std::to_string(segment.first_position);
      return std::nullopt;
    }
    if (auto error = read_segment(segment.path, std::nullopt, &data)) return error;
    segment.capacity = std::max<std::uint64_t>(data.size(), segment_bytes);
    const bool whole = scan_segment(segments, i, data, &group, end);
    segment.end_offset = end->stop.offset;
    segment.next_position = end->stop.position;
    if (!whole) return std::nullopt;
  }
  return std::nullopt;
}

// --- Cut bytes and the fence ---

// <dir>/cut-<name>-at-<offset>, with ".1", ".2", ... added if that exists already.
std::string unused_cut_path(const std::string& dir, const std::string& name, std::uint64_t offset) {
  const std::string base =
      dir + "/" + std::string(kCutPrefix) + name + "-at-" + std::to_string(offset);
  std::string path = base;
  for (int n = 1; std::filesystem::exists(path); ++n) path = base + "." + std::to_string(n);
  return path;
}

// Writes `bytes` to a new file at `path` and fsyncs it; 0 or an errno.
int write_new_file(const std::string& path, std::string_view bytes) {
  const int fd = ::open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, kPrivateFileMode);
  if (fd < 0) return errno;
  int e = pwrite_all(fd, bytes, 0);
  if (e == 0 && ::fsync(fd) != 0) e = errno;
  ::close(fd);
  return e;
}

// The fence: after a failed write or sync, where the durable log ended (the segment by its
// first position, the offset in it, the next position). Everything after it is cut at
// recovery, whatever a read of it returns.
struct Fence {
  std::uint64_t segment_first_position = 0;
  std::uint64_t offset = 0;
  std::uint64_t next_position = 0;
};

std::string encode_fence(const Fence& f) {
  std::string out(kFenceBytes, '\0');
  store(&out, 0, &kFenceMagic, 8);
  store(&out, 16, &f.segment_first_position, 8);
  store(&out, 24, &f.offset, 8);
  store(&out, 32, &f.next_position, 8);
  const std::uint32_t crc = crc32c(out.data() + 12, kFenceBytes - 12);
  store(&out, 8, &crc, 4);
  return out;
}

// The fence in the fence file's first bytes: nullopt if they are zero (no fence), an
// error if they are neither zero nor a good fence.
std::variant<std::optional<Fence>, std::string> read_fence(int fd, const std::string& path) {
  std::string data(kFenceBytes, '\0');
  const ssize_t n = ::pread(fd, data.data(), data.size(), 0);
  if (n < 0) return errno_text("cannot read", path, errno);
  data.resize(static_cast<std::size_t>(n));
  if (all_zero(data)) return std::optional<Fence>();
  if (data.size() < kFenceBytes || load_u64(data.data()) != kFenceMagic ||
      load_u32(data.data() + 8) != crc32c(data.data() + 12, kFenceBytes - 12)) {
    return path + ": not a valid fence (bad magic, size or checksum); it is neither cleared " +
           "nor readable, so what the last failed write left cannot be told apart";
  }
  return std::optional<Fence>(
      Fence{load_u64(data.data() + 16), load_u64(data.data() + 24), load_u64(data.data() + 32)});
}

// Writes `bytes` at the start of the fence file and fdatasyncs it; 0 or an errno.
int write_fence(int fd, std::string_view bytes) {
  if (int e = pwrite_all(fd, bytes, 0)) return e;
  return ::fdatasync(fd) == 0 ? 0 : errno;
}

// Opens the fence file, creating it (zero-written, so a later fence write needs no new
// blocks even on a full disk, and synced with its directory entry) if `create`; -1 with
// no error when it is missing and not to be created.
std::variant<int, std::string> open_fence(const std::string& path, int dir_fd, bool create) {
  int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd >= 0 || errno != ENOENT) {
    if (fd < 0) return errno_text("cannot open", path, errno);
    return fd;
  }
  if (!create) return -1;
  fd = ::open(path.c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, kPrivateFileMode);
  if (fd < 0) return errno_text("cannot create", path, errno);
  int e = pwrite_all(fd, std::string(kFenceFileBytes, '\0'), 0);
  if (e == 0 && ::fsync(fd) != 0) e = errno;
  if (e == 0 && ::fsync(dir_fd) != 0) e = errno;
  if (e) {
    ::close(fd);
    return errno_text("cannot create", path, e);
  }
  return fd;
}

// --- Deciding what recovery cuts ---

// What recovery does with the log: cut it at `at` (if set), because of `why`; `refusal`
// is damage that start-up refuses (repair may cut it); `damaged` if either.
struct CutPlan {
  std::optional<LogPoint> at;
  std::string why;
  std::optional<std::string> refusal;
  bool damaged = false;
};

// With a fence: everything after it is cut. A log that does not reach it is refused.
CutPlan plan_fenced_cut(const std::vector<JournalSegment>& segments, const LogEnd& end,
                        const Fence& fence, const std::string& fence_path) {
  const auto it = std::find_if(segments.begin(), segments.end(), [&](const JournalSegment& s) {
    return s.first_position == fence.segment_first_position;
  });
  const LogPoint point{static_cast<std::size_t>(it - segments.begin()), fence.offset,
                       fence.next_position};
  CutPlan plan;
  if (it == segments.end() || before(end.committed, point)) {
    plan.refusal = fence_path + " says the journal was durable up to position " +
                   std::to_string(fence.next_position - 1) + " (offset " +
                   std::to_string(fence.offset) + " of the segment from position " +
                   std::to_string(fence.segment_first_position) + "), but " +
                   end.damage.value_or("its last whole group ends at position " +
                                       std::to_string(end.committed.position - 1)) +
                   ": acknowledged records are missing";
    plan.damaged = true;
    return plan;
  }
  if (before(point, end.stop) || end.damage) {
    plan.at = point;
    plan.damaged = true;
    plan.why = "written after the last durable group before a failed write or sync (fence in " +
               fence_path + ")";
  }
  return plan;
}

// Decides from what reading the log found (and the fence, if any) what to cut and what to
// refuse; docs/journal-format.md, "Recovery", says why.
CutPlan plan_cut(const std::vector<JournalSegment>& segments, const LogEnd& end,
                 const std::optional<Fence>& fence, const std::string& fence_path) {
  if (fence) {
    CutPlan plan = plan_fenced_cut(segments, end, *fence, fence_path);
    if (!plan.refusal) return plan;
    // A fence past the end: refused; repair goes on as if there were none.
    CutPlan rest = plan_cut(segments, end, std::nullopt, fence_path);
    if (rest.refusal) plan.refusal = *plan.refusal + "; and " + *rest.refusal;
    plan.at = rest.at;
    plan.why = rest.why;
    return plan;
  }
  CutPlan plan;
  if (end.damage && (end.gap || end.trailer_after)) {
    plan.refusal = *end.damage + (end.gap ? std::string()
                                          : "; a valid group trailer follows at " +
                                                *end.trailer_after +
                                                ", so the damaged group was fully written");
    plan.at = end.committed;
    plan.why = "damaged: " + *plan.refusal;
  } else if (end.damage || end.open_records > 0) {
    plan.at = end.committed;
    plan.why = "a torn group (" + std::to_string(end.open_records) +
               " record(s) with no valid trailer" +
               (end.damage ? "; then " + *end.damage : std::string()) + ")";
  }
  plan.damaged = plan.at.has_value() || plan.refusal.has_value();
  return plan;
}

std::string describe_cut(const std::vector<JournalSegment>& segments, const LogPoint& at) {
  return "everything from " + segments[at.segment].path + " offset " + std::to_string(at.offset) +
         " on (positions " + std::to_string(at.position) + " on; " +
         std::to_string(segments.size() - at.segment - 1) + " later segment(s) whole)";
}

std::string whole_note(const std::vector<JournalSegment>& segments) {
  if (segments.empty()) return "the journal is empty";
  return "the journal is whole: positions " + std::to_string(segments.front().first_position) +
         " to " + std::to_string(segments.back().next_position - 1) + " in " +
         std::to_string(segments.size()) + " segment(s)";
}

}  // namespace

Journal::Journal(const JournalOptions& options)
    : options_(options), zeros_(options.preallocate ? options.zero_ahead_bytes : 0, '\0') {}

Journal::~Journal() {
  if (fd_ >= 0) ::close(fd_);
  if (fence_fd_ >= 0) ::close(fence_fd_);
  if (dir_fd_ >= 0) ::close(dir_fd_);
}

Journal::Opened Journal::open(const JournalOptions& options, std::string* recovery_note) {
  if (recovery_note) recovery_note->clear();
  if (options.dir.empty()) return std::string("no directory given");
  if (options.segment_bytes < kJournalSegmentBytesMin ||
      options.segment_bytes > kJournalSegmentBytesMax) {
    return "segment size " + std::to_string(options.segment_bytes) + " is outside [" +
           std::to_string(kJournalSegmentBytesMin) + ", " +
           std::to_string(kJournalSegmentBytesMax) + "]";
  }
  if (options.zero_ahead_bytes > kJournalZeroAheadBytesMax) {
    return "zero-ahead size " + std::to_string(options.zero_ahead_bytes) + " is above " +
           std::to_string(kJournalZeroAheadBytesMax);
  }
  if (auto error = create_private_directories(options.dir)) return *error;
  std::unique_ptr<Journal> journal(new Journal(options));
  journal->dir_fd_ = ::open(options.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (journal->dir_fd_ < 0) return errno_text("cannot open", options.dir, errno);
  std::string note;
  bool damaged = false;
  if (auto error = journal->recover(Mode::open, &note, &damaged)) return std::move(*error);
  if (recovery_note) *recovery_note = std::move(note);
  return journal;
}

Journal::Repaired Journal::repair(const JournalOptions& options, bool drop) {
  if (!std::filesystem::is_directory(options.dir)) return options.dir + " is not a directory";
  std::unique_ptr<Journal> journal(new Journal(options));
  journal->dir_fd_ = ::open(options.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (journal->dir_fd_ < 0) return errno_text("cannot open", options.dir, errno);
  JournalRepair repair;
  const Mode mode = drop ? Mode::repair_drop : Mode::repair_report;
  if (auto error = journal->recover(mode, &repair.report, &repair.damaged)) return *error;
  repair.dropped = drop && repair.damaged;
  return repair;
}

// Lists the segment files of this format, oldest first; refuses those of another one.
std::optional<std::string> Journal::list_segments() {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(options_.dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (parse_name(name, kNameSuffixV1)) {
      return entry.path().string() + ": a segment of journal format version 1 (no group " +
             "trailers); this bonusd reads format version " +
             std::to_string(kJournalFormatVersion) + " only (files journal-<position>" +
             std::string(kNameSuffix) + "). Replay it with the bonusd that wrote it and " +
             "take a checkpoint, or move it away";
    }
    const auto first = parse_name(name, kNameSuffix);
    if (!first) continue;
    if (*first == 0) return entry.path().string() + ": positions start at 1";
    segments_.push_back(Segment{entry.path().string(), *first, *first, 0, 0});
  }
  if (ec) return "cannot list " + options_.dir + ": " + ec.message();
  std::sort(segments_.begin(), segments_.end(),
            [](const Segment& a, const Segment& b) { return a.first_position < b.first_position; });
  return std::nullopt;
}

// Reads every segment and decides what to cut (see plan_cut); when opening, refuses
// damage, and after the cut clears the fence and opens the last segment for appending.
std::optional<std::string> Journal::recover(Mode mode, std::string* note, bool* damaged) {
  if (auto error = list_segments()) return error;
  const std::string fence_path = options_.dir + "/" + std::string(kFenceName);
  auto fence_fd = open_fence(fence_path, dir_fd_, mode == Mode::open);
  if (auto* error = std::get_if<std::string>(&fence_fd)) return *error;
  fence_fd_ = std::get<int>(fence_fd);
  std::optional<Fence> fence;
  if (fence_fd_ >= 0) {
    auto read = read_fence(fence_fd_, fence_path);
    if (auto* error = std::get_if<std::string>(&read)) return *error;
    fence = std::get<std::optional<Fence>>(read);
  }
  if (segments_.empty() && mode != Mode::open) {
    *note = "no journal segments in " + options_.dir;
    return std::nullopt;
  }
  CutPlan plan;
  if (!segments_.empty()) {
    LogEnd end;
    if (auto error = scan_log(segments_, options_.segment_bytes, &end)) return error;
    plan = plan_cut(segments_, end, fence, fence_path);
  }
  *damaged = plan.damaged;
  if (plan.refusal && mode == Mode::open) {
    return *plan.refusal + ". Nothing was changed; journal-repair --data " + options_.dir +
           " reports what dropping the damage would lose";
  }
  if (plan.refusal) *note = *plan.refusal + "; ";
  if (mode == Mode::repair_report) {
    *note += plan.at ? "would cut " + describe_cut(segments_, *plan.at) + ", " + plan.why +
                           "; run with --drop to cut it, keeping a copy"
                     : (plan.damaged ? "" : whole_note(segments_));
    return std::nullopt;
  }
  if (plan.at) {
    std::string kept;
    if (auto error = cut(plan.at->segment, plan.at->offset, plan.at->position, &kept)) {
      return error;
    }
    *note += "cut the end of the journal at " + segments_.back().path + " offset " +
             std::to_string(plan.at->offset) + ", " + plan.why + ": the journal ends at position " +
             std::to_string(plan.at->position - 1) + "; the cut bytes are kept in " +
             (kept.empty() ? "no file (they were all zero)" : kept);
  }
  if (fence && write_fence(fence_fd_, std::string(kFenceBytes, '\0')) != 0) {
    return errno_text("cannot clear", fence_path, errno);
  }
  if (mode != Mode::open) {
    if (note->empty()) *note = whole_note(segments_);
    return std::nullopt;
  }
  if (segments_.empty()) {
    head_capacity_ = options_.segment_bytes;
    return create_segment(1);
  }
  return open_active();
}

// Cuts the log at `offset` of segments_[segment], whose record `position` would start
// there: later segments are renamed to cut-* files, the segment's bytes from the offset
// on are copied to one and then zeroed, all synced. *kept lists the cut-* files.
std::optional<std::string> Journal::cut(std::size_t segment, std::uint64_t offset,
                                        std::uint64_t position, std::string* kept) {
  while (segments_.size() > segment + 1) {
    const Segment& last = segments_.back();
    const std::string to =
        unused_cut_path(options_.dir, std::filesystem::path(last.path).filename().string(), 0);
    if (::rename(last.path.c_str(), to.c_str()) != 0) {
      return errno_text("cannot rename " + last.path + " to", to, errno);
    }
    *kept += (kept->empty() ? "" : ", ") + to;
    segments_.pop_back();
  }
  Segment& s = segments_.back();
  std::string data;
  if (auto error = read_segment(s.path, std::nullopt, &data)) return error;
  const std::uint64_t end =
      nonzero_end(data, std::min<std::uint64_t>(offset, data.size()), data.size());
  if (end > offset) {
    const std::string to =
        unused_cut_path(options_.dir, std::filesystem::path(s.path).filename().string(), offset);
    if (int e = write_new_file(to, std::string_view(data).substr(offset, end - offset))) {
      return errno_text("cannot keep the cut bytes in", to, e);
    }
    *kept += (kept->empty() ? "" : ", ") + to;
  }
  if (::fsync(dir_fd_) != 0) return errno_text("cannot fsync", options_.dir, errno);
  if (end > offset) {
    const int fd = ::open(s.path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) return errno_text("cannot open", s.path, errno);
    int e = pwrite_all(fd, std::string(end - offset, '\0'), offset);
    if (e == 0 && ::fdatasync(fd) != 0) e = errno;
    ::close(fd);
    if (e) return errno_text("cannot zero the cut end of", s.path, e);
  }
  s.end_offset = offset;
  s.next_position = position;
  return std::nullopt;
}

// Opens the last segment for appending and preallocates it to full size.
std::optional<std::string> Journal::open_active() {
  Segment& segment = segments_.back();
  fd_ = ::open(segment.path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd_ < 0) return errno_text("cannot open", segment.path, errno);
  if (options_.preallocate) {
    if (int e = ::posix_fallocate(fd_, 0, static_cast<off_t>(segment.capacity))) {
      return errno_text("cannot preallocate", segment.path, e);
    }
    if (::fdatasync(fd_) != 0) return errno_text("cannot fdatasync", segment.path, errno);
  }
  next_position_ = durable_next_position_ = segment.next_position;
  durable_segment_ = segment.first_position;
  durable_offset_ = segment.end_offset;
  head_offset_ = segment.end_offset;
  head_capacity_ = segment.capacity;
  zeroed_end_ = segment.end_offset;  // unknown past the records: zero it again
  return std::nullopt;
}

// Creates, preallocates and syncs a new empty segment (and its directory entry), and
// makes it the one written to. (append() has already moved the head past it.)
std::optional<std::string> Journal::create_segment(std::uint64_t first_position) {
  const std::string path = options_.dir + "/" + segment_name(first_position);
  if (int e = fault(JournalStep::create_segment)) return errno_text("cannot create", path, e);
  const int fd = ::open(path.c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, kPrivateFileMode);
  if (fd < 0) return errno_text("cannot create", path, errno);
  std::optional<std::string> error;
  if (options_.preallocate) {
    if (int e = ::posix_fallocate(fd, 0, static_cast<off_t>(options_.segment_bytes))) {
      error = errno_text("cannot preallocate", path, e);
    }
  }
  if (!error && ::fsync(fd) != 0) error = errno_text("cannot fsync", path, errno);
  if (!error && ::fsync(dir_fd_) != 0) error = errno_text("cannot fsync", options_.dir, errno);
  if (error) {
    ::close(fd);
    ::unlink(path.c_str());  // best effort: an empty segment is harmless, but untidy
    return error;
  }
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
  zeroed_end_ = 0;
  segments_.push_back(Segment{path, first_position, first_position, 0, options_.segment_bytes});
  return std::nullopt;
}

std::optional<std::string> Journal::replay(std::uint64_t from, const RecordFn& f) const {
  if (from < first_position() || from > durable_position() + 1) {
    return "cannot replay from position " + std::to_string(from) +
           ": the journal holds positions " + std::to_string(first_position()) + " to " +
           std::to_string(durable_position());
  }
  std::string data;
  for (const Segment& segment : segments_) {
    if (segment.next_position <= from) continue;
    if (segment.first_position >= durable_next_position_) break;
    if (auto error = read_segment(segment.path, segment.end_offset, &data)) return error;
    std::uint64_t offset = 0, position = segment.first_position;
    Item item;
    while ((item = read_item(data, offset, position)).kind == ItemKind::record ||
           item.kind == ItemKind::trailer) {
      if (item.kind == ItemKind::record && position >= from && position < durable_next_position_) {
        f(position, data.substr(offset + kJournalHeaderBytes, item.size - kJournalHeaderBytes));
      }
      position += item.kind == ItemKind::record;
      offset += item.size;
    }
    if (item.kind == ItemKind::damage || position != segment.next_position) {
      return segment.path + " changed since it was opened: at offset " + std::to_string(offset) +
             ": " + (item.kind == ItemKind::damage ? item.reason : "records missing");
    }
  }
  return std::nullopt;
}

std::optional<std::uint64_t> Journal::append(std::string_view payload) {
  if (error_) return std::nullopt;
  BONUS_ASSERT(payload.size() <= payload_max());
  const std::uint64_t size = kJournalHeaderBytes + payload.size();
  // Room for the record and the group's trailer after it, which must share its segment.
  if (head_offset_ + size + kJournalTrailerBytes > head_capacity_) {
    splits_.push_back(Split{pending_.size(), next_position_});
    head_offset_ = 0;
    head_capacity_ = options_.segment_bytes;
  }
  const std::uint32_t length = static_cast<std::uint32_t>(payload.size());
  const std::uint32_t crc = record_crc(next_position_, payload);
  const std::size_t at = pending_.size();
  pending_.resize(at + size);
  char* p = pending_.data() + at;
  std::memcpy(p, &length, 4);
  std::memcpy(p + 4, &crc, 4);
  std::memcpy(p + 8, &next_position_, 8);
  std::memcpy(p + kJournalHeaderBytes, payload.data(), payload.size());
  head_offset_ += size;
  return next_position_++;
}

std::optional<std::string> Journal::sync() {
  if (error_) return error_;
  if (pending_.empty()) return std::nullopt;
  if (auto error = write_group()) return fail(std::move(*error));
  pending_.clear();
  splits_.clear();
  head_offset_ += kJournalTrailerBytes;
  metrics().journal_group_durable(next_position_ - durable_next_position_, next_position_ - 1);
  durable_next_position_ = next_position_;
  durable_segment_ = segments_.back().first_position;
  durable_offset_ = segments_.back().end_offset;
  BONUS_ASSERT(head_offset_ == durable_offset_);
  return std::nullopt;
}

// Writes the pending records, segment by segment, each part synced before the next
// segment is created; then the trailer, synced. Until the trailer is durable, recovery
// treats every record of the group as never written.
std::optional<std::string> Journal::write_group() {
  const std::string_view pending = pending_;
  std::size_t begin = 0;
  for (const Split& split : splits_) {
    if (auto error =
            write_active(pending.substr(begin, split.offset - begin), split.first_position)) {
      return error;
    }
    if (auto error = create_segment(split.first_position)) return error;
    begin = split.offset;
  }
  if (auto error = write_active(pending.substr(begin), next_position_)) return error;
  return write_trailer(durable_next_position_);
}

// Writes records to the end of the active segment and syncs them; `next_position` is one
// past the last of them. Past them only zeros ever go, so a crash between the writes
// leaves what recovery expects.
std::optional<std::string> Journal::write_active(std::string_view bytes,
                                                 std::uint64_t next_position) {
  if (bytes.empty()) return std::nullopt;
  Segment& segment = segments_.back();
  const std::uint64_t data_end = segment.end_offset + bytes.size();
  BONUS_ASSERT(data_end <= segment.capacity);
  int e = fault(JournalStep::write_records);
  if (e == 0) e = pwrite_all(fd_, bytes, segment.end_offset);
  if (e) return errno_text("cannot write", segment.path, e);
  if (!zeros_.empty() && data_end > zeroed_end_) {
    const std::uint64_t zero_end =
        std::min<std::uint64_t>(segment.capacity, data_end + zeros_.size());
    if (int z =
            pwrite_all(fd_, std::string_view(zeros_).substr(0, zero_end - data_end), data_end)) {
      return errno_text("cannot write zeros ahead in", segment.path, z);
    }
    zeroed_end_ = zero_end;
  }
  segment.end_offset += bytes.size();
  segment.next_position = next_position;
  if (!options_.sync) return std::nullopt;
  e = fault(JournalStep::sync_records);
  if (e == 0 && timed_fdatasync(fd_) != 0) e = errno;
  if (e) return errno_text("cannot fdatasync", segment.path, e);
  return std::nullopt;
}

// Writes the trailer of the group of records from `first_position` on (all of pending_)
// after them, and syncs it.
std::optional<std::string> Journal::write_trailer(std::uint64_t first_position) {
  Segment& segment = segments_.back();
  BONUS_ASSERT(segment.end_offset + kJournalTrailerBytes <= segment.capacity);
  BONUS_ASSERT(next_position_ > first_position);
  const Trailer trailer{first_position, static_cast<std::uint32_t>(next_position_ - first_position),
                        crc32c(pending_.data(), pending_.size()), pending_.size()};
  int e = fault(JournalStep::write_trailer);
  if (e == 0) e = pwrite_all(fd_, encode_trailer(trailer), segment.end_offset);
  if (e) return errno_text("cannot write the group trailer to", segment.path, e);
  segment.end_offset += kJournalTrailerBytes;
  if (!options_.sync) return std::nullopt;
  e = fault(JournalStep::sync_trailer);
  if (e == 0 && timed_fdatasync(fd_) != 0) e = errno;
  if (e) return errno_text("cannot fdatasync the group trailer of", segment.path, e);
  return std::nullopt;
}

int Journal::fault(JournalStep step) const {
  return options_.fault_for_test ? options_.fault_for_test(step) : 0;
}

// Makes the failure sticky, after writing the fence: the durable end before the failed
// group, so that recovery cuts the group even if the page cache still holds all of it.
// If the fence cannot be written, scrubs the group instead.
const std::string& Journal::fail(std::string message) {
  const Fence fence{durable_segment_, durable_offset_, durable_next_position_};
  int e = fault(JournalStep::write_fence);
  if (e == 0) e = write_fence(fence_fd_, encode_fence(fence));
  if (e != 0) {
    message += "; and the fence could not be written (" + std::string(std::strerror(e)) + ")";
    const std::string trouble = scrub_failed_group();
    message += trouble.empty() ? ", so the failed group was zeroed and its new segments deleted"
                               : ": " + trouble + "; a restart before the machine's page cache "
                                                  "is dropped may find the failed group";
  }
  error_ = std::move(message) + " (the journal accepts no more writes until it is reopened)";
  return *error_;
}

// Overwrites the failed group's bytes with zeros (in the page cache at least; synced if
// the disk takes it) and deletes the segments it created, so that without a fence a
// restart before a reboot does not read the group back. Nothing durable is touched: the
// group starts at the durable end. Returns what could not be done ("" if all was).
std::string Journal::scrub_failed_group() {
  std::string trouble;
  while (segments_.size() > 1 && segments_.back().first_position > durable_segment_) {
    if (::unlink(segments_.back().path.c_str()) != 0) {
      trouble += errno_text("cannot delete", segments_.back().path, errno) + "; ";
    }
    segments_.pop_back();
  }
  if (::fsync(dir_fd_) != 0) trouble += errno_text("cannot fsync", options_.dir, errno) + "; ";
  Segment& segment = segments_.back();
  BONUS_ASSERT(segment.first_position == durable_segment_);
  if (fd_ >= 0) ::close(fd_);
  fd_ = ::open(segment.path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd_ < 0) return trouble + errno_text("cannot open", segment.path, errno);
  // The group's bytes in this segment: at most all its records and its trailer.
  const std::uint64_t end = std::min<std::uint64_t>(
      segment.capacity, durable_offset_ + pending_.size() + kJournalTrailerBytes);
  int e = pwrite_all(fd_, std::string(end - durable_offset_, '\0'), durable_offset_);
  if (e == 0 && ::fdatasync(fd_) != 0) e = errno;
  if (e != 0) trouble += errno_text("cannot zero the failed group in", segment.path, e) + "; ";
  segment.end_offset = durable_offset_;
  segment.next_position = durable_next_position_;
  if (!trouble.empty()) trouble.resize(trouble.size() - 2);
  return trouble;
}

std::optional<std::string> Journal::delete_segments_before(std::uint64_t position) {
  // One segment at a time with a directory sync after each, so that whatever a crash
  // leaves is a contiguous run of the newest segments. Not after a failure: the fence
  // names a segment, which must still be there at recovery.
  if (error_) return std::nullopt;
  while (segments_.size() > 1 && segments_[1].first_position <= position) {
    const std::string& path = segments_.front().path;
    if (::unlink(path.c_str()) != 0) return errno_text("cannot delete", path, errno);
    segments_.erase(segments_.begin());
    if (::fsync(dir_fd_) != 0) return errno_text("cannot fsync", options_.dir, errno);
  }
  return std::nullopt;
}

std::uint64_t Journal::first_position() const {
  return segments_.front().first_position;
}

std::uint64_t Journal::bytes() const {
  std::uint64_t total = pending_.size();
  for (const Segment& segment : segments_) total += segment.end_offset;
  return total;
}

std::uint64_t Journal::payload_max() const {
  return options_.segment_bytes - kJournalHeaderBytes - kJournalTrailerBytes;
}

}  // namespace bonus::server
