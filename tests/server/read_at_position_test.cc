// Requests at a log position (frame flag position, server/connection_position.cc),
// against a real bonusd with its own journal: a write's reply names its position, a read
// asking for a position the node has not reached waits until writes get it there (and
// then sees them), one it never reaches is answered position_unreached after
// --position-wait-ms, and a body too short for its position is malformed. The standby
// side (a read on another node sees a write acknowledged by the leader) is in
// tests/clients/cluster_failover_test.cc.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/server/client_of.h"
#include "tests/server/http_get.h"
#include "tests/server/wire.h"

namespace bonus::test {
namespace {

constexpr SellerId kSeller = 5;

Credit credit_of(std::uint64_t id, BuyerId buyer, Amount amount) {
  return Credit{Id128{21, id}, kSeller, buyer, amount, 0, LotLife::forever()};
}

std::string balance_at(std::uint64_t request_id, std::uint64_t position, BuyerId buyer) {
  flatbuffers::FlatBufferBuilder fbb;
  protocol::encode_balance(protocol::BalanceQuery{{{kSeller, buyer}}, false}, fbb);
  return protocol::make_frame_at(protocol::Opcode::balance, 0, request_id, position,
                                 protocol::Body{fbb.GetBufferPointer(), fbb.GetSize()});
}

protocol::ErrorInfo error_of(const WireReply& r) {
  protocol::ErrorInfo info;
  EXPECT_EQ(r.header.opcode, protocol::Opcode::error);
  EXPECT_EQ(protocol::decode_error_reply(r.view(), info), protocol::FrameError::none);
  return info;
}

class ReadAtPosition : public ::testing::Test {
 protected:
  void start(std::vector<std::string> flags) {
    flags.insert(flags.end(), {"--metrics-listen", "127.0.0.1:0"});
    ASSERT_TRUE(server.start(flags)) << server.log();
    client::ClientOptions options;
    options.port = server.port();
    options.read_your_writes = true;
    auto connected = client::Client::connect(options);
    ASSERT_TRUE(std::holds_alternative<std::unique_ptr<client::Client>>(connected))
        << std::get<std::string>(connected);
    writer = std::move(std::get<std::unique_ptr<client::Client>>(connected));
  }

  BonusdProcess server;
  std::unique_ptr<client::Client> writer;
};

TEST_F(ReadAtPosition, AReadWaitsForWritesThatReachItsPositionAndSeesThem) {
  start({"--position-wait-ms", "10000"});
  ASSERT_TRUE(writer->write(credit_of(1, 42, 100)).ok());
  const std::uint64_t first = writer->position();
  ASSERT_GT(first, 0u) << "a write's reply names its position";
  ASSERT_TRUE(writer->write(credit_of(2, 42, 100)).ok());
  const std::uint64_t second = writer->position();
  ASSERT_GT(second, first);

  // Two records past the log's end: the read waits for both.
  RawConnection raw(server.port());
  ASSERT_TRUE(raw.connected());
  const auto asked = std::chrono::steady_clock::now();
  ASSERT_TRUE(raw.send(balance_at(7, second + 2, 42)));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_TRUE(writer->write(credit_of(3, 42, 10)).ok());
  ASSERT_TRUE(writer->write(credit_of(4, 42, 1)).ok());
  const WireReply r = read_reply(raw);
  ASSERT_TRUE(r.got);
  EXPECT_GE(std::chrono::steady_clock::now() - asked, std::chrono::milliseconds(300))
      << "answered before the node reached the position";
  ASSERT_EQ(r.header.opcode, protocol::Opcode::balance) << error_of(r).message;
  ASSERT_NE(r.header.flags & protocol::kPosition, 0) << "the reply names its position";
  std::uint64_t position = 0;
  protocol::Body body;
  ASSERT_TRUE(protocol::split_position(r.view(), position, body));
  EXPECT_GE(position, second + 2);
  std::vector<protocol::BalanceEntry> entries;
  ASSERT_EQ(protocol::decode_balance_reply(body, entries), protocol::FrameError::none);
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].account.available, 211u) << "the read missed writes before its position";
  EXPECT_GE(scraped_metric(server.metrics_port(), "bonus_position_waits_total"), 1);

  // The writer's own reads: at its position, at once, with what it wrote.
  const auto b = writer->balance(kSeller, 42);
  ASSERT_TRUE(b.ok()) << b.message;
  EXPECT_EQ(b.value.account.available, 211u);
  EXPECT_GE(writer->position(), second + 2);
}

TEST_F(ReadAtPosition, APositionNeverReachedIsAnsweredPositionUnreached) {
  start({"--position-wait-ms", "200"});
  ASSERT_TRUE(writer->write(credit_of(1, 42, 100)).ok());
  RawConnection raw(server.port());
  ASSERT_TRUE(raw.connected());
  const auto asked = std::chrono::steady_clock::now();
  ASSERT_TRUE(raw.send(balance_at(9, std::uint64_t{1} << 50, 42)));
  const WireReply r = read_reply(raw);
  ASSERT_TRUE(r.got);
  EXPECT_GE(std::chrono::steady_clock::now() - asked, std::chrono::milliseconds(200));
  EXPECT_EQ(r.header.request_id, 9u);
  const protocol::ErrorInfo e = error_of(r);
  EXPECT_EQ(e.code, protocol::FrameError::position_unreached);
  EXPECT_NE(e.message.find("--position-wait-ms"), std::string::npos) << e.message;

  // The connection goes on; so does a client whose floor is past the log.
  ASSERT_TRUE(raw.send(balance_at(10, 1, 42)));
  EXPECT_EQ(read_reply(raw).header.opcode, protocol::Opcode::balance);
  writer->read_at_least(std::uint64_t{1} << 50);
  const auto b = writer->balance(kSeller, 42);
  EXPECT_EQ(b.error, protocol::FrameError::position_unreached) << b.message;
}

TEST_F(ReadAtPosition, NoWaitAndShortBodiesAreAnsweredAtOnce) {
  start({"--position-wait-ms", "0"});
  RawConnection raw(server.port());
  ASSERT_TRUE(raw.connected());
  ASSERT_TRUE(raw.send(balance_at(3, 1'000, 42)));
  const protocol::ErrorInfo e = error_of(read_reply(raw, 2000));
  EXPECT_EQ(e.code, protocol::FrameError::position_unreached);
  EXPECT_NE(e.message.find("no wait"), std::string::npos) << e.message;

  const std::string four = "abcd";
  ASSERT_TRUE(raw.send(protocol::make_frame(
      protocol::Opcode::balance, protocol::kPosition, 4,
      protocol::Body{reinterpret_cast<const std::uint8_t*>(four.data()), four.size()})));
  const WireReply r = read_reply(raw, 2000);
  EXPECT_EQ(r.header.request_id, 4u);
  EXPECT_EQ(error_of(r).code, protocol::FrameError::malformed_body);
}

// A client that parks many waits and goes away without reading: the others are served
// meanwhile, and its waits end with their timeouts (the stop does not hang on them).
TEST_F(ReadAtPosition, ParkedWaitsOfAClosedConnectionHoldNobody) {
  start({"--position-wait-ms", "2000"});
  {
    RawConnection raw(server.port());
    ASSERT_TRUE(raw.connected());
    std::string frames;
    for (std::uint64_t i = 1; i <= 100; ++i) frames += balance_at(i, 1'000'000, 42);
    ASSERT_TRUE(raw.send(frames));
    for (int i = 0; i < 200 && scraped_metric(server.metrics_port(), "bonus_position_waits_total") < 1; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  const auto asked = std::chrono::steady_clock::now();
  ASSERT_TRUE(writer->write(credit_of(1, 43, 5)).ok());
  const auto b = writer->balance(kSeller, 43);
  EXPECT_LT(std::chrono::steady_clock::now() - asked, std::chrono::milliseconds(1500))
      << "another connection's waits held this one";
  ASSERT_TRUE(b.ok()) << b.message;
  EXPECT_EQ(b.value.account.available, 5u);
  EXPECT_GE(scraped_metric(server.metrics_port(), "bonus_position_waits_total"), 1);
  const auto stopping = std::chrono::steady_clock::now();
  EXPECT_EQ(server.stop(), 0) << server.log();
  EXPECT_LT(std::chrono::steady_clock::now() - stopping, std::chrono::seconds(5));
}

}  // namespace
}  // namespace bonus::test
