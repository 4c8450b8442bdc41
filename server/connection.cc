#include "server/connection.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <functional>

#include "engine/hash.h"
#include "engine/saturating_add.h"
#include "server/log_limiter.h"
#include "server/metrics.h"
#include "server/reply_batch.h"
#include "server/reply_frame.h"
#include "server/request_price.h"
#include "server/server.h"

namespace bonus::server {
namespace {

// What a write refused for a failed group is told. The journal's failure applied
// nothing; a replicated log's publish may have been stored without its acknowledgement,
// so the same ids decide it.
std::string storage_failed_text(const WriteJob& j, const std::string& what) {
  if (j.storage_error.empty() || j.storage_error.rfind("jetstream", 0) != 0) {
    return "the journal could not be written; " + what + " was not applied";
  }
  return "the log could not be written (" + j.storage_error + "); " + what +
         " may or may not be in it: send it again with the same ids (a repeat changes nothing)";
}

using protocol::Body;
using protocol::FrameError;
using protocol::FrameHeader;
using protocol::Opcode;

// A read this small (a cart's lines, a balance's accounts without lots) takes a few
// microseconds: the connection's thread may serve it itself when the buyer's partition is
// not applying writes (Shard::read_here_or_queue; on a partition's own port, always for
// its own buyers) instead of handing it over and back.
constexpr std::size_t kShortReadKeysMax = 16;

// History's state for admin status: it never makes the status not ok (history falling
// behind or stopping does not stop writes), it only says so.
std::string history_note(Server& server) {
  const Checkpointer* c = server.checkpointer();
  if (server.history() == nullptr || c == nullptr) return "off: " + server.why_no_history();
  const HistoryStatus h = c->history_status();
  return h.problem.empty() ? "on" : "stopped: " + h.problem;
}

// Runs `part` on every shard and, once all have answered, `done` with their answers (on
// the thread of the last shard to answer).
template <typename T>
void fan_out(Server& server, std::function<T(const Ledger&, TimeUs)> part,
             std::function<void(std::vector<T>&)> done) {
  struct State {
    std::vector<T> parts;
    std::atomic<std::size_t> remaining;
    std::function<T(const Ledger&, TimeUs)> part;
    std::function<void(std::vector<T>&)> done;
  };
  auto& shards = server.shards();
  auto state = std::make_shared<State>();
  state->parts.resize(shards.size());
  state->remaining = shards.size();
  state->part = std::move(part);
  state->done = std::move(done);
  for (std::size_t s = 0; s < shards.size(); ++s) {
    shards[s]->read([state, s](const Ledger& ledger, TimeUs now) {
      state->parts[s] = state->part(ledger, now);
      if (state->remaining.fetch_sub(1) == 1) state->done(state->parts);
    });
  }
}

// The items of a page (engine) or of a reply page (wire): expiring entries, segment buyers.
std::vector<ExpiringEntry>& items(ExpiringPage& p) { return p.entries; }
std::vector<ExpiringEntry>& items(protocol::ExpiringAnswer& a) { return a.entries; }
std::vector<BuyerId>& items(SegmentPage& p) { return p.buyers; }
std::vector<BuyerId>& items(protocol::SegmentAnswer& a) { return a.buyers; }

// A paged read across the shards (expiring, segment): shards in order 0..n-1, each
// shard's engine page filling what is left of the limit, so a reply may end one shard
// and start the next; `answer.next` is (shard, engine cursor).
template <typename Page, typename Answer, typename Cursor>
struct ShardPages {
  Answer answer;
  std::uint32_t limit = 0;
  Opcode opcode = Opcode::error;
  std::shared_ptr<Connection> self;
  std::uint64_t request_id = 0;
  Server* server = nullptr;
  std::function<Page(const Ledger&, Cursor, std::uint32_t, TimeUs)> page;
  void (*encode)(const Answer&, flatbuffers::FlatBufferBuilder&) = nullptr;
};

template <typename Page, typename Answer, typename Cursor>
void read_pages(std::shared_ptr<ShardPages<Page, Answer, Cursor>> walk, std::uint32_t s,
                Cursor cursor) {
  walk->server->shards()[s]->read([walk, s, cursor](const Ledger& ledger, TimeUs now) {
    const auto shard_count = static_cast<std::uint32_t>(walk->server->shards().size());
    Answer& answer = walk->answer;
    auto& got = items(answer);
    const auto left = static_cast<std::uint32_t>(walk->limit - got.size());
    Page page = walk->page(ledger, cursor, left, now);
    got.insert(got.end(), items(page).begin(), items(page).end());
    answer.done = false;
    if (!page.done) {
      answer.next = {s, page.next};
    } else if (s + 1 < shard_count && got.size() < walk->limit) {
      read_pages(walk, s + 1, Cursor{});
      return;
    } else if (s + 1 < shard_count) {
      answer.next = {s + 1, Cursor{}};
    } else {
      answer.done = true;
    }
    flatbuffers::FlatBufferBuilder fbb(256 + got.size() * 24);
    walk->encode(answer, fbb);
    walk->self->post_reply(reply_frame(walk->opcode, walk->request_id, fbb));
  });
}

void add(SellerStats& into, const SellerStats& s) {
  into.issued += s.issued;
  into.accrued += s.accrued;
  into.spent += s.spent;
  into.expired += s.expired;
  into.refunded += s.refunded;
  into.reversed += s.reversed;
  into.held += s.held;
  into.pending += s.pending;
  into.debt += s.debt;
  into.outstanding += s.outstanding;
}

void add(CampaignStats& into, const CampaignStats& s) {
  into.issued += s.issued;
  into.spent += s.spent;
  into.expired += s.expired;
  into.refunded += s.refunded;
  into.reversed += s.reversed;
  into.outstanding += s.outstanding;
  into.recipients += s.recipients;
  into.spenders += s.spenders;
  into.revoked = into.revoked || s.revoked;
  into.revoked_amount += s.revoked_amount;
  // An order lives on one shard: the shards' sales are apart and add up (saturating,
  // as each shard's does).
  into.sales_orders += s.sales_orders;
  into.sales_kopecks = saturating_add(into.sales_kopecks, s.sales_kopecks);
}

// The request id of a frame built by make_frame (header bytes 16..23).
std::uint64_t request_id_of(const std::string& frame) {
  std::uint64_t id = 0;
  std::memcpy(&id, frame.data() + 16, sizeof(id));
  return id;
}

}  // namespace

Connection::Connection(asio::ip::tcp::socket socket, Server& server, std::uint32_t partition)
    : server_(server),
      io_(static_cast<asio::io_context&>(socket.get_executor().context())),
      partition_(partition),
      transport_(Transport::make(std::move(socket), server.tls_context(), Transport::Side::server)),
      handshake_timer_(io_),
      deadline_timer_(io_) {
  ++server_.connections();
  transport_.set_no_delay();
  init_auth();
  metrics().connection_opened(role_);
}

Connection::~Connection() {
  --server_.connections();
  metrics().connection_closed(role_);
}

// Completes the TLS handshake (if any, under its own deadline), then reads.
void Connection::start() {
  after_handshake([](Connection& c) {
    c.frame_done();
    c.arm_deadline();
    c.serve_input();
  });
}

void Connection::close() {
  if (closed_) return;
  closed_ = true;
  deadline_timer_.cancel();
  transport_.close();
}

void Connection::refuse(FrameError error, std::string message) {
  after_handshake([error, message = std::move(message)](Connection& c) {
    c.close_after_write_ = true;
    c.reply_error(0, error, message, false);
  });
}

void Connection::after_handshake(std::function<void(Connection&)> then) {
  if (transport_.is_tls()) {
    handshake_timer_.expires_after(
        std::chrono::milliseconds(server_.config().tls_handshake_timeout_ms));
    handshake_timer_.async_wait([weak = weak_from_this()](const asio::error_code& ec) {
      if (auto self = weak.lock(); self && !ec) self->close();
    });
  }
  transport_.handshake(
      [self = shared_from_this(), then = std::move(then)](const asio::error_code& ec) {
        self->handshake_timer_.cancel();
        if (ec) {
          spdlog::debug("TLS handshake with {} failed: {}",
                        self->transport_.remote_endpoint().address().to_string(),
                        self->transport_.handshake_failure(ec));
          self->close();
          return;
        }
        if (!self->closed_) then(*self);
      });
}

// Input is read in chunks of up to kInputBytes into input_, and every frame that chunk
// holds is served before the next read: a client that sends many requests back to back
// costs one read for all of them, and their replies (corked while the chunk is served)
// one write. A body that does not fit in the chunk is read straight into body_. A frame's
// first byte starts its deadline (frame_started).
void Connection::serve_input() {
  corked_ = true;
  for (;;) {
    if (closed_ || stop_reading_ || close_after_write_) break;
    if (!in_frame_ && over_unsent_bound()) {
      paused_ = true;  // resumed by resume_reading() once replies drain
      break;
    }
    const std::size_t available = input_end_ - input_begin_;
    if (available == 0) {
      read_input();
      break;
    }
    if (!in_frame_) {
      frame_started();
      header_have_ = 0;
    }
    if (header_have_ < protocol::kHeaderBytes) {
      const std::size_t n = std::min(available, protocol::kHeaderBytes - header_have_);
      std::memcpy(header_bytes_ + header_have_, input_.get() + input_begin_, n);
      input_begin_ += n;
      header_have_ += n;
      if (header_have_ == protocol::kHeaderBytes) on_header();
      continue;
    }
    const asio::mutable_buffer space = body_.space();
    const std::size_t n = std::min(available, space.size());
    std::memcpy(space.data(), input_.get() + input_begin_, n);
    input_begin_ += n;
    body_.advance(n);
    if (body_.complete()) {
      on_frame();
    } else if (input_begin_ == input_end_) {
      read_body_some();
      break;
    }
  }
  corked_ = false;
  if (writing_ == 0 && !out_.empty()) write_next();
}

void Connection::read_input() {
  if (!input_) input_ = std::make_unique<std::uint8_t[]>(kInputBytes);
  input_begin_ = input_end_ = 0;
  transport_.async_read_some(
      asio::buffer(input_.get(), kInputBytes),
      [self = shared_from_this()](const asio::error_code& ec, std::size_t n) {
        metrics().count_bytes_in(n);
        if (ec) {
          self->close();
          return;
        }
        if (self->stop_reading_) return;
        self->input_end_ = n;
        self->serve_input();
      });
}

// The header is whole: check it and begin its body (or serve a frame without one).
void Connection::on_header() {
  header_ = FrameHeader{};  // no stale request id in an error reply
  const FrameError e =
      protocol::decode_header(header_bytes_, server_.config().body_size_max, header_);
  if (e != FrameError::none) {
    // Framing is lost: say why, then close.
    close_after_write_ = true;
    stop_reading_ = true;
    reply_error(header_.request_id, e, "bad frame header; closing the connection", false);
    return;
  }
  if (header_.body_size == 0) return on_frame();
  body_.begin(header_.body_size);
}

// The rest of a body larger than what the last chunk held.
void Connection::read_body_some() {
  transport_.async_read_some(body_.space(), [self = shared_from_this()](const asio::error_code& ec,
                                                                     std::size_t n) {
    metrics().count_bytes_in(n);
    if (ec) {
      self->close();
      return;
    }
    if (self->stop_reading_) return;
    self->body_.advance(n);
    if (!self->body_.complete()) return self->read_body_some();
    self->on_frame();
    self->serve_input();
  });
}

void Connection::on_frame() {
  const FrameHeader h = header_;
  const Body body = h.body_size == 0 ? Body{} : body_.body();
  metrics().count_request(h.opcode);
  if (protocol::body_checksum(body.data(), body.size()) != h.body_crc32c) {
    reply_error(h.request_id, FrameError::bad_body_crc, "body checksum mismatch", false);
  } else if (!protocol::is_known(static_cast<std::uint16_t>(h.opcode)) ||
             h.opcode == Opcode::error || (h.flags & protocol::kReply) != 0) {
    reply_error(h.request_id, FrameError::unknown_opcode,
                "unknown opcode " + std::to_string(static_cast<unsigned>(h.opcode)), false);
  } else if (server_.stopping()) {
    reply_error(h.request_id, FrameError::shutting_down, "the server is shutting down", false);
  } else if (gate(h) != FrameError::none) {
    // Refused for the connection's role: replied and logged by gate().
  } else if (in_flight_ >= server_.config().in_flight_max) {
    reply_error(h.request_id, FrameError::too_many_in_flight,
                "too many requests in flight on this connection; wait for replies", false);
  } else if (++server_.in_flight(); server_.stopping()) {
    // Counted first, then checked: the shutdown sets stopping before it waits for the
    // count to reach zero, so a request it did not wait for is refused here.
    --server_.in_flight();
    reply_error(h.request_id, FrameError::shutting_down, "the server is shutting down", false);
  } else {
    ++in_flight_;
    read_timer_.arrived(h);
    reserve(h.request_id, h.body_size + reply_bytes_max(h.opcode, h.body_size,
                                                        server_.config().lots_per_reply_max));
    dispatch(h, body);
  }
  frame_done();
  header_have_ = 0;
}

std::string Connection::not_leader_frame(std::uint64_t request_id) const {
  return error_frame(request_id, FrameError::not_leader, server_.not_leader_message());
}

bool Connection::refuse_unless_leader(std::uint64_t request_id) {
  if (server_.sequencer().role() == LogRole::leading) return false;
  send(not_leader_frame(request_id), true);
  return true;
}

void Connection::reply_error(std::uint64_t request_id, FrameError error, std::string message,
                             bool completes_request) {
  send(error_frame(request_id, error, message), completes_request);
}

void Connection::send(std::string frame, bool completes_request) {
  if (completes_request && !positions_.empty()) frame = positioned(std::move(frame));
  const std::uint64_t request_id = request_id_of(frame);
  if (completes_request) read_timer_.replied(frame);
  if (!closed_) {
    unsent_bytes_ += frame.size();
    out_.push_back(std::move(frame));
    if (writing_ == 0 && !corked_) write_next();
  }
  if (completes_request) {
    --in_flight_;
    --server_.in_flight();
    release(request_id);
    resume_reading();
  }
}

void Connection::note_partition(std::uint32_t shard) const {
  if (shard != partition_) metrics().count_read_off_partition();
}

void Connection::post_reply(std::string frame) {
  // A reply made on the connection's own loop (a read served inline, a write applied by
  // this partition) goes at once, as a ping's does: no trip through a queue.
  if (io_.get_executor().running_in_this_thread()) return send(std::move(frame), true);
  // On another partition's thread: with that thread's other replies, once it lets its
  // ledger go.
  if (ReplyBatch* batch = ReplyBatch::current()) {
    return batch->add(shared_from_this(), std::move(frame));
  }
  asio::post(io_, [self = shared_from_this(), f = std::move(frame)]() mutable {
    self->send(std::move(f), true);
  });
}

void Connection::write_next() {
  gather_.clear();
  for (const std::string& f : out_) {
    gather_.push_back(asio::buffer(f));
    if (gather_.size() == 64) break;
  }
  writing_ = gather_.size();
  asio::async_write(transport_, gather_, [self = shared_from_this()](const asio::error_code& ec, std::size_t n) {
    metrics().count_bytes_out(n);
    for (std::size_t i = 0; i < self->writing_; ++i) {
      self->unsent_bytes_ -= self->out_.front().size();
      self->out_.pop_front();
    }
    self->writing_ = 0;
    if (ec) {
      self->close();
      return;
    }
    if (!self->out_.empty()) {
      self->write_next();
    } else if (self->close_after_write_) {
      self->close();
    }
    self->resume_reading();
  });
}

void Connection::frame_started() {
  in_frame_ = true;
  deadline_ = std::chrono::steady_clock::now() +
              std::chrono::milliseconds(server_.config().frame_timeout_ms);
}

void Connection::frame_done() {
  in_frame_ = false;
  body_.end();
  const std::uint32_t idle_s = server_.config().idle_timeout_s;
  deadline_ = idle_s == 0 ? std::chrono::steady_clock::time_point::max()
                          : std::chrono::steady_clock::now() + std::chrono::seconds(idle_s);
}

// Between frames the timer wakes at least every frame timeout, so that a frame starting
// later finds it armed no later than its own deadline: frames never re-arm it.
void Connection::arm_deadline() {
  if (closed_) return;
  auto wake = deadline_;
  if (!in_frame_) {
    wake = std::min(wake, std::chrono::steady_clock::now() +
                              std::chrono::milliseconds(server_.config().frame_timeout_ms));
  }
  deadline_timer_.expires_at(wake);
  deadline_timer_.async_wait([self = shared_from_this()](const asio::error_code& ec) {
    if (!ec) self->on_deadline();
  });
}

void Connection::on_deadline() {
  if (closed_) return;
  if (std::chrono::steady_clock::now() < deadline_) return arm_deadline();
  if (stop_reading_) return close();  // the timeout's ErrorReply had its grace period
  if (in_frame_) {
    return time_out(FrameError::frame_timeout,
                    "a frame did not complete within " +
                        std::to_string(server_.config().frame_timeout_ms) +
                        " ms (--frame-timeout-ms); closing the connection");
  }
  time_out(FrameError::idle_timeout,
           "no request for " + std::to_string(server_.config().idle_timeout_s) +
               " s (--idle-timeout-s); closing the connection (ping keeps a connection open)");
}

// Says why when nothing else waits to be written (the ErrorReply then cannot block behind
// replies the client does not read), and closes after it or after a second at most.
void Connection::time_out(FrameError error, std::string message) {
  thread_local LogLimiter log(10, std::chrono::seconds(1));  // a bound per serving thread
  if (std::uint64_t suppressed = 0; log.allow(std::chrono::steady_clock::now(), suppressed)) {
    spdlog::info("connection {}: {}{}", peer_, message,
                 suppressed == 0 ? "" : fmt::format(" ({} similar lines left out)", suppressed));
  }
  stop_reading_ = true;
  in_frame_ = false;
  if (!out_.empty()) return close();
  close_after_write_ = true;
  reply_error(0, error, std::move(message), false);
  deadline_ = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  arm_deadline();
}

void Connection::reserve(std::uint64_t request_id, std::uint64_t bytes) {
  reserved_.emplace(request_id, bytes);
  reserved_bytes_ += bytes;
}

void Connection::release(std::uint64_t request_id) {
  const auto it = reserved_.find(request_id);
  if (it == reserved_.end()) return;
  reserved_bytes_ -= it->second;
  reserved_.erase(it);
}

bool Connection::over_unsent_bound() const {
  return unsent_bytes_ + reserved_bytes_ > server_.config().unsent_bytes_max;
}

void Connection::resume_reading() {
  if (!paused_ || closed_ || over_unsent_bound()) return;
  paused_ = false;
  serve_input();
}

void Connection::dispatch(const FrameHeader& h, Body body) {
  if ((h.flags & protocol::kPosition) != 0 && !at_position(h, body)) return;
  switch (h.opcode) {
    case Opcode::ping:
      send(protocol::make_frame(Opcode::ping, protocol::kReply, h.request_id, Body{}), true);
      return;
    case Opcode::hello: return handle_hello(h, body);
    case Opcode::balance: return handle_balance(h, body);
    case Opcode::cart: return handle_cart(h, body);
    case Opcode::wallet: return handle_wallet(h, body);
    case Opcode::expiring: return handle_expiring(h, body);
    case Opcode::stats: return handle_stats(h, body);
    case Opcode::policy: return handle_policy(h, body);
    case Opcode::segment: return handle_segment(h, body);
    case Opcode::report: return handle_report(h, body);
    case Opcode::history:
    case Opcode::order: return handle_history(h, body);
    case Opcode::admin: return handle_admin(h, body);
    default: return handle_write(h, body);
  }
}

void Connection::handle_write(const FrameHeader& h, Body body) {
  auto job = std::make_shared<WriteJob>();
  if (FrameError e = protocol::decode_write(h.opcode, body, server_.config().batch_commands_max,
                                            job->commands);
      e != FrameError::none) {
    return reply_error(h.request_id, e, "write batch refused", true);
  }
  if (refuse_unless_leader(h.request_id)) return;
  if (server_.sequencer().failed()) {
    return reply_error(h.request_id, FrameError::storage_failed,
                       "the journal could not be written; writes are refused until restart", true);
  }
  const bool errors_only = (h.flags & protocol::kErrorsOnly) != 0;
  const bool at_position = (h.flags & protocol::kPosition) != 0;
  job->done = [self = shared_from_this(), op = h.opcode, rid = h.request_id, errors_only,
               at_position](WriteJob& j) {
    if (j.not_leader) return self->post_reply(self->not_leader_frame(rid));
    if (j.storage_failed) {
      self->post_reply(
          error_frame(rid, FrameError::storage_failed, storage_failed_text(j, "this batch")));
      return;
    }
    metrics().count_results(j.commands, j.results);
    flatbuffers::FlatBufferBuilder fbb(64 + j.results.size() * 40);
    protocol::encode_write_reply(j.results, errors_only, fbb);
    self->post_reply(at_position ? reply_frame_at(op, rid, j.position, fbb)
                                 : reply_frame(op, rid, fbb));
  };
  server_.sequencer().submit(std::move(job));
}

// Priced first (duplicates, the reply's size); then the shards share the lots budget and
// stop collecting lots at it, so no request makes a shard copy more than
// --lots-per-reply-max lots (plus one account's).
void Connection::handle_balance(const FrameHeader& h, Body body) {
  struct State {
    protocol::BalanceQuery query;
    std::vector<protocol::BalanceEntry> entries;
    std::atomic<std::size_t> remaining{0};
    std::atomic<std::int64_t> lots_left{0};
    std::atomic<bool> lots_over{false};
  };
  auto state = std::make_shared<State>();
  if (FrameError e = protocol::decode_balance(body, server_.config().batch_commands_max, state->query);
      e != FrameError::none) {
    return reply_error(h.request_id, e, "balance request refused", true);
  }
  const std::uint32_t lots_max = server_.config().lots_per_reply_max;
  if (const Refusal r = price_balance(state->query, lots_max)) {
    return reply_error(h.request_id, r.error, r.message, true);
  }
  release(h.request_id);  // the decoded request's price is lower than the header's
  reserve(h.request_id, body.size() + balance_reply_bytes_max(state->query, lots_max));
  state->lots_left = lots_max;
  auto& shards = server_.shards();
  std::vector<std::vector<std::uint32_t>> by_shard(shards.size());
  for (std::uint32_t i = 0; i < state->query.accounts.size(); ++i) {
    by_shard[server_.router_for_reads().shard_of_buyer(state->query.accounts[i].buyer)].push_back(i);
  }
  state->entries.resize(state->query.accounts.size());
  for (const auto& indexes : by_shard) state->remaining += indexes.empty() ? 0 : 1;
  // A few accounts of one shard, without lots: short enough for this thread when the
  // shard's thread is idle (Shard::read_here_or_queue).
  const bool one_partition = state->remaining == 1;  // read before any part can answer
  const bool short_read = one_partition && !state->query.with_lots &&
                          state->query.accounts.size() <= kShortReadKeysMax;
  for (std::size_t s = 0; s < shards.size(); ++s) {
    if (by_shard[s].empty()) continue;
    if (one_partition) note_partition(static_cast<std::uint32_t>(s));
    Shard::Read read = [state, indexes = std::move(by_shard[s]), self = shared_from_this(),
                        rid = h.request_id, lots_max](const Ledger& ledger, TimeUs now) {
      ledger.balances(
          indexes.size(), now,
          [&](std::size_t k) {
            const protocol::AccountKey& key = state->query.accounts[indexes[k]];
            return std::pair<SellerId, BuyerId>(key.seller, key.buyer);
          },
          [&](std::size_t k, const AccountView& v) { state->entries[indexes[k]].account = v; });
      for (const std::uint32_t i : indexes) {
        const protocol::AccountKey& key = state->query.accounts[i];
        protocol::BalanceEntry& entry = state->entries[i];
        if (!state->query.with_lots || state->lots_over.load(std::memory_order_relaxed)) continue;
        ledger.lots(key.seller, key.buyer, now, entry.lots);
        const auto n = static_cast<std::int64_t>(entry.lots.size());
        if (state->lots_left.fetch_sub(n) < n) {
          state->lots_over = true;
          std::vector<LotView>().swap(entry.lots);  // (`= {}` would keep the memory)
        }
      }
      if (state->remaining.fetch_sub(1) != 1) return;
      if (state->lots_over) {
        std::vector<protocol::BalanceEntry>().swap(state->entries);
        self->post_reply(error_frame(
            rid, FrameError::batch_too_large,
            "balance: the lots of these accounts pass --lots-per-reply-max (" +
                std::to_string(lots_max) + "); ask for fewer accounts at a time"));
        return;
      }
      flatbuffers::FlatBufferBuilder fbb(256);
      protocol::encode_balance_reply(state->entries, fbb);
      self->post_reply(reply_frame(Opcode::balance, rid, fbb));
    };
    if (short_read) {
      shards[s]->read_here_or_queue(std::move(read));
    } else {
      shards[s]->read(std::move(read));
    }
  }
}

void Connection::handle_cart(const FrameHeader& h, Body body) {
  auto query = std::make_shared<protocol::CartQuery>();
  if (FrameError e = protocol::decode_cart(body, server_.config().batch_commands_max, *query);
      e != FrameError::none) {
    return reply_error(h.request_id, e, "cart request refused", true);
  }
  if (const Refusal r = price_cart(*query)) {
    return reply_error(h.request_id, r.error, r.message, true);
  }
  const std::uint32_t s = server_.router_for_reads().shard_of_buyer(query->buyer);
  note_partition(s);
  Shard::Read read = [query, self = shared_from_this(), rid = h.request_id](const Ledger& ledger,
                                                                            TimeUs now) {
    std::vector<CartEntry> entries;
    ledger.cart(query->buyer, query->lines, query->soon_us, now, entries);
    flatbuffers::FlatBufferBuilder fbb(256);
    protocol::encode_cart_reply(entries, fbb);
    self->post_reply(reply_frame(Opcode::cart, rid, fbb));
  };
  // A cart screen's few sellers: short enough for this thread when the shard's is idle.
  if (query->lines.size() <= kShortReadKeysMax) {
    server_.shards()[s]->read_here_or_queue(std::move(read));
  } else {
    server_.shards()[s]->read(std::move(read));
  }
}

void Connection::handle_wallet(const FrameHeader& h, Body body) {
  protocol::WalletQuery query;
  if (FrameError e = protocol::decode_wallet(body, query); e != FrameError::none) {
    return reply_error(h.request_id, e, "wallet request refused", true);
  }
  const std::uint32_t s = server_.router_for_reads().shard_of_buyer(query.buyer);
  note_partition(s);
  server_.shards()[s]->read([buyer = query.buyer, self = shared_from_this(), rid = h.request_id](
                               const Ledger& ledger, TimeUs now) {
    std::vector<AccountView> accounts;
    ledger.wallet(buyer, now, accounts);
    if (const Refusal r = price_wallet_reply(accounts.size())) {
      return self->post_reply(error_frame(rid, r.error, r.message));
    }
    flatbuffers::FlatBufferBuilder fbb(256);
    protocol::encode_wallet_reply(accounts, fbb);
    self->post_reply(reply_frame(Opcode::wallet, rid, fbb));
  });
}

void Connection::handle_expiring(const FrameHeader& h, Body body) {
  protocol::ExpiringQuery query;
  if (FrameError e = protocol::decode_expiring(body, server_.config().batch_commands_max, query);
      e != FrameError::none) {
    return reply_error(h.request_id, e, "expiring request refused", true);
  }
  if (query.from.shard >= server_.shards().size()) {
    return reply_error(h.request_id, FrameError::malformed_body, "cursor names no shard", true);
  }
  using Walk = ShardPages<ExpiringPage, protocol::ExpiringAnswer, ExpiringCursor>;
  auto walk = std::make_shared<Walk>();
  walk->limit = query.limit;
  walk->opcode = Opcode::expiring;
  walk->self = shared_from_this();
  walk->request_id = h.request_id;
  walk->server = &server_;
  walk->page = [query](const Ledger& ledger, ExpiringCursor cursor, std::uint32_t left,
                       TimeUs now) {
    return ledger.expiring(query.seller, query.within_us, cursor, left, now);
  };
  walk->encode = &protocol::encode_expiring_reply;
  read_pages(walk, query.from.shard, query.from.cursor);
}

void Connection::handle_stats(const FrameHeader& h, Body body) {
  protocol::StatsQuery query;
  if (FrameError e = protocol::decode_stats(body, query); e != FrameError::none) {
    return reply_error(h.request_id, e, "stats request refused", true);
  }
  auto self = shared_from_this();
  const std::uint64_t rid = h.request_id;
  if (query.campaign == 0) {
    fan_out<SellerStats>(
        server_, [query](const Ledger& l, TimeUs) { return l.seller_stats(query.seller); },
        [self, rid](std::vector<SellerStats>& parts) {
          SellerStats total;
          for (const SellerStats& p : parts) add(total, p);
          flatbuffers::FlatBufferBuilder fbb(256);
          protocol::encode_stats_reply(total, fbb);
          self->post_reply(reply_frame(Opcode::stats, rid, fbb));
        });
    return;
  }
  fan_out<CampaignStats>(
      server_,
      [query](const Ledger& l, TimeUs) { return l.campaign_stats(query.seller, query.campaign); },
      [self, rid](std::vector<CampaignStats>& parts) {
        CampaignStats total;
        for (const CampaignStats& p : parts) add(total, p);
        flatbuffers::FlatBufferBuilder fbb(256);
        protocol::encode_stats_reply(total, fbb);
        self->post_reply(reply_frame(Opcode::stats, rid, fbb));
      });
}

void Connection::handle_segment(const FrameHeader& h, Body body) {
  protocol::SegmentRequestQuery query;
  if (FrameError e = protocol::decode_segment(body, server_.config().batch_commands_max, query);
      e != FrameError::none) {
    return reply_error(h.request_id, e, "segment request refused", true);
  }
  if (query.from.shard >= server_.shards().size()) {
    return reply_error(h.request_id, FrameError::malformed_body, "cursor names no shard", true);
  }
  auto walk = std::make_shared<ShardPages<SegmentPage, protocol::SegmentAnswer, SegmentCursor>>();
  walk->limit = query.limit;
  walk->opcode = Opcode::segment;
  walk->self = shared_from_this();
  walk->request_id = h.request_id;
  walk->server = &server_;
  walk->page = [q = query.query](const Ledger& ledger, SegmentCursor cursor, std::uint32_t left,
                                 TimeUs now) { return ledger.segment(q, cursor, left, now); };
  walk->encode = &protocol::encode_segment_reply;
  read_pages(walk, query.from.shard, query.from.cursor);
}

// Every shard applies every set_policy at the same log position (seller-wide): shard 0's
// copy is the policy.
void Connection::handle_policy(const FrameHeader& h, Body body) {
  protocol::PolicyQuery query;
  if (FrameError e = protocol::decode_policy(body, query); e != FrameError::none) {
    return reply_error(h.request_id, e, "policy request refused", true);
  }
  auto self = shared_from_this();
  const std::uint64_t rid = h.request_id;
  server_.shards()[0]->read([self, rid, query](const Ledger& ledger, TimeUs) {
    flatbuffers::FlatBufferBuilder fbb(512);
    protocol::encode_policy_reply(query.seller, ledger.policy(query.seller), fbb);
    self->post_reply(reply_frame(Opcode::policy, rid, fbb));
  });
}

void Connection::handle_report(const FrameHeader& h, Body body) {
  protocol::ReportQuery query;
  if (FrameError e = protocol::decode_report(body, query); e != FrameError::none) {
    return reply_error(h.request_id, e, "report request refused", true);
  }
  auto self = shared_from_this();
  const std::uint64_t rid = h.request_id;
  fan_out<MonthReport>(
      server_,
      [query](const Ledger& l, TimeUs) { return l.month_report(query.seller, query.month); },
      [self, rid, query](std::vector<MonthReport>& parts) {
        MonthReport total;
        total.month = query.month;
        for (const MonthReport& p : parts) total.add(p);
        flatbuffers::FlatBufferBuilder fbb(512);
        protocol::encode_report_reply(query.seller, total, fbb);
        self->post_reply(reply_frame(Opcode::report, rid, fbb));
      });
}

void Connection::handle_admin(const FrameHeader& h, Body body) {
  protocol::AdminQuery query;
  if (FrameError e = protocol::decode_admin(body, query); e != FrameError::none) {
    return reply_error(h.request_id, e, "admin request refused", true);
  }
  server_.access_log().admin(peer_, role_, token_name_, query.action);
  auto self = shared_from_this();
  const std::uint64_t rid = h.request_id;
  Server* server = &server_;
  struct Part {
    std::uint64_t accounts = 0;
    TimeUs time = 0;
    std::string problem;
    EngineConfig limits;
    std::uint64_t limits_changes = 0;
    std::uint64_t state_hash = 0;  // audit only
  };
  const bool audit = query.action == protocol::AdminAction::audit;
  auto status_reply = [self, rid, server, audit](std::vector<Part>& parts, std::string message,
                                                 bool ok = true, Code limits_code = Code::ok) {
    protocol::AdminStatus status;
    status.ok = ok;
    status.has_limits = true;
    status.limits = parts.front().limits;
    status.limits_changes = parts.front().limits_changes;
    status.limits_code = limits_code;
    for (std::size_t s = 0; s < parts.size(); ++s) {
      status.accounts += parts[s].accounts;
      if (audit) status.state_hash = hash_pair(status.state_hash, parts[s].state_hash);
      status.ledger_time_us = std::max(status.ledger_time_us, parts[s].time);
      if (!(parts[s].limits == status.limits) || parts[s].limits_changes != status.limits_changes) {
        parts[s].problem += "its limits differ from shard 0's";
      }
      if (!parts[s].problem.empty()) {
        status.ok = false;
        message += "shard " + std::to_string(s) + ": " + parts[s].problem + "; ";
      }
    }
    if (audit && status.ok) message = "audit ok: every shard balances";
    status.message = std::move(message);
    status.shards = static_cast<std::uint32_t>(parts.size());
    status.test_clock = server->config().test_clock;
    status.journal_bytes = server->sequencer().journal_bytes();
    status.durability = server->config().durable ? "fsync" : "none";
    status.history = history_note(*server);
    if (const Leadership* leadership = server->leadership()) {
      status.node_state = leadership->state();
      status.leader = leadership->leader();
      status.log_position = server->sequencer().handed_position();
    }
    if (Checkpointer* c = server->checkpointer()) {
      status.checkpoint_position = c->position();
      status.history_position = c->history_status().position;
      const auto problem = c->failure() ? c->failure() : c->last_error();
      if (problem && status.message.empty()) status.message = "checkpoint: " + *problem;
    }
    // A failed journal refuses every write until a restart: not ok, whatever else is.
    if (const std::string failure = server->sequencer().failure(); !failure.empty()) {
      status.ok = false;
      status.message = "journal failed, every write is refused until a restart: " + failure +
                       (status.message.empty() ? "" : "; " + status.message);
    }
    flatbuffers::FlatBufferBuilder fbb(256);
    protocol::encode_admin_reply(status, fbb);
    self->post_reply(reply_frame(Opcode::admin, rid, fbb));
  };
  auto part = [audit](const Ledger& l, TimeUs now) {
    Part p;
    p.accounts = l.account_count();
    p.time = now;
    p.limits = l.config();
    p.limits_changes = l.limits_changes();
    if (audit) {
      p.problem = l.audit().value_or("");
      p.state_hash = l.state_hash();
    }
    return p;
  };
  switch (query.action) {
    case protocol::AdminAction::set_limits: {
      if (refuse_unless_leader(rid)) return;
      if (server_.sequencer().failed()) {
        return reply_error(rid, FrameError::storage_failed,
                           "the journal could not be written; writes are refused until restart", true);
      }
      auto job = std::make_shared<WriteJob>();
      job->commands.assign(1, query.set_limits);
      job->done = [self, rid, server, part, status_reply](WriteJob& j) {
        if (j.not_leader) return self->post_reply(self->not_leader_frame(rid));
        if (j.storage_failed) {
          self->post_reply(error_frame(rid, FrameError::storage_failed,
                                       storage_failed_text(j, "the limits change")));
          return;
        }
        const Result r = j.results.front();
        fan_out<Part>(*server, part, [server, status_reply, r](std::vector<Part>& parts) {
          std::string message = "set_limits: " + std::string(code_name(r.code));
          bool ok = r.ok();
          // Durable and applied by every shard: now the manifest follows.
          if (ok) {
            if (auto error = server->record_limits(parts.front().limits, parts.front().limits_changes)) {
              ok = false;
              message += "; journaled and applied, but the manifest was not rewritten: " + *error;
            }
          }
          status_reply(parts, message, ok, r.code);
        });
      };
      server_.sequencer().submit(std::move(job));
      return;
    }
    case protocol::AdminAction::limits:
    case protocol::AdminAction::status:
    case protocol::AdminAction::audit:
      fan_out<Part>(server_, part, [status_reply](std::vector<Part>& parts) {
        status_reply(parts, "");
      });
      return;
    case protocol::AdminAction::checkpoint: {
      Checkpointer* checkpointer = server_.checkpointer();
      if (checkpointer == nullptr) {
        protocol::AdminStatus status;
        status.ok = false;
        status.message = "checkpoints are off (bonusd --checkpoint off); the journal keeps everything";
        flatbuffers::FlatBufferBuilder fbb(256);
        protocol::encode_admin_reply(status, fbb);
        send(reply_frame(Opcode::admin, rid, fbb), true);
        return;
      }
      // Everything acknowledged before this request was handed to the checkpointer
      // before its shards applied it, so the checkpoint covers it.
      checkpointer->request([server, part, status_reply](const CheckpointOutcome& o) {
        fan_out<Part>(*server, part, [status_reply, o](std::vector<Part>& parts) {
          status_reply(parts, o.message, o.ok);
        });
      });
      return;
    }
    case protocol::AdminAction::forget_node: {
      Leadership* leadership = server_.leadership();
      if (leadership == nullptr) {
        return reply_error(rid, FrameError::malformed_body,
                           "forget_node: this bonusd keeps its own journal; there are no other "
                           "nodes (bonusd --log jetstream)",
                           true);
      }
      leadership->forget(query.node, [server, part, status_reply,
                                      node = query.node](std::optional<std::string> error) {
        fan_out<Part>(*server, part, [status_reply, node, error](std::vector<Part>& parts) {
          status_reply(parts,
                       error ? "forget_node " + node + ": " + *error
                             : "forgot node " + node +
                                   ": its checkpoint no longer holds back the log's trimming",
                       !error);
        });
      });
      return;
    }
    case protocol::AdminAction::clock_advance: {
      if (!server_.config().test_clock) {
        return reply_error(rid, FrameError::test_clock_disabled,
                           "the test clock is off; start bonusd with --test-clock", true);
      }
      if (refuse_unless_leader(rid)) return;
      auto job = std::make_shared<WriteJob>();
      job->advance_us = query.clock_advance_us;
      job->done = [self, rid, server, part, status_reply,
                   delta = query.clock_advance_us](WriteJob& j) {
        if (j.not_leader) return self->post_reply(self->not_leader_frame(rid));
        if (!j.refused.empty()) {
          self->post_reply(error_frame(
              rid, j.storage_failed ? FrameError::storage_failed : FrameError::malformed_body,
              j.refused));
          return;
        }
        if (j.storage_failed) {
          self->post_reply(
              error_frame(rid, FrameError::storage_failed,
                          "the journal could not be written: the sweep at the new time was "
                          "not applied, though the ledger time has moved"));
          return;
        }
        fan_out<Part>(*server, part, [status_reply, delta](std::vector<Part>& parts) {
          status_reply(parts, "ledger time advanced by " + std::to_string(delta) + " us");
        });
      };
      server_.sequencer().submit(std::move(job));
      return;
    }
  }
}

}  // namespace bonus::server
