// server-load: drives a running bonusd over loopback and prints throughput and latency.
//   server-load --port 7400 credits      [--seconds 5] [--connections 2] [--batch 4096] [--depth 8]
//   server-load --port 7400 read-latency [--seconds 5]           one connection, one read at a time
//   server-load --port 7400 ping-latency [--seconds 5]           the same with pings (no shard hop)
//   server-load --port 7400 read-latency-under-load [--seconds 5] the same while a bulk credit stream runs
//   server-load --port 7400 pipelined-reads [--seconds 5] [--depth 64] [--batch 1]
//   server-load --port 7400 connects [--seconds 5]      connect (and TLS handshake), ping, close
//   server-load --port 7400 hold-connections [--seconds 5] [--connections 2]  open, ping, hold
// With --tls-ca PEM every connection speaks TLS (the server's --tls-cert must chain to it).
// bench/server-bench starts a bonusd in a temporary directory and runs the first five;
// `bench/server-bench tls` runs them against a plain and a TLS bonusd side by side.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "clients/cpp/client.h"

using namespace bonus;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  std::uint16_t port = 7400;
  double seconds = 5;
  std::uint32_t connections = 2;
  std::uint32_t batch = 4096;
  std::uint32_t depth = 8;
  std::uint64_t buyers = 1'000'000;
  std::string tls_ca;  // empty: plain TCP
};

std::unique_ptr<client::Client> connect(const Options& o) {
  client::ClientOptions options;
  options.port = o.port;
  options.timeout = std::chrono::seconds(30);
  options.tls_ca_file = o.tls_ca;
  auto c = client::Client::connect(options);
  if (auto* error = std::get_if<std::string>(&c)) {
    std::fprintf(stderr, "server-load: %s\n", error->c_str());
    std::exit(3);
  }
  return std::move(std::get<std::unique_ptr<client::Client>>(c));
}

// Streams credit batches on `connections` clients, `depth` batches in flight each, until
// `stop`; returns credits acknowledged ok.
std::uint64_t credit_stream(const Options& o, const std::atomic<bool>& stop, std::uint64_t id_base) {
  std::atomic<std::uint64_t> acknowledged{0};
  std::vector<std::thread> threads;
  for (std::uint32_t t = 0; t < o.connections; ++t) {
    threads.emplace_back([&, t] {
      auto c = connect(o);
      std::mutex m;
      std::condition_variable cv;
      std::uint32_t in_flight = 0;
      std::mt19937_64 rng(t + id_base);
      std::uint64_t next_id = (id_base << 32) + (std::uint64_t(t) << 48);
      std::vector<Credit> batch(o.batch);
      while (!stop) {
        for (Credit& cr : batch) {
          cr = Credit{Id128{0x10AD, ++next_id}, 1 + rng() % 50, 1 + rng() % o.buyers, 1, 0,
                      LotLife::ttl_of(7 * kUsPerDay), 0, 0};
        }
        {
          std::unique_lock lock(m);
          cv.wait(lock, [&] { return in_flight < o.depth; });
          ++in_flight;
        }
        c->write_batch_async(std::span<const Credit>(batch), [&](client::Reply<std::vector<Result>> r) {
          std::uint64_t ok = 0;
          if (r.ok()) {
            for (const Result& x : r.value) ok += x.code == Code::ok;
          }
          acknowledged += ok;
          std::lock_guard lock(m);
          --in_flight;
          cv.notify_one();
        });
      }
      std::unique_lock lock(m);
      cv.wait(lock, [&] { return in_flight == 0; });
    });
  }
  for (auto& t : threads) t.join();
  return acknowledged;
}

void print_latencies(const char* what, std::vector<double>& us) {
  if (us.empty()) return;
  std::sort(us.begin(), us.end());
  auto at = [&](double q) { return us[std::min(us.size() - 1, std::size_t(q * double(us.size())))]; };
  std::printf("%-28s n=%zu  p50=%.1f us  p90=%.1f us  p99=%.1f us  p99.9=%.1f us  max=%.1f us\n",
              what, us.size(), at(0.5), at(0.9), at(0.99), at(0.999), us.back());
}

std::vector<double> read_latencies(const Options& o, const std::atomic<bool>& stop,
                                   bool ping = false) {
  auto c = connect(o);
  std::mt19937_64 rng(99);
  std::vector<double> us;
  while (!stop) {
    const auto start = Clock::now();
    const auto r = ping ? client::Reply<bool>{c->ping().status, {}, {}, true}
                        : client::Reply<bool>{c->balance(1 + rng() % 50, 1 + rng() % o.buyers).status,
                                              {}, {}, true};
    const auto end = Clock::now();
    if (!r.ok()) {
      std::fprintf(stderr, "read failed: %s\n", r.message.c_str());
      std::exit(1);
    }
    us.push_back(std::chrono::duration<double, std::micro>(end - start).count());
  }
  return us;
}

// Whole connections one after another: resolve, connect, TLS handshake, ping, close.
std::vector<double> connect_latencies(const Options& o, const std::atomic<bool>& stop) {
  std::vector<double> us;
  while (!stop) {
    const auto start = Clock::now();
    connect(o).reset();
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
  }
  return us;
}

void run_for(double seconds, std::atomic<bool>& stop) {
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  std::string mode;
  CLI::App app{"server-load: throughput and latency of a running bonusd"};
  app.add_option("mode", mode,
                 "credits | read-latency | ping-latency | read-latency-under-load | "
                 "pipelined-reads | connects | hold-connections")
      ->required()
      ->check(CLI::IsMember({"credits", "read-latency", "ping-latency", "read-latency-under-load",
                             "pipelined-reads", "connects", "hold-connections"}));
  app.add_option("--port", o.port)->capture_default_str();
  app.add_option("--seconds", o.seconds)->capture_default_str();
  app.add_option("--connections", o.connections)->capture_default_str();
  app.add_option("--batch", o.batch, "Commands per frame")->capture_default_str();
  app.add_option("--depth", o.depth, "Frames in flight per connection")->capture_default_str();
  app.add_option("--buyers", o.buyers)->capture_default_str();
  app.add_option("--tls-ca", o.tls_ca, "Speak TLS, trusting this PEM CA file (bonusd --tls-cert)");
  CLI11_PARSE(app, argc, argv);

  std::atomic<bool> stop{false};
  const std::uint64_t id_base = static_cast<std::uint64_t>(Clock::now().time_since_epoch().count()) & 0xFFFF;
  if (mode == "credits") {
    const auto start = Clock::now();
    std::thread timer([&] { run_for(o.seconds, stop); });
    const std::uint64_t n = credit_stream(o, stop, id_base);
    timer.join();
    const double s = std::chrono::duration<double>(Clock::now() - start).count();
    std::printf("credits: %llu acknowledged in %.2f s = %.0f credits/s (%u connections, batch %u, depth %u)\n",
                static_cast<unsigned long long>(n), s, double(n) / s, o.connections, o.batch, o.depth);
  } else if (mode == "read-latency") {
    std::thread timer([&] { run_for(o.seconds, stop); });
    auto us = read_latencies(o, stop);
    timer.join();
    print_latencies("balance read, idle server", us);
  } else if (mode == "ping-latency") {
    std::thread timer([&] { run_for(o.seconds, stop); });
    auto us = read_latencies(o, stop, true);
    timer.join();
    print_latencies("ping, idle server", us);
  } else if (mode == "read-latency-under-load") {
    std::atomic<bool> stop_writes{false};
    std::uint64_t written = 0;
    std::thread writer([&] { written = credit_stream(o, stop_writes, id_base); });
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    std::thread timer([&] { run_for(o.seconds, stop); });
    auto us = read_latencies(o, stop);
    timer.join();
    stop_writes = true;
    writer.join();
    print_latencies("balance read, bulk credits on", us);
    std::printf("(meanwhile %llu credits were acknowledged)\n", static_cast<unsigned long long>(written));
  } else if (mode == "connects") {
    std::thread timer([&] { run_for(o.seconds, stop); });
    auto us = connect_latencies(o, stop);
    timer.join();
    print_latencies(o.tls_ca.empty() ? "connect+ping+close, plain" : "connect+TLS+ping+close", us);
  } else if (mode == "hold-connections") {
    std::vector<std::unique_ptr<client::Client>> held;
    for (std::uint32_t i = 0; i < o.connections; ++i) held.push_back(connect(o));
    std::printf("holding %u connections for %.1f s\n", o.connections, o.seconds);
    std::fflush(stdout);
    std::this_thread::sleep_for(std::chrono::duration<double>(o.seconds));
  } else {
    auto c = connect(o);
    std::mutex m;
    std::condition_variable cv;
    std::uint32_t in_flight = 0;
    std::atomic<std::uint64_t> done{0};
    std::thread timer([&] { run_for(o.seconds, stop); });
    const auto start = Clock::now();
    std::vector<std::thread> readers;
    for (std::uint32_t r = 0; r < o.depth; ++r) {
      readers.emplace_back([&, r] {
        std::mt19937_64 rng(r);
        std::vector<protocol::AccountKey> keys(o.batch);
        while (!stop) {
          for (auto& k : keys) k = {1 + rng() % 50, 1 + rng() % o.buyers};
          const auto reply = c->balances(keys);
          if (reply.ok()) done += keys.size();
        }
      });
    }
    for (auto& t : readers) t.join();
    timer.join();
    (void)in_flight;
    const double s = std::chrono::duration<double>(Clock::now() - start).count();
    std::printf("pipelined reads: %.0f balance reads/s (one connection, %u requests in flight, %u accounts each)\n",
                double(done) / s, o.depth, o.batch);
  }
  return 0;
}
