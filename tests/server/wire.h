// Small blocking helpers over RawConnection for end-to-end tests that speak the wire
// protocol directly: send a request, read its reply, decode it.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "protocol/frame.h"
#include "protocol/messages.h"
#include "tests/server/bonusd_process.h"

namespace bonus::test {

struct WireReply {
  bool got = false;
  protocol::FrameHeader header;
  std::string body;
  protocol::Body view() const {
    return {reinterpret_cast<const std::uint8_t*>(body.data()), body.size()};
  }
};

inline WireReply read_reply(RawConnection& c, int timeout_ms = 10000) {
  WireReply r;
  const std::string head = c.receive(protocol::kHeaderBytes, timeout_ms);
  if (head.size() != protocol::kHeaderBytes) return r;
  if (protocol::decode_header(reinterpret_cast<const std::uint8_t*>(head.data()),
                              protocol::kBodySizeMax, r.header) != protocol::FrameError::none) {
    return r;
  }
  r.body = c.receive(r.header.body_size, timeout_ms);
  r.got = r.body.size() == r.header.body_size;
  return r;
}

template <protocol::WriteCommand C>
std::string write_frame(std::uint64_t request_id, std::span<const C> commands) {
  flatbuffers::FlatBufferBuilder fbb;
  protocol::encode_write(commands, fbb);
  return protocol::make_frame(protocol::kWriteOpcode<C>, 0, request_id,
                              protocol::Body{fbb.GetBufferPointer(), fbb.GetSize()});
}

// Sends a batch and waits for its results; nothing if the connection broke first.
template <protocol::WriteCommand C>
std::optional<std::vector<Result>> write_batch(RawConnection& c, std::uint64_t request_id,
                                               std::span<const C> commands) {
  if (!c.send(write_frame(request_id, commands))) return std::nullopt;
  const WireReply r = read_reply(c);
  if (!r.got || r.header.request_id != request_id || r.header.opcode != protocol::kWriteOpcode<C>) {
    return std::nullopt;
  }
  std::vector<protocol::IndexedResult> indexed;
  if (protocol::decode_write_reply(r.view(), static_cast<std::uint32_t>(commands.size()), false,
                                   indexed) != protocol::FrameError::none) {
    return std::nullopt;
  }
  std::vector<Result> results;
  for (const auto& i : indexed) results.push_back(i.result);
  return results;
}

inline std::optional<protocol::AdminStatus> admin(RawConnection& c, protocol::AdminAction action,
                                                  TimeUs advance_us = 0) {
  flatbuffers::FlatBufferBuilder fbb;
  protocol::encode_admin(protocol::AdminQuery{action, advance_us, {}, {}}, fbb);
  if (!c.send(protocol::make_frame(protocol::Opcode::admin, 0, 1,
                                   protocol::Body{fbb.GetBufferPointer(), fbb.GetSize()}))) {
    return std::nullopt;
  }
  const WireReply r = read_reply(c);
  protocol::AdminStatus status;
  if (!r.got || protocol::decode_admin_reply(r.view(), status) != protocol::FrameError::none) {
    return std::nullopt;
  }
  return status;
}

}  // namespace bonus::test
