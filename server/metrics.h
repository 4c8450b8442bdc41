// Metrics: the registry of bonusd's metrics, which GET /metrics exposes (server/README.md
// lists them; metrics_text.cc writes them; metrics_endpoint.h serves them).
//
// A process-wide singleton, metrics(): the shard, sequencer, checkpointer and network
// threads all count into it, and threading a reference through every constructor would
// touch every one of them. A test process with several Servers therefore sees their sums.
//
// Threads: every counting call is safe from any thread and lock-free. Counters and
// histograms live in per-thread cells: each thread that counts gets a cell of its own
// (taken under a mutex once per thread, handed to another thread when it ends) and is its
// cell's only writer, so an update is a relaxed load and store of its own cache lines, no
// locked instruction and no sharing; snapshot() sums the cells. Gauges are relaxed atomics
// that their one owner sets. Hot paths count per batch or slice, not per command.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "engine/code.h"
#include "engine/command.h"
#include "engine/result.h"
#include "protocol/frame.h"
#include "server/role.h"

namespace bonus::server {

// The histograms bonusd keeps, each with fixed bucket bounds (histogram_bounds()).
enum class Histogram : std::uint8_t {
  journal_group_commands = 0,  // records per durable group commit
  journal_fdatasync = 1,       // ns per fdatasync of a group commit (records, then trailer)
  apply_slice = 2,             // ns a shard took to apply one slice of writes
  read_balance = 3,            // ns from a read's frame read to its reply back on the
  read_cart = 4,               //   network thread, by kind
  read_wallet = 5,
  read_expiring = 6,
  read_stats = 7,
};
inline constexpr std::size_t kHistogramCount = 8;
inline constexpr std::size_t kHistogramBoundsMax = 16;
// Upper bounds (inclusive, Prometheus `le`) of a histogram's buckets, in its integer unit
// (ns for the latencies, records for the group size), ascending; +Inf is implicit.
std::span<const std::uint64_t> histogram_bounds(Histogram h);
// The read histogram of a read opcode (balance .. stats) into `out`; false for others.
bool read_histogram(protocol::Opcode op, Histogram& out);

inline constexpr std::size_t kCommandKinds = std::variant_size_v<Command>;
inline constexpr std::size_t kCodeSlots = 64;        // Code values; past them: the last
inline constexpr std::size_t kOpcodeSlots = 129;     // opcodes 0..127, then "other"
inline constexpr std::size_t kFrameErrorSlots = 32;  // FrameError values; past them: the last
inline constexpr std::size_t kShardSlots = 256;      // CheckpointStore::kShardsMax
static_assert(kCodeCount <= kCodeSlots);

// The sums of every cell and the gauges, as of one moment (not one instant across
// threads: a histogram's count is always the sum of its buckets, though).
struct MetricsSnapshot {
  std::uint64_t commands[kCommandKinds][kCodeSlots] = {};
  std::uint64_t requests[kOpcodeSlots] = {};
  std::uint64_t refusals[kFrameErrorSlots] = {};
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
  std::uint64_t reads_here = 0;
  std::uint64_t reads_off_partition = 0;
  std::uint64_t position_waits = 0;
  std::uint64_t log_followed_fed = 0;
  std::uint64_t log_followed_read = 0;
  std::uint64_t buckets[kHistogramCount][kHistogramBoundsMax + 1] = {};  // not cumulative
  std::uint64_t sums[kHistogramCount] = {};
  std::int64_t connections[kRoleCount] = {};
  std::uint64_t accounts = 0;
  std::uint64_t journal_durable_position = 0;
  bool checkpoints = false;  // a checkpointer runs: the next four mean something
  std::uint64_t checkpoint_position = 0;
  std::uint64_t replicas_position = 0;
  double checkpoint_age_s = 0;
  std::uint64_t checkpoint_failures = 0;
  double start_time_s = 0;  // Unix time the registry was made (the process start)
};

struct MetricsCell;

class Metrics {
 public:
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // Network thread. Every frame read, by opcode (unknown ones too); every ErrorReply sent,
  // by its code; bytes read from and written to client sockets.
  void count_request(protocol::Opcode op);
  void count_refusal(protocol::FrameError error);
  void count_bytes_in(std::uint64_t bytes);
  void count_bytes_out(std::uint64_t bytes);
  // A read served on the thread that read its frame, without a hand-off to the thread
  // of its buyers' partition (Shard::read_here_or_queue).
  void count_read_here();
  // A read of one partition's buyers that came on a connection of another partition's
  // loop (Connection::note_partition).
  void count_read_off_partition();
  // A request at a log position this node had not reached: it waited (connection_position.cc).
  void count_position_wait();
  // Sequencer's thread, following a shared log: a message taken from the log's feed, or
  // read from it with a request (server/jetstream_log.h).
  void count_log_followed(bool fed);
  // Connections open by role. Every connection is opened with a role (Role::none before
  // it authenticates), may change role, and is closed with the role it has then.
  void connection_opened(Role role);
  void connection_role_changed(Role from, Role to);
  void connection_closed(Role role);

  // Any thread: the results of one write request, command by command (one cell lookup
  // for the whole batch).
  void count_results(std::span<const Command> commands, std::span<const Result> results);
  // Any thread: one observation (in the histogram's unit), or the time since `start`.
  void observe(Histogram h, std::uint64_t value);
  void observe_since(Histogram h, std::chrono::steady_clock::time_point start);

  // Shard threads: the shard's account count after a slice (shard < kShardSlots).
  void shard_accounts(std::uint32_t shard, std::uint64_t accounts);
  // Sequencer thread: the journal's last durable position at start; then (Journal::sync)
  // a group of `records` records is durable, the last at `position`.
  void journal_opened(std::uint64_t position);
  void journal_group_durable(std::uint64_t records, std::uint64_t position);
  // Checkpointer thread: it runs, from a checkpoint at `position`; its replicas applied
  // up to `position`; a checkpoint at `position` is durable (or current); one failed.
  void checkpoints_started(std::uint64_t position);
  void replicas_applied(std::uint64_t position);
  void checkpoint_written(std::uint64_t position);
  void checkpoint_failed();

  // Any thread (the metrics endpoint: the network thread).
  MetricsSnapshot snapshot() const;
  // Cells made so far: at most the threads that counted at once (tests).
  std::size_t cell_count() const;

 private:
  friend Metrics& metrics();
  Metrics();
  ~Metrics();
  MetricsCell& cell();
  MetricsCell& acquire_cell();
  friend struct CellLease;
  void release_cell(MetricsCell* cell);

  mutable std::mutex cells_mutex_;
  std::vector<std::unique_ptr<MetricsCell>> cells_;  // guarded; never shrinks
  std::vector<MetricsCell*> free_cells_;             // guarded: of ended threads
  std::atomic<std::int64_t> connections_[kRoleCount] = {};
  std::atomic<std::uint64_t> shard_accounts_[kShardSlots] = {};
  std::atomic<std::uint64_t> journal_position_{0};
  std::atomic<bool> checkpoints_{false};
  std::atomic<std::uint64_t> checkpoint_position_{0};
  std::atomic<std::uint64_t> replicas_position_{0};
  std::atomic<std::int64_t> checkpoint_time_ns_{0};  // steady clock
  std::atomic<std::uint64_t> checkpoint_failures_{0};
  double start_time_s_ = 0;
};

// The process's registry (made on first use; never destroyed: threads may count until the
// process ends). Tests compare snapshots before and after, as counters only grow.
Metrics& metrics();

}  // namespace bonus::server
