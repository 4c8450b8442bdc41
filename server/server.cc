#include "server/server.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <csignal>
#include <thread>

#include "server/connection.h"

namespace bonus::server {

Server::Server(ServerConfig config)
    : config_(std::move(config)), acceptor_(io_), signals_(io_, SIGINT, SIGTERM), drain_timer_(io_) {
  if (config_.shards == 0) config_.shards = std::max(1u, std::thread::hardware_concurrency());
}

Server::~Server() {
  if (sequencer_) sequencer_->stop();
  for (auto& shard : shards_) shard->stop();
}

std::optional<std::string> Server::start() {
  JournalOptions options;
  options.dir = config_.data_dir;
  options.segment_bytes = config_.journal_segment_bytes;
  options.sync = config_.durable;
  std::string note;
  auto opened = Journal::open(options, &note);
  if (auto* error = std::get_if<std::string>(&opened)) return "journal: " + *error;
  journal_ = std::move(std::get<std::unique_ptr<Journal>>(opened));
  if (!note.empty()) spdlog::warn("journal: {}", note);

  router_ = std::make_unique<Router>(config_.shards, config_.engine.orders_max);
  for (std::uint32_t s = 0; s < config_.shards; ++s) {
    shards_.push_back(std::make_unique<Shard>(s, config_.engine, clock_));
  }

  // Replay: the same commands, at the same times, through the same routing.
  const auto replay_start = std::chrono::steady_clock::now();
  std::uint64_t records = 0;
  TimeUs last_time = 0;
  std::optional<std::string> bad;
  auto error = journal_->replay(journal_->first_position(), [&](std::uint64_t position, std::string_view payload) {
    if (bad) return;
    Command command;
    TimeUs time = 0;
    if (!decode_record(payload, command, time) || time <= last_time) {
      bad = "journal record at position " + std::to_string(position) +
            " is not a command this build can read (or goes back in time)";
      return;
    }
    const std::uint32_t s = router_->route(command);
    if (s == Router::kAllShards) {
      for (auto& shard : shards_) shard->replay(command, time);
    } else {
      shards_[s]->replay(command, time);
    }
    last_time = time;
    ++records;
  });
  if (error) return "journal: " + *error;
  if (bad) return "journal: " + *bad;
  clock_.resume_after(last_time);
  const auto replay_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::steady_clock::now() - replay_start)
                             .count();

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

  for (auto& shard : shards_) shard->start();
  SequencerOptions sequencer;
  sequencer.sweep_interval = std::chrono::milliseconds(config_.sweep_interval_ms);
  sequencer.sync = config_.durable;
  sequencer_ = std::make_unique<Sequencer>(sequencer, *journal_, *router_, clock_, shards_);
  sequencer_->start();

  start_note_ = "replayed " + std::to_string(records) + " journal records in " +
                std::to_string(replay_ms) + " ms";
  return std::nullopt;
}

void Server::accept() {
  acceptor_.async_accept([this](const asio::error_code& ec, asio::ip::tcp::socket socket) {
    if (ec) {
      if (ec != asio::error::operation_aborted && acceptor_.is_open()) accept();
      return;
    }
    // Replies hold the connection from shard threads; the deleter brings its destruction
    // back to the network thread, which owns the socket and the counters.
    std::shared_ptr<Connection> connection(new Connection(std::move(socket), *this),
                                           [io = &io_](Connection* c) {
                                             std::unique_ptr<Connection> owned(c);
                                             if (io->stopped()) return;  // deleted here
                                             asio::post(*io, [owned = std::move(owned)] {});
                                           });
    if (connections_ > config_.connections_max) {
      connection->refuse(protocol::FrameError::too_many_connections,
                         "too many connections (--connections-max " +
                             std::to_string(config_.connections_max) + ")");
    } else {
      connection->start();
    }
    accept();
  });
}

void Server::run() {
  signals_.async_wait([this](const asio::error_code& ec, int signal) {
    if (ec) return;
    spdlog::info("bonusd: signal {}, stopping: no new requests, finishing the accepted ones",
                 signal);
    begin_shutdown();
  });
  accept();
  io_.run();
}

void Server::stop() {
  asio::post(io_, [this] { begin_shutdown(); });
}

void Server::begin_shutdown() {
  if (stopping_) return;
  stopping_ = true;
  asio::error_code ec;
  acceptor_.close(ec);
  signals_.cancel(ec);
  finish_when_idle();
}

void Server::finish_when_idle() {
  if (in_flight_ > 0) {
    drain_timer_.expires_after(std::chrono::milliseconds(5));
    drain_timer_.async_wait([this](const asio::error_code&) { finish_when_idle(); });
    return;
  }
  // Everything accepted is answered: the sequencer has nothing left but its ticks.
  sequencer_->stop();
  for (auto& shard : shards_) shard->stop();
  io_.stop();
}

}  // namespace bonus::server
