// bonus-bench: a realistic load generator for bonusd (bench/README.md describes the
// workload). It preloads the accounts, then runs cart reads, checkouts and accruals on
// `connections` x `depth` flow slots served by --threads event loops (FlowLoop: non-
// blocking connections, closed loop, or open loop at --rate with latency from the
// intended send time), mailing bursts on their own connection, and reports per operation
// throughput, latency percentiles and errors.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <fstream>
#include <memory>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "bench/bonus_bench/flow_loop.h"
#include "bench/bonus_bench/id_source.h"
#include "bench/bonus_bench/recorder.h"
#include "bench/bonus_bench/workload.h"
#include "clients/cpp/client.h"
#include "engine/code.h"

using namespace bonus;
using namespace bonus::bench;

namespace {

struct Options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 7400;
  WorkloadShape shape;
  std::string mix_text;
  Mix mix;
  double duration_s = 10;
  std::uint64_t count = 0;  // flows; 0: run for duration_s
  std::uint32_t connections = 2;
  std::uint32_t depth = 16;
  std::uint32_t threads = 1;
  std::uint32_t batch = 4096;
  double rate = 0;  // flows per second; 0: closed loop
  std::uint64_t seed = 1;
  bool preload = true;
  bool route = false;
  Amount preload_amount = 5'000;
  double burst_every_s = 5;
  std::uint64_t burst_buyers = 100'000;
  std::uint32_t burst_depth = 4;
  std::uint32_t hold_timeout_ms = 2'000;
  std::uint32_t accrual_lag = 32;
  bool json = false;
  bool quiet = false;
  std::string csv_path;
  std::string cdf_path;
};

// `routing`: the client asks for the partitions' ports (its hello names them).
std::unique_ptr<client::Client> connect(const Options& o, bool routing = false) {
  client::ClientOptions options;
  options.host = o.host;
  options.port = o.port;
  options.partition_routing = routing;
  options.timeout = std::chrono::seconds(30);
  options.batch_commands_max = std::min<std::uint32_t>(o.batch, protocol::kBatchCommandsDefault);
  auto c = client::Client::connect(options);
  if (auto* error = std::get_if<std::string>(&c)) {
    std::fprintf(stderr, "bonus-bench: cannot connect to %s:%u: %s\n", o.host.c_str(), o.port,
                 error->c_str());
    std::exit(3);
  }
  return std::move(std::get<std::unique_ptr<client::Client>>(c));
}

// The error name of a reply: "" when served and ok.
template <typename T>
std::string_view error_of(const client::Reply<T>& r) {
  return r.ok() ? std::string_view{} : client::status_name(r.status);
}

// Shared by every thread of a run.
struct Run {
  const Options& o;
  const Workload& workload;
  std::uint64_t nonce;
  FlowRun& flows;  // the loops' settings, and the stop and start of the run
  std::vector<std::unique_ptr<client::Client>> clients{};  // the preload's
  std::deque<Recorder> recorders{};                        // one per loop, then one for the bursts
  std::atomic<std::uint64_t> bursts{0};
};

// ---- Preload --------------------------------------------------------------------------

// Sends batches with at most `window` in flight; `done` runs on a client I/O thread.
class Window {
 public:
  explicit Window(std::uint32_t window) : window_(window) {}
  void acquire() {
    std::unique_lock lock(m_);
    cv_.wait(lock, [&] { return in_flight_ < window_; });
    ++in_flight_;
  }
  void release() {
    std::lock_guard lock(m_);
    --in_flight_;
    cv_.notify_all();
  }
  void drain() {
    std::unique_lock lock(m_);
    cv_.wait(lock, [&] { return in_flight_ == 0; });
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  std::uint32_t window_;
  std::uint32_t in_flight_ = 0;
};

void preload(Run& run) {
  const Options& o = run.o;
  const std::uint64_t total = run.workload.account_count();
  Window window(o.connections * 4);
  std::atomic<std::uint64_t> acknowledged{0}, failed{0};
  IdSource ids{run.nonce ^ 0x5052454C4F4144ull, 0};
  std::vector<Credit> batch;
  std::array<SellerId, kSellersPerBuyerMax> sellers{};
  const auto began = Clock::now();
  auto last_print = began;
  std::size_t next_client = 0;
  auto send = [&] {
    window.acquire();
    client::Client& c = *run.clients[next_client++ % run.clients.size()];
    c.write_batch_async(std::span<const Credit>(batch), [&](client::Reply<std::vector<Result>> r) {
      std::uint64_t ok = 0;
      for (const Result& x : r.value) ok += x.code == Code::ok;
      acknowledged += ok;
      failed += r.ok() ? r.value.size() - ok : 1;
      window.release();
    });
    batch.clear();
  };
  for (std::uint64_t rank = 0; rank < o.shape.buyers; ++rank) {
    const BuyerId buyer = run.workload.buyer_of_rank(rank);
    const std::uint32_t n = run.workload.sellers_of(buyer, sellers);
    for (std::uint32_t j = 0; j < n; ++j) {
      batch.push_back(Credit{ids.id(), sellers[j], buyer, o.preload_amount, 0,
                             LotLife::ttl_of(365 * kUsPerDay), 0, 0});
    }
    if (batch.size() >= o.batch) send();
    if (!o.quiet && Clock::now() - last_print > std::chrono::milliseconds(500)) {
      last_print = Clock::now();
      const std::uint64_t a = acknowledged;
      std::fprintf(stderr, "\rpreload: %llu / %llu accounts (%.0f%%)   ", (unsigned long long)a,
                   (unsigned long long)total, 100.0 * double(a) / double(total));
    }
  }
  if (!batch.empty()) send();
  window.drain();
  const double s = std::chrono::duration<double>(Clock::now() - began).count();
  if (!o.quiet) {
    std::fprintf(stderr, "\rpreload: %llu accounts credited in %.1f s (%.0f credits/s)%s\n",
                 (unsigned long long)acknowledged.load(), s, double(acknowledged) / s,
                 failed ? ", some rejected" : "");
  }
  if (failed) std::fprintf(stderr, "preload: %llu credits not ok\n", (unsigned long long)failed.load());
}

// ---- Mailing bursts ------------------------------------------------------------------

// Every burst_every_s: a credit of 300-500 bonuses living 24 h - 7 d from one seller of
// each buyer in a segment of burst_buyers consecutive ranks, in batches of `batch`.
void mailing_bursts(Run& run, client::Client& c, Recorder& recorder) {
  const Options& o = run.o;
  std::mt19937_64 rng(mix64(o.seed ^ 0xB0257));
  IdSource ids{run.nonce, 0xFFF};
  std::array<SellerId, kSellersPerBuyerMax> sellers{};
  Window window(o.burst_depth);
  auto next = run.flows.start + std::chrono::duration<double>(o.burst_every_s / 2);
  while (!run.flows.stop) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (Clock::now() < next) continue;
    const std::uint64_t campaign = ++run.bursts;
    const std::uint64_t size = std::min(o.burst_buyers, o.shape.buyers);
    const std::uint64_t first = rng() % (o.shape.buyers - size + 1);
    std::vector<Credit> batch;
    for (std::uint64_t rank = first; rank < first + size && !run.flows.stop; ++rank) {
      const BuyerId buyer = run.workload.buyer_of_rank(rank);
      run.workload.sellers_of(buyer, sellers);
      const TimeUs life = std::uniform_int_distribution<TimeUs>(kUsPerDay, 7 * kUsPerDay)(rng);
      batch.push_back(Credit{ids.id(), sellers[0], buyer, 300 + rng() % 201, campaign,
                             LotLife::ttl_of(life), 0, 0});
      if (batch.size() < o.batch && rank + 1 < first + size) continue;
      window.acquire();
      const auto sent = Clock::now();
      const std::uint64_t n = batch.size();
      c.write_batch_async(std::span<const Credit>(batch), [&, sent, n](client::Reply<std::vector<Result>> r) {
        std::string_view error = error_of(r);
        for (const Result& x : r.value) {
          if (!x.ok() && error.empty()) error = code_name(x.code);
        }
        recorder.record(Op::credit, elapsed_ns(sent, Clock::now()), n, error);
        window.release();
      });
      batch.clear();
    }
    window.drain();
    next += std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.burst_every_s));
  }
}

// ---- Reporting ------------------------------------------------------------------------

double us(std::uint64_t ns) { return double(ns) / 1000.0; }

struct Report {
  OpTable total;
  std::FILE* csv = nullptr;
};

void write_csv_interval(std::FILE* csv, double t_s, double interval_s, const OpTable& interval) {
  for (std::size_t i = 0; i < kOpCount; ++i) {
    const OpStats& s = interval[i];
    if (s.latency_ns.count() == 0) continue;
    const auto& h = s.latency_ns;
    std::fprintf(csv, "%.3f,%s,%llu,%.1f,%.1f,%.1f,%.1f,%.1f,%.1f,%llu\n", t_s,
                 std::string(op_name(Op(i))).c_str(), (unsigned long long)s.commands,
                 double(s.commands) / interval_s, us(h.percentile(0.5)), us(h.percentile(0.9)),
                 us(h.percentile(0.99)), us(h.percentile(0.999)), us(h.max()),
                 (unsigned long long)s.error_count());
  }
  std::fflush(csv);
}

void print_progress(double t_s, double interval_s, const OpTable& interval, const Run& run) {
  std::string line;
  char buffer[128];
  std::uint64_t errors = 0;
  for (std::size_t i = 0; i < kOpCount; ++i) {
    const OpStats& s = interval[i];
    errors += s.error_count();
    if (s.commands == 0 || (Op(i) != Op::cart && Op(i) != Op::hold && Op(i) != Op::credit)) continue;
    std::snprintf(buffer, sizeof buffer, "  %s %.1fk/s p99 %.0fus", std::string(op_name(Op(i))).c_str(),
                  double(s.commands) / interval_s / 1000, us(s.latency_ns.percentile(0.99)));
    line += buffer;
  }
  std::fprintf(stderr, "%6.1fs%s  errors %llu  bursts %llu\n", t_s, line.c_str(),
               (unsigned long long)errors, (unsigned long long)run.bursts.load());
}

// Takes every recorder's figures once a second until `done`, then once more.
void report_loop(Run& run, Report& report, const std::atomic<bool>& done) {
  auto last = run.flows.start;
  for (bool final = false; !final;) {
    final = done.load();
    if (!final) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const auto now = Clock::now();
    if (!final && now - last < std::chrono::seconds(1)) continue;
    OpTable interval;
    for (Recorder& r : run.recorders) r.take(interval);
    const double interval_s = std::max(1e-3, std::chrono::duration<double>(now - last).count());
    const double t_s = std::chrono::duration<double>(now - run.flows.start).count();
    last = now;
    for (std::size_t i = 0; i < kOpCount; ++i) report.total[i].merge(interval[i]);
    if (report.csv != nullptr) write_csv_interval(report.csv, t_s, interval_s, interval);
    if (!run.o.quiet) print_progress(t_s, interval_s, interval, run);
  }
}

void print_table(const Run& run, const OpTable& total, double seconds) {
  const Options& o = run.o;
  std::printf(
      "\nbonus-bench: %llu buyers, %llu sellers, %s loop%s, %u connections x depth %u on %u "
      "threads, %.1f s, seed %llu\n",
      (unsigned long long)o.shape.buyers, (unsigned long long)o.shape.sellers,
      o.rate > 0 ? "open" : "closed",
      o.rate > 0 ? (" at " + std::to_string(static_cast<long long>(o.rate)) + " flows/s").c_str()
                 : "",
      o.connections, o.depth, o.threads, seconds, (unsigned long long)o.seed);
  print_op_rows(total, seconds);
  if (total[static_cast<std::size_t>(Op::credit)].commands != 0) {
    std::printf("(credit: latency is per batch of up to %u; count and per s are credits)\n", o.batch);
  }
  std::printf("holds left to time out: %llu; mailing bursts: %llu\n",
              (unsigned long long)run.flows.holds_left_to_time_out.load(),
              (unsigned long long)run.bursts.load());
}

void print_json(const Run& run, const OpTable& total, double seconds) {
  const Options& o = run.o;
  std::printf(
      "{\"buyers\":%llu,\"sellers\":%llu,\"loop\":\"%s\",\"rate\":%.1f,\"connections\":%u,"
      "\"depth\":%u,\"threads\":%u,\"batch\":%u,\"seed\":%llu,\"seconds\":%.3f,\"bursts\":%llu,"
      "\"holds_left_to_time_out\":%llu,\"ops\":{",
      (unsigned long long)o.shape.buyers, (unsigned long long)o.shape.sellers,
      o.rate > 0 ? "open" : "closed", o.rate, o.connections, o.depth, o.threads, o.batch,
      (unsigned long long)o.seed, seconds, (unsigned long long)run.bursts.load(),
      (unsigned long long)run.flows.holds_left_to_time_out.load());
  print_op_json(total, seconds);
  std::printf("}}\n");
}

// Latency at quantiles 1 - 10^(-k/10), k = 0..50 (k = 3 moved to 0.5), then the maximum,
// per operation: the data of bench/plot's CDF and percentile plots.
bool write_cdf(const std::string& path, const OpTable& total) {
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) return false;
  std::fprintf(f, "op,quantile,latency_us\n");
  for (std::size_t i = 0; i < kOpCount; ++i) {
    const auto& h = total[i].latency_ns;
    if (h.count() == 0) continue;
    for (int k = 0; k <= 50; ++k) {
      const double q = k == 3 ? 0.5 : 1.0 - std::pow(10.0, -double(k) / 10.0);  // 0.4988 -> p50
      std::fprintf(f, "%s,%.6f,%.1f\n", std::string(op_name(Op(i))).c_str(), q, us(h.percentile(q)));
    }
    std::fprintf(f, "%s,1.000000,%.1f\n", std::string(op_name(Op(i))).c_str(), us(h.max()));
  }
  return std::fclose(f) == 0;
}

std::uint64_t not_served(const OpTable& total) {
  std::uint64_t n = 0;
  for (const OpStats& s : total) {
    for (const auto& [name, count] : s.errors) {
      if (name == "timeout" || name == "disconnected" || name == "refused" || name == "bad_reply") n += count;
    }
  }
  return n;
}

void parse_options(int argc, char** argv, Options& o) {
  CLI::App app{"bonus-bench: a realistic load generator for bonusd (see bench/README.md)"};
  app.add_option("--host", o.host)->capture_default_str();
  app.add_option("--port", o.port)->capture_default_str();
  app.add_option("--buyers", o.shape.buyers, "Buyers (accounts = buyers x 1..sellers-per-buyer)")
      ->capture_default_str()->check(CLI::Range(std::uint64_t{1}, std::uint64_t{100'000'000}));
  app.add_option("--sellers", o.shape.sellers)->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--sellers-per-buyer", o.shape.sellers_per_buyer_max, "Each buyer has 1..N sellers")
      ->capture_default_str()->check(CLI::Range(1u, kSellersPerBuyerMax));
  app.add_option("--zipf", o.shape.zipf_s, "Buyer popularity exponent (0: uniform)")
      ->capture_default_str()->check(CLI::Range(0.0, 5.0));
  app.add_option("--mix", o.mix_text,
                 "Flow weights and outcome shares, e.g. cart=80,checkout=12,accrual=8,capture=0.85,"
                 "release=0.1,confirm=0.9");
  app.add_option("--duration", o.duration_s, "Seconds to run (unless --count)")->capture_default_str();
  app.add_option("--count", o.count, "Flows to run, then stop (0: use --duration)")->capture_default_str();
  app.add_option("--connections", o.connections)->capture_default_str()->check(CLI::Range(1u, 64u));
  app.add_option("--depth", o.depth, "Flows in flight per connection (a request each)")
      ->capture_default_str()
      ->check(CLI::Range(1u, kSlotsMax));
  app.add_option("--threads", o.threads,
                 "Event-loop threads running the flows (at most --connections)")
      ->capture_default_str()
      ->check(CLI::Range(1u, 64u));
  app.add_option("--batch", o.batch, "Commands per bulk frame (preload and mailing bursts)")
      ->capture_default_str()->check(CLI::Range(1u, 65536u));
  app.add_option("--rate", o.rate, "Open loop: flows per second, latency from the intended send time (0: closed loop)")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--seed", o.seed)->capture_default_str();
  app.add_flag("!--no-preload", o.preload, "Skip the preload (accounts already there)");
  app.add_flag("--route", o.route,
               "Send each flow on a connection to its buyer's partition (the hello's partition "
               "ports), as a partition-aware client does; the connections are spread over the "
               "partitions");
  app.add_option("--preload-amount", o.preload_amount)->capture_default_str();
  app.add_option("--burst-every", o.burst_every_s, "Seconds between mailing bursts (0: none)")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--burst-buyers", o.burst_buyers, "Buyers credited per mailing burst")
      ->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--burst-depth", o.burst_depth, "Burst batches in flight")->capture_default_str()
      ->check(CLI::Range(1u, 1024u));
  app.add_option("--hold-timeout-ms", o.hold_timeout_ms, "Timeout of holds left to time out")
      ->capture_default_str()->check(CLI::Range(1u, 86'400'000u));
  app.add_option("--accrual-lag", o.accrual_lag, "Accruals a worker has pending before it ends the oldest")
      ->capture_default_str();
  app.add_flag("--json", o.json, "Print the summary as JSON");
  app.add_flag("--quiet", o.quiet, "No progress lines");
  app.add_option("--csv", o.csv_path, "Write a per-second time series per operation here");
  app.add_option("--cdf", o.cdf_path, "Write latency quantiles per operation here (for bench/plot)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    std::exit(app.exit(e));
  }
  std::string error;
  auto mix = Mix::parse(o.mix_text, error);
  if (!mix) {
    std::fprintf(stderr, "bonus-bench: %s\n", error.c_str());
    std::exit(2);
  }
  o.mix = *mix;
  if (o.connections * o.depth > kSlotsMax) {
    std::fprintf(stderr, "bonus-bench: connections x depth is at most %u\n", kSlotsMax);
    std::exit(2);
  }
  if (o.threads > o.connections) {
    std::fprintf(stderr, "bonus-bench: --threads %u is more than --connections %u\n", o.threads,
                 o.connections);
    std::exit(2);
  }
  o.shape.sellers_per_buyer_max = static_cast<std::uint32_t>(
      std::min<std::uint64_t>(o.shape.sellers_per_buyer_max, o.shape.sellers));
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  parse_options(argc, argv, o);
  const Workload workload(o.shape);
  const std::uint64_t nonce =
      mix64(static_cast<std::uint64_t>(std::chrono::system_clock::now().time_since_epoch().count()) ^
            (std::uint64_t(getpid()) << 32)) | 1;
  FlowRun flows;
  Run run{.o = o, .workload = workload, .nonce = nonce, .flows = flows};
  if (o.preload) {
    for (std::uint32_t i = 0; i < o.connections; ++i) run.clients.push_back(connect(o));
    preload(run);
    run.clients.clear();  // the run's own connections are the loops'
  }

  Report report;
  if (!o.csv_path.empty()) {
    report.csv = std::fopen(o.csv_path.c_str(), "w");
    if (report.csv == nullptr) {
      std::fprintf(stderr, "bonus-bench: cannot write %s\n", o.csv_path.c_str());
      return 2;
    }
    std::fprintf(report.csv, "t_s,op,count,per_s,p50_us,p90_us,p99_us,p999_us,max_us,errors\n");
  }
  flows.host = o.host;
  flows.port = o.port;
  if (o.route) {
    const protocol::HelloAnswer hello = connect(o, true)->session();
    if (hello.partition_ports.empty() || hello.partition_hash != protocol::kPartitionHashMix64Mod) {
      std::fprintf(stderr, "bonus-bench: --route: the server names no partition ports\n");
      return 2;
    }
    if (o.connections % hello.partition_ports.size() != 0) {
      std::fprintf(stderr,
                   "bonus-bench: --route: --connections %u is not a multiple of the %zu "
                   "partitions\n",
                   o.connections, hello.partition_ports.size());
      return 2;
    }
    flows.partition_ports = hello.partition_ports;
  }
  flows.workload = &workload;
  flows.mix = o.mix;
  flows.rate = o.rate;
  flows.count = o.count;
  flows.depth = o.depth;
  flows.hold_timeout_us = TimeUs{o.hold_timeout_ms} * 1000;
  flows.accrual_lag = o.accrual_lag;
  flows.seed = o.seed;
  flows.nonce = nonce;
  std::vector<std::unique_ptr<FlowLoop>> loops;
  for (std::uint32_t t = 0, first = 0; t < o.threads; ++t) {
    const std::uint32_t n = o.connections / o.threads + (t < o.connections % o.threads ? 1 : 0);
    run.recorders.emplace_back();
    loops.push_back(
        std::make_unique<FlowLoop>(flows, t, o.threads, n, first, run.recorders.back()));
    first += n;
  }
  run.recorders.emplace_back();  // the bursts'
  auto burst_client = o.burst_every_s > 0 ? connect(o) : nullptr;
  std::atomic<bool> done{false};
  flows.start = Clock::now();
  std::thread reporter([&] { report_loop(run, report, done); });
  std::thread bursts;
  if (burst_client)
    bursts = std::thread([&] { mailing_bursts(run, *burst_client, run.recorders.back()); });
  std::vector<std::thread> threads;
  for (auto& loop : loops) threads.emplace_back([&loop] { loop->run(); });
  std::thread timer([&] {
    const auto end = flows.start + std::chrono::duration_cast<Clock::duration>(
                                       std::chrono::duration<double>(o.duration_s));
    while (!flows.stop && (o.count != 0 || Clock::now() < end))
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    flows.stop = true;
  });
  for (auto& t : threads) t.join();
  flows.stop = true;
  const double seconds = std::chrono::duration<double>(Clock::now() - run.flows.start).count();
  timer.join();
  if (bursts.joinable()) bursts.join();
  done = true;
  reporter.join();
  if (report.csv != nullptr) std::fclose(report.csv);
  if (!o.cdf_path.empty() && !write_cdf(o.cdf_path, report.total)) {
    std::fprintf(stderr, "bonus-bench: cannot write %s\n", o.cdf_path.c_str());
    return 2;
  }
  if (o.json) {
    print_json(run, report.total, seconds);
  } else {
    print_table(run, report.total, seconds);
  }
  const std::uint64_t lost = not_served(report.total);
  if (lost != 0) std::fprintf(stderr, "bonus-bench: %llu requests not served\n", (unsigned long long)lost);
  return lost == 0 ? 0 : 1;
}
