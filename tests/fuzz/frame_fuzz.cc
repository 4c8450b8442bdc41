// libFuzzer target: arbitrary bytes read as a frame. The first 32 bytes go to the header
// decoder, the rest to every body decoder of the server and the client. Nothing may
// crash (ASan+UBSan watch every read), a header that decodes must encode back to the
// same fields, and a body a decoder accepts must survive encode → decode unchanged.
// Run by scripts/fuzz; seeds from frame_fuzz_seeds.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "protocol/frame.h"
#include "protocol/messages.h"
#include "tests/protocol/message_samples.h"

namespace {

using namespace bonus::protocol;

[[noreturn]] void fail(const char* what, const std::string& detail) {
  std::fprintf(stderr, "frame_fuzz: %s: %s\n", what, detail.c_str());
  std::abort();
}

void check_header(const std::uint8_t* data) {
  FrameHeader header;
  if (decode_header(data, kBodySizeMax, header) != FrameError::none) return;
  std::uint8_t again[kHeaderBytes];
  encode_header(header, again);
  FrameHeader back;
  if (decode_header(again, kBodySizeMax, back) != FrameError::none ||
      back.flags != header.flags || back.opcode != header.opcode ||
      back.body_size != header.body_size || back.request_id != header.request_id ||
      back.body_crc32c != header.body_crc32c) {
    fail("header round trip", "fields changed");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::vector<testing::Decoder> decoders = testing::decoders();
  Body body(data, size);
  if (size >= kHeaderBytes) {
    check_header(data);
    body = Body(data + kHeaderBytes, size - kHeaderBytes);
  }
  for (const testing::Decoder& d : decoders) {
    bool stable = true;
    d.decode(body, stable);
    if (!stable) fail("decode → encode → decode changed the value", d.name);
  }
  return 0;
}
