#include "server/metrics_text.h"

#include <array>

#include "server/exposition_writer.h"

#ifndef BONUS_BUILD_VERSION
#define BONUS_BUILD_VERSION "unknown"
#endif

namespace bonus::server {
namespace {

constexpr std::array<std::string_view, kCommandKinds> kKindNames = {
    "credit",          "accrue",     "confirm_accrual", "cancel_accrual", "hold",
    "capture",         "release",    "spend",           "refund",         "reverse_accrual",
    "revoke_campaign", "set_policy", "sweep",           "set_limits",     "referral"};
static_assert(std::variant_size_v<Command> == 15, "a new command kind needs its name here");

constexpr double kNsPerSecond = 1e9;

std::string code_label(std::size_t code) {
  const std::string_view name = code_name(static_cast<Code>(code));
  return name == "unknown" ? "code_" + std::to_string(code) : std::string(name);
}

std::string opcode_label(std::size_t opcode) {
  if (opcode >= kOpcodeSlots - 1 || !protocol::is_known(static_cast<std::uint16_t>(opcode))) {
    return "unknown";
  }
  return std::string(protocol::opcode_name(static_cast<protocol::Opcode>(opcode)));
}

std::string refusal_label(std::size_t error) {
  const std::string_view name = frame_error_name(static_cast<protocol::FrameError>(error));
  return name.empty() || name == "unknown" ? "code_" + std::to_string(error) : std::string(name);
}

void write_traffic(const MetricsSnapshot& s, ExpositionWriter& w) {
  w.family("bonus_commands_total", "counter",
           "Write commands answered to clients, by command kind and result code (an admission "
           "rejection counts under its code too)");
  for (std::size_t k = 0; k < kCommandKinds; ++k) {
    for (std::size_t c = 0; c < kCodeSlots; ++c) {
      if (s.commands[k][c] == 0) continue;
      const std::string code = code_label(c);
      w.sample("bonus_commands_total", {{"kind", kKindNames[k]}, {"code", code}}, s.commands[k][c]);
    }
  }
  w.family("bonus_requests_total", "counter",
           "Request frames read from clients, by opcode (\"unknown\" for opcodes the server "
           "does not know), before any check of their body");
  std::uint64_t unknown = 0;
  for (std::size_t op = 0; op < kOpcodeSlots; ++op) {
    if (s.requests[op] == 0) continue;
    const std::string label = opcode_label(op);
    if (label == "unknown") {
      unknown += s.requests[op];
    } else {
      w.sample("bonus_requests_total", {{"opcode", label}}, s.requests[op]);
    }
  }
  if (unknown > 0) w.sample("bonus_requests_total", {{"opcode", "unknown"}}, unknown);
  w.family("bonus_refusals_total", "counter",
           "ErrorReply frames sent, by their frame error code (protocol/README.md): requests "
           "refused or failed before any result, and refused connections");
  for (std::size_t e = 1; e < kFrameErrorSlots; ++e) {
    if (s.refusals[e] == 0) continue;
    const std::string reason = refusal_label(e);
    w.sample("bonus_refusals_total", {{"reason", reason}}, s.refusals[e]);
  }
  w.family("bonus_network_received_bytes_total", "counter", "Bytes read from client connections");
  w.sample("bonus_network_received_bytes_total", {}, s.bytes_in);
  w.family("bonus_network_sent_bytes_total", "counter", "Bytes written to client connections");
  w.sample("bonus_network_sent_bytes_total", {}, s.bytes_out);
  w.family("bonus_reads_on_network_thread_total", "counter",
           "Short reads (carts, a few balances) served on the thread that read their frame "
           "(its own partition's ledger, or another's while that one was idle), without a "
           "hand-off; the rest waited for their partition's thread");
  w.sample("bonus_reads_on_network_thread_total", {}, s.reads_here);
  w.family("bonus_reads_off_partition_total", "counter",
           "Reads of one partition's buyers (balance, cart, wallet) that came on a connection "
           "of another partition: from clients that do not send a buyer's requests to its "
           "partition's port (the hello's partition_ports)");
  w.sample("bonus_reads_off_partition_total", {}, s.reads_off_partition);
  w.family("bonus_position_waits_total", "counter",
           "Requests at a log position (frame flag position) that waited for this node to "
           "reach it; those that did not in time are refusals, reason position_unreached");
  w.sample("bonus_position_waits_total", {}, s.position_waits);
  w.family("bonus_log_followed_messages_total", "counter",
           "Messages of the shared log (--log jetstream) a standby applied, by how they came: "
           "fed (pushed by the stream's consumer) or read (a request each: what the feed "
           "missed, or --log-watch off)");
  w.sample("bonus_log_followed_messages_total", {{"how", "fed"}}, s.log_followed_fed);
  w.sample("bonus_log_followed_messages_total", {{"how", "read"}}, s.log_followed_read);
}

void write_connections(const MetricsSnapshot& s, const ServerGauges& g, ExpositionWriter& w) {
  w.family("bonus_connections", "gauge",
           "Client connections open, by the role they hold (none: not authenticated yet)");
  for (std::size_t r = 0; r < kRoleCount; ++r) {
    w.sample("bonus_connections", {{"role", role_name(static_cast<Role>(r))}}, s.connections[r]);
  }
  w.family("bonus_requests_in_flight", "gauge",
           "Requests accepted and not yet answered, over all connections");
  w.sample("bonus_requests_in_flight", {}, g.requests_in_flight);
}

void write_histogram(const MetricsSnapshot& s, Histogram h, std::string_view name,
                     ExpositionWriter::Labels labels, double divisor, ExpositionWriter& w) {
  const auto i = static_cast<std::size_t>(h);
  const auto bounds = histogram_bounds(h);
  w.histogram(name, labels, bounds, std::span<const std::uint64_t>(s.buckets[i], bounds.size() + 1),
              s.sums[i], divisor);
}

void write_latencies(const MetricsSnapshot& s, ExpositionWriter& w) {
  w.family("bonus_journal_group_commands", "histogram",
           "Journal records (commands and sweep ticks) per durable group commit");
  write_histogram(s, Histogram::journal_group_commands, "bonus_journal_group_commands", {}, 1, w);
  w.family("bonus_journal_fdatasync_seconds", "histogram",
           "Duration of each fdatasync of a group commit (two per group: records, then the "
           "group trailer); none with --durability none");
  write_histogram(s, Histogram::journal_fdatasync, "bonus_journal_fdatasync_seconds", {},
                  kNsPerSecond, w);
  w.family("bonus_apply_slice_seconds", "histogram",
           "Duration of one shard's apply of one slice of durable writes (up to 256 commands)");
  write_histogram(s, Histogram::apply_slice, "bonus_apply_slice_seconds", {}, kNsPerSecond, w);
  w.family("bonus_read_seconds", "histogram",
           "Reads, from their frame read to their reply back on the network thread, ready to "
           "write, by kind");
  write_histogram(s, Histogram::read_balance, "bonus_read_seconds", {{"kind", "balance"}},
                  kNsPerSecond, w);
  write_histogram(s, Histogram::read_cart, "bonus_read_seconds", {{"kind", "cart"}}, kNsPerSecond,
                  w);
  write_histogram(s, Histogram::read_wallet, "bonus_read_seconds", {{"kind", "wallet"}},
                  kNsPerSecond, w);
  write_histogram(s, Histogram::read_expiring, "bonus_read_seconds", {{"kind", "expiring"}},
                  kNsPerSecond, w);
  write_histogram(s, Histogram::read_stats, "bonus_read_seconds", {{"kind", "stats"}}, kNsPerSecond,
                  w);
}

void write_state(const MetricsSnapshot& s, const ServerGauges& g, ExpositionWriter& w) {
  w.family("bonus_accounts", "gauge",
           "Accounts in the ledger, over all shards, as of each shard's last slice");
  w.sample("bonus_accounts", {}, s.accounts);
  w.family("bonus_shards", "gauge", "Shards (writer threads)");
  w.sample("bonus_shards", {}, std::uint64_t{g.shards});
  w.family("bonus_journal_bytes", "gauge",
           "Bytes of records and trailers in the retained journal segments");
  w.sample("bonus_journal_bytes", {}, g.journal_bytes);
  w.family("bonus_journal_durable_position", "gauge",
           "Log position of the last durable journal record (0: none since the start)");
  w.sample("bonus_journal_durable_position", {}, s.journal_durable_position);
  if (!s.checkpoints) return;  // --checkpoint off: none of the below
  w.family("bonus_checkpoint_position", "gauge",
           "Log position the last durable checkpoint covers (0: none)");
  w.sample("bonus_checkpoint_position", {}, s.checkpoint_position);
  w.family("bonus_checkpoint_age_seconds", "gauge",
           "Seconds since the last successful checkpoint (written, or found current) of this "
           "process; until the first one, since the checkpointer started");
  w.sample("bonus_checkpoint_age_seconds", {}, s.checkpoint_age_s);
  w.family("bonus_checkpoint_failures_total", "counter",
           "Checkpoints that failed (each is tried again at the next trigger)");
  w.sample("bonus_checkpoint_failures_total", {}, s.checkpoint_failures);
  w.family("bonus_replica_lag_records", "gauge",
           "Journal records durable in the journal that the checkpointer's replicas have not "
           "applied yet (bonus_journal_durable_position minus the replicas' position); a "
           "checkpoint covers only what the replicas applied");
  const std::uint64_t lag = s.journal_durable_position > s.replicas_position
                                ? s.journal_durable_position - s.replicas_position
                                : 0;
  w.sample("bonus_replica_lag_records", {}, lag);
}

void write_process(const MetricsSnapshot& s, ExpositionWriter& w) {
  w.family("bonus_build_info", "gauge", "Always 1; the labels say which build runs");
  w.sample("bonus_build_info", {{"version", BONUS_BUILD_VERSION}, {"compiler", __VERSION__}},
           std::uint64_t{1});
  w.family("process_start_time_seconds", "gauge",
           "Start time of the process since the Unix epoch, seconds");
  w.sample("process_start_time_seconds", {}, s.start_time_s);
}

}  // namespace

std::string_view command_kind_name(std::size_t index) {
  return index < kKindNames.size() ? kKindNames[index] : "unknown";
}

std::string metrics_text(const MetricsSnapshot& snapshot, const ServerGauges& gauges) {
  ExpositionWriter w;
  write_traffic(snapshot, w);
  write_connections(snapshot, gauges, w);
  write_latencies(snapshot, w);
  write_state(snapshot, gauges, w);
  write_process(snapshot, w);
  return w.take();
}

}  // namespace bonus::server
