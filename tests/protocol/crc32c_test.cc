// CRC32C: the published check values, and the SSE4.2 path against the table path.
#include "protocol/crc32c.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string_view>
#include <vector>

#include "tests/protocol/message_samples.h"

namespace bonus {
namespace {

TEST(Crc32c, CheckValue) {
  constexpr std::string_view kCheck = "123456789";
  EXPECT_EQ(crc32c(kCheck.data(), kCheck.size()), 0xE3069283u);
  EXPECT_EQ(crc32c_software(kCheck.data(), kCheck.size()), 0xE3069283u);
  if (crc32c_has_sse42()) {
    EXPECT_EQ(crc32c_sse42(kCheck.data(), kCheck.size()), 0xE3069283u);
  }
}

// RFC 3720 (iSCSI), appendix B.4.
TEST(Crc32c, Rfc3720Vectors) {
  std::uint8_t buf[32];
  std::fill(std::begin(buf), std::end(buf), 0x00);
  EXPECT_EQ(crc32c(buf, sizeof buf), 0x8A9136AAu);
  std::fill(std::begin(buf), std::end(buf), 0xFF);
  EXPECT_EQ(crc32c(buf, sizeof buf), 0x62A8AB43u);
  for (int i = 0; i < 32; ++i) buf[i] = static_cast<std::uint8_t>(i);
  EXPECT_EQ(crc32c(buf, sizeof buf), 0x46DD794Eu);
  for (int i = 0; i < 32; ++i) buf[i] = static_cast<std::uint8_t>(31 - i);
  EXPECT_EQ(crc32c(buf, sizeof buf), 0x113FDB5Cu);
}

TEST(Crc32c, EmptyIsZero) { EXPECT_EQ(crc32c(nullptr, 0), 0u); }

// Random lengths and misaligned starts, so the 8-byte loop and the byte tail both run.
TEST(Crc32c, HardwareEqualsSoftwareOnRandomBuffers) {
  if (!crc32c_has_sse42()) GTEST_SKIP() << "no SSE4.2 on this CPU";
  const std::uint64_t seed = protocol::testing::test_seed(0xC3C);
  SCOPED_TRACE("PROTOCOL_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  std::vector<std::uint8_t> buf(8192 + 8);
  for (int round = 0; round < 2000; ++round) {
    for (auto& b : buf) b = static_cast<std::uint8_t>(rng());
    const std::size_t start = rng() % 8;
    const std::size_t size = rng() % 8192;
    const auto seed_crc = static_cast<std::uint32_t>(rng());
    ASSERT_EQ(crc32c_sse42(buf.data() + start, size, seed_crc),
              crc32c_software(buf.data() + start, size, seed_crc))
        << "round " << round << " start " << start << " size " << size;
  }
}

TEST(Crc32c, ContinuesAcrossPieces) {
  std::mt19937_64 rng(protocol::testing::test_seed(7));
  std::vector<std::uint8_t> buf(1000);
  for (auto& b : buf) b = static_cast<std::uint8_t>(rng());
  const std::uint32_t whole = crc32c(buf.data(), buf.size());
  for (std::size_t cut : {0, 1, 7, 8, 9, 500, 999, 1000}) {
    EXPECT_EQ(crc32c(buf.data() + cut, buf.size() - cut, crc32c(buf.data(), cut)), whole);
    EXPECT_EQ(crc32c_software(buf.data() + cut, buf.size() - cut,
                              crc32c_software(buf.data(), cut)),
              whole);
  }
}

}  // namespace
}  // namespace bonus
