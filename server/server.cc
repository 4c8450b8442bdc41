#include "server/server.h"

#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <thread>

#include "server/connection.h"
#include "server/descriptor_limit.h"
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
      acceptor_(io_),
      signals_(io_, SIGINT, SIGTERM),
      drain_timer_(io_),
      accept_timer_(io_) {}

// The partitions' loops go first: the connections still on them are destroyed with them,
// and a connection's destructor counts itself off the server's gauges.
Server::~Server() {
  stop_threads();
  shards_.clear();
}

// Writers first, then the shards, then the checkpointer (a last checkpoint of all that
// was applied), then the journal segments that checkpoint covers.
void Server::stop_threads() {
  if (sequencer_) sequencer_->stop();
  for (auto& shard : shards_) shard->stop();
  if (checkpointer_) {
    checkpointer_->stop();
    last_checkpoint_error_ =
        checkpointer_->failure() ? checkpointer_->failure() : checkpointer_->last_error();
    if (auto error = journal_->trim_before(checkpointer_->position() + 1)) {
      spdlog::warn("journal: deleting segments after the last checkpoint: {}", *error);
    }
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
  options.history = history_.get();
  options.history_retention_us = TimeUs{config_.history_retention_days} * kUsPerDay;
  return std::nullopt;
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
  JournalOptions options;
  options.dir = config_.data_dir;
  options.segment_bytes = config_.journal_segment_bytes;
  options.sync = config_.durable;
  std::string note;
  auto opened = Journal::open(options, &note);
  if (auto* error = std::get_if<std::string>(&opened)) return "journal: " + *error;
  journal_ = std::move(std::get<std::unique_ptr<Journal>>(opened));
  if (!note.empty()) spdlog::warn("journal: {}", note);

  const auto load_start = std::chrono::steady_clock::now();
  if (auto error = load_checkpoint()) return error;
  const auto load_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::steady_clock::now() - load_start)
                           .count();
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
  auto error = journal_->replay(from, [&](std::uint64_t position, std::string_view payload) {
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
  });
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

  const DescriptorLimit descriptors = raise_descriptor_limit(config_.connections_max);
  if (!descriptors.enough) spdlog::warn("bonusd: {}", descriptors.note);

  asio::error_code ec;
  const auto address = asio::ip::make_address(config_.listen_host, ec);
  if (ec) return "listen: bad address " + config_.listen_host;
  const asio::ip::tcp::endpoint endpoint(address, config_.listen_port);
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return "listen on " + config_.listen_host + ":" + std::to_string(config_.listen_port) + ": " +
           ec.message();
  }
  port_ = acceptor_.local_endpoint().port();
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
  sequencer_ = std::make_unique<Sequencer>(sequencer, *journal_, *admission_, clock_, shards_,
                                           checkpointer_.get());
  for (auto& shard : shards_) {
    shard->set_reports([this, s = shard->index()](const std::vector<Outcome>& o, TimeUs applied_us) {
      sequencer_->report(s, o, applied_us);
    });
  }
  // --network-nice: the partitions' loops serve the connections; each sets it from
  // inside its thread (a nice value is a thread's own).
  for (auto& shard : shards_) {
    auto& batch = *reply_batches_.emplace_back(std::make_unique<ReplyBatch>());
    shard->set_thread_hooks([&batch] { batch.enter(); }, [&batch] { batch.flush(); });
    shard->start(config_.network_nice);
  }
  if (checkpointer_) checkpointer_->start();
  sequencer_->start();

  // The main loop (it takes the connections) at --network-nice too; set last, since a
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
  if (metrics_endpoint_) start_note_ += "; metrics on http://" + metrics_endpoint_->address() + "/metrics";
  return std::nullopt;
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

// Each connection goes to the next partition's loop in turn, and lives there.
void Server::accept() {
  asio::io_context& loop = shards_[next_loop_]->io();
  next_loop_ = (next_loop_ + 1) % static_cast<std::uint32_t>(shards_.size());
  acceptor_.async_accept(loop, [this, &loop](const asio::error_code& ec,
                                             asio::ip::tcp::socket socket) {
    if (ec) {
      if (ec != asio::error::operation_aborted && acceptor_.is_open()) accept_after_failure(ec);
      return;
    }
    accept_backoff_ms_ = 0;
    // Replies hold the connection from other threads; the deleter brings its destruction
    // back to its loop, which owns the socket and its timers.
    std::shared_ptr<Connection> connection(new Connection(std::move(socket), *this),
                                           [io = &loop](Connection* c) {
                                             std::unique_ptr<Connection> owned(c);
                                             if (io->stopped()) return;  // deleted here
                                             asio::post(*io, [owned = std::move(owned)] {});
                                           });
    const bool over = connections_.load() > config_.connections_max;
    if (over) access_log_.connection_limit(connection->peer(), config_.connections_max);
    asio::post(loop, [this, connection = std::move(connection), over] {
      if (!over) return connection->start();
      connection->refuse(protocol::FrameError::too_many_connections,
                         "too many connections (--connections-max " +
                             std::to_string(config_.connections_max) + ")");
    });
    accept();
  });
}

// accept fails for lack of descriptors (EMFILE, ENFILE) while the listener stays
// readable: retrying at once would spin. Wait 10 ms, doubling to a second, and say so.
void Server::accept_after_failure(const asio::error_code& ec) {
  accept_backoff_ms_ = std::clamp<std::uint32_t>(accept_backoff_ms_ * 2, 10, 1000);
  if (std::uint64_t suppressed = 0; accept_log_.allow(std::chrono::steady_clock::now(), suppressed)) {
    spdlog::warn("bonusd: accept failed: {} ({} connections open); retrying in {} ms{}",
                 ec.message(), connections_.load(), accept_backoff_ms_,
                 suppressed == 0 ? "" : fmt::format(" ({} similar lines left out)", suppressed));
  }
  accept_timer_.expires_after(std::chrono::milliseconds(accept_backoff_ms_));
  accept_timer_.async_wait([this](const asio::error_code& e) {
    if (!e && acceptor_.is_open()) accept();
  });
}

void Server::run() {
  signals_.async_wait([this](const asio::error_code& ec, int signal) {
    if (ec) return;
    spdlog::info("bonusd: signal {}, stopping: no new requests, finishing the accepted ones",
                 signal);
    begin_shutdown();
  });
  watch_hangup();
  accept();
  if (metrics_endpoint_) metrics_endpoint_->start();
  io_.run();
}

void Server::stop() {
  asio::post(io_, [this] { begin_shutdown(); });
}

void Server::begin_shutdown() {
  if (stopping_.exchange(true)) return;
  asio::error_code ec;
  acceptor_.close(ec);
  accept_timer_.cancel();
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
