#include "protocol/frame.h"

#include <bit>
#include <cstring>

#include "protocol/crc32c.h"

namespace bonus::protocol {
namespace {

static_assert(std::endian::native == std::endian::little,
              "the wire is little-endian; add byte swaps for this target");

template <typename T>
void put(std::uint8_t* at, T v) {
  std::memcpy(at, &v, sizeof(T));
}
template <typename T>
T get(const std::uint8_t* at) {
  T v;
  std::memcpy(&v, at, sizeof(T));
  return v;
}

// Byte offsets (protocol/README.md).
constexpr std::size_t kMagicAt = 0, kVersionAt = 4, kFlagsAt = 5, kOpcodeAt = 6,
                      kBodySizeAt = 8, kReservedAt = 12, kRequestIdAt = 16, kBodyCrcAt = 24,
                      kHeaderCrcAt = 28;
static_assert(kHeaderCrcAt + 4 == kHeaderBytes);

}  // namespace

bool is_known(std::uint16_t opcode) {
  return (opcode >= 1 && opcode <= 13) || (opcode >= 32 && opcode <= 41) ||
         (opcode >= 64 && opcode <= 66) || opcode == 127;
}

std::string_view opcode_name(Opcode op) {
  switch (op) {
    case Opcode::credit: return "credit";
    case Opcode::accrue: return "accrue";
    case Opcode::confirm_accrual: return "confirm_accrual";
    case Opcode::cancel_accrual: return "cancel_accrual";
    case Opcode::hold: return "hold";
    case Opcode::capture: return "capture";
    case Opcode::release: return "release";
    case Opcode::spend: return "spend";
    case Opcode::refund: return "refund";
    case Opcode::reverse_accrual: return "reverse_accrual";
    case Opcode::revoke_campaign: return "revoke_campaign";
    case Opcode::set_policy: return "set_policy";
    case Opcode::referral: return "referral";
    case Opcode::balance: return "balance";
    case Opcode::cart: return "cart";
    case Opcode::wallet: return "wallet";
    case Opcode::expiring: return "expiring";
    case Opcode::stats: return "stats";
    case Opcode::segment: return "segment";
    case Opcode::policy: return "policy";
    case Opcode::report: return "report";
    case Opcode::history: return "history";
    case Opcode::order: return "order";
    case Opcode::admin: return "admin";
    case Opcode::ping: return "ping";
    case Opcode::hello: return "hello";
    case Opcode::error: return "error";
  }
  return "unknown";
}

std::string_view frame_error_name(FrameError e) {
  switch (e) {
    case FrameError::none: return "none";
    case FrameError::bad_magic: return "bad_magic";
    case FrameError::bad_version: return "bad_version";
    case FrameError::bad_header_crc: return "bad_header_crc";
    case FrameError::frame_too_large: return "frame_too_large";
    case FrameError::bad_body_crc: return "bad_body_crc";
    case FrameError::unknown_opcode: return "unknown_opcode";
    case FrameError::malformed_body: return "malformed_body";
    case FrameError::batch_too_large: return "batch_too_large";
    case FrameError::too_many_in_flight: return "too_many_in_flight";
    case FrameError::shutting_down: return "shutting_down";
    case FrameError::test_clock_disabled: return "test_clock_disabled";
    case FrameError::storage_failed: return "storage_failed";
    case FrameError::too_many_connections: return "too_many_connections";
    case FrameError::unauthenticated: return "unauthenticated";
    case FrameError::forbidden: return "forbidden";
    case FrameError::duplicate_key: return "duplicate_key";
    case FrameError::frame_timeout: return "frame_timeout";
    case FrameError::idle_timeout: return "idle_timeout";
    case FrameError::history_unavailable: return "history_unavailable";
    case FrameError::not_leader:
      return "not_leader";
    case FrameError::position_unreached:
      return "position_unreached";
  }
  return "unknown";
}

std::uint32_t body_checksum(const void* body, std::size_t size) { return crc32c(body, size); }

void encode_header(const FrameHeader& h, std::uint8_t out[kHeaderBytes]) {
  put(out + kMagicAt, kMagic);
  put(out + kVersionAt, kVersion);
  put(out + kFlagsAt, h.flags);
  put(out + kOpcodeAt, static_cast<std::uint16_t>(h.opcode));
  put(out + kBodySizeAt, h.body_size);
  put(out + kReservedAt, std::uint32_t{0});
  put(out + kRequestIdAt, h.request_id);
  put(out + kBodyCrcAt, h.body_crc32c);
  put(out + kHeaderCrcAt, crc32c(out, kHeaderCrcAt));
}

FrameError decode_header(const std::uint8_t in[kHeaderBytes], std::uint32_t body_size_max,
                         FrameHeader& out) {
  if (get<std::uint32_t>(in + kMagicAt) != kMagic) return FrameError::bad_magic;
  if (get<std::uint8_t>(in + kVersionAt) != kVersion) return FrameError::bad_version;
  if (get<std::uint32_t>(in + kHeaderCrcAt) != crc32c(in, kHeaderCrcAt)) {
    return FrameError::bad_header_crc;
  }
  out.flags = get<std::uint8_t>(in + kFlagsAt);
  out.opcode = static_cast<Opcode>(get<std::uint16_t>(in + kOpcodeAt));
  out.body_size = get<std::uint32_t>(in + kBodySizeAt);
  out.request_id = get<std::uint64_t>(in + kRequestIdAt);
  out.body_crc32c = get<std::uint32_t>(in + kBodyCrcAt);
  if (out.body_size > body_size_max || out.body_size > kBodySizeMax) {
    return FrameError::frame_too_large;
  }
  return FrameError::none;
}

}  // namespace bonus::protocol
