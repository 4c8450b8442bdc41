// What decoders refuse: random bytes, truncated bodies, valid bodies of another table,
// damaged bodies. Whatever they accept decodes to values that survive a round trip.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "protocol/bonus_generated.h"
#include "protocol/messages.h"
#include "tests/protocol/message_samples.h"

namespace bonus::protocol {
namespace {

using testing::Decoder;
using testing::Rng;
using testing::Sample;

FrameError decode(const Decoder& d, const std::vector<std::uint8_t>& bytes, std::size_t size,
                  bool& stable) {
  return d.decode(Body(bytes.data(), size), stable);
}

TEST(Verifier, EverySampleIsAcceptedByItsDecoders) {
  Rng rng(testing::test_seed(61));
  const std::vector<Sample> samples = testing::samples(rng);
  for (const Decoder& d : testing::decoders()) {
    int matched = 0;
    for (const Sample& s : samples) {
      if (s.root != d.root) continue;
      ++matched;
      if (d.name == "decode_write_reply/1000/errors_only") continue;  // a full reply
      bool stable = false;
      EXPECT_EQ(decode(d, s.body, s.body.size(), stable), FrameError::none) << d.name;
      EXPECT_TRUE(stable) << d.name;
    }
    EXPECT_EQ(matched, 1) << d.name;
  }
}

TEST(Verifier, RandomBytesAreMalformed) {
  const std::uint64_t seed = testing::test_seed(62);
  SCOPED_TRACE("PROTOCOL_SEED=" + std::to_string(seed));
  Rng rng(seed);
  const std::vector<Decoder> decoders = testing::decoders();
  std::vector<std::uint8_t> bytes(1024);
  for (int round = 0; round < 2000; ++round) {
    for (auto& b : bytes) b = static_cast<std::uint8_t>(rng());
    const std::size_t size = rng() % bytes.size();
    for (const Decoder& d : decoders) {
      bool stable = false;
      ASSERT_EQ(decode(d, bytes, size, stable), FrameError::malformed_body)
          << d.name << " round " << round;
    }
  }
}

// Random bytes behind a valid identifier get past the first check: they must still be
// refused or decode to something stable, and never crash (run under ASan: asan preset).
TEST(Verifier, RandomBytesBehindAValidIdentifier) {
  const std::uint64_t seed = testing::test_seed(63);
  SCOPED_TRACE("PROTOCOL_SEED=" + std::to_string(seed));
  Rng rng(seed);
  const std::vector<Decoder> decoders = testing::decoders();
  const std::vector<Sample> samples = testing::samples(rng);
  std::vector<std::uint8_t> bytes(512);
  for (const Sample& s : samples) {
    for (int round = 0; round < 300; ++round) {
      for (auto& b : bytes) b = static_cast<std::uint8_t>(rng());
      bytes[0] = static_cast<std::uint8_t>(rng() % 64);  // a root offset within the buffer
      bytes[1] = bytes[2] = bytes[3] = 0;
      std::copy(s.body.begin() + 4, s.body.begin() + 8, bytes.begin() + 4);
      const std::size_t size = 8 + rng() % (bytes.size() - 8);
      for (const Decoder& d : decoders) {
        bool stable = false;
        decode(d, bytes, size, stable);
        ASSERT_TRUE(stable) << d.name << " round " << round;
      }
    }
  }
}

TEST(Verifier, TruncatedBodiesAreRefusedOrUnchanged) {
  Rng rng(testing::test_seed(64));
  const std::vector<Sample> samples = testing::samples(rng);
  for (const Decoder& d : testing::decoders()) {
    for (const Sample& s : samples) {
      if (s.root != d.root) continue;
      bool full_stable = false;
      if (decode(d, s.body, s.body.size(), full_stable) != FrameError::none) continue;
      int refused = 0;
      for (std::size_t size = 0; size < s.body.size(); ++size) {
        // A copy of exactly `size` bytes, so ASan sees any read past the end.
        const std::vector<std::uint8_t> prefix(s.body.begin(), s.body.begin() + size);
        bool stable = false;
        if (decode(d, prefix, size, stable) != FrameError::none) ++refused;
        EXPECT_TRUE(stable) << d.name << " size " << size;
      }
      // Only trailing alignment padding (after a string) may be cut without notice.
      EXPECT_GE(refused + 8, static_cast<int>(s.body.size())) << d.name;
    }
  }
}

TEST(Verifier, ValidBodyOfTheWrongTableIsMalformed) {
  Rng rng(testing::test_seed(65));
  const std::vector<Sample> samples = testing::samples(rng);
  for (const Decoder& d : testing::decoders()) {
    for (const Sample& s : samples) {
      if (s.root == d.root) continue;
      bool stable = false;
      EXPECT_EQ(decode(d, s.body, s.body.size(), stable), FrameError::malformed_body)
          << d.name << " given a " << s.root;
    }
  }
}

// The identifier is what tells tables apart: the same bytes without it are refused.
TEST(Verifier, BodyWithoutIdentifierIsMalformed) {
  flatbuffers::FlatBufferBuilder fbb;
  fbb.Finish(wire::CreateStatsRequest(fbb, 1, 2));
  StatsQuery got;
  EXPECT_EQ(decode_stats(Body(fbb.GetBufferPointer(), fbb.GetSize()), got),
            FrameError::malformed_body);
}

TEST(Verifier, DamagedBodiesAreRefusedOrStable) {
  const std::uint64_t seed = testing::test_seed(66);
  SCOPED_TRACE("PROTOCOL_SEED=" + std::to_string(seed));
  Rng rng(seed);
  const std::vector<Sample> samples = testing::samples(rng);
  const std::vector<Decoder> decoders = testing::decoders();
  for (const Sample& s : samples) {
    for (int round = 0; round < 500; ++round) {
      std::vector<std::uint8_t> damaged = s.body;
      const int flips = 1 + static_cast<int>(rng() % 4);
      for (int f = 0; f < flips; ++f) {
        damaged[rng() % damaged.size()] ^= static_cast<std::uint8_t>(1 + rng() % 255);
      }
      for (const Decoder& d : decoders) {
        bool stable = false;
        decode(d, damaged, damaged.size(), stable);
        ASSERT_TRUE(stable) << d.name << " on a damaged " << s.root << " round " << round;
      }
    }
  }
}

TEST(Verifier, OversizedBodyIsMalformedWithoutReadingIt) {
  // A span larger than the ceiling is refused before the verifier sees it.
  std::vector<std::uint8_t> big(kBodySizeMax + 1);
  bool stable = false;
  for (const Decoder& d : testing::decoders()) {
    EXPECT_EQ(decode(d, big, big.size(), stable), FrameError::malformed_body) << d.name;
  }
}

// A vector of structs whose elements are not 8-byte aligned passes the FlatBuffers
// verifier (it checks only the length word); reading it would be undefined.
TEST(Verifier, MisalignedStructVectorIsMalformed) {
  // Hand-made BalanceRequest: root → table → vector of one AccountKey at offset ≡ 4 mod 8.
  std::vector<std::uint8_t> b(64, 0);
  auto put32 = [&](std::size_t at, std::uint32_t v) { std::memcpy(&b[at], &v, 4); };
  auto put16 = [&](std::size_t at, std::uint16_t v) { std::memcpy(&b[at], &v, 2); };
  put32(0, 16);                    // root table at 16
  std::memcpy(&b[4], "BALQ", 4);   // identifier
  put16(8, 6);                     // vtable at 8: size 6
  put16(10, 8);                    // table size 8
  put16(12, 4);                    // field accounts at table+4
  put32(16, 8);                    // table: soffset to vtable (16 - 8)
  put32(20, 4);                    // accounts: uoffset from 20 → vector at 24
  put32(24, 1);                    // vector length 1; elements at 28 (misaligned)
  const std::vector<std::uint8_t> body(b.begin(), b.begin() + 48);
  BalanceQuery got;
  EXPECT_EQ(decode_balance(Body(body.data(), body.size()), kBatchCommandsMax, got),
            FrameError::malformed_body);
  // The same vector moved to an aligned place decodes.
  std::vector<std::uint8_t> ok(64, 0);
  b.swap(ok);
  put32(0, 16);
  std::memcpy(&b[4], "BALQ", 4);
  put16(8, 6);
  put16(10, 8);
  put16(12, 4);
  put32(16, 8);
  put32(20, 8);  // vector at 28: length; elements at 32 (aligned)
  put32(28, 1);
  const std::vector<std::uint8_t> aligned(b.begin(), b.begin() + 56);
  EXPECT_EQ(decode_balance(Body(aligned.data(), aligned.size()), kBatchCommandsMax, got),
            FrameError::none);
  ASSERT_EQ(got.accounts.size(), 1u);
}

}  // namespace
}  // namespace bonus::protocol
