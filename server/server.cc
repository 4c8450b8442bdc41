#include "server/server.h"

#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <thread>

#include "server/connection.h"
#include "server/descriptor_limit.h"
#include "server/jetstream_log.h"
#include "server/listen_address.h"
#include "server/metrics_endpoint.h"
#include "server/tls_context.h"

namespace bonus::server {
namespace {

// The TLS context the flags ask for (none without --tls-cert), or why it cannot be made.
std::optional<std::string> make_tls(const ServerConfig& config,
                                    std::unique_ptr<asio::ssl::context>& tls) {
  if (config.tls_cert_file.empty()) {
    if (!config.tls_key_file.empty()) return "--tls-key needs --tls-cert";
    if (!config.tls_client_ca_file.empty()) return "--tls-client-ca needs --tls-cert";
    return std::nullopt;
  }
  if (config.tls_key_file.empty()) return "--tls-cert needs --tls-key";
  auto made = make_server_tls_context(
      TlsFiles{config.tls_cert_file, config.tls_key_file, config.tls_client_ca_file});
  if (auto* error = std::get_if<std::string>(&made)) return *error;
  tls = std::move(std::get<std::unique_ptr<asio::ssl::context>>(made));
  return std::nullopt;
}

}  // namespace

Server::Server(ServerConfig config)
    : config_(std::move(config)),
      signals_(io_, SIGINT, SIGTERM),
      drain_timer_(io_) {}

// The partitions' loops go first: the connections still on them are destroyed with them,
// and a connection's destructor counts itself off the server's gauges.
Server::~Server() {
  stop_threads();
  partition_listeners_.clear();
  shards_.clear();
}

// Writers first, then the shards, then the checkpointer (a last checkpoint of all that
// was applied), then the journal segments that checkpoint covers.
void Server::stop_threads() {
  if (history_reader_) history_reader_->stop();  // idle by now: every request is answered
  if (sequencer_) sequencer_->stop();
  if (leadership_) leadership_->stop();  // lets the lease go: a standby leads at once
  for (auto& shard : shards_) shard->stop();
  if (checkpointer_) {
    checkpointer_->stop();
    last_checkpoint_error_ =
        checkpointer_->failure() ? checkpointer_->failure() : checkpointer_->last_error();
    // A log other nodes follow is trimmed by its leader, below every node's checkpoint.
    const auto error =
        leadership_ ? std::nullopt : journal_->trim_before(checkpointer_->position() + 1);
    if (error) spdlog::warn("journal: deleting segments after the last checkpoint: {}", *error);
    checkpointer_.reset();
  }
}

// A damaged or foreign history store stops the start with its message: the operator
// moves it aside (a new history starts after a gap) or starts with --history off.
std::optional<std::string> Server::open_history(CheckpointerOptions& options) {
  if (!config_.history) return std::nullopt;
  auto opened = HistoryStore::open(config_.data_dir + "/history");
  if (auto* error = std::get_if<std::string>(&opened)) return *error;
  history_ = std::move(std::get<std::unique_ptr<HistoryStore>>(opened));
  history_reader_ = std::make_unique<HistoryReader>(options.nice);
  options.history = history_.get();
  options.history_retention_us = TimeUs{config_.history_retention_days} * kUsPerDay;
  return std::nullopt;
}

std::string Server::not_leader_message() const {
  const std::string leader = leadership_ ? leadership_->leader() : "";
  std::string out = "this node follows the log and takes no writes (";
  out += leadership_ ? leadership_->state() : "following";
  out += "); ";
  out +=
      leader.empty() ? "no node leads right now: retry in a moment" : "the leader is at " + leader;
  return out;
}

std::string Server::why_no_history() const {
  if (!config_.checkpoints) return "history is off: it needs checkpoints (bonusd --checkpoint off)";
  if (!config_.history) return "history is off (bonusd --history off)";
  return "";
}

// Opens the checkpoint store, settles the shard count, checks that the journal holds
// every record after the checkpoint, creates the shards and loads them (one thread each).
std::optional<std::string> Server::load_checkpoint() {
  auto opened = CheckpointStore::open(config_.data_dir + "/checkpoint", config_.checkpoint_map_bytes);
  if (auto* error = std::get_if<std::string>(&opened)) return *error;
  store_ = std::move(std::get<std::unique_ptr<CheckpointStore>>(opened));
  const CheckpointInfo& info = store_->info();
  if (auto error = settle_manifest(info)) return error;

  const std::uint64_t position = info.position;  // 0: no checkpoint
  const std::uint64_t first = journal_->first_position();
  if (first > position + 1) {
    return info.present
               ? "journal: records " + std::to_string(position + 1) + " to " +
                     std::to_string(first - 1) + " are missing: the checkpoint is at position " +
                     std::to_string(position) + " but the oldest journal segment starts at " +
                     std::to_string(first)
               : "journal: it starts at position " + std::to_string(first) +
                     " but there is no checkpoint to start from: " + store_->dir() +
                     " is missing or empty";
  }
  if (journal_->durable_position() < position) {
    return "journal: it ends at position " + std::to_string(journal_->durable_position()) +
           ", before the checkpoint's position " + std::to_string(position) +
           ": journal segments are missing";
  }

  for (std::uint32_t s = 0; s < config_.shards; ++s) {
    shards_.push_back(std::make_unique<Shard>(s, config_.shards, manifest_.initial, clock_));
  }
  if (!info.present) return std::nullopt;
  std::vector<std::optional<std::string>> errors(config_.shards);
  std::vector<std::thread> loaders;
  for (std::uint32_t s = 0; s < config_.shards; ++s) {
    loaders.emplace_back([&, s] { errors[s] = store_->load(s, shards_[s]->ledger_to_load()); });
  }
  for (auto& t : loaders) t.join();
  for (auto& error : errors) {
    if (error) return *error;
  }
  return check_checkpoint_limits();
}

std::optional<std::string> Server::start() {
  if (auto error = make_tls(config_, tls_)) return "tls: " + *error;
  if (auto error = start_auth()) return error;
  if (!config_.nats_urls.empty()) {
    // The log on JetStream: positions and records as the journal's; the checks below
    // (the log reaches back to the checkpoint) apply to it alike.
    JetStreamLogOptions options;
    options.urls = config_.nats_urls;
    options.stream = config_.nats_stream;
    options.replicas = config_.nats_replicas;
    auto opened = JetStreamLog::open(options);
    if (auto* error = std::get_if<std::string>(&opened)) return *error;
    journal_ = std::move(std::get<std::unique_ptr<JetStreamLog>>(opened));
  } else {
    JournalOptions options;
    options.dir = config_.data_dir;
    options.segment_bytes = config_.journal_segment_bytes;
    options.sync = config_.durable;
    std::string note;
    auto opened = Journal::open(options, &note);
    if (auto* error = std::get_if<std::string>(&opened)) return "journal: " + *error;
    journal_ = std::move(std::get<std::unique_ptr<Journal>>(opened));
    if (!note.empty()) spdlog::warn("journal: {}", note);
  }

  const auto load_start = std::chrono::steady_clock::now();
  if (auto error = load_checkpoint()) return error;
  const auto load_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::steady_clock::now() - load_start)
                           .count();
  // Bound before the replay (served only from run() on), so that the lease can name
  // this node's address.
  const DescriptorLimit descriptors = raise_descriptor_limit(config_.connections_max);
  if (!descriptors.enough) spdlog::warn("bonusd: {}", descriptors.note);
  if (auto problem = open_listeners()) return problem;
  bool leading = true;
  if (!config_.nats_urls.empty()) {
    LeadershipOptions options;
    options.lease.urls = config_.nats_urls;
    options.lease.bucket = config_.nats_stream + "_LEASE";
    options.lease.replicas = config_.nats_replicas;
    options.lease.ttl_ms = config_.lease_ms;
    options.address = config_.advertise.empty() ? listen_address_text(config_.listen_host, port_)
                                                : config_.advertise;
    options.node = config_.node_name;
    options.retain_records = config_.log_retain_records;
    if (options.node.empty()) {
      options.node = options.address;
      std::replace_if(
          options.node.begin(), options.node.end(),
          [](char c) { return !std::isalnum(static_cast<unsigned char>(c)); }, '-');
    }
    auto opened = Leadership::open(options);
    if (auto* error = std::get_if<std::string>(&opened)) return *error;
    leadership_ = std::move(std::get<std::unique_ptr<Leadership>>(opened));
    auto taken = leadership_->take_at_start();
    if (auto* error = std::get_if<std::string>(&taken)) return *error;
    leading = std::get<bool>(taken);
  }
  // Replay what came after the checkpoint: the same commands, at the same times, to the
  // shards the log says they went to, applied by every shard at once (a thread each).
  // The records go to the checkpointer's replicas too.
  const auto replay_start = std::chrono::steady_clock::now();
  std::uint64_t records = 0;
  TimeUs last_time = 0;
  for (const auto& shard : shards_) last_time = std::max(last_time, shard->ledger_before_start().last_time());
  std::vector<ReplicaWrite> replayed;  // for the shards
  ReplicaBatch replayed_records;       // for the checkpointer's replicas
  std::optional<std::string> bad;
  const CheckpointInfo loaded = store_->info();  // the checkpointer's thread updates it later
  const std::uint64_t from = loaded.position + 1;
  const auto take = [&](std::uint64_t position, std::string_view payload) {
    if (bad) return;
    Command command;
    TimeUs time = 0;
    std::uint32_t shard = 0;
    if (!decode_record(payload, command, time, shard) || time <= last_time) {
      bad = "journal record at position " + std::to_string(position) +
            " is not a command this build can read (or goes back in time)";
      return;
    }
    if (shard >= config_.shards && shard != Router::kAllShards) {
      bad = "journal record at position " + std::to_string(position) + " went to shard " +
            std::to_string(shard) + " of " + std::to_string(config_.shards);
      return;
    }
    replayed.push_back(ReplicaWrite{command, time, shard});
    replayed_records.add(payload);
    last_time = time;
    ++records;
  };
  auto error = journal_->replay(from, take);
  // The leader from the start marks the log as its own, after what another leader
  // wrote meanwhile.
  if (!error && leadership_ && leading) error = journal_->take_over(take);
  if (error) return "journal: " + *error;
  if (bad) return "journal: " + *bad;
  std::vector<std::thread> replayers;
  for (std::uint32_t s = 0; s < config_.shards; ++s) {
    replayers.emplace_back([&, s] {
      for (const ReplicaWrite& w : replayed) {
        if (w.shard == s || w.shard == Router::kAllShards) shards_[s]->replay(w.command, w.time);
      }
    });
  }
  for (auto& t : replayers) t.join();
  // Time goes on from the last stamp, with the offset of the last `clock_advance` (the
  // clock file), so no time reported before the restart is ahead of the ones after it.
  const ClockFileRead stored = read_clock_file(config_.data_dir);
  if (stored.error) return "clock: " + *stored.error;
  clock_.resume_after(last_time, stored.offset_us);
  if (auto problem = finish_manifest()) return problem;
  // The admission learns every live id and order from the ledgers as they now are.
  admission_ = std::make_unique<Admission>(config_.shards, config_.engine);
  for (std::uint32_t s = 0; s < config_.shards; ++s) {
    admission_->restore(s, shards_[s]->ledger_before_start(), last_time);
  }
  const auto replay_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::steady_clock::now() - replay_start)
                             .count();

  if (auto problem = open_metrics()) return problem;

  if (config_.checkpoints) {
    CheckpointerOptions checkpoints;
    checkpoints.interval = std::chrono::seconds(config_.checkpoint_interval_s);
    checkpoints.records = config_.checkpoint_records;
    if (auto problem = open_history(checkpoints)) return problem;
    checkpointer_ = std::make_unique<Checkpointer>(
        checkpoints, *store_, manifest_.initial, config_.shards,
        [this](std::uint64_t position) { sequencer_->checkpoint_durable(position); });
    replayed_records.last_position = journal_->durable_position();
    if (!replayed_records.empty()) checkpointer_->feed(replayed_records, false);
  }
  replayed = {};
  replayed_records = ReplicaBatch{};
  SequencerOptions sequencer;
  sequencer.sweep_interval = std::chrono::milliseconds(config_.sweep_interval_ms);
  sequencer.sync = config_.durable;
  sequencer.data_dir = config_.data_dir;
  sequencer.role = leading ? LogRole::leading : LogRole::following;
  sequencer.shared_log = leadership_ != nullptr;
  sequencer.watch_log = config_.log_watch;
  sequencer.last_time_us = last_time;
  sequencer_ = std::make_unique<Sequencer>(sequencer, *journal_, *admission_, clock_, shards_,
                                           checkpointer_.get());
  if (leadership_) {
    sequencer_->limit_trim(0);  // until the nodes' checkpoint positions are read
    sequencer_->set_on_role(
        [this](LogRole role, const std::string& why) { leadership_->role_changed(role, why); });
  }
  for (auto& shard : shards_) {
    shard->set_reports([this, s = shard->index()](const std::vector<Outcome>& o, TimeUs applied_us) {
      sequencer_->report(s, o, applied_us);
    });
    shard->set_applied_position(journal_->durable_position());
    shard->set_on_progress([this] { position_waits_.reached(applied_position()); });
  }
  // --network-nice: the partitions' loops serve their ports' connections and apply the
  // writes; each sets it from inside its thread (a nice value is a thread's own).
  for (auto& shard : shards_) {
    auto& batch = *reply_batches_.emplace_back(std::make_unique<ReplyBatch>());
    shard->set_thread_hooks([&batch] { batch.enter(); }, [&batch] { batch.flush(); });
    shard->start(config_.network_nice);
  }
  if (checkpointer_) checkpointer_->start();
  sequencer_->start();
  if (leadership_) leadership_->start(*sequencer_);

  // The network thread (the main loop, run()) at --network-nice too; set last, since a
  // thread starts with its creator's nice value and the ones above keep theirs. A value
  // this process may not take stops the start here, with why.
  if (config_.network_nice != 0 &&
      setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), config_.network_nice) != 0) {
    return "--network-nice " + std::to_string(config_.network_nice) + ": " + std::strerror(errno) +
           " (below 0 needs root or CAP_SYS_NICE)";
  }

  std::uint64_t accounts = 0;
  for (const auto& shard : shards_) accounts += shard->ledger_before_start().account_count();
  start_note_ = loaded.present
                    ? "loaded the checkpoint at position " + std::to_string(loaded.position) +
                          " in " + std::to_string(load_ms) + " ms, then "
                    : "no checkpoint yet; ";
  start_note_ += "replayed " + std::to_string(records) + " journal records in " +
                 std::to_string(replay_ms) + " ms (" + std::to_string(accounts) + " accounts, " +
                 std::to_string(config_.shards) + " shards); " + descriptors.note;
  start_note_ += "; partition ports ";
  for (std::size_t p = 0; p < partition_ports_.size(); ++p) {
    start_note_ += (p == 0 ? "" : ",") + std::to_string(partition_ports_[p]);
  }
  if (partition_ports_.empty()) start_note_ += "off";
  if (metrics_endpoint_) start_note_ += "; metrics on http://" + metrics_endpoint_->address() + "/metrics";
  if (leadership_) {
    start_note_ += leading ? "; leading the log"
                           : "; following the log (a standby; the leader is " +
                                 (leadership_->leader().empty() ? std::string("unknown")
                                                                : leadership_->leader()) +
                                 ")";
  }
  return std::nullopt;
}

std::uint64_t Server::applied_position() const {
  std::uint64_t lowest = UINT64_MAX;
  for (const auto& shard : shards_) lowest = std::min(lowest, shard->applied_position());
  return lowest;
}

Server::StopReport Server::stop_report() const {
  StopReport report;
  if (sequencer_ && sequencer_->failed()) {
    report.clean = false;
    report.message = "bonusd stopped after a journal failure (" + sequencer_->failure() +
                     "): writes were refused from the failed group on (storage_failed); "
                     "what was acknowledged before it is in the journal";
    return report;
  }
  report.message =
      config_.durable
          ? "bonusd stopped: everything accepted was applied and is durable in the journal"
          : "bonusd stopped: everything accepted was applied and written to the "
            "journal, but not fdatasync'ed (--durability none)";
  if (last_checkpoint_error_) {
    report.message += "; the last checkpoint failed (" + *last_checkpoint_error_ +
                      "), so the next start replays more of the journal";
  }
  return report;
}

// The main listener's connections live on the main loop (the network thread), a
// partition's on that partition's loop. Partition i listens on the
// --listen port + 1 + i (`next`, ephemeral ports with --listen port 0), on N + i
// (--partition-ports N), or not at all (`off`).
std::optional<std::string> Server::open_listeners() {
  asio::error_code ec;
  const auto address = asio::ip::make_address(config_.listen_host, ec);
  if (ec) return "listen: bad address " + config_.listen_host;
  listener_ = std::make_unique<Listener>(io_, *this, Connection::kNoPartition, "");
  if (auto problem = listener_->open(asio::ip::tcp::endpoint(address, config_.listen_port))) {
    return problem;
  }
  port_ = listener_->port();
  if (config_.partition_ports == PartitionPorts::off) return std::nullopt;
  const std::uint32_t first = config_.partition_ports == PartitionPorts::from
                                  ? config_.partition_port_first
                              : config_.listen_port == 0 ? 0
                                                         : config_.listen_port + 1u;
  for (std::uint32_t p = 0; p < shards_.size(); ++p) {
    const std::uint32_t port = first == 0 ? 0 : first + p;
    const std::string what = "partition " + std::to_string(p) + "'s";
    if (port > 65535) {
      return what + " listener: port " + std::to_string(port) +
             " is past 65535 (--partition-ports: give a lower first port, or off)";
    }
    auto& listener = *partition_listeners_.emplace_back(
        std::make_unique<Listener>(shards_[p]->io(), *this, p, what));
    if (auto problem = listener.open(
            asio::ip::tcp::endpoint(address, static_cast<std::uint16_t>(port)))) {
      return *problem + " (--partition-ports: another first port, or off)";
    }
    partition_ports_.push_back(listener.port());
  }
  return std::nullopt;
}

void Server::run() {
  signals_.async_wait([this](const asio::error_code& ec, int signal) {
    if (ec) return;
    spdlog::info("bonusd: signal {}, stopping: no new requests, finishing the accepted ones",
                 signal);
    begin_shutdown();
  });
  watch_hangup();
  listener_->start();
  for (auto& listener : partition_listeners_) {
    asio::post(listener->io(), [l = listener.get()] { l->start(); });
  }
  if (metrics_endpoint_) metrics_endpoint_->start();
  io_.run();
}

void Server::stop() {
  asio::post(io_, [this] { begin_shutdown(); });
}

void Server::begin_shutdown() {
  if (stopping_.exchange(true)) return;
  if (listener_) listener_->close();
  for (auto& listener : partition_listeners_) {
    asio::post(listener->io(), [l = listener.get()] { l->close(); });
  }
  asio::error_code ec;
  signals_.cancel(ec);
  hangup_.cancel(ec);
  finish_when_idle();
}

void Server::finish_when_idle() {
  if (in_flight_ > 0) {
    drain_timer_.expires_after(std::chrono::milliseconds(5));
    drain_timer_.async_wait([this](const asio::error_code&) { finish_when_idle(); });
    return;
  }
  // Everything accepted is answered: the sequencer has nothing left but its ticks.
  stop_threads();
  if (metrics_endpoint_) metrics_endpoint_->stop();
  io_.stop();
}

}  // namespace bonus::server
