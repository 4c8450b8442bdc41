#include "bench/bonus_bench/flow_loop.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>

#include "bench/bonus_bench/id_source.h"
#include "bench/epoll_wait_until.h"
#include "bench/nonblocking_stream.h"
#include "engine/partition.h"
#include "engine/code.h"
#include "protocol/frame.h"
#include "protocol/messages.h"

namespace bonus::bench {

enum class FlowLoop::Step : std::uint8_t {
  idle,  // no flow: ready for the next one
  cart,
  hold,
  capture,
  release,
  accrue,
  confirm,
  cancel,
  dead,  // its connection was lost
};

namespace {

int connect_to(const std::string& host, std::uint16_t port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  if (const int e = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &found); e != 0) {
    std::fprintf(stderr, "bonus-bench: cannot resolve %s: %s\n", host.c_str(), gai_strerror(e));
    std::exit(3);
  }
  int fd = -1;
  int error = 0;
  for (addrinfo* a = found; a != nullptr && fd < 0; a = a->ai_next) {
    fd = ::socket(a->ai_family, a->ai_socktype, a->ai_protocol);
    if (fd >= 0 && ::connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
      error = errno;
      ::close(fd);
      fd = -1;
    }
  }
  ::freeaddrinfo(found);
  if (fd < 0) {
    std::fprintf(stderr, "bonus-bench: cannot connect to %s:%u: %s\n", host.c_str(), port,
                 std::strerror(error));
    std::exit(3);
  }
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

}  // namespace

// Step::cart .. Step::cancel are Op::cart .. Op::cancel, in order.
Op FlowLoop::op_of(Step step) { return static_cast<Op>(static_cast<int>(step) - 1); }
static_assert(static_cast<int>(Op::cancel) - static_cast<int>(Op::cart) == 6);

struct FlowLoop::Connection {
  NonBlockingStream stream;
  bool live = true;
  std::uint32_t partition = 0;  // with run.partition_ports: whose buyers it carries
};

struct FlowLoop::Slot {
  std::uint32_t connection = 0;
  Step step = Step::idle;
  std::uint64_t awaited = 0;  // the request id of the reply it waits for
  std::uint32_t sent = 0;     // requests sent, for the next request id
  Clock::time_point from{};   // the latency of the awaited reply counts from here
  CheckoutEnd end = CheckoutEnd::capture;
  OrderId order = 0;            // the hold's
  std::deque<OrderId> pending;  // accruals acknowledged and not yet ended
  std::mt19937_64 rng;
  IdSource ids;
  std::array<SellerId, kSellersPerBuyerMax> sellers{};
};

FlowLoop::FlowLoop(FlowRun& run, std::uint32_t index, std::uint32_t loops,
                   std::uint32_t connections, std::uint32_t first_connection, Recorder& recorder)
    : run_(run), index_(index), loops_(loops), recorder_(recorder), next_due_(index) {
  epoll_ = ::epoll_create1(0);
  connections_.resize(connections);
  for (std::uint32_t c = 0; c < connections; ++c) {
    const std::uint32_t g = first_connection + c;
    const auto partitions = static_cast<std::uint32_t>(run.partition_ports.size());
    connections_[c].partition = partitions == 0 ? 0 : g % partitions;
    connections_[c].stream.fd =
        connect_to(run.host, partitions == 0 ? run.port : run.partition_ports[g % partitions]);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = c;
    ::epoll_ctl(epoll_, EPOLL_CTL_ADD, connections_[c].stream.fd, &ev);
    for (std::uint32_t d = 0; d < run.depth; ++d) {
      // The same numbers, seeds and ids as the thread-per-worker bonus-bench had.
      const std::uint64_t number = std::uint64_t{first_connection + c} * run.depth + d;
      Slot slot;
      slot.connection = c;
      slot.rng.seed(mix64(run.seed * 1'000'003 + number));
      slot.ids = IdSource{run.nonce, number + 1};
      idle_.push_back(static_cast<std::uint32_t>(slots_.size()));
      slots_.push_back(std::move(slot));
    }
  }
  std::reverse(idle_.begin(), idle_.end());  // slot 0 first
}

FlowLoop::~FlowLoop() {
  for (Connection& c : connections_) {
    if (c.stream.fd >= 0) ::close(c.stream.fd);
  }
  ::close(epoll_);
}

void FlowLoop::run() {
  bool starting = true;
  Clock::time_point drain_end{};
  epoll_event events[64];
  for (;;) {
    const Clock::time_point now = Clock::now();
    if (run_.stop.load(std::memory_order_relaxed)) starting = false;
    if (starting) {
      start_flows(now);
      const bool live = std::any_of(connections_.begin(), connections_.end(),
                                    [](const Connection& c) { return c.live; });
      const bool more = run_.rate > 0 ? run_.count == 0 || next_due_ < run_.count
                                      : run_.count == 0 || run_.next_flow.load() < run_.count;
      starting = live && more;
    }
    for (std::size_t c = 0; c < connections_.size(); ++c) flush(c);
    if (!starting) {
      if (in_flight_ == 0) return;
      if (drain_end == Clock::time_point{}) drain_end = now + run_.drain;
      if (now >= drain_end) {
        for (Slot& s : slots_) {
          if (s.step == Step::idle || s.step == Step::dead) continue;
          recorder_.record(op_of(s.step), elapsed_ns(s.from, now), 1,
                           "timeout");
          s.step = Step::idle;
        }
        in_flight_ = 0;
        return;
      }
    }
    // Sleep until the next flow is due (open loop, a slot free), or at most 10 ms: a
    // reply wakes it sooner, and the stop is seen within that.
    Clock::time_point wake = now + std::chrono::milliseconds(10);
    if (starting && run_.rate > 0 && !idle_.empty()) {
      wake = std::min(wake, run_.start + std::chrono::nanoseconds(static_cast<std::int64_t>(
                                             1e9 * static_cast<double>(next_due_) / run_.rate)));
    }
    const int n = epoll_wait_until(epoll_, events, 64, wake);
    for (int e = 0; e < n; ++e) {
      const std::size_t c = events[e].data.u64;
      if (!connections_[c].live) continue;
      if (events[e].events & EPOLLOUT) flush(c);
      if (events[e].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) receive(c);
    }
  }
}

void FlowLoop::start_flows(Clock::time_point now) {
  while (!idle_.empty()) {
    Clock::time_point intended = now;
    if (run_.rate > 0) {
      if (run_.count != 0 && next_due_ >= run_.count) return;
      intended = run_.start + std::chrono::nanoseconds(static_cast<std::int64_t>(
                                  1e9 * static_cast<double>(next_due_) / run_.rate));
      if (intended > now) return;
      next_due_ += loops_;
    } else if (run_.count != 0 && run_.next_flow.fetch_add(1) >= run_.count) {
      return;
    }
    Slot& slot = slots_[idle_.back()];
    idle_.pop_back();
    start_flow(slot, intended);
  }
}

std::uint64_t FlowLoop::uniform_between(Slot& slot, std::uint64_t low, std::uint64_t high) {
  return std::uniform_int_distribution<std::uint64_t>(low, high)(slot.rng);
}

void FlowLoop::start_flow(Slot& slot, Clock::time_point intended) {
  slot.from = intended;
  const double u = std::uniform_real_distribution<double>(0.0, 1.0)(slot.rng);
  BuyerId buyer = run_.workload->pick_buyer(slot.rng);
  if (const auto partitions = static_cast<std::uint32_t>(run_.partition_ports.size())) {
    // One of this connection's partition's buyers, drawn as any other (the popular ones
    // stay popular): a few draws on average, one of every `partitions`.
    while (partition_of(buyer, partitions) != connections_[slot.connection].partition) {
      buyer = run_.workload->pick_buyer(slot.rng);
    }
  }
  const std::uint32_t own = run_.workload->sellers_of(buyer, slot.sellers);
  switch (run_.mix.flow_at(u)) {
    case Flow::cart:
      return cart(slot, buyer, own);
    case Flow::checkout:
      return checkout(slot, buyer, slot.sellers[uniform_between(slot, 0, own - 1)]);
    case Flow::accrual:
      return accrual(slot, buyer, slot.sellers[uniform_between(slot, 0, own - 1)]);
  }
}

// 1-5 lines, one per seller (the server refuses a seller twice: duplicate_key): the
// buyer's own sellers first, then sellers the buyer has no bonuses with.
void FlowLoop::cart(Slot& slot, BuyerId buyer, std::uint32_t own) {
  cart_.buyer = buyer;
  cart_.soon_us = 3 * kUsPerDay;
  cart_.lines.clear();
  const auto k = static_cast<std::uint32_t>(uniform_between(slot, 1, kCartLinesMax));
  const std::uint64_t sellers = run_.workload->shape().sellers;
  for (std::uint32_t i = 0; i < k; ++i) {
    const auto taken = [&](SellerId s) {
      return std::any_of(cart_.lines.begin(), cart_.lines.end(),
                         [s](const CartLine& l) { return l.seller == s; });
    };
    SellerId seller = i < own ? slot.sellers[i] : uniform_between(slot, 1, sellers);
    for (int tries = 0; taken(seller) && tries < 64; ++tries) {
      seller = uniform_between(slot, 1, sellers);
    }
    if (taken(seller)) break;  // fewer sellers than lines
    cart_.lines.push_back(CartLine{seller, uniform_between(slot, 10'000, 5'000'000)});
  }
  fbb_.Clear();
  protocol::encode_cart(cart_, fbb_);
  send(slot, Step::cart, protocol::Opcode::cart);
}

void FlowLoop::checkout(Slot& slot, BuyerId buyer, SellerId seller) {
  slot.end = run_.mix.checkout_end_at(std::uniform_real_distribution<double>(0.0, 1.0)(slot.rng));
  const Hold hold{slot.ids.id(),
                  slot.ids.order(),
                  seller,
                  buyer,
                  uniform_between(slot, 1, 300),
                  uniform_between(slot, 100'000, 3'000'000),
                  slot.end == CheckoutEnd::time_out ? run_.hold_timeout_us : 0};
  slot.order = hold.order;
  send_write(slot, Step::hold, hold);
}

void FlowLoop::accrual(Slot& slot, BuyerId buyer, SellerId seller) {
  const Accrue accrue{
      slot.ids.id(),    slot.ids.order(), seller, buyer, uniform_between(slot, 10, 500),
      LotLife::policy()};
  slot.order = accrue.order;
  send_write(slot, Step::accrue, accrue);
}

// The accrual's end comes accrual_lag accruals later, as an order is delivered later.
void FlowLoop::end_accrual(Slot& slot) {
  const OrderId order = slot.pending.front();
  slot.pending.pop_front();
  const double u = std::uniform_real_distribution<double>(0.0, 1.0)(slot.rng);
  if (run_.mix.accrual_end_at(u) == AccrualEnd::confirm) {
    send_write(slot, Step::confirm, ConfirmAccrual{slot.ids.id(), order});
  } else {
    send_write(slot, Step::cancel, CancelAccrual{slot.ids.id(), order});
  }
}

template <typename C>
void FlowLoop::send_write(Slot& slot, Step step, const C& command) {
  fbb_.Clear();
  protocol::encode_write(std::span<const C>(&command, 1), fbb_);
  send(slot, step, protocol::kWriteOpcode<C>);
}

void FlowLoop::send(Slot& slot, Step step, protocol::Opcode opcode) {
  const auto number = static_cast<std::uint64_t>(&slot - slots_.data());
  slot.step = step;
  slot.awaited = (std::uint64_t{++slot.sent} << 32) | number;
  protocol::append_frame(opcode, 0, slot.awaited,
                         protocol::Body{fbb_.GetBufferPointer(), fbb_.GetSize()},
                         connections_[slot.connection].stream.out);
  ++in_flight_;
}

void FlowLoop::answered(Slot& slot, protocol::Opcode opcode, protocol::Body body) {
  const Clock::time_point now = Clock::now();
  --in_flight_;
  std::string_view error;
  if (opcode == protocol::Opcode::error) {
    error = "refused";
    protocol::ErrorInfo info;
    if (!refusal_printed_ &&
        protocol::decode_error_reply(body, info) == protocol::FrameError::none) {
      refusal_printed_ = true;
      std::fprintf(stderr, "bonus-bench: bonusd refused a request: %s: %s\n",
                   std::string(protocol::frame_error_name(info.code)).c_str(),
                   info.message.c_str());
    }
  } else if (slot.step == Step::cart) {
    if (protocol::decode_cart_reply(body, cart_reply_) != protocol::FrameError::none) {
      error = "bad_reply";
    }
  } else if (protocol::decode_write_reply(body, 1, false, write_reply_) !=
                 protocol::FrameError::none ||
             write_reply_.size() != 1) {
    error = "bad_reply";
  } else if (!write_reply_[0].result.ok()) {
    error = code_name(write_reply_[0].result.code);
  }
  const Step step = slot.step;
  recorder_.record(op_of(step), elapsed_ns(slot.from, now), 1, error);
  slot.from = now;
  if (step == Step::hold && error.empty()) {
    switch (slot.end) {
      case CheckoutEnd::capture:
        return send_write(slot, Step::capture, Capture{slot.ids.id(), slot.order, kAmountAll});
      case CheckoutEnd::release:
        return send_write(slot, Step::release, Release{slot.ids.id(), slot.order});
      case CheckoutEnd::time_out:
        ++run_.holds_left_to_time_out;
        break;
    }
  }
  if (step == Step::accrue) {
    if (error.empty()) slot.pending.push_back(slot.order);
    if (slot.pending.size() > run_.accrual_lag) return end_accrual(slot);
  }
  slot.step = Step::idle;
  idle_.push_back(static_cast<std::uint32_t>(&slot - slots_.data()));
}

void FlowLoop::flush(std::size_t i) {
  Connection& c = connections_[i];
  if (!c.live) return;
  if (const std::string error = c.stream.flush(epoll_, i); !error.empty()) {
    lose(i, error, "disconnected");
  }
}

void FlowLoop::receive(std::size_t i) {
  Connection& c = connections_[i];
  if (!c.live) return;
  const std::string why = c.stream.receive([&] { return parse(i); });
  if (why == "closed") return lose(i, "bonusd closed the connection", "disconnected");
  if (!why.empty() && why != "parse") lose(i, why, "disconnected");
}

// Takes every whole reply from the front of what came; false once the connection is lost.
bool FlowLoop::parse(std::size_t i) {
  NonBlockingStream& in = connections_[i].stream;
  while (in.unread_bytes() >= protocol::kHeaderBytes) {
    const auto* at = reinterpret_cast<const std::uint8_t*>(in.unread());
    protocol::FrameHeader h;
    if (protocol::decode_header(at, protocol::kBodySizeMax, h) != protocol::FrameError::none) {
      lose(i, "bonusd sent a header that does not decode", "bad_reply");
      return false;
    }
    if (in.unread_bytes() < protocol::kHeaderBytes + h.body_size) {
      in.expect(protocol::kHeaderBytes + h.body_size);
      return true;
    }
    const protocol::Body body{at + protocol::kHeaderBytes, h.body_size};
    const std::uint64_t number = h.request_id & 0xFFFFFFFF;
    if (number >= slots_.size() || slots_[number].awaited != h.request_id ||
        slots_[number].step == Step::idle || slots_[number].step == Step::dead) {
      // A connection-wide ErrorReply (shutting_down, idle_timeout, ...) names no request:
      // the server closes the connection after it.
      protocol::ErrorInfo info;
      if (h.opcode == protocol::Opcode::error &&
          protocol::decode_error_reply(body, info) == protocol::FrameError::none) {
        lose(i,
             "bonusd refused the connection: " +
                 std::string(protocol::frame_error_name(info.code)) + ": " + info.message,
             "refused");
      } else {
        lose(i, "bonusd answered a request it was not sent", "bad_reply");
      }
      return false;
    }
    in.consume(protocol::kHeaderBytes + h.body_size);
    answered(slots_[number], h.opcode, body);
  }
  return true;
}

// The connection is gone: every request awaited on it counts as `status`, and its slots
// run nothing more.
void FlowLoop::lose(std::size_t i, std::string_view why, std::string_view status) {
  Connection& c = connections_[i];
  std::fprintf(stderr, "bonus-bench: connection %zu of loop %u lost: %.*s\n", i, index_,
               static_cast<int>(why.size()), why.data());
  c.live = false;
  ::epoll_ctl(epoll_, EPOLL_CTL_DEL, c.stream.fd, nullptr);
  ::close(c.stream.fd);
  c.stream.fd = -1;
  const Clock::time_point now = Clock::now();
  for (Slot& s : slots_) {
    if (s.connection != i) continue;
    if (s.step != Step::idle && s.step != Step::dead) {
      recorder_.record(op_of(s.step), elapsed_ns(s.from, now), 1,
                       status);
      --in_flight_;
    }
    s.step = Step::dead;
  }
  std::erase_if(idle_, [&](std::uint32_t s) { return slots_[s].connection == i; });
}

}  // namespace bonus::bench
