// standby-read: reading your own writes on a standby (issue 15; protocol/README.md,
// "Reads at a log position"), against a leader and a standby that follow one JetStream
// stream (bench/standby-read starts scripts/cluster for it). Each round, --writes times:
// a credit of a new buyer through the leader (write(), acknowledged once the stream's
// quorum stored it), then at once a read of that buyer's balance, the four ways a client
// can read it, each timed from its call to its answer:
//   leader            on the leader, no position: the floor, the leader has applied it
//   standby           on the standby, no position: may be stale; `missed` counts the
//                     reads that did not see the credit yet
//   standby-at        on the standby at the write's position (read_at_least): waits
//                     until the standby has applied the write; `missed` must be 0
//   leader-at         on the leader at the write's position: the flag's own cost
// One read of each kind per write, in that order, with the write before them each time
// (so each kind reads right behind an acknowledgement). The standby's own progress
// differs between the kinds' moments: `standby` runs first, right behind the write.
//   build/bin/standby-read --leader 127.0.0.1:7401 --standby 127.0.0.1:7402
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "bench/address.h"
#include "clients/cpp/client.h"
#include "engine/lot_life.h"

namespace bonus {
namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void fail(const std::string& why) {
  std::fprintf(stderr, "standby-read: %s\n", why.c_str());
  std::exit(1);
}

std::unique_ptr<client::Client> connect(const bench::Address& at, bool read_your_writes) {
  client::ClientOptions options;
  options.host = at.host;
  options.port = at.port;
  options.read_your_writes = read_your_writes;
  auto connected = client::Client::connect(options);
  if (auto* error = std::get_if<std::string>(&connected)) {
    fail("cannot connect to " + at.host + ":" + std::to_string(at.port) + ": " + *error);
  }
  return std::move(std::get<std::unique_ptr<client::Client>>(connected));
}

struct Kind {
  const char* name;
  std::vector<double> us;
  std::uint64_t missed = 0;
};

double at(std::vector<double>& v, double q) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(q * static_cast<double>(v.size())))];
}

}  // namespace
}  // namespace bonus

int main(int argc, char** argv) {
  using namespace bonus;
  CLI::App app{"standby-read: read-your-writes on a standby, against the leader's reads"};
  std::string leader_text, standby_text;
  std::uint32_t writes = 2'000, rounds = 2;
  std::uint64_t first_buyer = 0;
  app.add_option("--leader", leader_text, "the leader's address, host:port")->required();
  app.add_option("--standby", standby_text, "a standby's address, host:port")->required();
  app.add_option("--writes", writes, "writes a round, each read back the four ways")
      ->check(CLI::Range(10u, 1'000'000u));
  app.add_option("--rounds", rounds, "rounds")->check(CLI::Range(1u, 100u));
  app.add_option("--first-buyer", first_buyer, "the first buyer credited (0: from the clock)");
  CLI11_PARSE(app, argc, argv);
  const auto leader_at = bench::parse_address(leader_text);
  const auto standby_at = bench::parse_address(standby_text);
  if (!leader_at || !standby_at) fail("--leader and --standby want host:port");
  if (first_buyer == 0) {
    first_buyer =
        static_cast<std::uint64_t>(Clock::now().time_since_epoch().count()) % (1ull << 40);
  }
  auto writer = connect(*leader_at, true);
  auto leader = connect(*leader_at, false);
  auto leader_floor = connect(*leader_at, false);
  auto standby = connect(*standby_at, false);
  auto standby_floor = connect(*standby_at, false);
  std::printf("standby-read: %u writes a round, %u rounds, buyers from %llu\n", writes, rounds,
              static_cast<unsigned long long>(first_buyer));
  std::printf("%-6s %-11s %9s %9s %9s %9s %7s\n", "round", "read", "p50 us", "p90 us", "p99 us",
              "max us", "missed");
  std::uint64_t buyer = first_buyer;
  for (std::uint32_t round = 1; round <= rounds; ++round) {
    Kind write{"write", {}, 0}, on_leader{"leader", {}, 0}, on_standby{"standby", {}, 0},
        standby_at_position{"standby-at", {}, 0}, leader_at_position{"leader-at", {}, 0};
    for (std::uint32_t i = 0; i < writes; ++i) {
      ++buyer;
      Credit c;
      c.id = Id128{0x5eadull, buyer};
      c.seller = 77;
      c.buyer = buyer;
      c.amount = 3;
      c.life = LotLife::forever();
      auto t = Clock::now();
      const auto w = writer->write(c);
      write.us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t).count());
      if (!w.ok() || !w.value.ok()) fail("write: " + w.message);
      const std::uint64_t position = writer->position();
      const auto read = [&](client::Client& via, Kind& kind) {
        const auto start = Clock::now();
        const auto r = via.balance(77, buyer);
        kind.us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
        if (!r.ok()) fail(std::string(kind.name) + ": " + r.message);
        if (r.value.account.available != 3) ++kind.missed;
      };
      read(*standby, on_standby);
      standby_floor->read_at_least(position);
      read(*standby_floor, standby_at_position);
      read(*leader, on_leader);
      leader_floor->read_at_least(position);
      read(*leader_floor, leader_at_position);
    }
    for (Kind* k : {&write, &on_leader, &on_standby, &standby_at_position, &leader_at_position}) {
      std::printf("%-6u %-11s %9.1f %9.1f %9.1f %9.1f %7llu\n", round, k->name, at(k->us, 0.5),
                  at(k->us, 0.9), at(k->us, 0.99), at(k->us, 1.0),
                  static_cast<unsigned long long>(k->missed));
    }
    if (standby_at_position.missed != 0) fail("a read at the write's position missed it");
  }
  return 0;
}
