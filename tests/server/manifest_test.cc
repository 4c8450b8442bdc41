// The manifest: the settings that change what a command does are kept with the data, so
// a restart replays the log into the same state whatever flags it is given. With real
// bonusd processes: the reported bug (a retried credit that was a repeat became a second
// credit after a restart with another --id-window-s), each limit flag changed (refused,
// named), flags left out (the stored values), a damaged manifest, and the journaled
// SetLimits surviving restarts and checkpoints. And the file format on its own.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "clients/cpp/client.h"
#include "server/manifest.h"
#include "tests/server/bonusd_process.h"

namespace bonus::test {
namespace {

namespace fs = std::filesystem;
using client::Client;
using server::Manifest;

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_file(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

Manifest sample() {
  Manifest m;
  m.shards = 3;
  m.limits_changes = 2;
  m.initial.ids_max = 1000;
  m.current.ids_max = 2000;
  m.current.id_window_us = 60 * kUsPerSecond;
  return m;
}

// ---------------------------------------------------------------------------------------
// The file format

TEST(ManifestFormat, RoundTripsEveryField) {
  const std::string bytes = server::encode_manifest(sample());
  EXPECT_EQ(bytes.size(), Manifest::kBytes);
  const auto decoded = server::decode_manifest(bytes, "m");
  ASSERT_TRUE(std::holds_alternative<Manifest>(decoded)) << std::get<std::string>(decoded);
  EXPECT_EQ(std::get<Manifest>(decoded), sample());
}

TEST(ManifestFormat, DamageIsRefusedByName) {
  const std::string bytes = server::encode_manifest(sample());
  auto error_of = [](const std::string& b) {
    const auto d = server::decode_manifest(b, "/d/manifest");
    return std::holds_alternative<std::string>(d) ? std::get<std::string>(d) : "";
  };
  for (std::size_t at : {std::size_t{16}, std::size_t{40}, bytes.size() - 1}) {
    std::string flipped = bytes;
    flipped[at] ^= 0x10;
    EXPECT_EQ(error_of(flipped), "manifest /d/manifest: checksum mismatch (damaged)") << at;
  }
  EXPECT_NE(error_of(bytes.substr(0, 100)).find("100 bytes, expected 152"), std::string::npos);
  EXPECT_NE(error_of("").find("not a bonusd manifest"), std::string::npos);
  std::string newer = bytes;
  newer[8] = 2;
  EXPECT_NE(error_of(newer).find("format version 2; this build reads version 1"), std::string::npos);
}

TEST(ManifestFormat, AValueOutOfRangeIsRefusedEvenWithAValidChecksum) {
  Manifest m = sample();
  m.current.ids_max = 0;
  const auto d = server::decode_manifest(server::encode_manifest(m), "m");
  ASSERT_TRUE(std::holds_alternative<std::string>(d));
  EXPECT_NE(std::get<std::string>(d).find("out of range"), std::string::npos);
}

TEST(ManifestFormat, FlagsAreCheckedAgainstTheStoredValuesAndNamed) {
  const Manifest m = sample();
  EngineConfig flags = m.current;
  EXPECT_FALSE(server::check_flags(flags, SetLimits::kFieldsAll, 3, true, m, m.current));
  flags.ids_max = 5;
  EXPECT_FALSE(server::check_flags(flags, SetLimits::kIdWindow, 3, true, m, m.current))
      << "a flag not given is not checked";
  const auto error = server::check_flags(flags, SetLimits::kIdsMax, 0, false, m, m.current);
  ASSERT_TRUE(error);
  EXPECT_NE(error->find("--ids-max 5 differs from the data directory's 2000"), std::string::npos)
      << *error;
  EXPECT_NE(error->find("bonusctl admin limits set --ids-max 5"), std::string::npos) << *error;
  const auto shards = server::check_flags(m.current, 0, 2, true, m, m.current);
  ASSERT_TRUE(shards);
  EXPECT_NE(shards->find("--shards 2 differs from the data directory's 3 shards"), std::string::npos);
}

// ---------------------------------------------------------------------------------------
// bonusd

constexpr SellerId kSeller = 5;

class ManifestServer : public ::testing::Test {
 protected:
  bool start(std::vector<std::string> args) {
    args.insert(args.end(), {"--test-clock", "--sweep-interval-ms", "60000"});
    if (!server_.start(args)) return false;
    client::ClientOptions options;
    options.port = server_.port();
    auto connected = Client::connect(options);
    if (!std::holds_alternative<std::unique_ptr<Client>>(connected)) return false;
    client_ = std::move(std::get<std::unique_ptr<Client>>(connected));
    return true;
  }
  void stop(int signal = SIGTERM) {
    client_.reset();
    const int status = server_.stop(signal);
    EXPECT_EQ(status, signal == SIGTERM ? 0 : 128 + signal) << server_.log();
  }
  Result credit(Id128 id, BuyerId buyer, Amount amount) {
    Credit c;
    c.id = id;
    c.seller = kSeller;
    c.buyer = buyer;
    c.amount = amount;
    c.life = LotLife::forever();
    const auto reply = client_->write(c);
    EXPECT_TRUE(reply.ok()) << reply.message;
    return reply.value;
  }
  Amount available(BuyerId buyer) {
    const auto reply = client_->balance(kSeller, buyer, false);
    EXPECT_TRUE(reply.ok()) << reply.message;
    return reply.value.account.available;
  }
  void advance(TimeUs delta_us) {
    const auto reply = client_->admin(protocol::AdminAction::clock_advance, delta_us);
    ASSERT_TRUE(reply.ok() && reply.value.ok) << reply.message << reply.value.message;
  }
  protocol::AdminStatus limits() {
    const auto reply = client_->admin(protocol::AdminAction::limits);
    EXPECT_TRUE(reply.ok()) << reply.message;
    EXPECT_TRUE(reply.value.has_limits);
    return reply.value;
  }
  protocol::AdminStatus set_limits(SetLimits command) {
    const auto reply = client_->set_limits(command);
    EXPECT_TRUE(reply.ok()) << reply.message;
    return reply.value;
  }
  Manifest stored() {
    std::optional<Manifest> m;
    const auto error = server::read_manifest(server_.data_dir(), m);
    EXPECT_FALSE(error) << *error;
    EXPECT_TRUE(m);
    return m.value_or(Manifest{});
  }
  // Starts with `args`, expecting a refusal that mentions `text`.
  void expect_refused(const std::vector<std::string>& args, const std::string& text) {
    EXPECT_FALSE(start(args)) << "started with " << args.front();
    EXPECT_NE(server_.log().find(text), std::string::npos) << server_.log();
  }

  BonusdProcess server_;
  std::unique_ptr<Client> client_;
};

// The reported bug: a credit retried within the hour-long window is a repeat; replayed
// under a one-minute window it became a second credit. Now the other window is refused,
// and a start without the flag keeps the stored window and the one credit.
TEST_F(ManifestServer, ARetriedCreditStaysARepeatWhateverIdWindowTheRestartIsGiven) {
  ASSERT_TRUE(start({"--id-window-s", "3600", "--shards", "2"})) << server_.log();
  const Id128 id{0x1D, 1};
  ASSERT_EQ(credit(id, 1, 100).code, Code::ok);
  advance(120 * kUsPerSecond);
  const Result retry = credit(id, 1, 100);
  ASSERT_EQ(retry.code, Code::ok);
  ASSERT_TRUE(retry.flags & Result::kRepeat);
  ASSERT_EQ(available(1), 100u);
  stop();

  expect_refused({"--id-window-s", "60"}, "--id-window-s 60 differs from the data directory's 3600");
  ASSERT_TRUE(start({})) << server_.log();
  EXPECT_NE(server_.log().find("id-window-s=3600"), std::string::npos) << server_.log();
  EXPECT_EQ(available(1), 100u);
  EXPECT_EQ(limits().limits.id_window_us, 3600 * kUsPerSecond);
  stop();
  ASSERT_TRUE(start({"--id-window-s", "3600"})) << server_.log();  // the same value is fine
  EXPECT_EQ(available(1), 100u);
}

TEST_F(ManifestServer, EachLimitFlagChangedIsRefusedNamingItAndTheStoredValue) {
  ASSERT_TRUE(start({"--shards", "2", "--accounts-max", "1000", "--orders-max", "500",
                     "--ids-max", "4000", "--id-window-s", "600"}))
      << server_.log();
  ASSERT_EQ(credit(Id128{0xF1, 1}, 1, 10).code, Code::ok);
  stop();
  expect_refused({"--accounts-max", "1001"}, "--accounts-max 1001 differs from the data directory's 1000");
  expect_refused({"--orders-max", "499"}, "--orders-max 499 differs from the data directory's 500");
  expect_refused({"--ids-max", "8000"}, "--ids-max 8000 differs from the data directory's 4000");
  expect_refused({"--id-window-s", "86400"}, "--id-window-s 86400 differs from the data directory's 600");
  expect_refused({"--shards", "3"}, "--shards 3 differs from the data directory's 2 shards");
  EXPECT_NE(server_.log().find("start without --shards"), std::string::npos) << server_.log();
}

// Since strict flag parsing these are usage errors (exit status 2) before the manifest is
// even read; the manifest's own range check stays for the values `admin limits set` sends.
TEST_F(ManifestServer, ALimitFlagOutOfRangeIsRefusedAtTheFirstStartNamingIt) {
  expect_refused({"--ids-max", "0"}, "--ids-max: 0 is outside [1, 4294967296]");
  EXPECT_FALSE(fs::exists(fs::path(server_.data_dir()) / "manifest"));
  expect_refused({"--accounts-max", "8589934592"},
                 "--accounts-max: 8589934592 is outside [1, 4294967296]");
}

TEST_F(ManifestServer, FlagsLeftOutTakeTheStoredValues) {
  ASSERT_TRUE(start({"--shards", "1", "--accounts-max", "2", "--ids-max", "50"})) << server_.log();
  ASSERT_EQ(credit(Id128{0xF2, 1}, 1, 10).code, Code::ok);
  stop();
  ASSERT_TRUE(start({})) << server_.log();
  EXPECT_NE(server_.log().find("accounts-max=2 "), std::string::npos) << server_.log();
  const protocol::AdminStatus s = limits();
  EXPECT_EQ(s.shards, 1u);
  EXPECT_EQ(s.limits.accounts_max, 2u);
  EXPECT_EQ(s.limits.ids_max, 50u);
  // The stored bound is the one in force, not the default 2^26.
  EXPECT_EQ(credit(Id128{0xF2, 2}, 2, 10).code, Code::ok);
  EXPECT_EQ(credit(Id128{0xF2, 3}, 3, 10).code, Code::accounts_full);
}

TEST_F(ManifestServer, ADamagedOrForeignManifestStopsStartUpNamingIt) {
  ASSERT_TRUE(start({"--shards", "1"})) << server_.log();
  stop();
  const fs::path path = fs::path(server_.data_dir()) / "manifest";
  const std::string good = read_file(path);
  ASSERT_EQ(good.size(), Manifest::kBytes);

  std::string flipped = good;
  flipped[30] ^= 0x01;
  write_file(path, flipped);
  expect_refused({}, "manifest " + path.string() + ": checksum mismatch (damaged)");

  std::string newer = good;
  newer[8] = 9;
  write_file(path, newer);
  expect_refused({}, "format version 9; this build reads version 1");

  write_file(path, good.substr(0, 40));
  expect_refused({}, "40 bytes, expected 152");

  write_file(path, good);
  ASSERT_TRUE(start({})) << server_.log();
}

// Changing a limit on purpose: journaled, applied by every shard, the manifest follows,
// and it survives a restart (replayed from the journal) and a checkpoint (in its header).
TEST_F(ManifestServer, SetLimitsIsJournaledAndSurvivesRestartAndCheckpoint) {
  // One shard: accounts_max is per shard.
  ASSERT_TRUE(start({"--shards", "1", "--accounts-max", "2", "--checkpoint-interval-s", "0",
                     "--checkpoint-records", "0"}))
      << server_.log();
  ASSERT_EQ(credit(Id128{0xF3, 1}, 1, 10).code, Code::ok);
  SetLimits c;
  c.id = Id128{0x5E7, 1};
  c.fields = SetLimits::kAccountsMax | SetLimits::kIdWindow;
  c.accounts_max = 5;
  c.id_window_us = 7200 * kUsPerSecond;
  const protocol::AdminStatus set = set_limits(c);
  EXPECT_TRUE(set.ok) << set.message;
  EXPECT_EQ(set.limits_code, Code::ok);
  EXPECT_EQ(set.limits.accounts_max, 5u);
  EXPECT_EQ(set.limits_changes, 1u);
  Manifest m = stored();
  EXPECT_EQ(m.limits_changes, 1u);
  EXPECT_EQ(m.current.accounts_max, 5u);
  EXPECT_EQ(m.current.id_window_us, 7200 * kUsPerSecond);
  EXPECT_EQ(m.initial.accounts_max, 2u);

  SetLimits bad = c;
  bad.id = Id128{0x5E7, 2};
  bad.accounts_max = 0;
  const protocol::AdminStatus refused = set_limits(bad);
  EXPECT_FALSE(refused.ok);
  EXPECT_EQ(refused.limits_code, Code::invalid_limits);
  EXPECT_EQ(refused.limits.accounts_max, 5u);
  stop();

  // From the journal: the old flag value is now refused, the new one accepted.
  expect_refused({"--accounts-max", "2"}, "--accounts-max 2 differs from the data directory's 5");
  ASSERT_TRUE(start({"--accounts-max", "5"})) << server_.log();
  EXPECT_EQ(limits().limits.accounts_max, 5u);
  EXPECT_EQ(limits().limits_changes, 1u);
  const auto checkpoint = client_->admin(protocol::AdminAction::checkpoint);
  ASSERT_TRUE(checkpoint.ok() && checkpoint.value.ok) << checkpoint.value.message;
  for (BuyerId b = 2; b <= 5; ++b) ASSERT_EQ(credit(Id128{0xF3, b}, b, 10).code, Code::ok) << b;
  stop(SIGKILL);

  // From the checkpoint (journal before it deleted) and the journal after it.
  ASSERT_TRUE(start({})) << server_.log();
  EXPECT_NE(server_.log().find("loaded the checkpoint"), std::string::npos) << server_.log();
  EXPECT_EQ(limits().limits.accounts_max, 5u);
  EXPECT_EQ(limits().limits.id_window_us, 7200 * kUsPerSecond);
  EXPECT_EQ(credit(Id128{0xF3, 6}, 6, 10).code, Code::accounts_full);
  EXPECT_EQ(available(5), 10u);
}

// The checkpoint and the log are checked against the manifest: limits that differ after as
// many changes, or fewer changes than the manifest records, stop start-up.
TEST_F(ManifestServer, ACheckpointOrLogThatDisagreesWithTheManifestStopsStartUp) {
  ASSERT_TRUE(start({"--shards", "1", "--checkpoint-interval-s", "0", "--checkpoint-records", "0"}))
      << server_.log();
  ASSERT_EQ(credit(Id128{0xF4, 1}, 1, 10).code, Code::ok);
  const auto checkpoint = client_->admin(protocol::AdminAction::checkpoint);
  ASSERT_TRUE(checkpoint.ok() && checkpoint.value.ok) << checkpoint.value.message;
  stop();
  const Manifest good = stored();

  Manifest other = good;
  other.current.ids_max = 12345;
  ASSERT_FALSE(server::write_manifest(server_.data_dir(), other));
  expect_refused({}, "checkpoint: its limits (");
  EXPECT_NE(server_.log().find("differ from the manifest's"), std::string::npos) << server_.log();

  Manifest ahead = good;
  ahead.limits_changes = 3;
  ASSERT_FALSE(server::write_manifest(server_.data_dir(), ahead));
  expect_refused({}, "the manifest records 3 limit changes but the checkpoint and journal hold 0");

  ASSERT_FALSE(server::write_manifest(server_.data_dir(), good));
  ASSERT_TRUE(start({})) << server_.log();
  EXPECT_EQ(available(1), 10u);
}

TEST_F(ManifestServer, AJournalReplayedUnderOtherLimitsThanTheManifestsStopsStartUp) {
  ASSERT_TRUE(start({"--shards", "1", "--checkpoint", "off"})) << server_.log();
  ASSERT_EQ(credit(Id128{0xF5, 1}, 1, 10).code, Code::ok);
  stop();
  Manifest other = stored();
  other.current.orders_max = 77;  // position 0 says otherwise and no change was journaled
  ASSERT_FALSE(server::write_manifest(server_.data_dir(), other));
  expect_refused({"--checkpoint", "off"}, "but the manifest says");
}

// A crash after the change was durable but before the manifest was rewritten: the log is
// right, the manifest is mended from it with a log line.
TEST_F(ManifestServer, AManifestThatMissedADurableChangeIsMendedFromTheLog) {
  ASSERT_TRUE(start({"--shards", "2", "--ids-max", "100", "--checkpoint", "off"})) << server_.log();
  const std::string before = read_file(fs::path(server_.data_dir()) / "manifest");
  SetLimits c;
  c.id = Id128{0x5E7, 9};
  c.fields = SetLimits::kIdsMax;
  c.ids_max = 300;
  ASSERT_EQ(set_limits(c).limits_code, Code::ok);
  stop(SIGKILL);
  write_file(fs::path(server_.data_dir()) / "manifest", before);

  ASSERT_TRUE(start({})) << server_.log();
  EXPECT_NE(server_.log().find("1 limit changes the manifest missed"), std::string::npos)
      << server_.log();
  EXPECT_EQ(limits().limits.ids_max, 300u);
  EXPECT_EQ(stored().current.ids_max, 300u);
  EXPECT_EQ(stored().limits_changes, 1u);
}

}  // namespace
}  // namespace bonus::test
