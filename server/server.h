// Server: bonusd. Opens the journal and the checkpoint store, loads the last checkpoint
// into the shards and replays the journal after it, starts the shard threads, the
// sequencer and the checkpointer, and serves the binary protocol over TCP until SIGTERM or
// SIGINT; then it stops accepting, finishes and flushes what it accepted, and returns.
//
// Threads: the network (Asio) runs on the thread that calls run(); the sequencer and
// each shard have their own. Connections live on the network thread; replies are
// encoded on the shard thread that completes a request and posted back.
#pragma once

#include <asio.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "server/checkpoint_store.h"
#include "server/checkpointer.h"
#include "server/journal.h"
#include "server/ledger_clock.h"
#include "server/router.h"
#include "server/sequencer.h"
#include "server/server_config.h"
#include "server/shard.h"

namespace bonus::server {

class Connection;

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
  const ServerConfig& config() const { return config_; }
  std::string start_note() const { return start_note_; }
  // After run(): what the stop achieved, for the last log line. `clean` is false when the
  // journal had failed: then not everything accepted was applied and made durable.
  struct StopReport {
    bool clean = true;
    std::string message;
  };
  StopReport stop_report() const;

  // For connections (network thread).
  asio::io_context& io() { return io_; }
  Sequencer& sequencer() { return *sequencer_; }
  Checkpointer* checkpointer() { return checkpointer_.get(); }  // null when off
  std::vector<std::unique_ptr<Shard>>& shards() { return shards_; }
  Router& router_for_reads() { return *router_; }
  const LedgerClock& clock() const { return clock_; }
  bool stopping() const { return stopping_; }
  // Requests accepted and not yet answered, over all connections (network thread).
  std::int64_t& in_flight() { return in_flight_; }
  // Connections open (network thread); the acceptor refuses past connections_max.
  std::uint32_t& connections() { return connections_; }

 private:
  void accept();
  void begin_shutdown();
  void finish_when_idle();
  std::optional<std::string> load_checkpoint();
  void stop_threads();

  ServerConfig config_;
  asio::io_context io_;
  asio::ip::tcp::acceptor acceptor_;
  asio::signal_set signals_;
  asio::steady_timer drain_timer_;
  std::unique_ptr<Journal> journal_;
  std::unique_ptr<Router> router_;
  LedgerClock clock_;
  std::vector<std::unique_ptr<Shard>> shards_;
  std::unique_ptr<CheckpointStore> store_;
  std::unique_ptr<Checkpointer> checkpointer_;
  std::unique_ptr<Sequencer> sequencer_;
  std::int64_t in_flight_ = 0;
  std::uint32_t connections_ = 0;
  std::uint16_t port_ = 0;
  bool stopping_ = false;
  std::string start_note_;
  std::optional<std::string> last_checkpoint_error_;  // of the checkpoint at the stop
};

}  // namespace bonus::server
