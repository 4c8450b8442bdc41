// Connection's reads at a log position (frame flag kPosition, protocol/README.md). A
// request whose position this node has not reached is parked in the server's
// PositionWaits with a copy of its body and a timer; whichever comes first, the node's
// progress or --position-wait-ms, takes it back out: the first dispatches it again, the
// second answers position_unreached. A parked request stays counted in flight and keeps
// its reply bytes reserved, so the connection's bounds hold for waits as for anything.
// Replies to requests at a position carry the position the node had reached when the
// request was handed on: every shard had applied at least that much when it read.
#include <string>

#include "server/connection.h"
#include "server/metrics.h"
#include "server/reply_frame.h"
#include "server/server.h"

namespace bonus::server {

using protocol::Body;
using protocol::FrameError;
using protocol::FrameHeader;

struct Connection::PositionWait {
  explicit PositionWait(asio::io_context& io) : timer(io) {}
  FrameHeader header;
  std::string body;  // the whole body, position first
  std::uint64_t wanted = 0;
  PositionWaits::Ticket ticket = 0;
  asio::steady_timer timer;
};

bool Connection::at_position(const FrameHeader& h, Body& body) {
  const Body whole = body;
  std::uint64_t wanted = 0;
  if (!protocol::split_position(whole, wanted, body)) {
    reply_error(h.request_id, FrameError::malformed_body,
                "flag position: the body must start with an 8-byte log position", true);
    return false;
  }
  const std::uint64_t reached = server_.applied_position();
  if (reached >= wanted) {
    if (!protocol::is_write(h.opcode)) positions_.emplace(h.request_id, reached);
    return true;
  }
  wait_for_position(h, whole, wanted);
  return false;
}

void Connection::wait_for_position(const FrameHeader& h, Body whole, std::uint64_t wanted) {
  const std::uint32_t wait_ms = server_.config().position_wait_ms;
  if (wait_ms == 0) {
    return reply_error(h.request_id, FrameError::position_unreached,
                       "this node reflects the log up to position " +
                           std::to_string(server_.applied_position()) + ", not yet " +
                           std::to_string(wanted) + " (--position-wait-ms 0: no wait)",
                       true);
  }
  auto wait = std::make_shared<PositionWait>(io_);
  wait->header = h;
  wait->body.assign(reinterpret_cast<const char*>(whole.data()), whole.size());
  wait->wanted = wanted;
  PositionWaits& waits = server_.position_waits();
  wait->ticket = waits.add(wanted, [self = shared_from_this(), wait] {
    asio::post(self->io_, [self, wait] { self->end_wait(wait, true); });
  });
  metrics().count_position_wait();
  if (server_.applied_position() >= wanted && waits.cancel(wanted, wait->ticket)) {
    asio::post(io_, [self = shared_from_this(), wait] { self->end_wait(wait, true); });
    return;
  }
  wait->timer.expires_after(std::chrono::milliseconds(wait_ms));
  wait->timer.async_wait([self = shared_from_this(), wait](const asio::error_code& ec) {
    if (!ec && self->server_.position_waits().cancel(wait->wanted, wait->ticket)) {
      self->end_wait(wait, false);
    }
  });
}

void Connection::end_wait(const std::shared_ptr<PositionWait>& wait, bool reached) {
  if (reached) {
    wait->timer.cancel();
    const std::string body = std::move(wait->body);
    return dispatch(wait->header,
                    Body{reinterpret_cast<const std::uint8_t*>(body.data()), body.size()});
  }
  reply_error(wait->header.request_id, FrameError::position_unreached,
              "this node reflects the log up to position " +
                  std::to_string(server_.applied_position()) + " and did not reach " +
                  std::to_string(wait->wanted) + " within " +
                  std::to_string(server_.config().position_wait_ms) +
                  " ms (--position-wait-ms): ask the leader, or again",
              true);
}

bool Connection::take_position(std::uint64_t request_id, std::uint64_t& position) {
  // A client that reuses a request id in flight gets the lower of their positions: true
  // of both.
  auto [first, last] = positions_.equal_range(request_id);
  if (first == last) return false;
  auto lowest = first;
  for (auto it = first; it != last; ++it) {
    if (it->second < lowest->second) lowest = it;
  }
  position = lowest->second;
  positions_.erase(lowest);
  return true;
}

std::string Connection::positioned(std::string frame) {
  FrameHeader h;
  const auto* bytes = reinterpret_cast<const std::uint8_t*>(frame.data());
  if (frame.size() < protocol::kHeaderBytes ||
      protocol::decode_header(bytes, protocol::kBodySizeMax, h) != FrameError::none) {
    return frame;
  }
  std::uint64_t position = 0;
  if (!take_position(h.request_id, position)) return frame;
  // An error says no position; a frame that has one (a history page's) keeps it.
  if (h.opcode == protocol::Opcode::error || (h.flags & protocol::kPosition) != 0) return frame;
  if (h.body_size + protocol::kPositionBytes > protocol::kBodySizeMax) {
    return error_frame(h.request_id, FrameError::batch_too_large,
                       "the answer would not fit in one frame; ask for fewer at a time");
  }
  return protocol::make_frame_at(h.opcode, h.flags, h.request_id, position,
                                 Body{bytes + protocol::kHeaderBytes, h.body_size});
}

}  // namespace bonus::server
