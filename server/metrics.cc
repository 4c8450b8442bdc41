#include "server/metrics.h"

#include <algorithm>
#include <array>

namespace bonus::server {

// One thread's counters and histograms. Its one writer updates a slot with a relaxed load
// and store (no locked instruction); snapshot() reads it with relaxed loads.
struct MetricsCell {
  std::atomic<std::uint64_t> commands[kCommandKinds][kCodeSlots];
  std::atomic<std::uint64_t> requests[kOpcodeSlots];
  std::atomic<std::uint64_t> refusals[kFrameErrorSlots];
  std::atomic<std::uint64_t> bytes_in;
  std::atomic<std::uint64_t> bytes_out;
  std::atomic<std::uint64_t> reads_here;
  std::atomic<std::uint64_t> reads_off_partition;
  std::atomic<std::uint64_t> position_waits;
  std::atomic<std::uint64_t> log_followed_fed;
  std::atomic<std::uint64_t> log_followed_read;
  std::atomic<std::uint64_t> buckets[kHistogramCount][kHistogramBoundsMax + 1];
  std::atomic<std::uint64_t> sums[kHistogramCount];
};

// Gives a thread's cell back to the registry when the thread ends, for the next thread.
struct CellLease {
  Metrics* owner = nullptr;
  MetricsCell* cell = nullptr;
  ~CellLease() {
    if (cell != nullptr) owner->release_cell(cell);
  }
};

namespace {

constexpr std::uint64_t kUs = 1'000;
constexpr std::uint64_t kMs = 1'000'000;

constexpr std::array<std::uint64_t, 15> kGroupBounds = {1,   2,   4,    8,    16,   32,   64,   128,
                                                        256, 512, 1024, 2048, 4096, 8192, 16384};
constexpr std::array<std::uint64_t, 16> kSyncBounds = {
    10 * kUs, 50 * kUs, 100 * kUs, 250 * kUs, 500 * kUs, 1 * kMs,   2500 * kUs, 5 * kMs,
    10 * kMs, 25 * kMs, 50 * kMs,  100 * kMs, 250 * kMs, 500 * kMs, 1000 * kMs, 2500 * kMs};
constexpr std::array<std::uint64_t, 16> kApplyBounds = {
    1 * kUs,   2 * kUs + 500, 5 * kUs,    10 * kUs, 25 * kUs, 50 * kUs, 100 * kUs, 250 * kUs,
    500 * kUs, 1 * kMs,       2500 * kUs, 5 * kMs,  10 * kMs, 25 * kMs, 50 * kMs,  100 * kMs};
constexpr std::array<std::uint64_t, 16> kReadBounds = {
    10 * kUs, 25 * kUs, 50 * kUs, 100 * kUs, 250 * kUs, 500 * kUs, 1 * kMs,   2500 * kUs,
    5 * kMs,  10 * kMs, 25 * kMs, 50 * kMs,  100 * kMs, 250 * kMs, 500 * kMs, 1000 * kMs};
static_assert(kGroupBounds.size() <= kHistogramBoundsMax &&
              kSyncBounds.size() <= kHistogramBoundsMax &&
              kApplyBounds.size() <= kHistogramBoundsMax &&
              kReadBounds.size() <= kHistogramBoundsMax);

constexpr auto kRelaxed = std::memory_order_relaxed;

// The cell's one writer: no read-modify-write needed.
void bump(std::atomic<std::uint64_t>& slot, std::uint64_t n) {
  slot.store(slot.load(kRelaxed) + n, kRelaxed);
}

std::int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

thread_local MetricsCell* t_cell = nullptr;  // the fast path: trivially constructed
thread_local CellLease t_lease;              // touched only when a thread first counts

}  // namespace

std::span<const std::uint64_t> histogram_bounds(Histogram h) {
  switch (h) {
    case Histogram::journal_group_commands:
      return kGroupBounds;
    case Histogram::journal_fdatasync:
      return kSyncBounds;
    case Histogram::apply_slice:
      return kApplyBounds;
    default:
      return kReadBounds;
  }
}

bool read_histogram(protocol::Opcode op, Histogram& out) {
  switch (op) {
    case protocol::Opcode::balance:
      out = Histogram::read_balance;
      return true;
    case protocol::Opcode::cart:
      out = Histogram::read_cart;
      return true;
    case protocol::Opcode::wallet:
      out = Histogram::read_wallet;
      return true;
    case protocol::Opcode::expiring:
      out = Histogram::read_expiring;
      return true;
    case protocol::Opcode::stats:
    case protocol::Opcode::report:  // a seller's month: a statistics read too
      out = Histogram::read_stats;
      return true;
    default:
      return false;
  }
}

Metrics::Metrics() {
  start_time_s_ =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

Metrics::~Metrics() = default;

Metrics& metrics() {
  static Metrics* const registry = new Metrics();
  return *registry;
}

MetricsCell& Metrics::cell() {
  return t_cell != nullptr ? *t_cell : acquire_cell();
}

MetricsCell& Metrics::acquire_cell() {
  std::lock_guard lock(cells_mutex_);
  MetricsCell* c = nullptr;
  if (!free_cells_.empty()) {
    c = free_cells_.back();
    free_cells_.pop_back();
  } else {
    cells_.push_back(std::make_unique<MetricsCell>());
    c = cells_.back().get();
  }
  t_lease.owner = this;
  t_lease.cell = c;
  t_cell = c;
  return *c;
}

void Metrics::release_cell(MetricsCell* c) {
  std::lock_guard lock(cells_mutex_);
  free_cells_.push_back(c);
}

void Metrics::count_request(protocol::Opcode op) {
  bump(cell().requests[std::min<std::size_t>(static_cast<std::size_t>(op), kOpcodeSlots - 1)], 1);
}

void Metrics::count_refusal(protocol::FrameError error) {
  bump(
      cell().refusals[std::min<std::size_t>(static_cast<std::size_t>(error), kFrameErrorSlots - 1)],
      1);
}

void Metrics::count_bytes_in(std::uint64_t bytes) {
  bump(cell().bytes_in, bytes);
}
void Metrics::count_bytes_out(std::uint64_t bytes) {
  bump(cell().bytes_out, bytes);
}
void Metrics::count_read_here() {
  bump(cell().reads_here, 1);
}
void Metrics::count_read_off_partition() {
  bump(cell().reads_off_partition, 1);
}
void Metrics::count_position_wait() {
  bump(cell().position_waits, 1);
}
void Metrics::count_log_followed(bool fed) {
  bump(fed ? cell().log_followed_fed : cell().log_followed_read, 1);
}

void Metrics::connection_opened(Role role) {
  connections_[static_cast<std::size_t>(role)].fetch_add(1, kRelaxed);
}

void Metrics::connection_role_changed(Role from, Role to) {
  connections_[static_cast<std::size_t>(from)].fetch_sub(1, kRelaxed);
  connections_[static_cast<std::size_t>(to)].fetch_add(1, kRelaxed);
}

void Metrics::connection_closed(Role role) {
  connections_[static_cast<std::size_t>(role)].fetch_sub(1, kRelaxed);
}

void Metrics::count_results(std::span<const Command> commands, std::span<const Result> results) {
  MetricsCell& c = cell();
  const std::size_t n = std::min(commands.size(), results.size());
  for (std::size_t i = 0; i < n; ++i) {
    const auto code =
        std::min<std::size_t>(static_cast<std::size_t>(results[i].code), kCodeSlots - 1);
    bump(c.commands[commands[i].index()][code], 1);
  }
}

void Metrics::observe(Histogram h, std::uint64_t value) {
  const auto bounds = histogram_bounds(h);
  const auto bucket = static_cast<std::size_t>(
      std::lower_bound(bounds.begin(), bounds.end(), value) - bounds.begin());
  MetricsCell& c = cell();
  bump(c.buckets[static_cast<std::size_t>(h)][bucket], 1);
  bump(c.sums[static_cast<std::size_t>(h)], value);
}

void Metrics::observe_since(Histogram h, std::chrono::steady_clock::time_point start) {
  const auto ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start)
          .count();
  observe(h, static_cast<std::uint64_t>(std::max<std::int64_t>(ns, 0)));
}

void Metrics::shard_accounts(std::uint32_t shard, std::uint64_t accounts) {
  if (shard < kShardSlots) shard_accounts_[shard].store(accounts, kRelaxed);
}

void Metrics::journal_opened(std::uint64_t position) {
  journal_position_.store(position, kRelaxed);
}

void Metrics::journal_group_durable(std::uint64_t records, std::uint64_t position) {
  observe(Histogram::journal_group_commands, records);
  journal_position_.store(position, kRelaxed);
}

void Metrics::checkpoints_started(std::uint64_t position) {
  checkpoint_position_.store(position, kRelaxed);
  replicas_position_.store(position, kRelaxed);
  checkpoint_time_ns_.store(steady_ns(), kRelaxed);
  checkpoints_.store(true, kRelaxed);
}

void Metrics::replicas_applied(std::uint64_t position) {
  replicas_position_.store(position, kRelaxed);
}

void Metrics::checkpoint_written(std::uint64_t position) {
  checkpoint_position_.store(position, kRelaxed);
  checkpoint_time_ns_.store(steady_ns(), kRelaxed);
}

void Metrics::checkpoint_failed() {
  checkpoint_failures_.fetch_add(1, kRelaxed);
}

std::size_t Metrics::cell_count() const {
  std::lock_guard lock(cells_mutex_);
  return cells_.size();
}

MetricsSnapshot Metrics::snapshot() const {
  MetricsSnapshot s;
  {
    std::lock_guard lock(cells_mutex_);
    for (const auto& c : cells_) {
      for (std::size_t k = 0; k < kCommandKinds; ++k) {
        for (std::size_t code = 0; code < kCodeSlots; ++code)
          s.commands[k][code] += c->commands[k][code].load(kRelaxed);
      }
      for (std::size_t i = 0; i < kOpcodeSlots; ++i) s.requests[i] += c->requests[i].load(kRelaxed);
      for (std::size_t i = 0; i < kFrameErrorSlots; ++i)
        s.refusals[i] += c->refusals[i].load(kRelaxed);
      s.bytes_in += c->bytes_in.load(kRelaxed);
      s.bytes_out += c->bytes_out.load(kRelaxed);
      s.reads_here += c->reads_here.load(kRelaxed);
      s.reads_off_partition += c->reads_off_partition.load(kRelaxed);
      s.position_waits += c->position_waits.load(kRelaxed);
      s.log_followed_fed += c->log_followed_fed.load(kRelaxed);
      s.log_followed_read += c->log_followed_read.load(kRelaxed);
      for (std::size_t h = 0; h < kHistogramCount; ++h) {
        for (std::size_t b = 0; b <= kHistogramBoundsMax; ++b)
          s.buckets[h][b] += c->buckets[h][b].load(kRelaxed);
        s.sums[h] += c->sums[h].load(kRelaxed);
      }
    }
  }
  for (std::size_t r = 0; r < kRoleCount; ++r) s.connections[r] = connections_[r].load(kRelaxed);
  for (const auto& a : shard_accounts_) s.accounts += a.load(kRelaxed);
  s.journal_durable_position = journal_position_.load(kRelaxed);
  s.checkpoints = checkpoints_.load(kRelaxed);
  s.checkpoint_position = checkpoint_position_.load(kRelaxed);
  s.replicas_position = replicas_position_.load(kRelaxed);
  s.checkpoint_age_s = static_cast<double>(steady_ns() - checkpoint_time_ns_.load(kRelaxed)) / 1e9;
  s.checkpoint_failures = checkpoint_failures_.load(kRelaxed);
  s.start_time_s = start_time_s_;
  return s;
}

}  // namespace bonus::server
