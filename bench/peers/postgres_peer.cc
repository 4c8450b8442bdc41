// The ledger kept in PostgreSQL: tables and plpgsql functions in postgres_schema.sql
// (bench/peers/run loads it). Each connection prepares one statement per function; single
// commands are one function call (one transaction each); a batch of credits is one
// transaction sent in libpq pipeline mode (BEGIN, N calls, COMMIT, one sync).
#include <libpq-fe.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "bench/peers/backend.h"

namespace bonus::peers {
namespace {

struct Statement {
  const char* name;
  const char* sql;
  int params;
};
constexpr Statement kStatements[] = {
    {"credit", "SELECT * FROM credit($1, $2, $3, $4, $5, $6)", 6},
    {"hold", "SELECT * FROM hold($1, $2, $3, $4, $5, $6, $7)", 7},
    {"finish", "SELECT * FROM finish($1, $2, $3, $4)", 4},
    {"sweep", "SELECT sweep($1)", 1},
    {"cart", "SELECT * FROM cart($1, $2::bigint[], $3::bigint[], $4)", 4},
    {"balance", "SELECT * FROM balance($1, $2)", 2},
};

Res res_of(PGresult* r) {
  Res out;
  if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1 || PQnfields(r) != 4) {
    out.code = std::string("error: ") + PQresultErrorMessage(r);
  } else {
    out.code = PQgetvalue(r, 0, 0);
    out.amount = std::atoll(PQgetvalue(r, 0, 1));
    out.aux = std::atoll(PQgetvalue(r, 0, 2));
    out.repeat = PQgetvalue(r, 0, 3)[0] == 't';
  }
  PQclear(r);
  return out;
}

class PostgresBackend final : public Backend {
 public:
  explicit PostgresBackend(PGconn* c) : c_(c) {}
  ~PostgresBackend() override { PQfinish(c_); }

  std::vector<Res> credit_batch(const std::vector<CreditArgs>& batch) override {
    std::vector<Res> out;
    if (batch.size() == 1) {
      const CreditArgs& x = batch[0];
      out.push_back(res_of(exec("credit", {x.id, std::to_string(x.seller), std::to_string(x.buyer),
                                           std::to_string(x.amount), std::to_string(x.ttl_us),
                                           std::to_string(x.campaign)})));
      return out;
    }
    PQenterPipelineMode(c_);
    PQsendQueryParams(c_, "BEGIN", 0, nullptr, nullptr, nullptr, nullptr, 0);
    for (const CreditArgs& x : batch) {
      send("credit", {x.id, std::to_string(x.seller), std::to_string(x.buyer), std::to_string(x.amount),
                      std::to_string(x.ttl_us), std::to_string(x.campaign)});
    }
    PQsendQueryParams(c_, "COMMIT", 0, nullptr, nullptr, nullptr, nullptr, 0);
    PQpipelineSync(c_);
    // BEGIN, each credit, COMMIT: each a result then a null; then the sync.
    std::string failure;
    for (std::size_t i = 0; i < batch.size() + 2; ++i) {
      PGresult* r = PQgetResult(c_);
      if (r == nullptr) break;
      if (i >= 1 && i <= batch.size()) {
        out.push_back(res_of(r));
      } else {
        if (PQresultStatus(r) != PGRES_COMMAND_OK) failure = PQresultErrorMessage(r);
        PQclear(r);
      }
      while ((r = PQgetResult(c_)) != nullptr) PQclear(r);
    }
    for (PGresult* r; (r = PQgetResult(c_)) != nullptr;) PQclear(r);  // the sync
    PQexitPipelineMode(c_);
    if (!failure.empty() || out.size() != batch.size()) {
      out.assign(batch.size(), Res{"error: batch failed: " + failure, 0, 0, false});
    }
    return out;
  }
  Res hold(const std::string& id, std::uint64_t order, std::uint64_t seller, std::uint64_t buyer,
           std::int64_t amount, std::int64_t goods_total, std::int64_t timeout_us) override {
    return res_of(exec("hold", {id, std::to_string(order), std::to_string(seller), std::to_string(buyer),
                                std::to_string(amount), std::to_string(goods_total), std::to_string(timeout_us)}));
  }
  Res capture(const std::string& id, std::uint64_t order, std::int64_t amount) override {
    return res_of(exec("finish", {id, std::to_string(order), std::to_string(amount), "cap"}));
  }
  Res release(const std::string& id, std::uint64_t order) override {
    return res_of(exec("finish", {id, std::to_string(order), "0", "rel"}));
  }
  std::vector<CartRow> cart(std::uint64_t buyer, const std::vector<CartLineArgs>& lines,
                            std::int64_t soon_us) override {
    std::string sellers = "{", goods = "{";
    for (std::size_t i = 0; i < lines.size(); ++i) {
      if (i != 0) {
        sellers += ',';
        goods += ',';
      }
      sellers += std::to_string(lines[i].seller);
      goods += std::to_string(lines[i].goods_total);
    }
    sellers += "}";
    goods += "}";
    PGresult* r = exec("cart", {std::to_string(buyer), sellers, goods, std::to_string(soon_us)});
    std::vector<CartRow> out;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && static_cast<std::size_t>(PQntuples(r)) == lines.size()) {
      for (int i = 0; i < PQntuples(r); ++i) {
        out.push_back(CartRow{std::atoll(PQgetvalue(r, i, 0)), std::atoll(PQgetvalue(r, i, 1))});
      }
    }
    PQclear(r);
    return out;
  }
  Balance balance(std::uint64_t seller, std::uint64_t buyer) override {
    PGresult* r = exec("balance", {std::to_string(seller), std::to_string(buyer)});
    Balance b{-1, -1};
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
      b = Balance{std::atoll(PQgetvalue(r, 0, 0)), std::atoll(PQgetvalue(r, 0, 1))};
    }
    PQclear(r);
    return b;
  }
  std::int64_t sweep(std::int64_t limit) override {
    PGresult* r = exec("sweep", {std::to_string(limit)});
    const std::int64_t n = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 ? std::atoll(PQgetvalue(r, 0, 0)) : -1;
    PQclear(r);
    return n;
  }

  bool prepare(std::string& error) {
    for (const Statement& s : kStatements) {
      PGresult* r = PQprepare(c_, s.name, s.sql, s.params, nullptr);
      const bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
      if (!ok) error = PQresultErrorMessage(r);
      PQclear(r);
      if (!ok) return false;
    }
    return true;
  }

 private:
  static std::vector<const char*> values(const std::vector<std::string>& args) {
    std::vector<const char*> v;
    for (const std::string& a : args) v.push_back(a.c_str());
    return v;
  }
  PGresult* exec(const char* name, const std::vector<std::string>& args) {
    const auto v = values(args);
    return PQexecPrepared(c_, name, static_cast<int>(v.size()), v.data(), nullptr, nullptr, 0);
  }
  void send(const char* name, const std::vector<std::string>& args) {
    const auto v = values(args);
    PQsendQueryPrepared(c_, name, static_cast<int>(v.size()), v.data(), nullptr, nullptr, 0);
  }

  PGconn* c_;
};

}  // namespace

bool setup_postgres(const std::string& target, std::string& error) {
  PGconn* c = PQconnectdb(target.c_str());
  if (PQstatus(c) != CONNECTION_OK) {
    error = PQerrorMessage(c);
    PQfinish(c);
    return false;
  }
  PGresult* r = PQexec(c, "SELECT 'hold(text,bigint,bigint,bigint,bigint,bigint,bigint)'::regprocedure");
  const bool ok = PQresultStatus(r) == PGRES_TUPLES_OK;
  if (!ok) error = "schema not loaded (psql -f bench/peers/postgres_schema.sql): " + std::string(PQresultErrorMessage(r));
  PQclear(r);
  PQfinish(c);
  return ok;
}

std::unique_ptr<Backend> connect_postgres(const std::string& target, std::string& error) {
  PGconn* c = PQconnectdb(target.c_str());
  if (PQstatus(c) != CONNECTION_OK) {
    error = PQerrorMessage(c);
    PQfinish(c);
    return nullptr;
  }
  auto b = std::make_unique<PostgresBackend>(c);
  if (!b->prepare(error)) return nullptr;
  return b;
}

}  // namespace bonus::peers
