#include "server/reply_frame.h"

#include "server/metrics.h"

namespace bonus::server {

using protocol::Body;
using protocol::FrameError;
using protocol::Opcode;

std::string error_frame(std::uint64_t request_id, FrameError error, std::string_view message) {
  metrics().count_refusal(error);
  flatbuffers::FlatBufferBuilder fbb(128);
  protocol::encode_error_reply(error, message, fbb);
  return protocol::make_frame(Opcode::error, protocol::kReply, request_id,
                              Body{fbb.GetBufferPointer(), fbb.GetSize()});
}

namespace {

std::string too_large(std::uint64_t request_id) {
  return error_frame(request_id, FrameError::batch_too_large,
                     "the answer would not fit in one frame; ask for fewer at a time");
}

}  // namespace

std::string reply_frame(Opcode opcode, std::uint64_t request_id,
                        const flatbuffers::FlatBufferBuilder& fbb) {
  if (!protocol::fits_in_frame(fbb)) return too_large(request_id);
  return protocol::make_frame(opcode, protocol::kReply, request_id,
                              Body{fbb.GetBufferPointer(), fbb.GetSize()});
}

std::string reply_frame_at(Opcode opcode, std::uint64_t request_id, std::uint64_t position,
                           const flatbuffers::FlatBufferBuilder& fbb) {
  if (fbb.GetSize() + protocol::kPositionBytes > protocol::kBodySizeMax) {
    return too_large(request_id);
  }
  return protocol::make_frame_at(opcode, protocol::kReply, request_id, position,
                                 Body{fbb.GetBufferPointer(), fbb.GetSize()});
}

}  // namespace bonus::server
