// open-loop: reads offered at a fixed rate whatever the server does (open loop), many in
// flight on each of a few non-blocking connections, each request's latency measured from
// the moment it was due to be sent (no coordinated omission: a server that stalls is
// charged for every request that waited behind the stall, also those not yet sent). What
// the cart screen's traffic sees, idle or while a mailing goes in (bench/open-loop-run).
//
// Targets, one after the other, each at --rate for --seconds:
//   cart        bonusd cart of one buyer (random of --buyers) with sellers 1..3
//   balance     bonusd balance of one account
//   redis-get   Redis GET of one key (--redis)
// One thread per --threads, each with its own connections and its share of the rate; a
// thread sleeps (epoll_pwait2, µs timeouts) until the next request is due and sends every
// request due by then. A connection holds at most --in-flight-max requests (bonusd's
// default bound); a request due while every connection is full goes when a reply makes
// room, its latency still counted from when it was due. Requests unanswered (or unsent)
// --drain-seconds after the last was due count as lost. Prints, per target: offered and
// completed rates, lost, p50/p90/p99/p99.9/max. --route: bonusd reads go as a
// partition-aware client sends them, each to its buyer's partition's port (the hello's
// partition_ports), over --connections connections a partition a thread.
//   build/bin/open-loop --bonusd 127.0.0.1:7400 --rate 100000 --seconds 10 [--redis 127.0.0.1:6379]
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bench/address.h"
#include "bench/epoll_wait_until.h"
#include "bench/nonblocking_stream.h"
#include "engine/partition.h"
#include "protocol/frame.h"
#include "protocol/messages.h"

namespace bonus {
namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "open-loop: %s\n", what.c_str());
  std::exit(1);
}

using bench::Address;
using bench::parse_address;

enum class Kind { cart, balance, redis_get };

const char* name_of(Kind k) {
  switch (k) {
    case Kind::cart:
      return "cart";
    case Kind::balance:
      return "balance";
    case Kind::redis_get:
      return "redis-get";
  }
  return "?";
}

// Request bodies to pick from (bonusd), encoded once: the sender only writes a header.
struct Bodies {
  std::vector<std::string> bodies;
  std::vector<std::uint32_t> crcs;
  std::vector<std::uint32_t> partitions;  // each body's buyer's (0 when not routed)
};

// `partitions`: the server's partition count when routed, else 1.
Bodies make_bodies(Kind kind, std::uint32_t buyers, std::uint64_t seed,
                   std::uint32_t partitions) {
  Bodies out;
  std::mt19937_64 rng(seed);
  for (int i = 0; i < 4096; ++i) {
    flatbuffers::FlatBufferBuilder fbb(256);
    const BuyerId buyer = 1 + rng() % buyers;
    if (kind == Kind::cart) {
      protocol::CartQuery q;
      q.buyer = buyer;
      for (SellerId s = 1; s <= 3; ++s) q.lines.push_back({s, 100'000});
      protocol::encode_cart(q, fbb);
    } else {
      protocol::BalanceQuery q;
      q.accounts.push_back({static_cast<SellerId>(1 + rng() % 3), buyer});
      protocol::encode_balance(q, fbb);
    }
    out.bodies.emplace_back(reinterpret_cast<const char*>(fbb.GetBufferPointer()), fbb.GetSize());
    out.crcs.push_back(protocol::body_checksum(fbb.GetBufferPointer(), fbb.GetSize()));
    out.partitions.push_back(partition_of(buyer, partitions));
  }
  return out;
}

int connect_to(const Address& a) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(a.port);
  if (fd < 0 || inet_pton(AF_INET, a.host.c_str(), &sa.sin_addr) != 1 ||
      ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
    fail("cannot connect to " + a.host + ":" + std::to_string(a.port) + ": " +
         std::strerror(errno));
  }
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

struct Connection {
  bench::NonBlockingStream stream;
  std::uint32_t partition = 0;     // routed: whose buyers' reads it carries
  std::deque<std::uint64_t> fifo;  // Redis: the request numbers in flight, in order
  std::uint32_t in_flight = 0;     // sent, not yet answered
};

// One thread's share: requests k = first, first + stride, ... (< total), due at
// start + k / rate.
struct Share {
  std::vector<double> latencies_us;
  std::uint64_t sent = 0;
  std::uint64_t lost = 0;
};

class Runner {
 public:
  // `ports`: each partition's port (routed: `connections` to each of them), or empty
  // (`connections` to `to`).
  Runner(Kind kind, const Address& to, const std::vector<std::uint16_t>& ports,
         std::uint32_t connections, const Bodies* bodies,
         Clock::time_point start, double rate, std::uint64_t total, std::uint64_t first,
         std::uint64_t stride, std::chrono::microseconds drain, std::uint32_t in_flight_max)
      : kind_(kind),
        bodies_(bodies),
        start_(start),
        rate_(rate),
        total_(total),
        next_(first),
        stride_(stride),
        drain_(drain),
        in_flight_max_(in_flight_max),
        due_(total, Clock::time_point{}),
        answered_(total, 0) {
    epoll_ = ::epoll_create1(0);
    const auto partitions = static_cast<std::uint32_t>(std::max<std::size_t>(1, ports.size()));
    for (std::uint32_t p = 0; p < partitions; ++p) {
      Address at = to;
      if (!ports.empty()) at.port = ports[p];
      for (std::uint32_t c = 0; c < connections; ++c) {
        Connection conn;
        conn.stream.fd = connect_to(at);
        conn.partition = p;
        conns_.push_back(std::move(conn));
      }
    }
    for (std::size_t c = 0; c < conns_.size(); ++c) {
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u64 = c;
      ::epoll_ctl(epoll_, EPOLL_CTL_ADD, conns_[c].stream.fd, &ev);
    }
  }
  ~Runner() {
    for (auto& c : conns_) ::close(c.stream.fd);
    ::close(epoll_);
  }

  Share run() {
    Share share;
    std::uint64_t outstanding = 0;
    epoll_event events[64];
    std::size_t turn = 0;
    const Clock::time_point last_due = due_at(total_ == 0 ? 0 : total_ - 1);
    for (;;) {
      const Clock::time_point now = Clock::now();
      // Every request due by now goes out, round-robin over the connections that have
      // room (--in-flight-max); one due while all are full waits for a reply, its latency
      // still counted from when it was due.
      bool full = false;
      while (next_ < total_ && due_at(next_) <= now) {
        // A connection of the request's partition (any, when not routed).
        const std::uint32_t part =
            kind_ == Kind::redis_get ? 0 : bodies_->partitions[next_ % bodies_->bodies.size()];
        Connection* room = nullptr;
        for (std::size_t tries = 0; tries < conns_.size() && room == nullptr; ++tries) {
          Connection& c = conns_[turn++ % conns_.size()];
          if (c.partition == part && c.in_flight < in_flight_max_) room = &c;
        }
        if (room == nullptr) {
          full = true;
          break;
        }
        Connection& c = *room;
        ++c.in_flight;
        append_request(c, next_);
        due_[next_] = due_at(next_);
        ++share.sent;
        ++outstanding;
        next_ += stride_;
      }
      for (std::size_t i = 0; i < conns_.size(); ++i) flush(i);
      if ((next_ >= total_ && outstanding == 0) || now > last_due + drain_) break;
      // Full: only a reply makes room, and it wakes the wait.
      Clock::time_point wake = next_ < total_ && !full ? due_at(next_) : last_due + drain_;
      const int n = bench::epoll_wait_until(epoll_, events, 64, wake);
      for (int e = 0; e < n; ++e) {
        const std::size_t i = events[e].data.u64;
        if (events[e].events & EPOLLOUT) flush(i);
        if (events[e].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) outstanding -= receive(i, share);
      }
    }
    // Unanswered, and never sent (every connection full to the end).
    share.lost = outstanding + (next_ < total_ ? (total_ - next_ + stride_ - 1) / stride_ : 0);
    return share;
  }

 private:
  Clock::time_point due_at(std::uint64_t k) const {
    return start_ + std::chrono::nanoseconds(
                        static_cast<std::int64_t>(1e9 * static_cast<double>(k) / rate_));
  }

  void append_request(Connection& c, std::uint64_t k) {
    if (kind_ == Kind::redis_get) {
      c.stream.out += "*2\r\n$3\r\nGET\r\n$10\r\nround-trip\r\n";
      c.fifo.push_back(k);
      return;
    }
    const std::size_t b = k % bodies_->bodies.size();
    protocol::FrameHeader h;
    h.opcode = kind_ == Kind::cart ? protocol::Opcode::cart : protocol::Opcode::balance;
    h.body_size = static_cast<std::uint32_t>(bodies_->bodies[b].size());
    h.request_id = k + 1;
    h.body_crc32c = bodies_->crcs[b];
    std::uint8_t head[protocol::kHeaderBytes];
    protocol::encode_header(h, head);
    c.stream.out.append(reinterpret_cast<const char*>(head), sizeof(head));
    c.stream.out += bodies_->bodies[b];
  }

  void flush(std::size_t i) {
    if (const std::string error = conns_[i].stream.flush(epoll_, i); !error.empty()) fail(error);
  }

  // Reads what came; the number of replies it completed.
  std::uint64_t receive(std::size_t i, Share& share) {
    Connection& c = conns_[i];
    std::uint64_t done = 0;
    const std::string why = c.stream.receive([&] {
      done += parse(c, share);
      return true;
    });
    if (why == "closed") fail("the server closed a connection");
    if (!why.empty()) fail(why);
    return done;
  }

  std::uint64_t parse(Connection& c, Share& share) {
    const Clock::time_point now = Clock::now();
    std::uint64_t done = 0;
    auto answered = [&](std::uint64_t k) {
      if (k >= total_ || answered_[k]) fail("a reply to no request of ours");
      answered_[k] = 1;
      --c.in_flight;
      share.latencies_us.push_back(
          std::chrono::duration<double, std::micro>(now - due_[k]).count());
      ++done;
    };
    if (kind_ == Kind::redis_get) {
      constexpr std::size_t kReply = 14;  // $8\r\n12345678\r\n
      while (c.stream.unread_bytes() >= kReply) {
        if (c.stream.unread()[0] != '$')
          fail("Redis answered GET with something else (is the key set?)");
        c.stream.consume(kReply);
        answered(c.fifo.front());
        c.fifo.pop_front();
      }
      return done;
    }
    while (c.stream.unread_bytes() >= protocol::kHeaderBytes) {
      const auto* at = reinterpret_cast<const std::uint8_t*>(c.stream.unread());
      protocol::FrameHeader h;
      if (protocol::decode_header(at, protocol::kBodySizeMax, h) != protocol::FrameError::none) {
        fail("bonusd sent a header that does not decode");
      }
      if (c.stream.unread_bytes() < protocol::kHeaderBytes + h.body_size) {
        c.stream.expect(protocol::kHeaderBytes + h.body_size);
        break;
      }
      if (h.opcode == protocol::Opcode::error) {
        protocol::ErrorInfo info;
        const auto* body = at + protocol::kHeaderBytes;
        if (protocol::decode_error_reply(protocol::Body{body, h.body_size}, info) ==
            protocol::FrameError::none) {
          fail("bonusd refused a request: " + std::string(protocol::frame_error_name(info.code)) +
               ": " + info.message);
        }
        fail("bonusd refused a request");
      }
      c.stream.consume(protocol::kHeaderBytes + h.body_size);
      answered(h.request_id - 1);
    }
    return done;
  }

  Kind kind_;
  const Bodies* bodies_;
  Clock::time_point start_;
  double rate_;
  std::uint64_t total_;
  std::uint64_t next_;
  std::uint64_t stride_;
  std::chrono::microseconds drain_;
  std::uint32_t in_flight_max_;
  std::vector<Clock::time_point> due_;
  std::vector<std::uint8_t> answered_;
  std::vector<Connection> conns_;
  int epoll_ = -1;
};

// The partitions' ports bonusd names in its hello (a hello without a token, on a
// connection of its own), checked to be usable: `mix64-mod` over one port a shard.
std::vector<std::uint16_t> partition_ports(const Address& a) {
  const int fd = connect_to(a);
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  flatbuffers::FlatBufferBuilder fbb(128);
  protocol::encode_hello(protocol::HelloQuery{{}, protocol::kVersion, "open-loop"}, fbb);
  const std::string frame = protocol::make_frame(
      protocol::Opcode::hello, 0, 1, protocol::Body{fbb.GetBufferPointer(), fbb.GetSize()});
  std::uint8_t head[protocol::kHeaderBytes];
  protocol::FrameHeader h;
  if (::send(fd, frame.data(), frame.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(frame.size()) ||
      ::recv(fd, head, sizeof(head), MSG_WAITALL) != sizeof(head) ||
      protocol::decode_header(head, protocol::kBodySizeMax, h) != protocol::FrameError::none) {
    fail("--route: no answer to hello");
  }
  std::vector<std::uint64_t> words(h.body_size / 8 + 1);
  if (h.body_size > 0 &&
      ::recv(fd, words.data(), h.body_size, MSG_WAITALL) != static_cast<ssize_t>(h.body_size)) {
    fail("--route: a short answer to hello");
  }
  ::close(fd);
  protocol::HelloAnswer answer;
  if (h.opcode != protocol::Opcode::hello ||
      protocol::decode_hello_reply(
          protocol::Body{reinterpret_cast<const std::uint8_t*>(words.data()), h.body_size},
          answer) != protocol::FrameError::none) {
    fail("--route: hello refused or undecodable");
  }
  if (answer.partition_hash != protocol::kPartitionHashMix64Mod ||
      answer.partition_ports.size() != answer.shards) {
    fail("--route: the server names no partition ports");
  }
  return answer.partition_ports;
}

double at(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  return sorted[std::min(sorted.size() - 1,
                         static_cast<std::size_t>(q * static_cast<double>(sorted.size())))];
}

}  // namespace
}  // namespace bonus

int main(int argc, char** argv) {
  using namespace bonus;
  CLI::App app{"open-loop: reads offered at a fixed rate, latency from each request's due time"};
  std::string bonusd_text, redis_text, kinds_text = "cart";
  double rate = 20'000, seconds = 5, drain_seconds = 2;
  std::uint32_t in_flight_max = 4'096;
  std::uint32_t threads = 1, connections = 4, buyers = 10'000;
  std::uint64_t seed = 1;
  bool route = false;
  app.add_option("--bonusd", bonusd_text, "bonusd's address, host:port (IPv4)");
  app.add_flag("--route", route,
               "send each bonusd read to its buyer's partition's port (--connections a "
               "partition a thread)");
  app.add_option("--redis", redis_text,
                 "Redis's address, host:port; its key `round-trip` is set first");
  app.add_option("--kinds", kinds_text, "bonusd reads to offer, comma-separated: cart, balance");
  app.add_option("--rate", rate, "requests a second, offered")
      ->check(CLI::Range(1.0, 10'000'000.0));
  app.add_option("--seconds", seconds, "how long each target is offered")
      ->check(CLI::Range(0.1, 3600.0));
  app.add_option("--in-flight-max", in_flight_max,
                 "requests in flight a connection (bonusd's --in-flight-max); one due while "
                 "every connection is full is sent when a reply makes room")
      ->check(CLI::Range(1u, 1u << 20));
  app.add_option("--drain-seconds", drain_seconds, "how long to wait for the last replies")
      ->check(CLI::Range(0.1, 600.0));
  app.add_option("--threads", threads, "sending threads, each with its connections")
      ->check(CLI::Range(1u, 64u));
  app.add_option("--connections", connections, "connections a thread")
      ->check(CLI::Range(1u, 1024u));
  app.add_option("--buyers", buyers, "buyers to read (1..N, sellers 1..3)")
      ->check(CLI::Range(1u, 100'000'000u));
  app.add_option("--seed", seed, "the random buyers' seed");
  CLI11_PARSE(app, argc, argv);

  std::vector<std::pair<Kind, Address>> targets;
  if (!bonusd_text.empty()) {
    const auto a = parse_address(bonusd_text);
    if (!a) fail("--bonusd wants host:port, got " + bonusd_text);
    std::size_t at_comma = 0;
    while (at_comma <= kinds_text.size()) {
      const std::size_t end = std::min(kinds_text.find(',', at_comma), kinds_text.size());
      const std::string k = kinds_text.substr(at_comma, end - at_comma);
      if (k == "cart") {
        targets.push_back({Kind::cart, *a});
      } else if (k == "balance") {
        targets.push_back({Kind::balance, *a});
      } else {
        fail("--kinds: unknown read '" + k + "' (cart, balance)");
      }
      at_comma = end + 1;
    }
  }
  if (!redis_text.empty()) {
    const auto a = parse_address(redis_text);
    if (!a) fail("--redis wants host:port, got " + redis_text);
    targets.push_back({Kind::redis_get, *a});
  }
  if (targets.empty()) fail("nothing to offer: give --bonusd and/or --redis");

  std::printf("open-loop: %.0f requests/s for %.1f s a target, %u thread(s) x %u connections\n",
              rate, seconds, threads, connections);
  std::printf("%-10s %12s %12s %8s %9s %9s %9s %9s %10s\n", "target", "offered/s", "done/s", "lost",
              "p50 us", "p90 us", "p99 us", "p99.9 us", "max us");
  for (const auto& [kind, address] : targets) {
    if (kind == Kind::redis_get) {  // the value it reads
      const int fd = connect_to(address);
      const std::string set = "*3\r\n$3\r\nSET\r\n$10\r\nround-trip\r\n$8\r\n12345678\r\n";
      ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
      char ok[5];
      if (::send(fd, set.data(), set.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(set.size()) ||
          ::recv(fd, ok, sizeof(ok), MSG_WAITALL) != sizeof(ok)) {
        fail("Redis did not take SET");
      }
      ::close(fd);
    }
    const std::vector<std::uint16_t> ports =
        route && kind != Kind::redis_get ? partition_ports(address) : std::vector<std::uint16_t>{};
    const auto partitions = static_cast<std::uint32_t>(std::max<std::size_t>(1, ports.size()));
    const Bodies bodies =
        kind == Kind::redis_get ? Bodies{} : make_bodies(kind, buyers, seed, partitions);
    const auto total = static_cast<std::uint64_t>(rate * seconds);
    const Clock::time_point start = Clock::now() + std::chrono::milliseconds(50);
    const auto drain = std::chrono::microseconds(static_cast<std::int64_t>(drain_seconds * 1e6));
    std::vector<Share> shares(threads);
    std::vector<std::thread> workers;
    for (std::uint32_t t = 0; t < threads; ++t) {
      workers.emplace_back([&, t] {
        Runner runner(kind, address, ports, connections, &bodies, start, rate, total, t, threads,
                      drain, in_flight_max);
        shares[t] = runner.run();
      });
    }
    for (auto& w : workers) w.join();
    std::vector<double> all;
    std::uint64_t lost = 0;
    for (Share& s : shares) {
      all.insert(all.end(), s.latencies_us.begin(), s.latencies_us.end());
      lost += s.lost;
    }
    std::sort(all.begin(), all.end());
    std::printf("%-10s %12.0f %12.0f %8llu %9.1f %9.1f %9.1f %9.1f %10.1f\n", name_of(kind), rate,
                static_cast<double>(all.size()) / seconds, static_cast<unsigned long long>(lost),
                at(all, 0.50), at(all, 0.90), at(all, 0.99), at(all, 0.999),
                all.empty() ? 0.0 : all.back());
    std::fflush(stdout);
  }
  return 0;
}
