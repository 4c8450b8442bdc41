// Journal: the server's durable command log. Records are appended to segment files in the
// data directory with group commit: the caller appends many records, then one sync()
// writes them all, fdatasyncs, and then writes and fdatasyncs a group trailer (the group's
// record count and a checksum over its records) before any of them may be acknowledged.
// A group is durable as a whole or not at all: at recovery, records not followed by their
// valid trailer were never written. Each record has a log position, a 64-bit number that
// rises by one per record (the first journal's first record is 1; trailers take none), so
// checkpoints can say "state as of position P" and drop older segments.
//
// The byte format (format version 2), how the end of a preallocated segment is found, what
// recovery cuts and what it refuses, and the fence written after a failed write or sync
// are written down in docs/journal-format.md; this header is the code's copy of it.
//
// The server's Log (server/log.h) on local disk. Thread: owned by the server's sequencer
// thread; no locks inside. One Journal per data directory, and nothing else may write its
// files while it is open (journal-repair runs only while bonusd is stopped).
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

#include "server/log.h"

namespace bonus::server {

// Record header: length u32 | crc32c u32 (of position and payload) | position u64.
inline constexpr std::size_t kJournalHeaderBytes = 16;
// Group trailer: tag u32 | crc32c u32 | first position u64 | record count u32 | group
// crc32c u32 | group bytes u64. Every segment keeps room for one after its records.
inline constexpr std::size_t kJournalTrailerBytes = 32;
// The on-disk format this code reads and writes; in every segment's file name.
inline constexpr int kJournalFormatVersion = 2;
inline constexpr std::uint64_t kJournalSegmentBytesDefault = 64ull << 20;
// Bounds on JournalOptions::segment_bytes. A segment is read whole into memory at
// start-up and replay, so its size is also the journal's read buffer.
inline constexpr std::uint64_t kJournalSegmentBytesMin = 4096;
inline constexpr std::uint64_t kJournalSegmentBytesMax = 1ull << 30;
static_assert(kJournalSegmentBytesMin <= kJournalSegmentBytesDefault &&
              kJournalSegmentBytesDefault <= kJournalSegmentBytesMax);
static_assert(kJournalSegmentBytesMin > kJournalHeaderBytes + kJournalTrailerBytes);
inline constexpr std::uint64_t kJournalZeroAheadBytesDefault = 1ull << 20;
inline constexpr std::uint64_t kJournalZeroAheadBytesMax = 64ull << 20;  // also its buffer
static_assert(kJournalZeroAheadBytesDefault <= kJournalZeroAheadBytesMax);

// The steps of a group commit where JournalOptions::fault_for_test may inject a failure.
enum class JournalStep {
  write_records,
  sync_records,
  create_segment,
  write_trailer,
  sync_trailer,
  write_fence,  // after a failure: the fence's write and sync
};

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
  // Tests only: called before each step of a group commit; a non-zero errno makes that
  // step fail with it without doing it (a failed fdatasync leaves what was written in the
  // page cache, as Linux does). Empty in the server.
  std::function<int(JournalStep)> fault_for_test;
};

// What the journal knows of one segment file.
struct JournalSegment {
  std::string path;
  std::uint64_t first_position = 0;  // from the file name
  std::uint64_t next_position = 0;   // one past its last record written
  std::uint64_t end_offset = 0;      // bytes of records and trailers written in it
  std::uint64_t capacity = 0;        // bytes records and trailers may fill
};

// What journal-repair found, and did.
struct JournalRepair {
  bool damaged = false;  // a corrupt record, a missing segment or a torn group was found
  bool dropped = false;  // and (with drop) cut off, its bytes kept beside the journal
  std::string report;    // for the operator: what was found, what is (or would be) dropped
};

class Journal final : public Log {
 public:
  // Opens the journal in options.dir (creating the directory and a first segment if
  // needed), checks every record of every segment, and positions for appending.
  //
  // A torn group at the very end (records with no valid trailer after the last valid one:
  // a crash before the group's sync finished, however its pages landed) is cut off: its
  // bytes are copied to a cut-* file beside the segments, then zeroed and synced, and
  // *recovery_note (if given) says what was cut, for the log line; it is left empty when
  // nothing was cut. So is everything after the fence left by a failed write or sync.
  // Any other damage - a bad record in a group whose valid trailer follows, a missing
  // segment, a segment of another format version - is an error naming the file and byte
  // offset, and nothing is changed on disk (journal-repair can drop it, on request).
  using Opened = std::variant<std::unique_ptr<Journal>, std::string>;
  static Opened open(const JournalOptions& options, std::string* recovery_note);

  // Offline repair, for journal-repair: reads the journal as open() does and reports
  // what it finds. Damage open() refuses is reported with what would be dropped: the
  // damaged group and everything after it. With drop, that is cut as a torn group is
  // (bytes kept in cut-* files), and so is a torn group; without, nothing changes on disk.
  // Errors: the directory or a file cannot be read or changed.
  using Repaired = std::variant<JournalRepair, std::string>;
  static Repaired repair(const JournalOptions& options, bool drop);

  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  // Calls f(position, payload) for every durable record at or after `from`, in order,
  // reading the segments again and checking each record again. The payload view is
  // valid only during the call. Records appended but not yet synced are not replayed.
  // Errors: `from` before first_position() (those records were deleted) or after
  // durable_position() + 1, or a record that no longer reads back as it did at open.
  [[nodiscard]] std::optional<std::string> replay(
      std::uint64_t from,
      const std::function<void(std::uint64_t, std::string_view)>& f) const override;

  // Buffers one record and returns its position, or nullopt when the journal has failed
  // (see error()). Nothing reaches the disk until sync().
  // REQUIRES: payload.size() <= payload_max().
  [[nodiscard]] std::optional<std::uint64_t> append(std::string_view payload) override;

  // Writes every appended record and fdatasyncs (opening new segments as they fill), then
  // writes the group's trailer and fdatasyncs again. Returns nullopt once the group is
  // durable: only then may its records be acknowledged. A failed write, fdatasync or
  // segment creation is sticky: this and every later append() and sync() fail with the
  // same message until the journal is reopened; first the durable end before the group
  // is written to the fence file, so that recovery cuts the group whatever the page cache
  // still holds of it (if the fence cannot be written, the group's bytes are zeroed and
  // the segments it created deleted instead, as far as the disk lets).
  [[nodiscard]] std::optional<std::string> sync() override;

  // Deletes whole segments whose records all lie before `position`, oldest first; the
  // segment being appended to is never deleted. Records at and after `position` stay.
  // After a checkpoint "as of position P", call it with P + 1. Once the journal has failed
  // (see sync()) it deletes nothing, so that recovery finds the segment the fence names.
  [[nodiscard]] std::optional<std::string> delete_segments_before(std::uint64_t position);
  [[nodiscard]] std::optional<std::string> trim_before(std::uint64_t position) override {
    return delete_segments_before(position);
  }

  // Positions: of the oldest retained record (next_position() if there is none), of the
  // next append, and of the last synced record (first_position() - 1 if there is none).
  std::uint64_t first_position() const override;
  std::uint64_t next_position() const { return next_position_; }
  std::uint64_t durable_position() const override { return durable_next_position_ - 1; }
  // Record and trailer bytes in the retained segments, appended records included;
  // and those appended but not yet synced, for the caller to bound a group.
  std::uint64_t bytes() const override;
  std::uint64_t pending_bytes() const { return pending_.size(); }
  std::size_t segment_count() const { return segments_.size(); }
  // segment_bytes - kJournalHeaderBytes - kJournalTrailerBytes
  std::uint64_t payload_max() const override;
  const std::optional<std::string>& error() const { return error_; }  // the sticky failure

 private:
  using Segment = JournalSegment;
  // A point in pending_ where the records start to go into a new segment.
  struct Split {
    std::size_t offset = 0;
    std::uint64_t first_position = 0;
  };
  enum class Mode { open, repair_report, repair_drop };

  explicit Journal(const JournalOptions& options);
  std::optional<std::string> list_segments();
  std::optional<std::string> recover(Mode mode, std::string* note, bool* damaged);
  std::optional<std::string> cut(std::size_t segment, std::uint64_t offset,
                                 std::uint64_t position, std::string* kept);
  std::optional<std::string> open_active();
  std::optional<std::string> create_segment(std::uint64_t first_position);
  std::optional<std::string> write_active(std::string_view bytes, std::uint64_t next_position);
  std::optional<std::string> write_trailer(std::uint64_t first_position);
  std::optional<std::string> write_group();
  int fault(JournalStep step) const;
  const std::string& fail(std::string message);
  std::string scrub_failed_group();

  JournalOptions options_;
  int dir_fd_ = -1;
  int fd_ = -1;                    // of segments_.back(), the segment being appended to
  int fence_fd_ = -1;              // of the fence file, opened (and created) at open
  std::vector<Segment> segments_;  // oldest first; never empty once open
  std::uint64_t next_position_ = 1;
  std::uint64_t durable_next_position_ = 1;  // one past the last record of a durable group
  // Where the durable records end: the segment's first position and the offset in it.
  std::uint64_t durable_segment_ = 1;
  std::uint64_t durable_offset_ = 0;
  std::string pending_;              // encoded records appended since the last sync
  std::vector<Split> splits_;        // where pending_ crosses into new segments
  std::uint64_t head_offset_ = 0;    // where the next appended record goes in its segment
  std::uint64_t head_capacity_ = 0;  // that segment's capacity
  std::uint64_t zeroed_end_ = 0;     // the active segment is zero-written up to here
  std::string zeros_;                // zero_ahead_bytes of zeros (empty when off)
  std::optional<std::string> error_;
};

}  // namespace bonus::server
