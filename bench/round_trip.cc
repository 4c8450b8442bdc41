// round-trip: what one request costs a client that asks one at a time over a plain
// blocking socket (TCP_NODELAY), the simplest cart-screen client, against the floor and
// a peer in the same run (issue 14's read targets):
//   echo            a bare 32-byte echo server in a child process, one blocking thread:
//                   the floor of a loopback round trip on this machine
//   redis-get       Redis GET of an 8-byte value (--redis; the key is SET first)
//   ping            bonusd ping, answered by its network thread
//   balance         bonusd balance of one account (a random one of those seeded)
//   cart            bonusd cart of one buyer with 3 sellers
//   client-balance  the same balance through the C++ client's blocking call (on the
//                   caller's thread, over a direct link)
//   client-balance-io  the same through the client's I/O thread (direct_connections_max 0)
//   credit, client-credit, client-credit-io  (--writes) a credit of 1 bonus to seller 4
//                   and a random buyer, with a new id each: over the plain socket, the C++
//                   client's write() on the caller's thread, and through its I/O thread.
//                   Each waits for its group's sync: run bonusd with --durability none to
//                   see the client's own cost
//   base-ping, base-balance, base-cart  the same against another bonusd (--other: another
//                   build, for a before and after in one run)
// --statements N gives seller 1's buyer 1 N more credits on each bonusd (N events of
// history: a busy account) and, while the rounds run, a thread per bonusd reads that
// account's statement (history pages of up to 1,000 events, one at a time, on a
// connection of its own) over and over: whether a statement holds up the other requests.
// It prints the pages each read.
// Each round sends --requests to every target, one request to each in turn, each timed
// from just before its send to the last byte of its reply (after --warmup untimed ones).
// It seeds the accounts it reads (sellers 1..3 x buyers 1..--buyers, one credit each; a
// repeat run's credits come back as repeats). bench/round-trip-run starts a fresh bonusd and Redis
// for it.
//   build/bin/round-trip --bonusd 127.0.0.1:7400 [--redis 127.0.0.1:6379] [--rounds 2]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bench/address.h"
#include "clients/cpp/client.h"
#include "engine/code.h"
#include "engine/lot_life.h"
#include "protocol/frame.h"
#include "protocol/messages.h"

namespace bonus {
namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "round-trip: %s\n", what.c_str());
  std::exit(1);
}

using bench::Address;
using bench::parse_address;

// A blocking TCP connection with Nagle off.
class Socket {
 public:
  explicit Socket(const Address& to) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(to.port);
    if (fd_ < 0 || inet_pton(AF_INET, to.host.c_str(), &sa.sin_addr) != 1 ||
        ::connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
      fail("cannot connect to " + to.host + ":" + std::to_string(to.port) + ": " +
           std::strerror(errno));
    }
    const int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  ~Socket() { ::close(fd_); }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;

  void send(std::string_view bytes) const {
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) fail(std::string("send: ") + (n == 0 ? "closed" : std::strerror(errno)));
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
  }
  void receive(char* out, std::size_t size) const {
    while (size > 0) {
      const ssize_t n = ::recv(fd_, out, size, 0);
      if (n <= 0)
        fail(std::string("receive: ") + (n == 0 ? "closed by the server" : std::strerror(errno)));
      out += n;
      size -= static_cast<std::size_t>(n);
    }
  }

 private:
  int fd_ = -1;
};

// The floor: a child process that echoes 32-byte messages, one connection at a time.
class EchoServer {
 public:
  // On CPU `cpu` when it is not negative (bench/round-trip-run places the servers).
  explicit EchoServer(int cpu) {
    const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t size = sizeof(sa);
    if (listener < 0 || ::bind(listener, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0 ||
        ::listen(listener, 4) != 0 ||
        ::getsockname(listener, reinterpret_cast<sockaddr*>(&sa), &size) != 0) {
      fail(std::string("echo server: ") + std::strerror(errno));
    }
    port_ = ntohs(sa.sin_port);
    pid_ = ::fork();
    if (pid_ < 0) fail(std::string("fork: ") + std::strerror(errno));
    if (pid_ == 0) {
      if (cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        if (sched_setaffinity(0, sizeof(set), &set) != 0)
          fail("echo server: no CPU " + std::to_string(cpu));
      }
      serve(listener);
    }
    ::close(listener);
  }
  ~EchoServer() {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  Address address() const { return {"127.0.0.1", port_}; }

 private:
  [[noreturn]] static void serve(int listener) {
    for (;;) {
      const int fd = ::accept(listener, nullptr, nullptr);
      if (fd < 0) continue;
      const int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      char message[32];
      for (;;) {
        std::size_t got = 0;
        while (got < sizeof(message)) {
          const ssize_t n = ::recv(fd, message + got, sizeof(message) - got, 0);
          if (n <= 0) break;
          got += static_cast<std::size_t>(n);
        }
        if (got < sizeof(message) ||
            ::send(fd, message, sizeof(message), MSG_NOSIGNAL) != sizeof(message)) {
          break;
        }
      }
      ::close(fd);
    }
  }

  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
};

// Sends one bonusd request frame and reads its reply; a reply of another opcode (an
// ErrorReply: unauthenticated, forbidden, ...) ends the run with its message.
class BonusdWire {
 public:
  explicit BonusdWire(const Address& to) : socket_(to) {}

  void ask(protocol::Opcode opcode, const std::string& body) {
    const std::string frame = protocol::make_frame(
        opcode, 0, ++request_id_,
        protocol::Body{reinterpret_cast<const std::uint8_t*>(body.data()), body.size()});
    socket_.send(frame);
    std::uint8_t head[protocol::kHeaderBytes];
    socket_.receive(reinterpret_cast<char*>(head), sizeof(head));
    protocol::FrameHeader header;
    if (protocol::decode_header(head, protocol::kBodySizeMax, header) !=
        protocol::FrameError::none) {
      fail("bonusd sent a header that does not decode");
    }
    reply_.resize(header.body_size);
    socket_.receive(reply_.data(), reply_.size());
    if (header.opcode != opcode || header.request_id != request_id_) {
      protocol::ErrorInfo error;
      const protocol::Body view{reinterpret_cast<const std::uint8_t*>(reply_.data()),
                                reply_.size()};
      if (header.opcode == protocol::Opcode::error &&
          protocol::decode_error_reply(view, error) == protocol::FrameError::none) {
        fail("bonusd refused " + std::string(protocol::opcode_name(opcode)) + ": " +
             std::string(protocol::frame_error_name(error.code)) + ": " + error.message);
      }
      fail("bonusd answered " + std::string(protocol::opcode_name(opcode)) + " with opcode " +
           std::to_string(static_cast<int>(header.opcode)));
    }
  }
  std::string_view reply() const { return reply_; }

 private:
  Socket socket_;
  std::uint64_t request_id_ = 0;
  std::string reply_;
};

template <typename Encode>
std::string body_of(Encode&& encode) {
  flatbuffers::FlatBufferBuilder fbb;
  encode(fbb);
  return std::string(reinterpret_cast<const char*>(fbb.GetBufferPointer()), fbb.GetSize());
}

// One credit for every (seller 1..3, buyer 1..buyers), in frames of 1,000.
void seed(BonusdWire& wire, std::uint32_t buyers) {
  std::vector<Credit> credits;
  const std::uint64_t run = 0x726f756e64747269;  // "roundtri": the ids' high half
  auto flush = [&] {
    if (credits.empty()) return;
    wire.ask(protocol::kWriteOpcode<Credit>, body_of([&](auto& fbb) {
               protocol::encode_write(std::span<const Credit>(credits), fbb);
             }));
    credits.clear();
  };
  for (SellerId seller = 1; seller <= 3; ++seller) {
    for (BuyerId buyer = 1; buyer <= buyers; ++buyer) {
      Credit c{};
      c.id = Id128{run, seller * 100'000'000ull + buyer};
      c.seller = seller;
      c.buyer = buyer;
      c.amount = 500;
      c.life = LotLife::ttl_of(30 * kUsPerDay);
      credits.push_back(c);
      if (credits.size() == 1000) flush();
    }
  }
  flush();
}

// A history request for the busy account's newest page of up to 1,000 events.
std::string statement_page() {
  protocol::HistoryQuery q;
  q.seller = 1;
  q.buyer = 1;
  q.limit = protocol::kHistoryPageMax;
  return body_of([&](auto& fbb) { protocol::encode_history(q, fbb); });
}

// `events` more credits to seller 1's buyer 1, then waits until its statement shows them
// (history is written about once a second).
void seed_statement(BonusdWire& wire, std::uint32_t events) {
  std::vector<Credit> credits;
  const std::uint64_t run = 0x73746174656d6e74;  // "statemnt"
  for (std::uint32_t i = 1; i <= events; ++i) {
    Credit c{};
    c.id = Id128{run, i};
    c.seller = 1;
    c.buyer = 1;
    c.amount = 1;
    c.life = LotLife::ttl_of(30 * kUsPerDay);
    credits.push_back(c);
    if (credits.size() == 1000 || i == events) {
      wire.ask(protocol::kWriteOpcode<Credit>, body_of([&](auto& fbb) {
                 protocol::encode_write(std::span<const Credit>(credits), fbb);
               }));
      credits.clear();
    }
  }
  const std::size_t want = std::min<std::size_t>(events, protocol::kHistoryPageMax);
  for (int attempt = 0; attempt < 100; ++attempt) {
    wire.ask(protocol::Opcode::history, statement_page());
    protocol::HistoryAnswer answer;
    const protocol::Body view{reinterpret_cast<const std::uint8_t*>(wire.reply().data()),
                              wire.reply().size()};
    if (protocol::decode_history_reply(view, answer) != protocol::FrameError::none) {
      fail("bonusd's history reply does not decode");
    }
    if (answer.entries.size() >= want) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  fail("the busy account's statement did not show its events within 10 s (history off?)");
}

struct Figures {
  double p50 = 0, p90 = 0, p99 = 0, p999 = 0, mean = 0;
};

Figures figures_of(std::vector<double>& us) {
  std::sort(us.begin(), us.end());
  const double count = static_cast<double>(us.size());
  auto at = [&](double q) {
    return us[std::min(us.size() - 1, static_cast<std::size_t>(q * count))];
  };
  double sum = 0;
  for (double u : us) sum += u;
  return {at(0.50), at(0.90), at(0.99), at(0.999), sum / count};
}

}  // namespace
}  // namespace bonus

int main(int argc, char** argv) {
  using namespace bonus;
  CLI::App app{
      "round-trip: one request at a time over a plain socket, against the floor and Redis"};
  std::string bonusd_text, redis_text, other_text;
  std::uint32_t requests = 20'000, warmup = 2'000, rounds = 2, buyers = 10'000;
  std::uint64_t seed_value = 0;
  int echo_cpu = -1;
  std::uint32_t statements = 0;
  bool writes = false;
  app.add_option("--bonusd", bonusd_text, "bonusd's address, host:port (an IPv4 address)")
      ->required();
  app.add_option("--redis", redis_text, "Redis's address, host:port; none: no redis-get");
  app.add_option(
      "--other", other_text,
      "another bonusd (another build) for base-ping, base-balance, base-cart in the same run");
  app.add_option("--requests", requests, "timed requests per target and round")
      ->check(CLI::Range(100u, 10'000'000u));
  app.add_option("--warmup", warmup, "untimed requests first")->check(CLI::Range(0u, 10'000'000u));
  app.add_option("--rounds", rounds, "rounds, every target in each")->check(CLI::Range(1u, 100u));
  app.add_option("--buyers", buyers, "buyers seeded per seller (sellers 1..3)")
      ->check(CLI::Range(1u, 1'000'000u));
  app.add_option("--seed", seed_value, "the random accounts' seed (0: from the clock)");
  app.add_option("--echo-cpu", echo_cpu, "the CPU of the echo server (-1: the scheduler's choice)")
      ->check(CLI::Range(-1, 1023));
  app.add_flag("--writes", writes, "also credit, client-credit and client-credit-io");
  app.add_option("--statements", statements,
                 "a busy account of this many events whose statement a thread per bonusd "
                 "reads over and over during the rounds (0: none)")
      ->check(CLI::Range(0u, 1'000'000u));
  CLI11_PARSE(app, argc, argv);
  const auto bonusd = parse_address(bonusd_text);
  if (!bonusd) fail("--bonusd wants host:port, got " + bonusd_text);
  std::optional<Address> redis;
  if (!redis_text.empty()) {
    redis = parse_address(redis_text);
    if (!redis) fail("--redis wants host:port, got " + redis_text);
  }
  std::optional<Address> other;
  if (!other_text.empty()) {
    other = parse_address(other_text);
    if (!other) fail("--other wants host:port, got " + other_text);
  }
  if (seed_value == 0)
    seed_value = static_cast<std::uint64_t>(Clock::now().time_since_epoch().count());
  std::printf("round-trip: %u requests a target a round after %u untimed, %u rounds, seed %llu\n",
              requests, warmup, rounds, static_cast<unsigned long long>(seed_value));

  EchoServer echo_server(echo_cpu);  // forked before any thread starts
  Socket echo(echo_server.address());
  BonusdWire wire(*bonusd);
  seed(wire, buyers);
  std::optional<BonusdWire> other_wire;
  if (other) {
    other_wire.emplace(*other);
    seed(*other_wire, buyers);
  }
  // The statement readers: each on a connection of its own, until the rounds end.
  std::atomic<bool> rounds_done{false};
  std::vector<std::thread> readers;
  std::vector<std::uint64_t> pages(2, 0);
  auto read_statements = [&](const Address& to, std::uint64_t& count) {
    readers.emplace_back([&, to] {
      BonusdWire reader(to);
      const std::string page = statement_page();
      while (!rounds_done.load(std::memory_order_relaxed)) {
        reader.ask(protocol::Opcode::history, page);
        ++count;
      }
    });
  };
  if (statements > 0) {
    seed_statement(wire, statements);
    if (other_wire) seed_statement(*other_wire, statements);
  }
  std::optional<Socket> redis_socket;
  if (redis) {
    redis_socket.emplace(*redis);
    redis_socket->send("*3\r\n$3\r\nSET\r\n$10\r\nround-trip\r\n$8\r\n12345678\r\n");
    char ok[5];
    redis_socket->receive(ok, sizeof(ok));
    if (std::string_view(ok, 5) != "+OK\r\n") fail("Redis did not answer SET with +OK");
  }
  // The C++ client twice: its blocking calls on the caller's thread (direct links, the
  // default) and through its I/O thread (direct_connections_max 0), as before issue 14.
  auto connect_client = [&](std::uint32_t direct_connections_max) {
    client::ClientOptions options;
    options.host = bonusd->host;
    options.port = bonusd->port;
    options.direct_connections_max = direct_connections_max;
    auto connected = client::Client::connect(options);
    if (auto* error = std::get_if<std::string>(&connected)) fail("the C++ client: " + *error);
    return std::move(std::get<std::unique_ptr<client::Client>>(connected));
  };
  const auto client = connect_client(4);
  const auto client_io = connect_client(0);

  std::mt19937_64 rng(seed_value);
  auto seller = [&] { return static_cast<SellerId>(1 + rng() % 3); };
  auto buyer = [&] { return static_cast<BuyerId>(1 + rng() % buyers); };
  struct Target {
    std::string name;
    std::function<void()> one;
  };
  std::vector<Target> targets;
  targets.push_back({"echo", [&] {
                       char message[32] = "round-trip echo, 32 bytes long.";
                       echo.send(std::string_view(message, sizeof(message)));
                       echo.receive(message, sizeof(message));
                     }});
  if (redis_socket) {
    targets.push_back({"redis-get", [&] {
                         redis_socket->send("*2\r\n$3\r\nGET\r\n$10\r\nround-trip\r\n");
                         char reply[14];  // $8\r\n12345678\r\n
                         redis_socket->receive(reply, sizeof(reply));
                       }});
  }
  auto add_bonusd = [&](BonusdWire& w, const std::string& prefix) {
    targets.push_back({prefix + "ping", [&w] { w.ask(protocol::Opcode::ping, {}); }});
    targets.push_back({prefix + "balance", [&] {
                         protocol::BalanceQuery q;
                         q.accounts.push_back({seller(), buyer()});
                         w.ask(protocol::Opcode::balance,
                               body_of([&](auto& fbb) { protocol::encode_balance(q, fbb); }));
                       }});
    targets.push_back({prefix + "cart", [&] {
                         protocol::CartQuery q;
                         q.buyer = buyer();
                         for (SellerId s = 1; s <= 3; ++s) q.lines.push_back({s, 100'000});
                         w.ask(protocol::Opcode::cart,
                               body_of([&](auto& fbb) { protocol::encode_cart(q, fbb); }));
                       }});
  };
  add_bonusd(wire, "");
  if (other_wire) add_bonusd(*other_wire, "base-");
  targets.push_back({"client-balance", [&] {
                       const auto r = client->balance(seller(), buyer());
                       if (!r.ok()) fail("the C++ client's balance failed: " + r.message);
                     }});
  targets.push_back({"client-balance-io", [&] {
                       const auto r = client_io->balance(seller(), buyer());
                       if (!r.ok()) fail("the C++ client's balance failed: " + r.message);
                     }});
  // Credits with ids of their own: the clock's nanoseconds, so repeated runs never repeat.
  const std::uint64_t write_run =
      static_cast<std::uint64_t>(std::chrono::system_clock::now().time_since_epoch().count());
  std::uint64_t write_count = 0;
  auto credit = [&] {
    Credit c{};
    c.id = Id128{write_run, ++write_count};
    c.seller = 4;
    c.buyer = buyer();
    c.amount = 1;
    c.life = LotLife::ttl_of(30 * kUsPerDay);
    return c;
  };
  auto check = [](const client::Reply<Result>& r) {
    if (!r.ok() || r.value.code != Code::ok) fail("the C++ client's credit failed: " + r.message);
  };
  if (writes) {
    targets.push_back({"credit", [&] {
                         const Credit c = credit();
                         wire.ask(protocol::kWriteOpcode<Credit>, body_of([&](auto& fbb) {
                                    protocol::encode_write(std::span<const Credit>(&c, 1), fbb);
                                  }));
                       }});
    targets.push_back({"client-credit", [&] { check(client->write(credit())); }});
    targets.push_back({"client-credit-io", [&] { check(client_io->write(credit())); }});
  }

  std::printf("%-6s %-17s %9s %9s %9s %9s %9s\n", "round", "target", "p50 us", "p90 us", "p99 us",
              "p99.9 us", "mean us");
  // Request by request, every target in turn: this machine's round trip drifts (the bare
  // echo moves between ~14 and ~70 µs as the scheduler places the processes), so each
  // target is sampled in the same moments as the others.
  if (statements > 0) {
    read_statements(*bonusd, pages[0]);
    if (other) read_statements(*other, pages[1]);
  }
  const auto rounds_start = Clock::now();
  for (std::uint32_t i = 0; i < warmup; ++i) {
    for (const Target& t : targets) t.one();
  }
  for (std::uint32_t round = 1; round <= rounds; ++round) {
    std::vector<std::vector<double>> us(targets.size());
    for (auto& u : us) u.reserve(requests);
    for (std::uint32_t i = 0; i < requests; ++i) {
      for (std::size_t k = 0; k < targets.size(); ++k) {
        const auto t0 = Clock::now();
        targets[k].one();
        us[k].push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
      }
    }
    for (std::size_t k = 0; k < targets.size(); ++k) {
      const Figures f = figures_of(us[k]);
      std::printf("%-6u %-17s %9.1f %9.1f %9.1f %9.1f %9.1f\n", round, targets[k].name.c_str(),
                  f.p50, f.p90, f.p99, f.p999, f.mean);
    }
    std::fflush(stdout);
  }
  rounds_done = true;
  for (std::thread& t : readers) t.join();
  if (statements > 0) {
    const double seconds = std::chrono::duration<double>(Clock::now() - rounds_start).count();
    std::printf("statement pages of %u events read meanwhile: %.0f/s from bonusd", statements,
                static_cast<double>(pages[0]) / seconds);
    if (other) std::printf(", %.0f/s from the other", static_cast<double>(pages[1]) / seconds);
    std::printf("\n");
  }
  return 0;
}
