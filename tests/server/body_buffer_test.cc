// BodyBuffer (server/body_buffer.h): a body arriving in chunks of any size comes out
// whole, 8-byte aligned, and the buffer never holds much more than what arrived.
#include "server/body_buffer.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>

namespace bonus::server {
namespace {

TEST(BodyBuffer, GrowsAsBytesArriveAndKeepsThem) {
  const std::uint32_t seed = std::random_device{}();
  std::printf("seed %u\n", seed);
  std::mt19937 random(seed);
  BodyBuffer buffer;
  for (int round = 0; round < 40; ++round) {
    const auto size = static_cast<std::uint32_t>(1 + random() % (round % 2 == 0 ? 1000 : 3u << 20));
    std::string body(size, '\0');
    for (char& c : body) c = static_cast<char>(random());
    buffer.begin(size);
    std::size_t have = 0;
    while (!buffer.complete()) {
      const asio::mutable_buffer space = buffer.space();
      ASSERT_GT(space.size(), 0u) << "seed " << seed;
      ASSERT_LE(have + space.size(), size) << "seed " << seed;
      const std::size_t n = std::min<std::size_t>(space.size(), 1 + random() % 70'000);
      std::memcpy(space.data(), body.data() + have, n);
      buffer.advance(n);
      have += n;
      EXPECT_LE(buffer.capacity_bytes(),
                std::max<std::size_t>(2 * have + 8, BodyBuffer::kInitialBytes + 8))
          << "seed " << seed;
    }
    const protocol::Body got = buffer.body();
    ASSERT_EQ(got.size(), size);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(got.data()) % 8, 0u);
    EXPECT_EQ(std::memcmp(got.data(), body.data(), size), 0) << "seed " << seed;
    buffer.end();
    EXPECT_LE(buffer.capacity_bytes(), BodyBuffer::kInitialBytes + 8);
  }
}

TEST(BodyBuffer, OneByteOfAnAnnouncedLargeBodyCostsTheInitialBuffer) {
  BodyBuffer buffer;
  buffer.begin(16u << 20);
  const asio::mutable_buffer space = buffer.space();
  EXPECT_EQ(space.size(), BodyBuffer::kInitialBytes);
  buffer.advance(1);
  EXPECT_LE(buffer.capacity_bytes(), BodyBuffer::kInitialBytes + 8);
}

}  // namespace
}  // namespace bonus::server
