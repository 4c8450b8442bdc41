// peer-bench: the bonus-bench workload (bench/README.md) against a peer ledger kept in
// Redis or PostgreSQL (bench/peers/README.md). First a scenario check whose expected
// figures are bonusd's (docs/engine.md), then a preload, then a closed loop of cart reads
// and checkouts on --workers connections with mailing bursts beside them, and the same
// per-operation table (or JSON) as bonus-bench.
#include <CLI/CLI.hpp>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <deque>
#include <random>
#include <thread>
#include <vector>

#include "bench/bonus_bench/recorder.h"
#include "bench/bonus_bench/workload.h"
#include "bench/peers/backend.h"

using namespace bonus;
using namespace bonus::bench;
using namespace bonus::peers;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::int64_t kUsDay = 86'400'000'000;

struct Options {
  std::string system;  // redis | postgres
  std::string target;
  WorkloadShape shape;
  std::string mix_text = "cart=80,checkout=12,accrual=0";
  Mix mix;
  double duration_s = 10;
  std::uint32_t workers = 32;
  std::uint32_t connections = 0;  // 0: one per worker; else workers share them (Redis only)
  std::uint32_t batch = 4096;
  std::uint64_t seed = 1;
  bool preload = true;
  std::int64_t preload_amount = 5'000;
  double burst_every_s = 5;
  std::uint64_t burst_buyers = 100'000;
  std::uint32_t hold_timeout_ms = 2'000;
  bool check_only = false;
  bool json = false;
  bool quiet = false;
};

std::unique_ptr<Backend> connect(const Options& o) {
  std::string error;
  auto b = o.system == "redis"      ? connect_redis(o.target, error)
           : o.system == "postgres" ? connect_postgres(o.target, error)
                                    : connect_bonusd(o.target, error);
  if (!b) {
    std::fprintf(stderr, "peer-bench: cannot connect to %s at %s: %s\n", o.system.c_str(), o.target.c_str(),
                 error.c_str());
    std::exit(3);
  }
  return b;
}

std::string error_of(const Res& r) { return r.ok() ? std::string() : r.code.substr(0, r.code.find(':')); }

// ---- The scenario check -------------------------------------------------------------------
// Expected figures worked out from docs/engine.md; bonusd gives the same (README).

struct Checker {
  int failures = 0;
  void expect(const char* what, std::int64_t got, std::int64_t want) {
    if (got != want) {
      std::fprintf(stderr, "scenario: %s: got %lld, expected %lld\n", what, (long long)got, (long long)want);
      ++failures;
    }
  }
  void expect(const char* what, const Res& r, const char* code, std::int64_t amount, std::int64_t aux = 0,
              bool repeat = false) {
    if (r.code != code || r.amount != amount || r.aux != aux || r.repeat != repeat) {
      std::fprintf(stderr, "scenario: %s: got %s %lld/%lld%s, expected %s %lld/%lld%s\n", what, r.code.c_str(),
                   (long long)r.amount, (long long)r.aux, r.repeat ? " (repeat)" : "", code, (long long)amount,
                   (long long)aux, repeat ? " (repeat)" : "");
      ++failures;
    }
  }
  void balance(const char* what, Backend& b, std::uint64_t s, std::uint64_t buyer, std::int64_t available,
               std::int64_t held) {
    const Balance x = b.balance(s, buyer);
    expect(what, x.available, available);
    expect(what, x.held, held);
  }
};

bool scenario(Backend& b, std::uint64_t nonce) {
  Checker c;
  const std::uint64_t S = 2'000'000 + nonce % 1'000'000, B = 9'000'000'000 + nonce % 1'000'000'000;
  const std::uint64_t O = (nonce % 1'000'000) * 1000 + 7'000'000'000'000;
  const std::string p = "scenario-" + std::to_string(nonce) + "-";
  auto credit = [&](const char* id, std::int64_t amount, std::int64_t ttl) {
    return b.credit(CreditArgs{p + id, S, B, amount, ttl, 0});
  };
  c.expect("credit 1000 for a day", credit("1", 1000, kUsDay), "ok", 1000);
  c.expect("credit 200 for 3 s", credit("2", 200, 3'000'000), "ok", 200);
  c.expect("hold 500 on 500 roubles (cap 495)", b.hold(p + "3", O + 1, S, B, 500, 50'000, 0), "over_spend_cap", 0);
  c.expect("hold 500 on 1000 roubles", b.hold(p + "4", O + 1, S, B, 500, 100'000, 0), "ok", 500);
  c.balance("balance after hold", b, S, B, 700, 500);
  const auto cart = b.cart(B, {{S, 60'000}, {S + 1, 100'000}}, 3 * kUsDay);
  c.expect("cart lines", static_cast<std::int64_t>(cart.size()), 2);
  if (cart.size() == 2) {
    c.expect("cart spendable (cap 594)", cart[0].spendable, 594);
    c.expect("cart expiring soon", cart[0].expiring_soon, 700);
    c.expect("cart other seller", cart[1].spendable + cart[1].expiring_soon, 0);
  }
  c.expect("capture 350 of 500", b.capture(p + "5", O + 1, 350), "ok", 350, 150);
  c.balance("balance after capture", b, S, B, 850, 0);
  c.expect("capture repeated", b.capture(p + "5", O + 1, 350), "ok", 350, 150, true);
  c.expect("id reused", b.capture(p + "5", O + 1, 100), "id_reused", 0);
  c.expect("capture again", b.capture(p + "6", O + 1, 0), "order_already_captured", 0);
  c.balance("balance after repeat", b, S, B, 850, 0);
  c.expect("hold 100", b.hold(p + "7", O + 2, S, B, 100, 100'000, 0), "ok", 100);
  c.expect("release", b.release(p + "8", O + 2), "ok", 100);
  c.expect("release again", b.release(p + "9", O + 2), "order_released", 0);
  c.balance("balance after release", b, S, B, 850, 0);
  c.expect("hold 851 of 850", b.hold(p + "10", O + 3, S, B, 851, 1'000'000, 0), "insufficient_bonuses", 0);
  c.expect("credit 50 for 1.5 s", credit("11", 50, 1'500'000), "ok", 50);
  c.expect("credit 30 for 1.5 s", credit("12", 30, 1'500'000), "ok", 30);
  c.expect("hold 40 (from the older short lot)", b.hold(p + "13", O + 4, S, B, 40, 100'000, 0), "ok", 40);
  c.expect("hold 10 timing out in 0.5 s", b.hold(p + "14", O + 5, S, B, 10, 100'000, 500'000), "ok", 10);
  c.balance("balance before expiry", b, S, B, 880, 50);
  std::this_thread::sleep_for(std::chrono::milliseconds(2'000));
  b.sweep(1'000);  // a peer's hold-timeout job (bonusd's own sweep has run meanwhile)
  c.balance("balance after expiry and the hold timeout", b, S, B, 850, 40);
  c.expect("capture of a timed-out hold", b.capture(p + "15", O + 5, 0), "hold_timed_out", 0);
  c.expect("release of expired pieces", b.release(p + "16", O + 4), "ok", 40);
  c.balance("balance after expired returns", b, S, B, 850, 0);
  c.expect("credit 30000 (earn cap: 28720 left)", credit("17", 30'000, kUsDay), "ok", 28'720);
  c.balance("final balance", b, S, B, 29'570, 0);
  c.expect("credit again (balance cap: 430 left)", credit("18", 1'000, kUsDay), "ok", 0);
  return c.failures == 0;
}

// ---- The workload --------------------------------------------------------------------------

struct Run {
  const Options& o;
  const Workload& workload;
  std::uint64_t nonce;
  std::atomic<bool> stop{false};
  Clock::time_point start{};
  std::deque<Recorder> recorders{};
  std::vector<std::unique_ptr<Backend>> shared{};  // --connections, shared by the workers
  std::atomic<std::uint64_t> holds_left_to_time_out{0};
  std::atomic<std::uint64_t> bursts{0};
  std::atomic<std::uint64_t> timed_out{0};
};

void preload(const Options& o, const Workload& workload, std::uint64_t nonce) {
  const std::uint64_t total = workload.account_count();
  std::atomic<std::uint64_t> next_rank{0}, acknowledged{0}, failed{0};
  const auto began = Clock::now();
  std::vector<std::thread> threads;
  const std::uint32_t n_threads = std::min<std::uint32_t>(o.workers, 8);
  const std::uint64_t chunk = std::max<std::uint64_t>(1, o.batch / 4);  // buyers per batch
  for (std::uint32_t t = 0; t < n_threads; ++t) {
    threads.emplace_back([&, t] {
      auto b = connect(o);
      std::array<SellerId, kSellersPerBuyerMax> sellers{};
      std::uint64_t k = 0;
      const std::string prefix = "p" + std::to_string(nonce) + "-" + std::to_string(t) + "-";
      for (;;) {
        const std::uint64_t first = next_rank.fetch_add(chunk);
        if (first >= o.shape.buyers) break;
        std::vector<CreditArgs> batch;
        for (std::uint64_t rank = first; rank < std::min(first + chunk, o.shape.buyers); ++rank) {
          const BuyerId buyer = workload.buyer_of_rank(rank);
          const std::uint32_t n = workload.sellers_of(buyer, sellers);
          for (std::uint32_t j = 0; j < n; ++j) {
            std::string id = prefix;
            id += std::to_string(++k);
            batch.push_back(CreditArgs{std::move(id),
                                       sellers[j], buyer, o.preload_amount, 365 * kUsDay, 0});
          }
        }
        for (const Res& r : b->credit_batch(batch)) (r.ok() ? acknowledged : failed)++;
      }
    });
  }
  while (next_rank < o.shape.buyers) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    if (!o.quiet) {
      std::fprintf(stderr, "\rpreload: %llu / %llu accounts   ", (unsigned long long)acknowledged.load(),
                   (unsigned long long)total);
    }
  }
  for (auto& th : threads) th.join();
  const double s = std::chrono::duration<double>(Clock::now() - began).count();
  if (!o.quiet) {
    std::fprintf(stderr, "\rpreload: %llu accounts credited in %.1f s (%.0f credits/s)\n",
                 (unsigned long long)acknowledged.load(), s, double(acknowledged) / s);
  }
  if (failed) {
    std::fprintf(stderr, "peer-bench: preload: %llu credits not ok\n", (unsigned long long)failed.load());
    std::exit(1);
  }
}

class Worker {
 public:
  Worker(Run& run, std::uint32_t index)
      : run_(run), o_(run.o), recorder_(run.recorders[index]), rng_(mix64(run.o.seed * 1'000'003 + index)),
        prefix_(std::to_string(run.nonce) + "-" + std::to_string(index + 1) + "-"), index_(index) {}

  void operator()() {
    if (run_.shared.empty()) {
      own_ = connect(o_);
      backend_ = own_.get();
    } else {
      backend_ = run_.shared[index_ % run_.shared.size()].get();
    }
    while (!run_.stop) {
      const Flow flow = o_.mix.flow_at(uniform());
      const BuyerId buyer = run_.workload.pick_buyer(rng_);
      const std::uint32_t n = run_.workload.sellers_of(buyer, sellers_);
      if (flow == Flow::cart) {
        cart(buyer, n);
      } else {
        checkout(buyer, sellers_[between(0, n - 1)]);
      }
    }
  }

 private:
  double uniform() { return std::uniform_real_distribution<double>(0.0, 1.0)(rng_); }
  std::uint64_t between(std::uint64_t low, std::uint64_t high) {
    return std::uniform_int_distribution<std::uint64_t>(low, high)(rng_);
  }
  std::string id() {
    std::string s = prefix_;
    s += std::to_string(++next_);
    return s;
  }
  std::uint64_t order() {
    return ((run_.nonce & 0x7FFFF) << 44) | ((std::uint64_t(index_) & 0xFFF) << 32) | (++next_ & 0xFFFFFFFF);
  }

  void cart(BuyerId buyer, std::uint32_t own) {
    std::vector<CartLineArgs> lines(between(1, kCartLinesMax));
    for (std::size_t i = 0; i < lines.size(); ++i) {
      lines[i].seller = i < own ? sellers_[i] : between(1, o_.shape.sellers);
      lines[i].goods_total = static_cast<std::int64_t>(between(10'000, 5'000'000));
    }
    const auto sent = Clock::now();
    const auto rows = backend_->cart(buyer, lines, 3 * kUsDay);
    recorder_.record(Op::cart, elapsed_ns(sent, Clock::now()), 1, rows.size() == lines.size() ? "" : "bad_reply");
  }

  void checkout(BuyerId buyer, SellerId seller) {
    const CheckoutEnd end = o_.mix.checkout_end_at(uniform());
    const std::uint64_t ord = order();
    const auto amount = static_cast<std::int64_t>(between(1, 300));
    const auto goods = static_cast<std::int64_t>(between(100'000, 3'000'000));
    const std::int64_t timeout = end == CheckoutEnd::time_out ? std::int64_t{o_.hold_timeout_ms} * 1000 : 0;
    auto sent = Clock::now();
    const Res h = backend_->hold(id(), ord, seller, buyer, amount, goods, timeout);
    recorder_.record(Op::hold, elapsed_ns(sent, Clock::now()), 1, error_of(h));
    if (!h.ok()) return;
    sent = Clock::now();
    if (end == CheckoutEnd::capture) {
      const Res r = backend_->capture(id(), ord, 0);
      recorder_.record(Op::capture, elapsed_ns(sent, Clock::now()), 1, error_of(r));
    } else if (end == CheckoutEnd::release) {
      const Res r = backend_->release(id(), ord);
      recorder_.record(Op::release, elapsed_ns(sent, Clock::now()), 1, error_of(r));
    } else {
      ++run_.holds_left_to_time_out;
    }
  }

  Run& run_;
  const Options& o_;
  Recorder& recorder_;
  std::mt19937_64 rng_;
  std::string prefix_;
  std::uint32_t index_;
  std::uint64_t next_ = 0;
  std::unique_ptr<Backend> own_;
  Backend* backend_ = nullptr;
  std::array<SellerId, kSellersPerBuyerMax> sellers_{};
};

// As bonus-bench: every burst_every_s, a credit of 300-500 bonuses living 24 h-7 d from
// the first seller of each buyer in a segment of burst_buyers ranks, in batches.
void mailing_bursts(Run& run, Recorder& recorder) {
  const Options& o = run.o;
  auto b = connect(o);
  std::mt19937_64 rng(mix64(o.seed ^ 0xB0257));
  std::array<SellerId, kSellersPerBuyerMax> sellers{};
  std::uint64_t k = 0;
  const std::string prefix = "b" + std::to_string(run.nonce) + "-";
  auto next = run.start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.burst_every_s / 2));
  while (!run.stop) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (Clock::now() < next) continue;
    const std::uint64_t campaign = ++run.bursts;
    const std::uint64_t size = std::min(o.burst_buyers, o.shape.buyers);
    const std::uint64_t first = rng() % (o.shape.buyers - size + 1);
    std::vector<CreditArgs> batch;
    for (std::uint64_t rank = first; rank < first + size && !run.stop; ++rank) {
      const BuyerId buyer = run.workload.buyer_of_rank(rank);
      run.workload.sellers_of(buyer, sellers);
      const auto life = std::uniform_int_distribution<std::int64_t>(kUsDay, 7 * kUsDay)(rng);
      std::string id = prefix;
      id += std::to_string(++k);
      batch.push_back(CreditArgs{std::move(id), sellers[0], buyer,
                                 static_cast<std::int64_t>(300 + rng() % 201), life, campaign});
      if (batch.size() < o.batch && rank + 1 < first + size) continue;
      const auto sent = Clock::now();
      const auto results = b->credit_batch(batch);
      std::string error;
      for (const Res& r : results) {
        if (!r.ok() && error.empty()) error = error_of(r);
      }
      recorder.record(Op::credit, elapsed_ns(sent, Clock::now()), batch.size(), error);
      batch.clear();
    }
    next += std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.burst_every_s));
  }
}

// bonusd sweeps timed-out holds itself; a peer needs a job for it: every 100 ms.
void hold_sweeper(Run& run) {
  auto b = connect(run.o);
  while (!run.stop) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    for (std::int64_t n = 1; n > 0 && !run.stop;) {
      n = b->sweep(1000);
      if (n > 0) run.timed_out += static_cast<std::uint64_t>(n);
    }
  }
}

double us(std::uint64_t ns) { return double(ns) / 1000.0; }

void print_table(const Run& run, const OpTable& total, double seconds) {
  const Options& o = run.o;
  std::printf("\npeer-bench %s: %llu buyers, %llu sellers, closed loop, %u workers on %u connections, %.1f s, seed %llu\n",
              o.system.c_str(), (unsigned long long)o.shape.buyers, (unsigned long long)o.shape.sellers, o.workers,
              o.connections == 0 ? o.workers : o.connections,
              seconds, (unsigned long long)o.seed);
  print_op_rows(total, seconds);
  std::printf("(credit: latency is per batch of up to %u; count and per s are credits)\n", o.batch);
  std::printf("holds left to time out: %llu (timed out by the sweep job: %llu); mailing bursts: %llu\n",
              (unsigned long long)run.holds_left_to_time_out.load(), (unsigned long long)run.timed_out.load(),
              (unsigned long long)run.bursts.load());
}

void print_json(const Run& run, const OpTable& total, double seconds) {
  std::printf("{\"system\":\"%s\",\"seconds\":%.3f,\"bursts\":%llu,\"ops\":{", run.o.system.c_str(), seconds,
              (unsigned long long)run.bursts.load());
  print_op_json(total, seconds);
  std::printf("}}\n");
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"peer-bench: the bonus-bench workload against a Redis or PostgreSQL ledger (bench/peers/README.md)"};
  app.add_option("--system", o.system, "redis or postgres (bonusd: the scenario check only, with --check-only)")
      ->required()->check(CLI::IsMember({"redis", "postgres", "bonusd"}));
  app.add_option("--target", o.target, "Redis host:port, or a libpq conninfo string")->required();
  app.add_option("--buyers", o.shape.buyers)->capture_default_str()->check(CLI::Range(std::uint64_t{1}, std::uint64_t{100'000'000}));
  app.add_option("--sellers", o.shape.sellers)->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--sellers-per-buyer", o.shape.sellers_per_buyer_max)->capture_default_str()->check(CLI::Range(1u, kSellersPerBuyerMax));
  app.add_option("--zipf", o.shape.zipf_s)->capture_default_str();
  app.add_option("--mix", o.mix_text, "As bonus-bench; accrual must be 0 (peers do not implement accruals)")->capture_default_str();
  app.add_option("--duration", o.duration_s)->capture_default_str();
  app.add_option("--workers", o.workers, "Connections, one flow in flight each")->capture_default_str()->check(CLI::Range(1u, 1000u));
  app.add_option("--connections", o.connections,
                 "Pipelined connections shared by the workers (Redis only; 0: one connection per worker)")
      ->capture_default_str();
  app.add_option("--batch", o.batch, "Credits per pipelined batch / transaction")->capture_default_str()->check(CLI::Range(1u, 65536u));
  app.add_option("--seed", o.seed)->capture_default_str();
  app.add_flag("!--no-preload", o.preload);
  app.add_option("--preload-amount", o.preload_amount)->capture_default_str();
  app.add_option("--burst-every", o.burst_every_s, "Seconds between mailing bursts (0: none)")->capture_default_str();
  app.add_option("--burst-buyers", o.burst_buyers)->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--hold-timeout-ms", o.hold_timeout_ms)->capture_default_str();
  app.add_flag("--check-only", o.check_only, "Run the scenario check only");
  app.add_flag("--json", o.json);
  app.add_flag("--quiet", o.quiet);
  CLI11_PARSE(app, argc, argv);
  std::string error;
  auto mix = Mix::parse(o.mix_text, error);
  if (!mix || mix->accrual != 0) {
    std::fprintf(stderr, "peer-bench: bad --mix (%s)\n", mix ? "accrual must be 0" : error.c_str());
    return 2;
  }
  o.mix = *mix;
  o.shape.sellers_per_buyer_max = static_cast<std::uint32_t>(std::min<std::uint64_t>(o.shape.sellers_per_buyer_max, o.shape.sellers));

  const bool set_up = o.system == "redis"      ? setup_redis(o.target, error)
                      : o.system == "postgres" ? setup_postgres(o.target, error)
                                               : setup_bonusd(o.target, error);
  if (!set_up) {
    std::fprintf(stderr, "peer-bench: cannot set up %s: %s\n", o.system.c_str(), error.c_str());
    return 3;
  }
  const std::uint64_t nonce =
      (mix64(static_cast<std::uint64_t>(std::chrono::system_clock::now().time_since_epoch().count()) ^
             (std::uint64_t(getpid()) << 32)) >> 20) | 1;
  {
    auto b = connect(o);
    if (!scenario(*b, nonce)) {
      std::fprintf(stderr, "peer-bench: %s FAILED the scenario check\n", o.system.c_str());
      return 4;
    }
    std::fprintf(stderr, "peer-bench: %s passed the scenario check\n", o.system.c_str());
  }
  if (o.check_only) return 0;
  if (o.system == "bonusd") {
    std::fprintf(stderr, "peer-bench: the workload against bonusd is bonus-bench's\n");
    return 2;
  }

  const Workload workload(o.shape);
  if (o.preload) preload(o, workload, nonce);
  Run run{.o = o, .workload = workload, .nonce = nonce};
  for (std::uint32_t i = 0; i <= o.workers; ++i) run.recorders.emplace_back();
  for (std::uint32_t i = 0; i < o.connections; ++i) {
    run.shared.push_back(connect(o));
    if (!run.shared.back()->thread_safe()) {
      std::fprintf(stderr, "peer-bench: %s connections cannot be shared (--connections 0)\n", o.system.c_str());
      return 2;
    }
  }
  run.start = Clock::now();
  std::vector<std::thread> threads;
  for (std::uint32_t i = 0; i < o.workers; ++i) threads.emplace_back(Worker(run, i));
  std::thread sweeper([&] { hold_sweeper(run); });
  std::thread bursts;
  if (o.burst_every_s > 0) bursts = std::thread([&] { mailing_bursts(run, run.recorders[o.workers]); });
  OpTable total;
  auto last = run.start;
  const auto end = run.start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.duration_s));
  while (Clock::now() < end) {
    std::this_thread::sleep_for(std::chrono::seconds(1));
    OpTable interval;
    for (Recorder& r : run.recorders) r.take(interval);
    const auto now = Clock::now();
    const double interval_s = std::chrono::duration<double>(now - last).count();
    last = now;
    if (!o.quiet) {
      const OpStats& c = interval[static_cast<std::size_t>(Op::cart)];
      const OpStats& h = interval[static_cast<std::size_t>(Op::hold)];
      std::fprintf(stderr, "%6.1fs  cart %.1fk/s p99 %.0fus  hold %.1fk/s p99 %.0fus  bursts %llu\n",
                   std::chrono::duration<double>(now - run.start).count(), double(c.commands) / interval_s / 1000,
                   us(c.latency_ns.percentile(0.99)), double(h.commands) / interval_s / 1000,
                   us(h.latency_ns.percentile(0.99)), (unsigned long long)run.bursts.load());
    }
    for (std::size_t i = 0; i < kOpCount; ++i) total[i].merge(interval[i]);
  }
  run.stop = true;
  for (auto& t : threads) t.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - run.start).count();
  if (bursts.joinable()) bursts.join();
  sweeper.join();
  for (Recorder& r : run.recorders) r.take(total);
  if (o.json) {
    print_json(run, total, seconds);
  } else {
    print_table(run, total, seconds);
  }
  return 0;
}
