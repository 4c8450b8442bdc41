// ServerConfig: everything bonusd is told at start, with its defaults. Filled from the
// command line in main.cc (`bonusd --help` explains each); read-only afterwards.
#pragma once

#include <cstdint>
#include <string>

#include "engine/ledger_config.h"
#include "protocol/frame.h"

namespace bonus::server {

enum class PartitionPorts : std::uint8_t { next, from, off };

struct ServerConfig {
  std::string listen_host = "127.0.0.1";
  std::uint16_t listen_port = 7400;
  // Each partition's own listener on listen_host (Listener): `next` the listen port
  // + 1 + i (ephemeral when the listen port is 0), `from` partition_port_first + i, `off`
  // none. Announced to clients in the hello reply.
  PartitionPorts partition_ports = PartitionPorts::next;
  std::uint16_t partition_port_first = 0;
  std::string data_dir = "./data";
  std::uint32_t shards = 0;  // 0: one per core
  bool durable = true;       // --durability fsync (default) | none
  bool test_clock = false;
  // The nice value of the threads that serve connections (the network thread and the
  // partitions' loops): below 0 they keep their turn on the CPU ahead of the sequencer
  // and the checkpointer. Needs root or CAP_SYS_NICE below 0; 0 leaves them as started.
  int network_nice = 0;
  std::uint32_t connections_max = 1'024;
  std::uint32_t in_flight_max = 4'096;  // requests per connection awaiting a reply
  std::uint32_t body_size_max = protocol::kBodySizeDefault;
  std::uint32_t batch_commands_max = protocol::kBatchCommandsDefault;
  // Every client bounded (server/README.md): reply bytes a connection may owe (reserved
  // for its requests in flight plus written to it and not yet sent) before it is no
  // longer read; how long a started frame may take; how long a connection may send no
  // frame (0: forever); lots one balance reply may carry.
  std::uint64_t unsent_bytes_max = 8ull << 20;
  std::uint32_t frame_timeout_ms = 10'000;
  std::uint32_t idle_timeout_s = 300;
  std::uint32_t lots_per_reply_max = 65'536;  // request_price.h: kLotsPerReplyDefault
  // A request at a log position (frame flag kPosition) this node has not reached waits
  // this long for it, then is answered position_unreached (0: answered at once).
  std::uint32_t position_wait_ms = 1'000;
  std::uint32_t sweep_interval_ms = 100;
  std::uint64_t journal_segment_bytes = 64ull << 20;
  // The log: the local journal (empty) or a NATS JetStream stream at these URLs
  // (--log jetstream --nats URLS; server/jetstream_log.h).
  std::string nats_urls;
  std::string nats_stream = "BONUS_LOG";
  int nats_replicas = 3;
  // With it: the leader lease (server/leadership.h). This node's name (its checkpoint
  // position's key; default: its address), the address clients are told to reach it at
  // (default: --listen's host and the bound port), and the lease's life.
  std::string node_name;
  std::string advertise;
  std::int64_t lease_ms = 3000;
  // A standby told of new messages by a consumer of the stream (true), or asking the
  // stream every 2 ms (--log-watch off).
  bool log_watch = true;
  // Records the log keeps behind the leader's checkpoint at most, whoever lags (0: wait
  // for every node's checkpoint; server/leadership.h).
  std::uint64_t log_retain_records = 0;
  // Checkpoints into <data_dir>/checkpoint (LMDB). Off: no replicas and no new
  // checkpoints (an existing one is still loaded), and the journal is never trimmed.
  bool checkpoints = true;
  std::uint32_t checkpoint_interval_s = 60;          // 0: no periodic checkpoints
  std::uint64_t checkpoint_records = 1'000'000;      // journal records between them; 0: no bound
  std::uint64_t checkpoint_map_bytes = 1ull << 40;   // LMDB map size: the file's bound
  // Statements (docs/history-format.md): events written by the checkpointer into
  // <data_dir>/history (LMDB). Needs checkpoints (the replicas make the events).
  bool history = true;
  std::uint32_t history_retention_days = 400;
  EngineConfig engine;  // per shard: accounts_max, orders_max, ids_max, windows
  // The limits flags given on the command line (SetLimits::Field bits); main.cc sets it.
  // At start they are checked against the data directory's manifest (server/manifest.h):
  // a given flag must match it, an omitted one takes the stored value. After start,
  // `engine` holds the limits in effect at the end of the replayed log.
  std::uint32_t limits_given = 0;
  // --metrics-listen HOST:PORT: serve GET /metrics there (server/metrics_endpoint.h);
  // empty: off.
  std::string metrics_listen;
  // TLS (server/tls_context.h): with tls_cert_file (and its tls_key_file) connections
  // speak TLS; with tls_client_ca_file too, each client must present a certificate signed
  // by one of its CAs (mutual TLS). A connection that has not completed its handshake
  // within tls_handshake_timeout_ms is closed.
  std::string tls_cert_file, tls_key_file, tls_client_ca_file;
  std::uint32_t tls_handshake_timeout_ms = 10'000;
  // Authentication (server/auth_file.h): the tokens and their roles; empty: none, every
  // connection is admin, and only a loopback address may be listened on.
  std::string auth_file;
  // Listen on a non-loopback address without authentication and TLS all the same.
  bool insecure = false;
};

}  // namespace bonus::server
