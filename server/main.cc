// bonusd: the bonus ledger server. `bonusd --help` lists the flags.
#include <spdlog/sinks/stdout_color_sinks.h>  // also the stderr ones
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <charconv>
#include <csignal>
#include <cstdlib>
#include <memory>
#include <optional>
#include <thread>
#include <variant>

#include "engine/ledger_config.h"
#include "protocol/messages.h"
#include "server/data_lock.h"
#include "server/journal.h"
#include "server/listen_address.h"
#include "server/private_files.h"
#include "server/request_price.h"
#include "server/server.h"

#ifdef BONUS_MIMALLOC
#include <mimalloc.h>
#endif

namespace {

// Whether mimalloc serves this process's malloc (Debian's build overrides it when linked).
std::string allocator_note() {
#ifdef BONUS_MIMALLOC
  void* probe = std::calloc(1, 64);  // (calloc: GCC 12 warns of malloc's bytes unread here)
  const bool active = mi_is_in_heap_region(probe);
  std::free(probe);
  const int v = mi_version();  // e.g. 209 for 2.0.9
  const std::string version = std::to_string(v / 100) + "." + std::to_string(v / 10 % 10) + "." +
                              std::to_string(v % 10);
  return active ? "mimalloc " + version + " active"
                : "mimalloc linked but NOT active";
#else
  return "mimalloc off (sanitizer build)";
#endif
}

// The limits flags given on the command line (SetLimits::Field bits): the others follow
// the data directory's manifest.
std::uint32_t limits_given(const CLI::App& app) {
  std::uint32_t given = 0;
  if (app.count("--accounts-max") > 0) given |= bonus::SetLimits::kAccountsMax;
  if (app.count("--orders-max") > 0) given |= bonus::SetLimits::kOrdersMax;
  if (app.count("--ids-max") > 0) given |= bonus::SetLimits::kIdsMax;
  if (app.count("--id-window-s") > 0) given |= bonus::SetLimits::kIdWindow;
  return given;
}

// Parses the command line; a bad flag is a usage error, exit status 2, with CLI11's
// message naming the flag. nullopt: go on; otherwise the status to exit with (0 for --help).
std::optional<int> parse_flags(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  return std::nullopt;
}

// A CLI11 check for a number flag: decimal digits only (no sign, no hex, no exponent; "010"
// is ten) and a value in [min, max], so nothing wraps or overflows on the way in.
template <typename T>
CLI::Validator decimal_in(T min, T max) {
  const std::string range = "[" + std::to_string(min) + ", " + std::to_string(max) + "]";
  return CLI::Validator(
      [min, max, range](std::string& text) {
        T value{};
        const char* end = text.data() + text.size();
        const auto [at, error] = std::from_chars(text.data(), end, value);
        const bool digits =
            !text.empty() && text.find_first_not_of("0123456789") == std::string::npos;
        if (!digits || error != std::errc{} || at != end) {
          return "'" + text + "' is not a decimal number (digits only) in " + range;
        }
        if (value < min || value > max) return text + " is outside " + range;
        text = std::to_string(value);  // CLI11 would read "010" as octal
        return std::string();
      },
      "in " + range);
}

// `--listen` as a CLI11 check: HOST:PORT (server/listen_address.h).
CLI::Validator listen_address_check() {
  return CLI::Validator(
      [](std::string& text) {
        const auto parsed = bonus::server::parse_listen_address(text);
        const auto* error = std::get_if<std::string>(&parsed);
        return error != nullptr ? *error : std::string();
      },
      "HOST:PORT");
}

// bonusd's log goes to stderr, its stdout stays free (spdlog's default logger writes stdout).
void log_to_stderr() {
  auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("", std::move(sink)));
}

// Creates the data directory (0700) and takes its lock (server/data_lock.h) before
// anything reads or writes it; warns when an existing one is open to others.
std::optional<std::string> lock_data_dir(const std::string& dir,
                                         std::unique_ptr<bonus::server::DataLock>& lock) {
  if (auto error = bonus::server::create_private_directories(dir)) return error;
  auto acquired = bonus::server::DataLock::acquire(dir, "bonusd");
  if (auto* error = std::get_if<std::string>(&acquired)) return *error;
  lock = std::move(std::get<std::unique_ptr<bonus::server::DataLock>>(acquired));
  if (auto warning = bonus::server::wide_directory_warning(dir)) spdlog::warn("{}", *warning);
  return std::nullopt;
}

// How clients reach the server, for the start line.
std::string transport_note(const bonus::server::ServerConfig& config) {
  if (config.tls_cert_file.empty()) return "plain TCP";
  return config.tls_client_ca_file.empty() ? "TLS" : "TLS, client certificates required";
}

// --tls-*: the server's certificate and key, and the CA of client certificates.
void add_tls_options(CLI::App& app, bonus::server::ServerConfig& config) {
  auto* cert = app.add_option("--tls-cert", config.tls_cert_file,
                              "Serve TLS with this PEM certificate chain (leaf first); needs "
                              "--tls-key. Without it: plain TCP");
  auto* key = app.add_option("--tls-key", config.tls_key_file, "The PEM private key of --tls-cert");
  auto* client_ca = app.add_option(
      "--tls-client-ca", config.tls_client_ca_file,
      "Mutual TLS: refuse, in the handshake, a client without a certificate signed by a CA "
      "in this PEM file");
  cert->needs(key);
  key->needs(cert);
  client_ca->needs(cert);
  app.add_option("--tls-handshake-timeout-ms", config.tls_handshake_timeout_ms,
                 "Close a connection whose TLS handshake has not completed in this time")
      ->check(decimal_in(1u, 3'600'000u))
      ->capture_default_str();
}

std::string insecure_note(const bonus::server::ServerConfig& config) {
  return config.insecure ? ", --insecure" : "";
}

// What the start line says about authentication.
std::string auth_note(const bonus::server::Server& server) {
  const auto& config = server.config();
  const auto auth = server.auth();
  if (auth == nullptr) return "no authentication (every client is admin)" + insecure_note(config);
  const std::size_t tokens = auth->entries().size();
  return "authentication: " + std::to_string(tokens) + (tokens == 1 ? " token" : " tokens") +
         " from " + config.auth_file + insecure_note(config);
}

}  // namespace

int main(int argc, char** argv) {
  // Before any thread starts: a write to a closed socket or pipe is an error, not death.
  std::signal(SIGPIPE, SIG_IGN);
  log_to_stderr();
  bonus::server::ServerConfig config;
  CLI::App app{"bonusd: the bonus ledger server (binary protocol over TCP; see protocol/README.md)"};
  std::string listen = "127.0.0.1:7400";
  std::string durability = "fsync";
  app.add_option("--listen", listen,
                 "Address and port to listen on: IPv4 HOST:PORT or [IPv6]:PORT; port 0: any free")
      ->check(listen_address_check())
      ->capture_default_str();
  std::string partition_ports = "next";
  app.add_option("--partition-ports", partition_ports,
                 "Each partition's own port, announced in the hello reply so that a client "
                 "sends a buyer's requests straight to the thread that owns the buyer: `next` "
                 "(the --listen port + 1 + partition; any free with --listen port 0), FIRST "
                 "(FIRST + partition), or `off`")
      ->check(CLI::IsMember({"next", "off"}) | decimal_in<std::uint32_t>(1u, 65535u))
      ->capture_default_str();
  app.add_option("--data", config.data_dir, "Data directory: the journal and the checkpoint live here")
      ->capture_default_str();
  app.add_option("--shards", config.shards,
                 "Shards (writer threads), each owning a slice of the buyers; 0: one per core at "
                 "the first start, then as many as the data directory's manifest says")
      ->check(decimal_in(0u, bonus::server::CheckpointStore::kShardsMax))
      ->capture_default_str();
  app.add_option("--durability", durability,
                 "fsync: acknowledge a write once it is fdatasync'ed in the journal; none: no "
                 "fdatasync at all, for benchmarks only (acknowledged writes can be lost)")
      ->check(CLI::IsMember({"fsync", "none"}))
      ->capture_default_str();
  app.add_flag("--test-clock", config.test_clock,
               "Let `admin clock advance` move the ledger time forward (tests of expiry and "
               "hold timeouts); off in production");
  app.add_option("--network-nice", config.network_nice,
                 "Nice value of the threads that serve connections (the network thread, which "
                 "reads the main port's frames and serves short reads, and the partitions' "
                 "loops, which apply writes and serve their own ports): -20..19; below 0 needs "
                 "root or CAP_SYS_NICE, and bonusd will not start without it")
      ->check(CLI::Range(-20, 19))
      ->capture_default_str();
  app.add_option("--connections-max", config.connections_max, "Open connections at most")
      ->check(decimal_in(1u, 1u << 20))
      ->capture_default_str();
  app.add_option("--in-flight-max", config.in_flight_max,
                 "Requests per connection awaiting a reply; past it: too_many_in_flight")
      ->check(decimal_in(1u, 1u << 20))
      ->capture_default_str();
  app.add_option("--position-wait-ms", config.position_wait_ms,
                 "A request asking for a log position this node has not reached yet (a "
                 "standby behind its leader; frame flag position) waits at most this long, "
                 "then is answered position_unreached; 0: at once")
      ->check(decimal_in(0u, 60'000u))
      ->capture_default_str();
  app.add_option("--frame-size-max", config.body_size_max, "Largest frame body in bytes")
      ->check(decimal_in(1024u, bonus::protocol::kBodySizeMax))
      ->capture_default_str();
  app.add_option("--batch-commands-max", config.batch_commands_max,
                 "Commands (or accounts, cart lines) in one request at most")
      ->check(decimal_in(1u, bonus::protocol::kBatchCommandsMax))
      ->capture_default_str();
  app.add_option("--unsent-bytes-max", config.unsent_bytes_max,
                 "Reply bytes one connection may owe (the bound of the replies to its requests in "
                 "flight plus those not yet written to it) before it stops being read until "
                 "they drain: what a client that never reads can hold")
      ->check(decimal_in(std::uint64_t{64} << 10, std::uint64_t{1} << 34))
      ->capture_default_str();
  app.add_option("--frame-timeout-ms", config.frame_timeout_ms,
                 "A frame whose first byte has arrived must complete within this; else the "
                 "connection is closed (frame_timeout)")
      ->check(decimal_in(1u, 3'600'000u))
      ->capture_default_str();
  app.add_option("--idle-timeout-s", config.idle_timeout_s,
                 "Close a connection that sends no complete frame for this long (idle_timeout; "
                 "ping keeps one open); 0: never")
      ->check(decimal_in(0u, 30u * 24 * 3600))
      ->capture_default_str();
  app.add_option("--lots-per-reply-max", config.lots_per_reply_max,
                 "Lots one balance reply may carry; a balance with lots past it is refused "
                 "batch_too_large (ask for fewer accounts)")
      ->check(decimal_in(bonus::server::kLotsPerReplyMin, bonus::server::kLotsPerReplyMax))
      ->capture_default_str();
  app.add_option("--sweep-interval-ms", config.sweep_interval_ms,
                 "How often to look whether a sweep is due (a hold timing out, lots expiring, an "
                 "order or id to forget); only then is a sweep written (through the journal)")
      ->check(decimal_in(1u, 60'000u))
      ->capture_default_str();
  std::string log_kind = "journal";
  app.add_option("--log", log_kind,
                 "Where the write-ahead log is: journal (segment files in --data) or jetstream "
                 "(a NATS JetStream stream, --nats, followed by standbys that take over)")
      ->check(CLI::IsMember({"journal", "jetstream"}))
      ->capture_default_str();
  app.add_option("--nats", config.nats_urls,
                 "With --log jetstream: the NATS servers, nats://host:port[,nats://...]");
  app.add_option("--nats-stream", config.nats_stream,
                 "With --log jetstream: the stream (created when missing)")
      ->capture_default_str();
  app.add_option("--nats-replicas", config.nats_replicas,
                 "With --log jetstream: the replicas of a stream bonusd creates (1..5)")
      ->check(CLI::Range(1, 5))
      ->capture_default_str();
  app.add_option("--node", config.node_name,
                 "With --log jetstream: this node's name among those following the stream "
                 "(1..64 of [A-Za-z0-9_-]; default: its address)");
  app.add_option("--advertise", config.advertise,
                 "With --log jetstream: the HOST:PORT clients are sent to when this node leads "
                 "(default: --listen's host and port)");
  app.add_option("--lease-ms", config.lease_ms,
                 "With --log jetstream: the leader lease's life for a lease bucket bonusd "
                 "creates; a standby takes over this long after a leader stops renewing it")
      ->check(CLI::Range(std::int64_t{300}, std::int64_t{60'000}))
      ->capture_default_str();
  std::string log_watch = "on";
  app.add_option("--log-watch", log_watch,
                 "With --log jetstream: on: a standby is fed each new message by a consumer "
                 "of the stream (up to 64 MiB queued; what it misses is asked for); off: it "
                 "asks the stream every 2 ms, a request a message (more CPU, on it and on the "
                 "nats-servers)")
      ->check(CLI::IsMember({"on", "off"}))
      ->capture_default_str();
  app.add_option("--log-retain-records", config.log_retain_records,
                 "With --log jetstream: the log is trimmed below every node's checkpoint, but "
                 "keeps at most this many records behind the leader's (0: no bound): a node "
                 "further behind is named in a warning and must start from a copy of another "
                 "node's data directory")
      ->check(decimal_in(std::uint64_t{0}, std::uint64_t{1} << 48))
      ->capture_default_str();
  app.add_option("--journal-segment-bytes", config.journal_segment_bytes,
                 "Journal segment size (preallocated)")
      ->check(decimal_in(bonus::server::kJournalSegmentBytesMin,
                         bonus::server::kJournalSegmentBytesMax))
      ->capture_default_str();
  std::string checkpoints = "on";
  app.add_option("--checkpoint", checkpoints,
                 "on: checkpoint the state into <data>/checkpoint (LMDB) and delete the journal "
                 "before it; off: no checkpoints, the journal keeps everything (an existing "
                 "checkpoint is still loaded)")
      ->check(CLI::IsMember({"on", "off"}))
      ->capture_default_str();
  app.add_option("--checkpoint-interval-s", config.checkpoint_interval_s,
                 "Seconds between checkpoints; 0: none on a timer")
      ->check(decimal_in(0u, 7u * 24 * 3600))
      ->capture_default_str();
  app.add_option("--checkpoint-records", config.checkpoint_records,
                 "Journal records between checkpoints (bounds the replay at start); 0: no bound")
      ->check(decimal_in(std::uint64_t{0}, std::uint64_t{1} << 40))
      ->capture_default_str();
  std::uint64_t checkpoint_map_mib = config.checkpoint_map_bytes >> 20;
  app.add_option("--checkpoint-map-mib", checkpoint_map_mib,
                 "Largest the checkpoint file may grow, MiB (LMDB map size; address space, not "
                 "disk). A checkpoint that does not fit fails and is tried again later")
      ->check(decimal_in(std::uint64_t{1}, std::uint64_t{1} << 30))
      ->capture_default_str();
  std::string history = "on";
  app.add_option("--history", history,
                 "on: write every account's events (statements: bonusctl history, order) into "
                 "<data>/history (LMDB) from the checkpointer, in the background; off: none, and "
                 "statement reads are refused. Needs --checkpoint on")
      ->check(CLI::IsMember({"on", "off"}))
      ->capture_default_str();
  app.add_option("--history-retention-days", config.history_retention_days,
                 "Days of ledger time events are kept; older ones are trimmed in the background")
      ->check(decimal_in(1u, 100u * 366))
      ->capture_default_str();
  app.add_option("--accounts-max", config.engine.accounts_max,
                 "Accounts per shard at most; past it credits are rejected accounts_full. Stored "
                 "in the data directory's manifest at the first start; later only `bonusctl "
                 "admin limits set` changes it (this flag must then match or be left out)")
      ->check(decimal_in(std::uint64_t{1}, bonus::kTableBoundMax))
      ->capture_default_str();
  app.add_option("--orders-max", config.engine.orders_max,
                 "Live holds (and accruals) per shard at most; past it orders_full. Stored in "
                 "the manifest like --accounts-max")
      ->check(decimal_in(std::uint64_t{1}, bonus::kTableBoundMax))
      ->capture_default_str();
  app.add_option("--ids-max", config.engine.ids_max,
                 "Remembered ids of applied writes, ledger-wide, at most; past it ids_full. "
                 "Stored in the manifest like --accounts-max")
      ->check(decimal_in(std::uint64_t{1}, bonus::kTableBoundMax))
      ->capture_default_str();
  std::int64_t id_window_s = config.engine.id_window_us / bonus::kUsPerSecond;
  app.add_option("--id-window-s", id_window_s,
                 "How long a write id is remembered (idempotency window), seconds. Stored in "
                 "the manifest like --accounts-max")
      ->check(decimal_in(std::int64_t{1}, bonus::kWindowMaxUs / bonus::kUsPerSecond))
      ->capture_default_str();
  app.add_option("--metrics-listen", config.metrics_listen,
                 "Serve Prometheus metrics (GET /metrics, plain HTTP, no authentication) on "
                 "HOST:PORT, e.g. 127.0.0.1:9400; port 0: any free one (the start line says "
                 "which); off when not given. Not loopback: needs --insecure")
      ->check(listen_address_check());
  add_tls_options(app, config);
  app.add_option("--auth-file", config.auth_file,
                 "Tokens and their roles, one `<sha256-hex> <role> <name>` a line (bonusctl "
                 "admin token new prints one); mode 0600 or stricter; re-read on SIGHUP. "
                 "Without it there is no authentication: every client is admin, and only a "
                 "loopback address may be listened on")
      ->check(CLI::ExistingFile);
  app.add_flag("--insecure", config.insecure,
               "Listen on a non-loopback address without authentication and TLS all the same "
               "(a trusted network only)");
  if (auto status = parse_flags(app, argc, argv)) return *status;

  const auto address =
      std::get<bonus::server::ListenAddress>(bonus::server::parse_listen_address(listen));
  config.listen_host = address.host;
  config.listen_port = address.port;
  if (partition_ports == "off") {
    config.partition_ports = bonus::server::PartitionPorts::off;
  } else if (partition_ports != "next") {
    config.partition_ports = bonus::server::PartitionPorts::from;
    config.partition_port_first = static_cast<std::uint16_t>(std::stoul(partition_ports));
  }
  config.durable = durability == "fsync";
  config.log_watch = log_watch == "on";
  if ((log_kind == "jetstream") != !config.nats_urls.empty()) {
    spdlog::error("bonusd: {}", log_kind == "jetstream" ? "--log jetstream needs --nats URLS"
                                                        : "--nats needs --log jetstream");
    return 2;
  }
  if (log_kind != "jetstream" && (!config.node_name.empty() || !config.advertise.empty() ||
                                  config.log_retain_records != 0 || app.count("--log-watch") > 0)) {
    spdlog::error(
        "bonusd: --node, --advertise, --log-retain-records and --log-watch need --log jetstream");
    return 2;
  }
  if (!config.node_name.empty() && !bonus::protocol::valid_node_name(config.node_name)) {
    spdlog::error("bonusd: --node {}: want 1..64 of [A-Za-z0-9_-]", config.node_name);
    return 2;
  }
  if (log_kind == "jetstream" && !config.durable) {
    // JetStream acknowledges a group once a quorum stores it; there is no sync to skip.
    spdlog::error(
        "bonusd: --durability none is the journal's (no fdatasync); not with "
        "--log jetstream");
    return 2;
  }
  config.checkpoints = checkpoints == "on";
  config.history = history == "on";
  config.checkpoint_map_bytes = checkpoint_map_mib << 20;
  config.engine.id_window_us = id_window_s * bonus::kUsPerSecond;
  config.limits_given = limits_given(app);

  std::unique_ptr<bonus::server::DataLock> data_lock;  // held until bonusd exits
  if (auto error = lock_data_dir(config.data_dir, data_lock)) {
    spdlog::error("bonusd: cannot start: {}", *error);
    return 1;
  }
  bonus::server::Server server(config);
  if (auto error = server.start()) {
    spdlog::error("bonusd: cannot start: {}", *error);
    return 1;
  }
  const std::string log_note =
      config.nats_urls.empty() ? "journal"
                               : "jetstream stream " + config.nats_stream + " on " + config.nats_urls;
  spdlog::info("bonusd listening on {} ({}), data {}, {} shards, log {}, durability {}{}, checkpoints {}, history {}, {}, test clock {}, {}; {}",
               bonus::server::listen_address_text(config.listen_host, server.port()),
               transport_note(config), config.data_dir, server.config().shards, log_note,
               durability, config.durable ? "" : " (BENCHMARKS ONLY: acknowledged writes may be lost)",
               checkpoints, config.checkpoints && config.history ? "on" : "off",
               allocator_note(), config.test_clock ? "ON" : "off", auth_note(server),
               server.start_note());
  server.run();
  const auto report = server.stop_report();
  if (!report.clean) {
    spdlog::error("{}", report.message);
    return 1;
  }
  spdlog::info("{}", report.message);
  return 0;
}
