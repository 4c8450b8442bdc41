// A peer ledger (Redis or PostgreSQL) behind one interface, so that the scenario check and
// the workload driver (peer_bench.cc) are the same for both. A Backend owns one
// connection; unless thread_safe(), one thread at a time uses it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace bonus::peers {

// A write's result, as bonusd reports it: the code name (engine/code.h), amount and aux.
struct Res {
  std::string code;  // "ok", "insufficient_bonuses", ...; a transport failure: "error: ..."
  std::int64_t amount = 0;
  std::int64_t aux = 0;
  bool repeat = false;  // the stored result of a repeated id
  bool ok() const { return code == "ok"; }
};

struct CreditArgs {
  std::string id;
  std::uint64_t seller = 0, buyer = 0;
  std::int64_t amount = 0;
  std::int64_t ttl_us = 0;  // the lot lives ttl_us from now
  std::uint64_t campaign = 0;
};

struct CartLineArgs {
  std::uint64_t seller = 0;
  std::int64_t goods_total = 0;  // kopecks
};
struct CartRow {
  std::int64_t spendable = 0;
  std::int64_t expiring_soon = 0;
};
struct Balance {
  std::int64_t available = 0;
  std::int64_t held = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  // True when threads may share it (Redis: a pipelined connection).
  virtual bool thread_safe() const { return false; }
  // Pipelined (Redis) or one transaction (PostgreSQL): every credit of `batch`.
  virtual std::vector<Res> credit_batch(const std::vector<CreditArgs>& batch) = 0;
  virtual Res hold(const std::string& id, std::uint64_t order, std::uint64_t seller, std::uint64_t buyer,
                   std::int64_t amount, std::int64_t goods_total, std::int64_t timeout_us) = 0;
  // amount 0: the whole hold (the peers' own convention; bonusd's is kAmountAll).
  virtual Res capture(const std::string& id, std::uint64_t order, std::int64_t amount) = 0;
  virtual Res release(const std::string& id, std::uint64_t order) = 0;
  // Empty on a transport failure.
  virtual std::vector<CartRow> cart(std::uint64_t buyer, const std::vector<CartLineArgs>& lines,
                                    std::int64_t soon_us) = 0;
  virtual Balance balance(std::uint64_t seller, std::uint64_t buyer) = 0;
  // Times out open holds past their deadline (at most `limit`); returns how many.
  virtual std::int64_t sweep(std::int64_t limit) = 0;
  Res credit(const CreditArgs& c) { return credit_batch({c}).at(0); }
};

// `target`: "host:port" for Redis, a libpq conninfo string for PostgreSQL. Null with
// `error` set when it cannot connect (or the system was not built in).
std::unique_ptr<Backend> connect_redis(const std::string& target, std::string& error);
std::unique_ptr<Backend> connect_postgres(const std::string& target, std::string& error);
// bonusd itself ("host:port"), for the scenario check.
std::unique_ptr<Backend> connect_bonusd(const std::string& target, std::string& error);
// Loads the schema / scripts once per run (idempotent).
bool setup_redis(const std::string& target, std::string& error);
bool setup_postgres(const std::string& target, std::string& error);
bool setup_bonusd(const std::string& target, std::string& error);

}  // namespace bonus::peers
