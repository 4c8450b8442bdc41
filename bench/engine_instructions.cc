// engine-instructions: a fixed workload for callgrind, which counts instructions and
// simulated cache misses exactly, where the machine's clock is too noisy to compare
// small changes. A 200,000-account world (50 sellers), the id and order tables at their
// steady size, then 64,000 each of credits, spends, accruals, confirmations and balance
// reads, in batches of 64 (apply_batch, balances()), each kind in a function of its own
// (run_credits, ...) for callgrind's --toggle-collect. Run by bench/engine-callgrind.
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/ledger.h"

namespace bonus {
namespace {

constexpr std::uint64_t kAccounts = 200'000;
constexpr int kBatch = 64;

struct Workload {
  Ledger ledger;
  TimeUs now = 1'798'761'600'000'000;  // 2027-01-01
  std::uint64_t ids = 0;
  std::uint64_t orders = 0;
  std::uint64_t rng = 42;
  std::vector<OrderId> pending;
  std::vector<Command> commands;
  std::vector<TimeUs> times;

  explicit Workload(const EngineConfig& config) : ledger(config) {}

  static SellerId seller_of(std::uint64_t k) { return 1 + k % 50; }
  static BuyerId buyer_of(std::uint64_t k) { return 1 + (k / 50) * 7919; }
  std::uint64_t pick() {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (rng >> 20) % kAccounts;
  }
  Id128 id() { return Id128{7, ++ids}; }

  // The batch through apply_batch, or one at a time where the ledger has no batches
  // (the engine before issue 13, measured with this file for a before/after).
  template <typename L, typename Done>
  void apply_all(L& l, Done&& done) {
    if constexpr (requires { l.apply_batch(0, 0, 0); }) {
      l.apply_batch(
          commands.size(),
          [&](std::size_t i) { return std::pair<const Command&, TimeUs>(commands[i], times[i]); },
          done);
    } else {
      for (std::size_t i = 0; i < commands.size(); ++i) done(i, l.apply(commands[i], times[i]));
    }
  }

  // `count` writes made by `make`, in batches; every one must succeed.
  template <typename Make>
  void run(int count, Make&& make) {
    for (int done = 0; done < count; done += kBatch) {
      for (int j = 0; j < kBatch; ++j) {
        commands.push_back(make());
        times.push_back(++now);
      }
      apply_all(ledger, [&](std::size_t i, const Result& r) {
        if (r.code != Code::ok) {
          const std::string_view name = code_name(r.code);
          std::fprintf(stderr, "engine-instructions: write %zu failed: %.*s\n", i,
                       static_cast<int>(name.size()), name.data());
          std::exit(1);
        }
      });
      commands.clear();
      times.clear();
    }
  }
  Command credit() {
    const std::uint64_t k = pick();
    return Credit{id(), seller_of(k), buyer_of(k), 5, 0, LotLife::ttl_of(7 * kUsPerDay)};
  }
  Command spend() {
    const std::uint64_t k = pick();
    return Spend{id(), ++orders, seller_of(k), buyer_of(k), 3, 100'000};
  }
  Command accrue() {
    const std::uint64_t k = pick();
    pending.push_back(++orders);
    return Accrue{id(), orders, seller_of(k), buyer_of(k), 4, LotLife::policy()};
  }
  Command confirm() {
    const OrderId order = pending.back();
    pending.pop_back();
    return ConfirmAccrual{id(), order};
  }
};

// Each ends with a barrier so that its call is not a tail call, which callgrind's toggle
// would not see return.
__attribute__((noinline)) void run_credits(Workload& w, int n) {
  w.run(n, [&] { return w.credit(); });
  asm volatile("" ::: "memory");
}
__attribute__((noinline)) void run_spends(Workload& w, int n) {
  w.run(n, [&] { return w.spend(); });
  asm volatile("" ::: "memory");
}
__attribute__((noinline)) void run_accrues(Workload& w, int n) {
  w.run(n, [&] { return w.accrue(); });
  asm volatile("" ::: "memory");
}
__attribute__((noinline)) void run_confirms(Workload& w, int n) {
  w.run(n, [&] { return w.confirm(); });
  asm volatile("" ::: "memory");
}
template <typename L>
void read_balances(const L& ledger, const std::vector<std::pair<SellerId, BuyerId>>& keys,
                   TimeUs now) {
  auto check = [](const AccountView& v) {
    if (!v.exists) std::exit(1);
  };
  if constexpr (requires { ledger.balances(0, 0, 0, 0); }) {
    ledger.balances(
        keys.size(), now, [&](std::size_t i) { return keys[i]; },
        [&](std::size_t, const AccountView& v) { check(v); });
  } else {
    for (const auto& [seller, buyer] : keys) check(ledger.balance(seller, buyer, now));
  }
}

__attribute__((noinline)) void run_balances(Workload& w, int n) {
  std::vector<std::pair<SellerId, BuyerId>> keys(kBatch);
  for (int done = 0; done < n; done += kBatch) {
    for (auto& key : keys) {
      const std::uint64_t k = w.pick();
      key = {Workload::seller_of(k), Workload::buyer_of(k)};
    }
    read_balances(w.ledger, keys, w.now);
  }
}

}  // namespace
}  // namespace bonus

int main() {
  using namespace bonus;
  EngineConfig config;
  config.id_window_us = static_cast<TimeUs>(kAccounts);  // one write per µs: ids = accounts
  config.order_retention_us = static_cast<TimeUs>(kAccounts / 4);
  Workload w(config);
  for (std::uint64_t k = 0; k < kAccounts; ++k) {
    w.ledger.apply(Credit{w.id(), Workload::seller_of(k), Workload::buyer_of(k), 1'000, 1 + k % 8,
                          LotLife::ttl_of(300 * kUsPerDay)},
                   ++w.now);
  }
  // Warm-up, not collected: the order and id tables reach their steady size.
  w.run(100'000, [&] { return w.spend(); });
  w.run(64'000, [&] { return w.accrue(); });
  w.run(64'000, [&] { return w.confirm(); });
  const int n = 64'000;
  run_credits(w, n);
  run_spends(w, n);
  run_accrues(w, n);
  run_confirms(w, n);
  run_balances(w, n);
  std::printf("engine-instructions: %d of each kind on %llu accounts\n", n,
              static_cast<unsigned long long>(w.ledger.account_count()));
}
