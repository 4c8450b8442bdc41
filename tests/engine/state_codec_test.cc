// StateCodec: write-out and read-back of a large random state is exact (equal hashes
// and bytes, and the two ledgers go on alike), and damaged input is refused.
#include "engine/state_codec.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>

#include <xxhash.h>

#include "engine/ledger.h"

namespace bonus {
namespace {

constexpr TimeUs kStart = 1'798'761'600'000'000;  // 2027-01-01T00:00:00Z

// A random but realistic stream: many buyers, mailings, cashback, checkouts, sweeps.
class Workload {
 public:
  explicit Workload(std::uint64_t seed) : rng_(seed) {}

  Command next() {
    const Id128 id{1, ++ids_};
    const SellerId seller = 1 + pick(5);
    const BuyerId buyer = 1 + pick(3'000);
    const OrderId order = 1 + pick(4'000);
    const Amount amount = 1 + pick(400);
    switch (pick(16)) {
      case 0: case 1: case 2:
        return Credit{id, seller, buyer, amount, pick(4), LotLife::ttl_of(TimeUs(1 + pick(72)) * kUsPerHour)};
      case 3: return Accrue{id, order, seller, buyer, amount, LotLife::policy()};
      case 4: return ConfirmAccrual{id, order};
      case 5: return CancelAccrual{id, order};
      case 6: case 7: return Hold{id, order, seller, buyer, amount / 4 + 1, 1'000'000, TimeUs(pick(3) * 10) * kUsPerMinute};
      case 8: return Capture{id, order, pick(3) == 0 ? Amount{1} : Amount{0}};
      case 9: return Release{id, order};
      case 10: return Spend{id, order, seller, buyer, amount, 1'000'000};
      case 11: return Refund{id, order, 0};
      case 12: return ReverseAccrual{id, order};
      case 13: return RevokeCampaign{id, seller, 1 + pick(3)};
      case 14: return Sweep{static_cast<std::uint32_t>(pick(50))};
      default: return Credit{Id128{1, ids_ - pick(5)}, seller, buyer, amount, 0, LotLife::policy()};
    }
  }
  TimeUs step() { return TimeUs(1 + pick(20)) * kUsPerMinute / 10; }

 private:
  std::uint64_t pick(std::uint64_t n) { return rng_() % n; }
  std::mt19937_64 rng_;
  std::uint64_t ids_ = 0;
};

std::uint64_t seed_from_env() {
  const char* s = std::getenv("CODEC_SEED");
  const std::uint64_t seed = s ? std::strtoull(s, nullptr, 10) : std::random_device{}();
  std::printf("CODEC_SEED=%llu\n", static_cast<unsigned long long>(seed));
  return seed;
}

EngineConfig small_windows() {
  EngineConfig config;
  config.id_window_us = 6 * kUsPerHour;
  config.order_retention_us = 2 * kUsPerDay;
  return config;
}

TEST(StateCodec, RoundTripOfALargeRandomStateIsExact) {
  const std::uint64_t seed = seed_from_env();
  Workload work(seed);
  Ledger original(small_windows());
  TimeUs now = kStart;
  for (int i = 0; i < 300'000; ++i) original.apply(work.next(), now += work.step());
  ASSERT_GT(original.account_count(), 10'000u);  // Nearly all 15,000 pairs.
  // The state has a bit of everything in it.
  const SellerStats t = original.total_stats();
  ASSERT_TRUE(t.spent > 0 && t.expired > 0 && t.refunded > 0 && t.reversed > 0 && t.pending > 0)
      << "seed " << seed << ": spent " << t.spent << " expired " << t.expired << " refunded "
      << t.refunded << " reversed " << t.reversed << " held " << t.held << " pending "
      << t.pending << " debt " << t.debt;

  const std::string bytes = StateCodec::encode(original);
  Ledger restored(small_windows());
  const auto error = StateCodec::decode(bytes, restored);
  ASSERT_FALSE(error) << *error << " (seed " << seed << ")";
  EXPECT_EQ(StateCodec::encode(restored), bytes);
  EXPECT_EQ(restored.state_hash(), original.state_hash());
  EXPECT_EQ(restored.last_time(), original.last_time());

  // Both go on alike: same results, same state, through limited sweeps and retention.
  for (int i = 0; i < 100'000; ++i) {
    const Command c = work.next();
    now += work.step();
    ASSERT_EQ(original.apply(c, now), restored.apply(c, now)) << "seed " << seed << " step " << i;
  }
  EXPECT_EQ(restored.state_hash(), original.state_hash()) << "seed " << seed;
  EXPECT_FALSE(restored.audit());
}

class StateCodecDamage : public ::testing::Test {
 protected:
  void SetUp() override {
    Workload work(7);
    TimeUs now = kStart;
    for (int i = 0; i < 2'000; ++i) ledger_.apply(work.next(), now += work.step());
    bytes_ = StateCodec::encode(ledger_);
  }
  std::string decode_error(const std::string& bytes) {
    Ledger fresh;
    const auto error = StateCodec::decode(bytes, fresh);
    return error ? *error : "";
  }
  Ledger ledger_;
  std::string bytes_;
};

TEST_F(StateCodecDamage, AFlippedByteIsAChecksumMismatch) {
  for (std::size_t at : {std::size_t{20}, bytes_.size() / 2, bytes_.size() - 9}) {
    std::string damaged = bytes_;
    damaged[at] ^= 0x5a;
    EXPECT_EQ(decode_error(damaged), "state: checksum mismatch") << "byte " << at;
  }
}

TEST_F(StateCodecDamage, TruncationIsRefused) {
  EXPECT_EQ(decode_error(bytes_.substr(0, bytes_.size() - 1)), "state: checksum mismatch");
  EXPECT_EQ(decode_error(bytes_.substr(0, 10)), "state: too short to be a state");
}

TEST_F(StateCodecDamage, ForeignBytesAreRefused) {
  std::string other = bytes_;
  other[0] = 'X';
  EXPECT_EQ(decode_error(other), "state: bad magic");
}

TEST_F(StateCodecDamage, ANewerVersionIsRefusedByName) {
  // Rewrite the version and the checksum, as a newer build would have written them.
  std::string newer = bytes_;
  newer[8] = 2;
  const std::uint64_t sum = XXH3_64bits(newer.data(), newer.size() - 8);
  std::memcpy(newer.data() + newer.size() - 8, &sum, 8);
  EXPECT_EQ(decode_error(newer), "state: format version 2 is not supported (this build reads 1)");
}

TEST_F(StateCodecDamage, ARecordOutOfRangeIsRefusedEvenWithAValidChecksum) {
  // The first seller's spend share (offset: header 24 + section 16 + seller id 8) set
  // to zero, checksum recomputed: the record check, not the checksum, must catch it.
  std::string bad = bytes_;
  std::memset(bad.data() + 24 + 16 + 8, 0, 4);
  const std::uint64_t sum = XXH3_64bits(bad.data(), bad.size() - 8);
  std::memcpy(bad.data() + bad.size() - 8, &sum, 8);
  EXPECT_EQ(decode_error(bad), "state: invalid seller record");
}

}  // namespace
}  // namespace bonus
