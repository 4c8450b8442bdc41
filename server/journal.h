// Journal: the server's durable command log. Records are appended to segment files in the
// data directory with group commit: the caller appends many records, then one sync()
// writes them all and fdatasyncs before any of them may be acknowledged. Each record has
// a log position, a 64-bit number that rises by one per record (the first journal's first
// record is 1), so checkpoints can say "state as of position P" and drop older segments.
//
// The byte format, how the end of a preallocated segment is found and what recovery does
// are written down in docs/journal-format.md; this header is the code's copy of it.
//
// Thread: owned by the server's sequencer thread; no locks inside. One Journal per data
// directory, and nothing else may write its files while it is open.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace bonus::server {

// Record header: length u32 | crc32c u32 (of position and payload) | position u64.
inline constexpr std::size_t kJournalHeaderBytes = 16;
inline constexpr std::uint64_t kJournalSegmentBytesDefault = 64ull << 20;
// Bounds on JournalOptions::segment_bytes. A segment is read whole into memory at
// start-up and replay, so its size is also the journal's read buffer.
inline constexpr std::uint64_t kJournalSegmentBytesMin = 4096;
inline constexpr std::uint64_t kJournalSegmentBytesMax = 1ull << 30;
static_assert(kJournalSegmentBytesMin <= kJournalSegmentBytesDefault &&
              kJournalSegmentBytesDefault <= kJournalSegmentBytesMax);
static_assert(kJournalSegmentBytesMin > kJournalHeaderBytes);
inline constexpr std::uint64_t kJournalZeroAheadBytesDefault = 1ull << 20;
inline constexpr std::uint64_t kJournalZeroAheadBytesMax = 64ull << 20;  // also its buffer
static_assert(kJournalZeroAheadBytesDefault <= kJournalZeroAheadBytesMax);

struct JournalOptions {
  std::string dir;  // created if missing (one level or many)
  std::uint64_t segment_bytes = kJournalSegmentBytesDefault;
  // false: no fdatasync of appended records (segment creation is still synced). For
  // benchmarks only: a crash may then lose records that sync() reported written.
  bool sync = true;
  // false: segments are not fallocated but grow as written. For the benchmark's
  // comparison only; the reader handles both.
  bool preallocate = true;
  // With preallocate: whenever the records pass the zero-written part of the segment,
  // this many bytes past them are written with zeros too, in the same fdatasync. On ext4
  // a fallocated block is "unwritten" and the first fdatasync into it must also commit
  // its conversion; written blocks spare the later syncs that (journal-bench: about half
  // the latency of a 4 KiB group commit), at the cost of writing each byte twice.
  // 0: off. At most kJournalZeroAheadBytesMax.
  std::uint64_t zero_ahead_bytes = kJournalZeroAheadBytesDefault;
};

class Journal {
 public:
  // Opens the journal in options.dir (creating the directory and a first segment if
  // needed), checks every record of every segment, and positions for appending.
  //
  // A torn record at the very end of the last segment (a crash mid-write) is cut off:
  // its bytes are zeroed and synced, and *recovery_note (if given) says what was cut, for
  // the log line; it is left empty when nothing was cut. Any other damage - a bad record
  // followed by more data, a bad record in an earlier segment, a missing segment - is an
  // error naming the file and byte offset, and nothing is changed on disk.
  using Opened = std::variant<std::unique_ptr<Journal>, std::string>;
  static Opened open(const JournalOptions& options, std::string* recovery_note);

  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  // Calls f(position, payload) for every durable record at or after `from`, in order,
  // reading the segments again and checking each record again. The payload view is
  // valid only during the call. Records appended but not yet synced are not replayed.
  // Errors: `from` before first_position() (those records were deleted) or after
  // durable_position() + 1, or a record that no longer reads back as it did at open.
  [[nodiscard]] std::optional<std::string> replay(
      std::uint64_t from, const std::function<void(std::uint64_t, std::string_view)>& f) const;

  // Buffers one record and returns its position, or nullopt when the journal has failed
  // (see error()). Nothing reaches the disk until sync().
  // REQUIRES: payload.size() <= payload_max().
  [[nodiscard]] std::optional<std::uint64_t> append(std::string_view payload);

  // Writes every appended record and fdatasyncs (opening new segments as they fill).
  // Returns nullopt once all of them are durable: only then may they be acknowledged.
  // A failed write, fdatasync or segment creation is sticky: this and every later
  // append() and sync() fail with the same message until the journal is reopened.
  [[nodiscard]] std::optional<std::string> sync();

  // Deletes whole segments whose records all lie before `position`, oldest first; the
  // segment being appended to is never deleted. Records at and after `position` stay.
  // After a checkpoint "as of position P", call it with P + 1.
  [[nodiscard]] std::optional<std::string> delete_segments_before(std::uint64_t position);

  // Positions: of the oldest retained record (next_position() if there is none), of the
  // next append, and of the last synced record (first_position() - 1 if there is none).
  std::uint64_t first_position() const;
  std::uint64_t next_position() const { return next_position_; }
  std::uint64_t durable_position() const;
  // Record bytes (headers included) in the retained segments, appended ones included;
  // and those appended but not yet synced, for the caller to bound a group.
  std::uint64_t bytes() const;
  std::uint64_t pending_bytes() const { return pending_.size(); }
  std::size_t segment_count() const { return segments_.size(); }
  std::uint64_t payload_max() const;  // segment_bytes - kJournalHeaderBytes
  const std::optional<std::string>& error() const { return error_; }  // the sticky failure

 private:
  struct Segment {
    std::string path;
    std::uint64_t first_position = 0;  // from the file name
    std::uint64_t next_position = 0;   // one past its last durable record
    std::uint64_t end_offset = 0;      // bytes of durable records in it
    std::uint64_t capacity = 0;        // bytes records may fill
  };
  // A point in pending_ where the records start to go into a new segment.
  struct Split {
    std::size_t offset = 0;
    std::uint64_t first_position = 0;
  };

  explicit Journal(const JournalOptions& options);
  std::optional<std::string> recover(std::string* recovery_note);
  std::optional<std::string> open_active(std::uint64_t cut_offset, std::uint64_t cut_end);
  std::optional<std::string> create_segment(std::uint64_t first_position);
  std::optional<std::string> write_active(std::string_view bytes, std::uint64_t next_position);
  const std::string& fail(std::string message);

  JournalOptions options_;
  int dir_fd_ = -1;
  int fd_ = -1;                    // of segments_.back(), the segment being appended to
  std::vector<Segment> segments_;  // oldest first; never empty once open
  std::uint64_t next_position_ = 1;
  std::string pending_;              // encoded records appended since the last sync
  std::vector<Split> splits_;        // where pending_ crosses into new segments
  std::uint64_t head_offset_ = 0;    // where the next appended record goes in its segment
  std::uint64_t head_capacity_ = 0;  // that segment's capacity
  std::uint64_t zeroed_end_ = 0;     // the active segment is zero-written up to here
  std::string zeros_;                // zero_ahead_bytes of zeros (empty when off)
  std::optional<std::string> error_;
};

}  // namespace bonus::server
