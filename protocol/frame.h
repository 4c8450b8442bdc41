// The frame: a fixed 32-byte header before every message body, both ways.
// Layout, opcodes and error codes are written down in protocol/README.md; this header is
// the code's copy of it. Stateless; any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace bonus::protocol {

inline constexpr std::uint32_t kMagic = 0x314E4F42;  // "BON1" on the wire
inline constexpr std::uint8_t kVersion = 1;
inline constexpr std::size_t kHeaderBytes = 32;

// Limits; the server's flags may lower body_size_max and batch_commands_max.
inline constexpr std::uint32_t kBodySizeMax = 16u << 20;       // hard ceiling
inline constexpr std::uint32_t kBodySizeDefault = 4u << 20;
inline constexpr std::uint32_t kBatchCommandsMax = 65'536;     // hard ceiling
inline constexpr std::uint32_t kBatchCommandsDefault = 8'192;
static_assert(kBodySizeDefault <= kBodySizeMax && kBatchCommandsDefault <= kBatchCommandsMax);

enum class Opcode : std::uint16_t {
  // Writes: the body is a batch of one command kind.
  credit = 1,
  accrue = 2,
  confirm_accrual = 3,
  cancel_accrual = 4,
  hold = 5,
  capture = 6,
  release = 7,
  spend = 8,
  refund = 9,
  reverse_accrual = 10,
  revoke_campaign = 11,
  set_policy = 12,
  referral = 13,  // ReferralBatch: credits a referrer and its friend under one id
  // Reads.
  balance = 32,
  cart = 33,
  wallet = 34,
  expiring = 35,
  stats = 36,
  segment = 37,  // a seller's buyers in a segment, paged (SegmentRequest / SegmentReply)
  history = 38,  // an account's statement (HistoryRequest / HistoryReply)
  order = 39,    // an order's events (OrderRequest / HistoryReply)
  policy = 40,   // a seller's policy (PolicyRequest / PolicyReply)
  report = 41,   // ReportRequest / ReportReply: a seller's calendar month
  // Operations.
  admin = 64,
  ping = 65,   // empty body both ways
  hello = 66,  // HelloRequest / HelloReply: the connection's token (protocol/README.md)
  // Replies only: the request could not be served (ErrorReply body).
  error = 127,
};

inline bool is_write(Opcode op) {
  return static_cast<std::uint16_t>(op) >= 1 && static_cast<std::uint16_t>(op) <= 13;
}
bool is_known(std::uint16_t opcode);
std::string_view opcode_name(Opcode op);

enum Flag : std::uint8_t {
  kReply = 1,       // set on every frame the server sends
  kErrorsOnly = 2,  // write request: reply with the non-ok results only
  // The body starts with a log position (kPositionBytes, little-endian u64), then the
  // message. Request: serve it once the node reflects at least that log position (0:
  // at once). Reply: the position the answer reflects (a write's: its last record's).
  kPosition = 4,
};
inline constexpr std::size_t kPositionBytes = 8;

// Frame-level errors, sent as an ErrorReply. Numbers are stable.
enum class FrameError : std::uint16_t {
  none = 0,
  bad_magic = 1,        // framing lost: connection closed
  bad_version = 2,      // framing lost: connection closed
  bad_header_crc = 3,   // framing lost: connection closed
  frame_too_large = 4,  // framing lost: connection closed
  bad_body_crc = 5,
  unknown_opcode = 6,
  malformed_body = 7,  // the FlatBuffers verifier refused the body, or a field is out of range
  batch_too_large = 8,
  too_many_in_flight = 9,  // the connection's in-flight limit; retry later
  shutting_down = 10,
  test_clock_disabled = 11,
  storage_failed = 12,        // the journal could not be written: writes are refused until restart
  too_many_connections = 13,  // sent once, then the connection is closed
  unauthenticated = 14,       // the connection has not said hello with a valid token
  forbidden = 15,             // the connection's role does not allow this operation
  duplicate_key = 16,         // the same account (balance) or seller (cart) twice in one request
  frame_timeout = 17,         // a frame started and did not complete in time: connection closed
  idle_timeout = 18,          // no complete frame for the idle timeout: connection closed
  history_unavailable = 19,   // statements: history is off, or its store could not be read
  not_leader = 20,  // a standby of a replicated log: writes go to the leader (the message names it)
  position_unreached = 21,  // kPosition: the node did not reach the position in time
};
std::string_view frame_error_name(FrameError e);
// After these the byte stream can no longer be trusted: the server replies and closes.
inline bool framing_lost(FrameError e) {
  return e == FrameError::bad_magic || e == FrameError::bad_version ||
         e == FrameError::bad_header_crc || e == FrameError::frame_too_large;
}

struct FrameHeader {
  std::uint8_t flags = 0;
  Opcode opcode = Opcode::ping;
  std::uint32_t body_size = 0;
  std::uint64_t request_id = 0;
  std::uint32_t body_crc32c = 0;
};

// Writes the 32 header bytes for `header` (magic, version, both checksums).
// `body_crc32c` must already be set (see body_checksum).
void encode_header(const FrameHeader& header, std::uint8_t out[kHeaderBytes]);

// Reads and checks 32 header bytes: magic, version, header checksum, body size against
// `body_size_max`. The opcode is not checked here (unknown opcodes keep the framing).
FrameError decode_header(const std::uint8_t in[kHeaderBytes], std::uint32_t body_size_max,
                         FrameHeader& out);

std::uint32_t body_checksum(const void* body, std::size_t size);

}  // namespace bonus::protocol
