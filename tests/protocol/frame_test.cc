// The 32-byte frame header: its layout (protocol/README.md), round trips, each header
// error, and whole frames from make_frame.
#include "protocol/frame.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "protocol/crc32c.h"
#include "protocol/messages.h"
#include "tests/protocol/message_samples.h"

namespace bonus::protocol {
namespace {

using Header = std::array<std::uint8_t, kHeaderBytes>;

Header encoded(const FrameHeader& h) {
  Header out;
  encode_header(h, out.data());
  return out;
}

template <typename T>
T at(const Header& bytes, std::size_t offset) {
  T v;
  std::memcpy(&v, bytes.data() + offset, sizeof v);
  return v;
}

// Rewrites the header checksum after a test changed other bytes on purpose.
void reseal(Header& bytes) {
  const std::uint32_t crc = crc32c(bytes.data(), 28);
  std::memcpy(bytes.data() + 28, &crc, 4);
}

FrameHeader sample_header() {
  FrameHeader h;
  h.flags = kReply | kErrorsOnly;
  h.opcode = Opcode::spend;
  h.body_size = 4096;
  h.request_id = 0x0123'4567'89AB'CDEFull;
  h.body_crc32c = 0xDEADBEEF;
  return h;
}

TEST(FrameHeader, LayoutIsAsDocumented) {
  const Header b = encoded(sample_header());
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(b.data()), 4), "BON1");
  EXPECT_EQ(at<std::uint32_t>(b, 0), kMagic);
  EXPECT_EQ(at<std::uint8_t>(b, 4), 1);
  EXPECT_EQ(at<std::uint8_t>(b, 5), kReply | kErrorsOnly);
  EXPECT_EQ(at<std::uint16_t>(b, 6), 8);
  EXPECT_EQ(at<std::uint32_t>(b, 8), 4096u);
  EXPECT_EQ(at<std::uint32_t>(b, 12), 0u);
  EXPECT_EQ(at<std::uint64_t>(b, 16), 0x0123'4567'89AB'CDEFull);
  EXPECT_EQ(b[16], 0xEF);  // little-endian
  EXPECT_EQ(at<std::uint32_t>(b, 24), 0xDEADBEEFu);
  EXPECT_EQ(at<std::uint32_t>(b, 28), crc32c(b.data(), 28));
}

TEST(FrameHeader, RoundTrip) {
  std::mt19937_64 rng(testing::test_seed(11));
  for (int i = 0; i < 1000; ++i) {
    FrameHeader h;
    h.flags = static_cast<std::uint8_t>(rng());
    h.opcode = static_cast<Opcode>(rng());
    h.body_size = static_cast<std::uint32_t>(rng() % (kBodySizeMax + 1));
    h.request_id = rng();
    h.body_crc32c = static_cast<std::uint32_t>(rng());
    FrameHeader back;
    ASSERT_EQ(decode_header(encoded(h).data(), kBodySizeMax, back), FrameError::none);
    EXPECT_EQ(back.flags, h.flags);
    EXPECT_EQ(back.opcode, h.opcode);
    EXPECT_EQ(back.body_size, h.body_size);
    EXPECT_EQ(back.request_id, h.request_id);
    EXPECT_EQ(back.body_crc32c, h.body_crc32c);
  }
}

TEST(FrameHeader, BadMagic) {
  Header b = encoded(sample_header());
  b[3] = '2';  // "BON2"
  reseal(b);
  FrameHeader out;
  EXPECT_EQ(decode_header(b.data(), kBodySizeMax, out), FrameError::bad_magic);
}

TEST(FrameHeader, BadVersion) {
  Header b = encoded(sample_header());
  b[4] = 2;
  reseal(b);
  FrameHeader out;
  EXPECT_EQ(decode_header(b.data(), kBodySizeMax, out), FrameError::bad_version);
}

TEST(FrameHeader, BadHeaderCrc) {
  const Header good = encoded(sample_header());
  FrameHeader out;
  // Any single flipped bit after the magic and version is caught by the checksum.
  for (std::size_t byte = 5; byte < kHeaderBytes; ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      Header b = good;
      b[byte] ^= static_cast<std::uint8_t>(1 << bit);
      EXPECT_EQ(decode_header(b.data(), kBodySizeMax, out), FrameError::bad_header_crc)
          << "byte " << byte << " bit " << bit;
    }
  }
}

TEST(FrameHeader, ReservedIsCoveredByTheChecksum) {
  Header b = encoded(sample_header());
  b[12] = 1;
  FrameHeader out;
  EXPECT_EQ(decode_header(b.data(), kBodySizeMax, out), FrameError::bad_header_crc);
}

TEST(FrameHeader, FrameTooLarge) {
  FrameHeader h = sample_header();
  FrameHeader out;
  h.body_size = kBodySizeDefault;
  EXPECT_EQ(decode_header(encoded(h).data(), kBodySizeDefault, out), FrameError::none);
  h.body_size = kBodySizeDefault + 1;
  EXPECT_EQ(decode_header(encoded(h).data(), kBodySizeDefault, out),
            FrameError::frame_too_large);
  // The ceiling holds whatever the caller's limit says.
  h.body_size = kBodySizeMax;
  EXPECT_EQ(decode_header(encoded(h).data(), UINT32_MAX, out), FrameError::none);
  h.body_size = kBodySizeMax + 1;
  EXPECT_EQ(decode_header(encoded(h).data(), UINT32_MAX, out), FrameError::frame_too_large);
  h.body_size = UINT32_MAX;
  EXPECT_EQ(decode_header(encoded(h).data(), UINT32_MAX, out), FrameError::frame_too_large);
}

TEST(FrameHeader, UnknownOpcodeKeepsTheFraming) {
  FrameHeader h = sample_header();
  h.opcode = static_cast<Opcode>(999);
  FrameHeader out;
  EXPECT_EQ(decode_header(encoded(h).data(), kBodySizeMax, out), FrameError::none);
  EXPECT_FALSE(is_known(static_cast<std::uint16_t>(out.opcode)));
}

TEST(FrameHeader, RandomBytesAreRefused) {
  std::mt19937_64 rng(testing::test_seed(12));
  for (int i = 0; i < 10'000; ++i) {
    Header b;
    for (auto& x : b) x = static_cast<std::uint8_t>(rng());
    FrameHeader out;
    EXPECT_NE(decode_header(b.data(), kBodySizeMax, out), FrameError::none);
  }
}

TEST(Opcodes, KnownSetAndNames) {
  int known = 0;
  for (std::uint32_t op = 0; op <= 0xFFFF; ++op) {
    if (!is_known(static_cast<std::uint16_t>(op))) continue;
    ++known;
    EXPECT_NE(opcode_name(static_cast<Opcode>(op)), "unknown") << op;
  }
  EXPECT_EQ(known, 27);  // hello (66) joined in issue 11; referral (13), segment (37), history (38),
                         // order (39), policy (40) and report (41) in 12
  for (std::uint16_t op = 1; op <= 13; ++op) EXPECT_TRUE(is_write(static_cast<Opcode>(op)));
  EXPECT_FALSE(is_write(Opcode::report));
  EXPECT_FALSE(is_write(Opcode::balance));
  EXPECT_FALSE(is_write(Opcode::ping));
}

TEST(FrameErrors, FramingLostExactlyForHeaderErrors) {
  for (int e : {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21}) {
    const auto error = static_cast<FrameError>(e);
    EXPECT_NE(frame_error_name(error), "unknown") << e;
    EXPECT_EQ(framing_lost(error), e >= 1 && e <= 4) << frame_error_name(error);
  }
  EXPECT_EQ(frame_error_name(static_cast<FrameError>(22)), "unknown");
}

TEST(MakeFrame, HeaderThenBody) {
  const std::vector<std::uint8_t> body{1, 2, 3, 4, 5};
  const std::string frame = make_frame(Opcode::balance, kErrorsOnly, 77, body);
  ASSERT_EQ(frame.size(), kHeaderBytes + body.size());
  FrameHeader h;
  ASSERT_EQ(decode_header(reinterpret_cast<const std::uint8_t*>(frame.data()), kBodySizeMax, h),
            FrameError::none);
  EXPECT_EQ(h.opcode, Opcode::balance);
  EXPECT_EQ(h.flags, kErrorsOnly);
  EXPECT_EQ(h.request_id, 77u);
  EXPECT_EQ(h.body_size, body.size());
  EXPECT_EQ(h.body_crc32c, crc32c(body.data(), body.size()));
  EXPECT_EQ(0, std::memcmp(frame.data() + kHeaderBytes, body.data(), body.size()));
}

TEST(MakeFrame, EmptyBodyForPing) {
  const std::string frame = make_frame(Opcode::ping, 0, 1, {});
  ASSERT_EQ(frame.size(), kHeaderBytes);
  FrameHeader h;
  ASSERT_EQ(decode_header(reinterpret_cast<const std::uint8_t*>(frame.data()), kBodySizeMax, h),
            FrameError::none);
  EXPECT_EQ(h.body_size, 0u);
  EXPECT_EQ(h.body_crc32c, 0u);
}

// Flag position: the body is the position (u64, little-endian) and then the message; the
// body checksum covers both.
TEST(MakeFrame, AtAPositionTheBodyStartsWithIt) {
  const std::vector<std::uint8_t> body{9, 8, 7};
  const std::uint64_t position = 0x0102030405060708;
  const std::string frame = make_frame_at(Opcode::balance, kReply, 5, position, body);
  ASSERT_EQ(frame.size(), kHeaderBytes + kPositionBytes + body.size());
  FrameHeader h;
  const auto* bytes = reinterpret_cast<const std::uint8_t*>(frame.data());
  ASSERT_EQ(decode_header(bytes, kBodySizeMax, h), FrameError::none);
  EXPECT_EQ(h.flags, kReply | kPosition);
  EXPECT_EQ(h.body_size, kPositionBytes + body.size());
  EXPECT_EQ(h.body_crc32c, crc32c(bytes + kHeaderBytes, h.body_size));
  EXPECT_EQ(bytes[kHeaderBytes], 0x08) << "little-endian";
  std::uint64_t read = 0;
  Body message;
  ASSERT_TRUE(split_position(Body{bytes + kHeaderBytes, h.body_size}, read, message));
  EXPECT_EQ(read, position);
  EXPECT_EQ(std::vector<std::uint8_t>(message.begin(), message.end()), body);
  EXPECT_FALSE(split_position(Body{bytes + kHeaderBytes, kPositionBytes - 1}, read, message));
}

TEST(MakeFrame, AppendPipelinesFrames) {
  std::string out;
  const std::vector<std::uint8_t> body(100, 0xAB);
  for (std::uint64_t id = 1; id <= 3; ++id) append_frame(Opcode::wallet, 0, id, body, out);
  ASSERT_EQ(out.size(), 3 * (kHeaderBytes + body.size()));
  for (std::uint64_t id = 1; id <= 3; ++id) {
    const auto* at_frame =
        reinterpret_cast<const std::uint8_t*>(out.data()) + (id - 1) * (kHeaderBytes + 100);
    FrameHeader h;
    ASSERT_EQ(decode_header(at_frame, kBodySizeMax, h), FrameError::none);
    EXPECT_EQ(h.request_id, id);
  }
}

}  // namespace
}  // namespace bonus::protocol
