// Server: bonusd. Opens the journal and the checkpoint store, loads the last checkpoint
// into the shards and replays the journal after it, starts the shard threads, the
// sequencer and the checkpointer, and serves the binary protocol over TCP until SIGTERM or
// SIGINT; then it stops accepting, finishes and flushes what it accepted, and returns.
//
// Threads: the thread that calls run() is the network thread (the main loop, io()): the
// main port's listener and connections, signals, the metrics endpoint. Each shard's
// thread runs its partition's loop: the connections of that partition's own port
// (--partition-ports) and the partition's writes. The sequencer and the checkpointer
// have their own. A reply is encoded on the thread that completes its request and sent
// from there when the connection lives on that thread, else posted to the connection's
// loop.
#pragma once

#include <asio.hpp>
#include <atomic>
#include <csignal>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "server/access_log.h"
#include "server/admission.h"
#include "server/auth_file.h"
#include "server/checkpoint_store.h"
#include "server/checkpointer.h"
#include "server/history_reader.h"
#include "server/journal.h"
#include "server/leadership.h"
#include "server/ledger_clock.h"
#include "server/listener.h"
#include "server/log_limiter.h"
#include "server/manifest.h"
#include "server/position_waits.h"
#include "server/reply_batch.h"
#include "server/router.h"
#include "server/sequencer.h"
#include "server/server_config.h"
#include "server/shard.h"

namespace asio::ssl {
class context;
}

namespace bonus::server {

class Connection;
class MetricsEndpoint;

class Server {
 public:
  explicit Server(ServerConfig config);
  ~Server();

  // Opens the journal, replays it, starts the threads, binds the listener. An error
  // message when any of that fails (corrupt journal, port taken, ...).
  [[nodiscard]] std::optional<std::string> start();
  // Serves until a signal or stop(); returns when everything accepted is done.
  void run();
  // From any thread: as SIGTERM.
  void stop();

  std::uint16_t port() const { return port_; }
  // The port of each partition's own listener (--partition-ports), in partition order;
  // empty when off. Set by start(); any thread after it.
  const std::vector<std::uint16_t>& partition_ports() const { return partition_ports_; }
  const ServerConfig& config() const { return config_; }
  std::string start_note() const { return start_note_; }
  // After run(): what the stop achieved, for the last log line. `clean` is false when the
  // journal had failed: then not everything accepted was applied and made durable.
  struct StopReport {
    bool clean = true;
    std::string message;
  };
  StopReport stop_report() const;

  // The main loop: the listener, signals, the metrics endpoint.
  asio::io_context& io() { return io_; }
  // The TLS context every connection shares (--tls-cert); null for plain TCP.
  asio::ssl::context* tls_context() { return tls_.get(); }
  Sequencer& sequencer() { return *sequencer_; }
  // The log position this node's reads reflect at least: the lowest of the shards'
  // (Shard::applied_position). Any thread, after start().
  std::uint64_t applied_position() const;
  // Requests waiting for applied_position() to reach theirs (frame flag kPosition).
  PositionWaits& position_waits() { return position_waits_; }
  // Who leads a log several nodes follow (--log jetstream); null with the journal.
  const Leadership* leadership() const { return leadership_.get(); }
  Leadership* leadership() { return leadership_.get(); }
  // What a standby answers a write with (not_leader): its state and the leader's address.
  std::string not_leader_message() const;
  Checkpointer* checkpointer() { return checkpointer_.get(); }  // null when off
  // The history store for statement reads (any thread), or null with why_no_history();
  // the thread those reads run on, when it is not null.
  const HistoryStore* history() const { return history_.get(); }
  HistoryReader& history_reader() { return *history_reader_; }
  std::string why_no_history() const;
  std::vector<std::unique_ptr<Shard>>& shards() { return shards_; }
  // shard_of_buyer() only: const and thread-safe.
  const Router& router_for_reads() { return admission_->router(); }
  const LedgerClock& clock() const { return clock_; }
  // Sequentially consistent, as the in-flight count: Connection::on_frame counts a
  // request, then checks this; the shutdown sets this, then waits for the count.
  bool stopping() const { return stopping_.load(); }
  // The manifest as last written (any thread).
  Manifest manifest() const;
  // After a SetLimits is durable and applied: records the limits the shards now have
  // (`changes`: their count of SetLimits) in the manifest, unless it already has these
  // or newer ones. Any thread; an error when the file could not be written.
  [[nodiscard]] std::optional<std::string> record_limits(const EngineConfig& limits,
                                                         std::uint64_t changes);
  // Requests accepted and not yet answered, over all connections (any thread).
  std::atomic<std::int64_t>& in_flight() { return in_flight_; }
  // Connections open (any thread); the acceptor refuses past connections_max.
  std::atomic<std::uint32_t>& connections() { return connections_; }
  // Authentication (server_auth.cc; any thread). The tokens of --auth-file, null
  // without one; the generation goes up with every successful SIGHUP reload (on the main
  // loop), after the new tokens are in place.
  std::shared_ptr<const AuthFile> auth() const;
  std::uint64_t auth_generation() const { return auth_generation_.load(std::memory_order_acquire); }
  AccessLog& access_log() { return access_log_; }

 private:
  // The main listener and the partitions' own (--partition-ports), bound.
  std::optional<std::string> open_listeners();
  void begin_shutdown();
  void finish_when_idle();
  std::optional<std::string> load_checkpoint();
  std::optional<std::string> open_history(CheckpointerOptions& options);
  // The manifest at start (server_manifest.cc): read it (or write it in a new data
  // directory), check the flags given against it and settle config_.shards and
  // config_.engine; then check the loaded checkpoint against it; then, after the replay,
  // check the limits the log led to, and record them if the manifest missed a change.
  std::optional<std::string> settle_manifest(const CheckpointInfo& info);
  std::optional<std::string> check_checkpoint_limits();
  std::optional<std::string> finish_manifest();
  // Every shard's ledger has the same limits; shard 0's, or an error naming the first
  // shard that differs.
  std::optional<std::string> shard_limits(EngineConfig& limits, std::uint64_t& changes);
  void stop_threads();
  // --metrics-listen (server_metrics.cc): binds the endpoint; an error when it cannot.
  std::optional<std::string> open_metrics();
  // server_auth.cc: the listen rule and the auth file at start; SIGHUP re-reads it.
  std::optional<std::string> start_auth();
  void watch_hangup();
  void reload_auth();

  ServerConfig config_;
  std::unique_ptr<asio::ssl::context> tls_;
  asio::io_context io_;
  asio::signal_set signals_;
  asio::steady_timer drain_timer_;
  std::unique_ptr<Log> journal_;  // the local Journal, or a JetStreamLog (server/log.h)
  std::unique_ptr<Admission> admission_;
  LedgerClock clock_;
  std::vector<std::unique_ptr<Shard>> shards_;
  std::vector<std::unique_ptr<ReplyBatch>> reply_batches_;  // one a shard, for its thread
  std::unique_ptr<CheckpointStore> store_;
  std::unique_ptr<HistoryStore> history_;  // before checkpointer_: it writes here
  std::unique_ptr<HistoryReader> history_reader_;  // with history_: it reads there
  std::unique_ptr<Checkpointer> checkpointer_;
  std::unique_ptr<Sequencer> sequencer_;
  std::unique_ptr<Leadership> leadership_;  // after sequencer_: its thread calls into it
  PositionWaits position_waits_;
  std::atomic<std::int64_t> in_flight_{0};
  std::atomic<std::uint32_t> connections_{0};
  std::unique_ptr<Listener> listener_;  // on the main loop (--listen)
  // On each partition's loop; destroyed before the loops.
  std::vector<std::unique_ptr<Listener>> partition_listeners_;
  std::vector<std::uint16_t> partition_ports_;
  std::uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::string start_note_;
  mutable std::mutex manifest_mutex_;
  Manifest manifest_;
  EngineConfig flag_limits_;  // the limits flags' values, as given (settle_manifest)
  std::optional<std::string> last_checkpoint_error_;  // of the checkpoint at the stop
  std::unique_ptr<MetricsEndpoint> metrics_endpoint_;  // null without --metrics-listen
  asio::signal_set hangup_{io_, SIGHUP};  // reloads the auth file (server_auth.cc)
  mutable std::mutex auth_mutex_;
  std::shared_ptr<const AuthFile> auth_;  // guarded by auth_mutex_
  std::atomic<std::uint64_t> auth_generation_{0};
  AccessLog access_log_;
};

}  // namespace bonus::server
