// The frames a connection answers with: a reply made from a FlatBuffers builder, or an
// error reply (counted as a refusal in the metrics). Pure functions: any thread (the
// connections' threads, the shards' and the history reader's build replies).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "protocol/frame.h"
#include "protocol/messages.h"

namespace bonus::server {

std::string error_frame(std::uint64_t request_id, protocol::FrameError error,
                        std::string_view message);

// A reply too large for one frame (a balance with the lots of many full accounts) is
// refused as batch_too_large: ask for fewer at a time.
std::string reply_frame(protocol::Opcode opcode, std::uint64_t request_id,
                        const flatbuffers::FlatBufferBuilder& fbb);
// The same with flag kPosition: the body starts with `position`, the log position the
// answer reflects.
std::string reply_frame_at(protocol::Opcode opcode, std::uint64_t request_id,
                           std::uint64_t position, const flatbuffers::FlatBufferBuilder& fbb);

}  // namespace bonus::server
