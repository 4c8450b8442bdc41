// The ledger kept in Redis (bench/peers/README.md). Per account (seller, buyer):
//   l:S:B  sorted set of lots: member = the lot's seq (zero-padded, so ties order oldest
//          first), score = expires_at (µs, exact in a double);
//   a:S:B  hash: q<seq> -> lot amount, held, next (seq), em (month), earned.
// Per hold: o:ORDER hash (seller, buyer, amount, deadline, state, fragments); `holds` is a
// sorted set of open holds by deadline for the timeout sweep. Per write id: id:ID ->
// "body|code|amount|aux" with the id window as its expiry. Every conditional part runs in
// a Lua function (FUNCTION LOAD, FCALL), "now" is the server's TIME, so each command is atomic and sees
// one clock; expired lots are never counted (score > now) and are dropped lazily.
#include <hiredis/hiredis.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bench/peers/backend.h"

namespace bonus::peers {
namespace {

// Shared Lua: clock, idempotency, lots, spend cap, returns. Prepended to every script.
constexpr const char* kLib = R"LUA(
local function clock() local t = redis.call('TIME') return tonumber(t[1]) * 1000000 + tonumber(t[2]) end
local function fmt(x) return string.format('%.0f', x) end
local WINDOW_MS = 86400000
local function idem_begin(id, body)
  local v = redis.call('GET', 'id:' .. id)
  if not v then return nil end
  local sep = string.find(v, '|', 1, true)
  if string.sub(v, 1, sep - 1) ~= body then return {'id_reused', 0, 0, 0} end
  local r = {}
  for x in string.gmatch(string.sub(v, sep + 1), '[^|]+') do r[#r + 1] = x end
  return {r[1], tonumber(r[2]), tonumber(r[3]), 1}
end
local function done(id, body, code, amount, aux)
  redis.call('SET', 'id:' .. id, body .. '|' .. code .. '|' .. fmt(amount) .. '|' .. fmt(aux), 'PX', WINDOW_MS)
  return {code, amount, aux, 0}
end
-- Unexpired lots in lot order (expires_at, seq): seqs, expiries, amounts, their sum.
local function lots(ak, lk, now)
  local z = redis.call('ZRANGE', lk, '(' .. fmt(now), '+inf', 'BYSCORE', 'WITHSCORES')
  local seqs, exps, fields = {}, {}, {}
  for i = 1, #z, 2 do
    seqs[#seqs + 1] = z[i]; exps[#exps + 1] = tonumber(z[i + 1]); fields[#fields + 1] = 'q' .. z[i]
  end
  local amts, sum = {}, 0
  if #fields > 0 then
    local v = redis.call('HMGET', ak, unpack(fields))
    for i = 1, #v do amts[i] = tonumber(v[i]) or 0; sum = sum + amts[i] end
  end
  return seqs, exps, amts, sum
end
local function drop_expired(ak, lk, now)
  local z = redis.call('ZRANGE', lk, '-inf', fmt(now), 'BYSCORE')
  if #z == 0 then return end
  local fields = {}
  for i = 1, #z do fields[i] = 'q' .. z[i] end
  redis.call('HDEL', ak, unpack(fields))
  redis.call('ZREM', lk, unpack(z))
end
local function spend_cap(goods)
  if goods <= 100 then return 0 end
  local share = math.floor(goods / 10000) * 99 + math.floor((goods % 10000) * 99 / 10000)
  return math.min(share, math.floor((goods - 100) / 100))
end
-- The marketplace calendar month (UTC+3) of a time, as year * 12 + month.
local function month_of(now)
  local days = math.floor((now + 3 * 3600 * 1000000) / 86400000000)
  local z = days + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)
  local y = yoe + era * 400
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local m = mp < 10 and mp + 3 or mp - 9
  if m <= 2 then y = y + 1 end
  return y * 12 + m
end
-- Returns fragments "seq,exp,amt;..." (first `spent` bonuses kept): unexpired pieces go
-- back into their lot (recreated if gone), expired ones expire.
local function give_back(ak, lk, frags, spent, now)
  for seq, exp, amt in string.gmatch(frags, '(%d+),(%d+),(%d+)') do
    amt = tonumber(amt); exp = tonumber(exp)
    local take = math.min(amt, spent); spent = spent - take
    local back = amt - take
    if back > 0 and exp > now then
      if redis.call('HINCRBY', ak, 'q' .. seq, back) == back then redis.call('ZADD', lk, exp, seq) end
    end
  end
end
local function time_out(order, o, now)
  local ak = 'a:' .. o[1] .. ':' .. o[2]; local lk = 'l:' .. o[1] .. ':' .. o[2]
  give_back(ak, lk, o[6], 0, now)
  redis.call('HINCRBY', ak, 'held', -tonumber(o[3]))
  redis.call('HSET', 'o:' .. order, 'st', 'timed_out')
  redis.call('ZREM', 'holds', order)
end
)LUA";

// ARGV: id seller buyer amount ttl_us campaign
constexpr const char* kCredit = R"LUA(
local id, s, b = ARGV[1], ARGV[2], ARGV[3]
local amount, ttl = tonumber(ARGV[4]), tonumber(ARGV[5])
local body = 'c:' .. s .. ':' .. b .. ':' .. ARGV[4] .. ':' .. ARGV[5] .. ':' .. ARGV[6]
local r = idem_begin(id, body) if r then return r end
if amount == 0 then return done(id, body, 'zero_amount', 0, 0) end
if amount > 1000000000 then return done(id, body, 'overflow', 0, 0) end
if ttl <= 0 then return done(id, body, 'invalid_expiry', 0, 0) end
local now = clock()
local ak, lk = 'a:' .. s .. ':' .. b, 'l:' .. s .. ':' .. b
drop_expired(ak, lk, now)
if redis.call('ZCARD', lk) >= 4096 then return done(id, body, 'account_lots_full', 0, 0) end
local _, _, _, avail = lots(ak, lk, now)
local a = redis.call('HMGET', ak, 'held', 'em', 'earned')
local held = tonumber(a[1]) or 0
local month = month_of(now)
local earned = (tonumber(a[2]) == month) and (tonumber(a[3]) or 0) or 0
local credited = math.min(amount, math.max(0, 30000 - (avail + held)), math.max(0, 30000 - earned))
redis.call('HSET', ak, 'em', month, 'earned', earned + credited)
if credited > 0 then
  local seq = redis.call('HINCRBY', ak, 'next', 1) - 1
  local m = string.format('%010d', seq)
  redis.call('ZADD', lk, now + ttl, m)
  redis.call('HSET', ak, 'q' .. m, credited)
end
return done(id, body, 'ok', credited, 0)
)LUA";

// ARGV: id order seller buyer amount goods_total timeout_us
constexpr const char* kHold = R"LUA(
local id, order, s, b = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local amount, goods, timeout = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local body = 'h:' .. order .. ':' .. s .. ':' .. b .. ':' .. ARGV[5] .. ':' .. ARGV[6] .. ':' .. ARGV[7]
local r = idem_begin(id, body) if r then return r end
if amount == 0 then return done(id, body, 'zero_amount', 0, 0) end
if amount > 1000000000 then return done(id, body, 'overflow', 0, 0) end
if goods > 100000000000000 then return done(id, body, 'overflow', 0, 0) end
if timeout == 0 then timeout = 900000000 end
if timeout < 0 or timeout > 30 * 86400000000 then return done(id, body, 'invalid_timeout', 0, 0) end
if redis.call('EXISTS', 'o:' .. order) == 1 then return done(id, body, 'order_exists', 0, 0) end
if amount > spend_cap(goods) then return done(id, body, 'over_spend_cap', 0, 0) end
local now = clock()
local ak, lk = 'a:' .. s .. ':' .. b, 'l:' .. s .. ':' .. b
local seqs, exps, amts, avail = lots(ak, lk, now)
if avail < amount then return done(id, body, 'insufficient_bonuses', 0, 0) end
local left, frags = amount, {}
for i = 1, #seqs do
  if left == 0 then break end
  local take = math.min(left, amts[i]); left = left - take
  frags[#frags + 1] = seqs[i] .. ',' .. fmt(exps[i]) .. ',' .. take
  if take == amts[i] then
    redis.call('HDEL', ak, 'q' .. seqs[i]); redis.call('ZREM', lk, seqs[i])
  else
    redis.call('HSET', ak, 'q' .. seqs[i], amts[i] - take)
  end
end
redis.call('HINCRBY', ak, 'held', amount)
local deadline = now + timeout
redis.call('HSET', 'o:' .. order, 's', s, 'b', b, 'amt', amount, 'dl', fmt(deadline), 'st', 'open', 'fr', table.concat(frags, ';'))
redis.call('ZADD', 'holds', deadline, order)
return done(id, body, 'ok', amount, 0)
)LUA";

// ARGV: id order amount (0: all) kind ('cap' or 'rel')
constexpr const char* kFinish = R"LUA(
local id, order, kind = ARGV[1], ARGV[2], ARGV[4]
local amount = tonumber(ARGV[3])
local body = kind .. ':' .. order .. ':' .. ARGV[3]
local r = idem_begin(id, body) if r then return r end
local o = redis.call('HMGET', 'o:' .. order, 's', 'b', 'amt', 'dl', 'st', 'fr')
if not o[1] then return done(id, body, 'unknown_order', 0, 0) end
if o[5] == 'captured' then return done(id, body, 'order_already_captured', 0, 0) end
if o[5] == 'released' then return done(id, body, 'order_released', 0, 0) end
if o[5] == 'timed_out' then return done(id, body, 'hold_timed_out', 0, 0) end
local now = clock()
if now >= tonumber(o[4]) then time_out(order, o, now) return done(id, body, 'hold_timed_out', 0, 0) end
local held = tonumber(o[3])
local spent = 0
if kind == 'cap' then
  if amount > 1000000000 then return done(id, body, 'overflow', 0, 0) end
  if amount > held then return done(id, body, 'capture_exceeds_hold', 0, 0) end
  spent = amount == 0 and held or amount
end
local ak, lk = 'a:' .. o[1] .. ':' .. o[2], 'l:' .. o[1] .. ':' .. o[2]
give_back(ak, lk, o[6], spent, now)
redis.call('HINCRBY', ak, 'held', -held)
redis.call('HSET', 'o:' .. order, 'st', kind == 'cap' and 'captured' or 'released')
redis.call('ZREM', 'holds', order)
if kind == 'cap' then return done(id, body, 'ok', spent, held - spent) end
return done(id, body, 'ok', held, 0)
)LUA";

// ARGV: limit
constexpr const char* kSweep = R"LUA(
local now = clock()
local due = redis.call('ZRANGE', 'holds', '-inf', fmt(now), 'BYSCORE', 'LIMIT', 0, tonumber(ARGV[1]))
for i = 1, #due do
  time_out(due[i], redis.call('HMGET', 'o:' .. due[i], 's', 'b', 'amt', 'dl', 'st', 'fr'), now)
end
return #due
)LUA";

// ARGV: buyer soon_us seller1 goods1 seller2 goods2 ... -> {spendable1, soon1, ...}
constexpr const char* kCart = R"LUA(
local b, soon = ARGV[1], tonumber(ARGV[2])
local now = clock()
local out = {}
for i = 3, #ARGV, 2 do
  local ak, lk = 'a:' .. ARGV[i] .. ':' .. b, 'l:' .. ARGV[i] .. ':' .. b
  local _, exps, amts, avail = lots(ak, lk, now)
  local expiring = 0
  for j = 1, #exps do if exps[j] <= now + soon then expiring = expiring + amts[j] end end
  out[#out + 1] = math.min(avail, spend_cap(tonumber(ARGV[i + 1])))
  out[#out + 1] = expiring
end
return out
)LUA";

// ARGV: seller buyer -> {available, held}
constexpr const char* kBalance = R"LUA(
local ak, lk = 'a:' .. ARGV[1] .. ':' .. ARGV[2], 'l:' .. ARGV[1] .. ':' .. ARGV[2]
local _, _, _, avail = lots(ak, lk, clock())
return {avail, tonumber(redis.call('HGET', ak, 'held')) or 0}
)LUA";

enum Script { kScriptCredit, kScriptHold, kScriptFinish, kScriptSweep, kScriptCart, kScriptBalance, kScripts };
constexpr const char* kBodies[kScripts] = {kCredit, kHold, kFinish, kSweep, kCart, kBalance};
const std::string kNames[kScripts] = {"ledger_credit", "ledger_hold", "ledger_finish",
                                      "ledger_sweep", "ledger_cart", "ledger_balance"};

// One Redis 7 function library: loaded once, its helpers defined once (an EVAL script
// would define them on every call).
std::string library() {
  std::string text = "#!lua name=bonus_ledger\n";
  text += kLib;
  for (int i = 0; i < kScripts; ++i) {
    text += "redis.register_function{function_name='" + kNames[i] + "', callback=function(KEYS, ARGV)\n";
    text += kBodies[i];
    text += "\nend";
    if (i == kScriptCart || i == kScriptBalance) text += ", flags={'no-writes'}";
    text += "}\n";
  }
  return text;
}

using Reply = std::unique_ptr<redisReply, decltype(&freeReplyObject)>;

// One TCP connection shared by any number of threads: commands are written in the order
// they are queued (concurrent callers' commands go out together in one write, so Redis
// reads them as one pipeline) and a reader thread hands the replies back in that order.
class Mux {
 public:
  static std::shared_ptr<Mux> open(const std::string& host, int port, std::string& error) {
    addrinfo hints{};
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* ai = nullptr;
    if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &ai) != 0 || ai == nullptr) {
      error = "cannot resolve " + host;
      return nullptr;
    }
    const int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
    const bool ok = fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0;
    freeaddrinfo(ai);
    if (!ok) {
      error = std::string("cannot connect: ") + std::strerror(errno);
      if (fd >= 0) close(fd);
      return nullptr;
    }
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return std::shared_ptr<Mux>(new Mux(fd));
  }
  ~Mux() {
    shutdown(fd_, SHUT_RDWR);
    reader_.join();
    close(fd_);
    redisReaderFree(parser_);
  }

  // Sends `commands` (RESP) back to back and waits for their replies (null: connection lost).
  std::vector<Reply> call(const std::vector<std::string>& commands) {
    auto slots = std::make_shared<Slots>();
    slots->replies.reserve(commands.size());
    slots->expected = commands.size();
    bool flush = false;
    {
      std::lock_guard lock(m_);
      if (broken_) return std::vector<Reply>();
      for (const std::string& c : commands) {
        out_ += c;
        queue_.push_back(slots);
      }
      if (!flushing_) flushing_ = flush = true;
    }
    while (flush) {
      std::string buffer;
      {
        std::lock_guard lock(m_);
        if (out_.empty()) {
          flushing_ = false;
          break;
        }
        buffer.swap(out_);
      }
      for (std::size_t sent = 0; sent < buffer.size();) {
        const ssize_t n = send(fd_, buffer.data() + sent, buffer.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) {
          shutdown(fd_, SHUT_RDWR);
          break;
        }
        sent += static_cast<std::size_t>(n);
      }
    }
    std::unique_lock lock(slots->m);
    slots->cv.wait(lock, [&] { return slots->done; });
    return std::move(slots->replies);
  }

 private:
  struct Slots {
    std::mutex m;
    std::condition_variable cv;
    std::vector<Reply> replies;
    std::size_t expected = 0;
    bool done = false;
    void add(redisReply* r) {
      std::lock_guard lock(m);
      replies.emplace_back(r, freeReplyObject);
      if (r == nullptr || replies.size() == expected) {
        done = true;
        cv.notify_all();
      }
    }
  };

  explicit Mux(int fd) : fd_(fd), parser_(redisReaderCreate()) { reader_ = std::thread([this] { read_loop(); }); }

  void read_loop() {
    std::vector<char> buffer(1 << 16);
    for (;;) {
      const ssize_t n = recv(fd_, buffer.data(), buffer.size(), 0);
      if (n <= 0 || redisReaderFeed(parser_, buffer.data(), static_cast<std::size_t>(n)) != REDIS_OK) break;
      void* r = nullptr;
      while (redisReaderGetReply(parser_, &r) == REDIS_OK && r != nullptr) {
        std::shared_ptr<Slots> slots;
        {
          std::lock_guard lock(m_);
          slots = std::move(queue_.front());
          queue_.pop_front();
        }
        slots->add(static_cast<redisReply*>(r));
        r = nullptr;
      }
    }
    std::lock_guard lock(m_);  // the connection is gone: every waiter gets a null reply
    broken_ = true;
    for (auto& slots : queue_) {
      if (!slots->done) slots->add(nullptr);
    }
    queue_.clear();
  }

  int fd_;
  redisReader* parser_;
  std::mutex m_;
  std::string out_;
  bool flushing_ = false;
  bool broken_ = false;
  std::deque<std::shared_ptr<Slots>> queue_;
  std::thread reader_;
};

Res res_of(redisReply* r) {
  if (r == nullptr) return Res{"error: no reply", 0, 0, false};
  if (r->type == REDIS_REPLY_ERROR) return Res{"error: " + std::string(r->str, r->len), 0, 0, false};
  if (r->type != REDIS_REPLY_ARRAY || r->elements != 4) return Res{"error: bad reply", 0, 0, false};
  return Res{std::string(r->element[0]->str, r->element[0]->len), r->element[1]->integer,
             r->element[2]->integer, r->element[3]->integer != 0};
}

class RedisBackend final : public Backend {
 public:
  explicit RedisBackend(std::shared_ptr<Mux> mux) : mux_(std::move(mux)) {}
  bool thread_safe() const override { return true; }

  std::vector<Res> credit_batch(const std::vector<CreditArgs>& batch) override {
    std::vector<std::string> commands;
    commands.reserve(batch.size());
    for (const CreditArgs& x : batch) {
      commands.push_back(format(kScriptCredit, {x.id, std::to_string(x.seller), std::to_string(x.buyer),
                                                std::to_string(x.amount), std::to_string(x.ttl_us),
                                                std::to_string(x.campaign)}));
    }
    std::vector<Res> out;
    out.reserve(batch.size());
    for (const Reply& r : mux_->call(commands)) out.push_back(res_of(r.get()));
    out.resize(batch.size(), Res{"error: disconnected", 0, 0, false});
    return out;
  }
  Res hold(const std::string& id, std::uint64_t order, std::uint64_t seller, std::uint64_t buyer,
           std::int64_t amount, std::int64_t goods_total, std::int64_t timeout_us) override {
    Reply r = call(kScriptHold, {id, std::to_string(order), std::to_string(seller), std::to_string(buyer),
                                 std::to_string(amount), std::to_string(goods_total), std::to_string(timeout_us)});
    return res_of(r.get());
  }
  Res capture(const std::string& id, std::uint64_t order, std::int64_t amount) override {
    return res_of(call(kScriptFinish, {id, std::to_string(order), std::to_string(amount), "cap"}).get());
  }
  Res release(const std::string& id, std::uint64_t order) override {
    return res_of(call(kScriptFinish, {id, std::to_string(order), "0", "rel"}).get());
  }
  std::vector<CartRow> cart(std::uint64_t buyer, const std::vector<CartLineArgs>& lines,
                            std::int64_t soon_us) override {
    std::vector<std::string> args{std::to_string(buyer), std::to_string(soon_us)};
    for (const CartLineArgs& l : lines) {
      args.push_back(std::to_string(l.seller));
      args.push_back(std::to_string(l.goods_total));
    }
    Reply r = call(kScriptCart, args);
    std::vector<CartRow> out;
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 * lines.size()) return out;
    for (std::size_t i = 0; i < lines.size(); ++i) {
      out.push_back(CartRow{r->element[2 * i]->integer, r->element[2 * i + 1]->integer});
    }
    return out;
  }
  Balance balance(std::uint64_t seller, std::uint64_t buyer) override {
    Reply r = call(kScriptBalance, {std::to_string(seller), std::to_string(buyer)});
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) return Balance{-1, -1};
    return Balance{r->element[0]->integer, r->element[1]->integer};
  }
  std::int64_t sweep(std::int64_t limit) override {
    Reply r = call(kScriptSweep, {std::to_string(limit)});
    return r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
  }

 private:
  static std::string format(Script s, const std::vector<std::string>& args) {
    std::vector<const char*> argv{"FCALL", kNames[s].c_str(), "0"};
    std::vector<std::size_t> lens{5, kNames[s].size(), 1};
    for (const std::string& a : args) {
      argv.push_back(a.c_str());
      lens.push_back(a.size());
    }
    char* text = nullptr;
    const long long n = redisFormatCommandArgv(&text, static_cast<int>(argv.size()), argv.data(), lens.data());
    std::string out(text, static_cast<std::size_t>(std::max(0LL, n)));
    redisFreeCommand(text);
    return out;
  }
  Reply call(Script s, const std::vector<std::string>& args) {
    auto replies = mux_->call({format(s, args)});
    if (replies.empty()) return Reply(nullptr, freeReplyObject);
    return std::move(replies[0]);
  }

  std::shared_ptr<Mux> mux_;
};

redisContext* open(const std::string& target, std::string& error) {
  const auto colon = target.rfind(':');
  const std::string host = colon == std::string::npos ? target : target.substr(0, colon);
  const int port = colon == std::string::npos ? 6379 : std::stoi(target.substr(colon + 1));
  redisContext* c = redisConnect(host.c_str(), port);
  if (c == nullptr || c->err) {
    error = c ? c->errstr : "cannot allocate";
    if (c) redisFree(c);
    return nullptr;
  }
  return c;
}

}  // namespace

bool setup_redis(const std::string& target, std::string& error) {
  redisContext* c = open(target, error);
  if (c == nullptr) return false;
  const std::string text = library();
  auto* r = static_cast<redisReply*>(redisCommand(c, "FUNCTION LOAD REPLACE %b", text.data(), text.size()));
  const bool ok = r != nullptr && r->type == REDIS_REPLY_STRING;
  if (!ok) error = r && r->type == REDIS_REPLY_ERROR ? std::string(r->str, r->len) : "no reply to FUNCTION LOAD";
  if (r) freeReplyObject(r);
  redisFree(c);
  return ok;
}

std::unique_ptr<Backend> connect_redis(const std::string& target, std::string& error) {
  const auto colon = target.rfind(':');
  auto mux = Mux::open(target.substr(0, colon), colon == std::string::npos ? 6379 : std::stoi(target.substr(colon + 1)),
                       error);
  if (!mux) return nullptr;
  return std::make_unique<RedisBackend>(std::move(mux));
}

}  // namespace bonus::peers
