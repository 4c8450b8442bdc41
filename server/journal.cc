#include "server/journal.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <utility>

#include "engine/assert.h"
#include "protocol/crc32c.h"

namespace bonus::server {
namespace {

static_assert(std::endian::native == std::endian::little, "the journal is little-endian on disk");

using RecordFn = std::function<void(std::uint64_t, std::string_view)>;

constexpr std::string_view kNamePrefix = "journal-";
constexpr std::string_view kNameSuffix = ".log";
constexpr std::size_t kNameHexDigits = 16;

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

std::uint32_t record_crc(std::uint64_t position, std::string_view payload) {
  return crc32c(payload.data(), payload.size(), crc32c(&position, sizeof position));
}

std::string segment_name(std::uint64_t first_position) {
  char name[64];
  std::snprintf(name, sizeof name, "journal-%016" PRIx64 ".log", first_position);
  return name;
}

// The first position in a segment file's name, or nullopt if the name is not one.
std::optional<std::uint64_t> parse_segment_name(std::string_view name) {
  if (name.size() != kNamePrefix.size() + kNameHexDigits + kNameSuffix.size() ||
      !name.starts_with(kNamePrefix) || !name.ends_with(kNameSuffix)) {
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

// Whether `data` holds a record at `offset` with a good checksum and a position of at
// least `position_min`.
bool is_valid_record_at(std::string_view data, std::uint64_t offset, std::uint64_t position_min) {
  if (data.size() - offset < kJournalHeaderBytes) return false;
  const char* header = data.data() + offset;
  const std::uint64_t position = load_u64(header + 8);
  // Each record takes at least a header, which bounds how far ahead a position can be.
  if (position < position_min || position - position_min > data.size() / kJournalHeaderBytes) {
    return false;
  }
  const std::uint32_t length = load_u32(header);
  if (length > data.size() - offset - kJournalHeaderBytes) return false;
  return load_u32(header + 4) ==
         record_crc(position, data.substr(offset + kJournalHeaderBytes, length));
}

// The offset of the first valid record (see above) starting in data[from, to), if any.
std::optional<std::uint64_t> find_valid_record(std::string_view data, std::uint64_t from,
                                               std::uint64_t to, std::uint64_t position_min) {
  for (std::uint64_t offset = from; offset < to; ++offset) {
    if (is_valid_record_at(data, offset, position_min)) return offset;
  }
  return std::nullopt;
}

// What a scan of one segment's bytes found.
struct Scan {
  std::uint64_t end_offset = 0;     // just past the last good record
  std::uint64_t next_position = 0;  // one past the last good record's position
  // Set when the bytes at end_offset are neither a good record nor the zeroed end.
  std::optional<std::string> damage;
  // The damage looks like a torn write: only zeros follow the bad record, and no valid
  // record starts inside it. Then [end_offset, damage_end) holds all its non-zero bytes.
  bool torn = false;
  std::uint64_t damage_end = 0;
};

// Classifies the bad record at `offset`. `extent` is where the record would end if its
// header were right (the end of the data when the header itself is cut short or says
// more than is there); `may_be_torn` is false for damage a crash cannot cause.
void classify_damage(std::string_view data, std::uint64_t offset, std::uint64_t position,
                     std::uint64_t extent, bool may_be_torn, std::string reason, Scan* scan) {
  scan->damage = std::move(reason);
  if (!may_be_torn) return;
  if (!all_zero(data.substr(extent))) {
    *scan->damage += "; non-zero bytes follow at offset " +
                     std::to_string(extent + (data.substr(extent).find_first_not_of('\0')));
    return;
  }
  // A damaged length word may hide good records inside the claimed extent.
  if (auto next = find_valid_record(data, offset + 1, extent, position)) {
    *scan->damage += "; a valid record follows at offset " + std::to_string(*next);
    return;
  }
  scan->torn = true;
  scan->damage_end = nonzero_end(data, offset, extent);
}

// Reads the records of one segment's bytes from the start, calling f (if given) for each
// good one, until the end (the data runs out, or only zeros remain) or the first damage.
Scan scan_segment(std::string_view data, std::uint64_t first_position, const RecordFn* f) {
  Scan scan;
  std::uint64_t offset = 0;
  std::uint64_t position = first_position;
  for (;;) {
    scan.end_offset = offset;
    scan.next_position = position;
    const std::uint64_t rest = data.size() - offset;
    if (rest == 0) return scan;
    const std::string_view head = data.substr(offset, kJournalHeaderBytes);
    if (all_zero(head)) {
      if (all_zero(data.substr(offset))) return scan;
      classify_damage(data, offset, position, offset + head.size(), true,
                      "zero header where data follows", &scan);
      return scan;
    }
    if (rest < kJournalHeaderBytes) {
      classify_damage(data, offset, position, data.size(), true, "partial header", &scan);
      return scan;
    }
    const std::uint32_t length = load_u32(head.data());
    const std::uint32_t crc = load_u32(head.data() + 4);
    const std::uint64_t record_position = load_u64(head.data() + 8);
    if (length > rest - kJournalHeaderBytes) {
      classify_damage(data, offset, position, data.size(), true,
                      "length " + std::to_string(length) + " runs past the end of the file", &scan);
      return scan;
    }
    const std::string_view payload = data.substr(offset + kJournalHeaderBytes, length);
    const std::uint64_t extent = offset + kJournalHeaderBytes + length;
    if (crc != record_crc(record_position, payload)) {
      classify_damage(data, offset, position, extent, true, "checksum mismatch", &scan);
      return scan;
    }
    if (record_position != position) {
      classify_damage(data, offset, position, extent, false,
                      "position " + std::to_string(record_position) + " where " +
                          std::to_string(position) + " was expected",
                      &scan);
      return scan;
    }
    if (f) (*f)(position, payload);
    offset = extent;
    ++position;
  }
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

}  // namespace

Journal::Journal(const JournalOptions& options)
    : options_(options), zeros_(options.preallocate ? options.zero_ahead_bytes : 0, '\0') {}

Journal::~Journal() {
  if (fd_ >= 0) ::close(fd_);
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
  std::error_code ec;
  std::filesystem::create_directories(options.dir, ec);
  if (ec) return "cannot create " + options.dir + ": " + ec.message();
  std::unique_ptr<Journal> journal(new Journal(options));
  journal->dir_fd_ = ::open(options.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (journal->dir_fd_ < 0) return errno_text("cannot open", options.dir, errno);
  if (auto error = journal->recover(recovery_note)) return std::move(*error);
  return journal;
}

// Lists the segments, checks that they join up and that every record reads back, cuts a
// torn tail off the last one, and opens the last one for appending.
std::optional<std::string> Journal::recover(std::string* recovery_note) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(options_.dir, ec)) {
    const std::string name = entry.path().filename().string();
    const auto first = parse_segment_name(name);
    if (!first) continue;
    if (*first == 0) return entry.path().string() + ": positions start at 1";
    segments_.push_back(Segment{entry.path().string(), *first, *first, 0, 0});
  }
  if (ec) return "cannot list " + options_.dir + ": " + ec.message();
  if (segments_.empty()) {
    head_capacity_ = options_.segment_bytes;
    return create_segment(1);
  }
  std::sort(segments_.begin(), segments_.end(),
            [](const Segment& a, const Segment& b) { return a.first_position < b.first_position; });

  std::string data;
  std::uint64_t cut_offset = 0, cut_end = 0;
  for (std::size_t i = 0; i < segments_.size(); ++i) {
    Segment& segment = segments_[i];
    const bool last = i + 1 == segments_.size();
    if (i > 0 && segment.first_position != segments_[i - 1].next_position) {
      return "missing records: " + segments_[i - 1].path + " ends before position " +
             std::to_string(segments_[i - 1].next_position) + " but the next segment, " +
             segment.path + ", starts at position " + std::to_string(segment.first_position);
    }
    if (auto error = read_segment(segment.path, std::nullopt, &data)) return error;
    const Scan scan = scan_segment(data, segment.first_position, nullptr);
    segment.end_offset = scan.end_offset;
    segment.next_position = scan.next_position;
    segment.capacity = std::max<std::uint64_t>(data.size(), options_.segment_bytes);
    if (!scan.damage) continue;
    if (!last || !scan.torn) {
      return segment.path + ": corrupt record at offset " + std::to_string(scan.end_offset) +
             " (position " + std::to_string(scan.next_position) + "): " + *scan.damage +
             (last ? "" : "; not the last segment");
    }
    cut_offset = scan.end_offset;
    cut_end = scan.damage_end;
    if (recovery_note) {
      *recovery_note = "cut a torn record off the end of " + segment.path + " at offset " +
                       std::to_string(cut_offset) + " (" + *scan.damage +
                       "): the journal ends at position " + std::to_string(scan.next_position - 1) +
                       "; zeroed " + std::to_string(cut_end - cut_offset) + " bytes";
    }
  }
  next_position_ = segments_.back().next_position;
  return open_active(cut_offset, cut_end);
}

// Opens the last segment for appending: zeroes a torn tail at [cut_offset, cut_end) and
// preallocates it to full size.
std::optional<std::string> Journal::open_active(std::uint64_t cut_offset, std::uint64_t cut_end) {
  Segment& segment = segments_.back();
  fd_ = ::open(segment.path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd_ < 0) return errno_text("cannot open", segment.path, errno);
  if (cut_end > cut_offset) {
    const std::string zeros(cut_end - cut_offset, '\0');
    if (int e = pwrite_all(fd_, zeros, cut_offset)) {
      return errno_text("cannot zero the torn tail of", segment.path, e);
    }
    if (::fdatasync(fd_) != 0) return errno_text("cannot fdatasync", segment.path, errno);
  }
  if (options_.preallocate) {
    if (int e = ::posix_fallocate(fd_, 0, static_cast<off_t>(segment.capacity))) {
      return errno_text("cannot preallocate", segment.path, e);
    }
    if (::fdatasync(fd_) != 0) return errno_text("cannot fdatasync", segment.path, errno);
  }
  head_offset_ = segment.end_offset;
  head_capacity_ = segment.capacity;
  zeroed_end_ = segment.end_offset;  // unknown past the records: zero it again
  return std::nullopt;
}

// Creates, preallocates and syncs a new empty segment (and its directory entry), and
// makes it the one written to. (append() has already moved the head past it.)
std::optional<std::string> Journal::create_segment(std::uint64_t first_position) {
  const std::string path = options_.dir + "/" + segment_name(first_position);
  const int fd = ::open(path.c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0644);
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
  const RecordFn from_on = [&](std::uint64_t position, std::string_view payload) {
    if (position >= from) f(position, payload);
  };
  std::string data;
  for (const Segment& segment : segments_) {
    if (segment.next_position <= from) continue;
    if (auto error = read_segment(segment.path, segment.end_offset, &data)) return error;
    const Scan scan = scan_segment(data, segment.first_position, &from_on);
    if (scan.damage || scan.next_position != segment.next_position) {
      return segment.path + " changed since it was opened: at offset " +
             std::to_string(scan.end_offset) + ": " + scan.damage.value_or("records missing");
    }
  }
  return std::nullopt;
}

std::optional<std::uint64_t> Journal::append(std::string_view payload) {
  if (error_) return std::nullopt;
  BONUS_ASSERT(payload.size() <= payload_max());
  const std::uint64_t size = kJournalHeaderBytes + payload.size();
  if (head_offset_ + size > head_capacity_) {
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
  const std::string_view pending = pending_;
  std::size_t begin = 0;
  for (const Split& split : splits_) {
    if (auto error =
            write_active(pending.substr(begin, split.offset - begin), split.first_position)) {
      return fail(std::move(*error));
    }
    if (auto error = create_segment(split.first_position)) return fail(std::move(*error));
    begin = split.offset;
  }
  if (auto error = write_active(pending.substr(begin), next_position_))
    return fail(std::move(*error));
  pending_.clear();
  splits_.clear();
  return std::nullopt;
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
  if (int e = pwrite_all(fd_, bytes, segment.end_offset))
    return errno_text("cannot write", segment.path, e);
  if (!zeros_.empty() && data_end > zeroed_end_) {
    const std::uint64_t zero_end =
        std::min<std::uint64_t>(segment.capacity, data_end + zeros_.size());
    if (int e =
            pwrite_all(fd_, std::string_view(zeros_).substr(0, zero_end - data_end), data_end)) {
      return errno_text("cannot write zeros ahead in", segment.path, e);
    }
    zeroed_end_ = zero_end;
  }
  if (options_.sync && ::fdatasync(fd_) != 0)
    return errno_text("cannot fdatasync", segment.path, errno);
  segment.end_offset += bytes.size();
  segment.next_position = next_position;
  return std::nullopt;
}

const std::string& Journal::fail(std::string message) {
  error_ = std::move(message) + " (the journal accepts no more writes until it is reopened)";
  return *error_;
}

std::optional<std::string> Journal::delete_segments_before(std::uint64_t position) {
  // One segment at a time with a directory sync after each, so that whatever a crash
  // leaves is a contiguous run of the newest segments.
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

std::uint64_t Journal::durable_position() const {
  return segments_.back().next_position - 1;
}

std::uint64_t Journal::bytes() const {
  std::uint64_t total = pending_.size();
  for (const Segment& segment : segments_) total += segment.end_offset;
  return total;
}

std::uint64_t Journal::payload_max() const {
  return options_.segment_bytes - kJournalHeaderBytes;
}

}  // namespace bonus::server
