// Pipelined input against a real bonusd: a connection reads what the socket holds in
// chunks and serves every frame a chunk contains before reading again (Connection::
// serve_input). Whatever the cut of the byte stream (many frames in one write, frames
// cut at any byte, a body larger than a chunk between small frames), every request is
// answered once, with its own answer; after a frame whose framing is lost, the frames
// that came with it in the same chunk are not served.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "protocol/frame.h"
#include "protocol/messages.h"
#include "tests/server/wire.h"

namespace bonus::test {
namespace {

using protocol::FrameError;
using protocol::Opcode;

constexpr SellerId kSeller = 3;

protocol::Body body_of(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

std::string ping_frame(std::uint64_t request_id) {
  return protocol::make_frame(Opcode::ping, 0, request_id, protocol::Body{});
}

std::string balance_frame(std::uint64_t request_id, BuyerId buyer) {
  protocol::BalanceQuery q;
  q.accounts.push_back({kSeller, buyer});
  flatbuffers::FlatBufferBuilder fbb;
  protocol::encode_balance(q, fbb);
  return protocol::make_frame(Opcode::balance, 0, request_id,
                              protocol::Body{fbb.GetBufferPointer(), fbb.GetSize()});
}

// Credits `amount` to each of `buyers` (one command each, ids from `first_id`).
std::string credit_frame(std::uint64_t request_id, std::uint64_t first_id,
                         const std::vector<BuyerId>& buyers, Amount amount) {
  std::vector<Credit> credits;
  for (std::size_t i = 0; i < buyers.size(); ++i) {
    credits.push_back(
        Credit{Id128{77, first_id + i}, kSeller, buyers[i], amount, 0, LotLife::forever()});
  }
  return write_frame(request_id, std::span<const Credit>(credits));
}

// What a stream of requests should get back, by request id.
struct Expected {
  Opcode opcode;
  std::uint32_t results = 0;  // credits: how many ok results
};

// A stream of frames: small credits, balances of buyers credited earlier in the stream
// (the answer may or may not include them: writes and reads are not ordered), pings, and
// every 50 frames one credit batch of 300 buyers, a body of several chunks.
struct Stream {
  std::string bytes;
  std::map<std::uint64_t, Expected> expected;
  std::map<BuyerId, Amount> credited;
};

Stream make_stream(std::uint32_t frames, std::uint64_t id_base) {
  Stream s;
  std::uint64_t next_id = id_base;
  BuyerId next_buyer = 1;
  for (std::uint64_t rid = 1; rid <= frames; ++rid) {
    std::string f;
    if (rid % 50 == 25) {
      std::vector<BuyerId> buyers;
      for (int i = 0; i < 300; ++i) buyers.push_back(next_buyer++);
      f = credit_frame(rid, next_id, buyers, 7);
      next_id += buyers.size();
      for (BuyerId b : buyers) s.credited[b] += 7;
      s.expected[rid] = {Opcode::credit, 300};
    } else if (rid % 3 == 0) {
      f = credit_frame(rid, next_id++, {next_buyer}, 11);
      s.credited[next_buyer++] += 11;
      s.expected[rid] = {Opcode::credit, 1};
    } else if (rid % 3 == 1) {
      f = balance_frame(rid, 1 + rid % next_buyer);
      s.expected[rid] = {Opcode::balance};
    } else {
      f = ping_frame(rid);
      s.expected[rid] = {Opcode::ping};
    }
    s.bytes += f;
  }
  return s;
}

// Reads replies until every expected request id has one; fails on a second reply to an
// id, an unknown id, a wrong opcode, or a credit that did not succeed.
void expect_all_answered(RawConnection& c, const Stream& s) {
  std::map<std::uint64_t, bool> seen;
  for (std::size_t n = 0; n < s.expected.size(); ++n) {
    const WireReply r = read_reply(c);
    ASSERT_TRUE(r.got) << "reply " << n << " of " << s.expected.size() << " did not come";
    const std::uint64_t rid = r.header.request_id;
    const auto it = s.expected.find(rid);
    ASSERT_NE(it, s.expected.end()) << "a reply to request " << rid << ", never sent";
    ASSERT_FALSE(seen[rid]) << "a second reply to request " << rid;
    seen[rid] = true;
    ASSERT_EQ(r.header.opcode, it->second.opcode) << "request " << rid;
    if (it->second.opcode == Opcode::credit) {
      const std::string aligned = r.body;
      std::vector<protocol::IndexedResult> results;
      ASSERT_EQ(protocol::decode_write_reply(body_of(aligned), it->second.results, false, results),
                FrameError::none);
      ASSERT_EQ(results.size(), it->second.results);
      for (const auto& x : results) ASSERT_EQ(x.result.code, Code::ok) << "request " << rid;
    }
  }
}

// Each credited buyer holds exactly what the stream credited (read after every reply).
void expect_balances(std::uint16_t port, const Stream& s) {
  RawConnection c(port);
  ASSERT_TRUE(c.connected());
  std::uint64_t rid = 1'000'000;
  for (const auto& [buyer, amount] : s.credited) {
    ASSERT_TRUE(c.send(balance_frame(++rid, buyer)));
    const WireReply r = read_reply(c);
    ASSERT_TRUE(r.got);
    ASSERT_EQ(r.header.request_id, rid);
    const std::string aligned = r.body;
    std::vector<protocol::BalanceEntry> entries;
    ASSERT_EQ(protocol::decode_balance_reply(body_of(aligned), entries), FrameError::none);
    ASSERT_EQ(entries.size(), 1u);
    ASSERT_EQ(entries[0].account.available, amount) << "buyer " << buyer;
  }
}

class PipelinedInput : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(server_.start({"--durability", "none"})) << server_.log(); }
  BonusdProcess server_;
};

TEST_F(PipelinedInput, ManyFramesInOneWriteAreEachAnsweredOnce) {
  const Stream s = make_stream(400, 1);
  RawConnection c(server_.port());
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(c.send(s.bytes));
  expect_all_answered(c, s);
  expect_balances(server_.port(), s);
}

TEST_F(PipelinedInput, FramesCutAtRandomBytesAreEachAnsweredOnce) {
  const std::uint64_t seed = std::random_device{}();
  std::printf("seed %llu\n", static_cast<unsigned long long>(seed));
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  const Stream s = make_stream(200, 1);
  RawConnection c(server_.port());
  ASSERT_TRUE(c.connected());
  // Pieces of 1..100 bytes, some with a pause after them so that a read ends there.
  std::uniform_int_distribution<std::size_t> piece(1, 100);
  for (std::size_t at = 0; at < s.bytes.size();) {
    const std::size_t n = std::min(piece(rng), s.bytes.size() - at);
    ASSERT_TRUE(c.send(s.bytes.substr(at, n)));
    at += n;
    if (rng() % 8 == 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  expect_all_answered(c, s);
  expect_balances(server_.port(), s);
}

TEST_F(PipelinedInput, FramesAfterABadHeaderInTheSameWriteAreNotServed) {
  std::string bad = ping_frame(3);
  bad[0] ^= 0x5a;  // the magic
  const std::vector<BuyerId> later_buyer{500};
  RawConnection c(server_.port());
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(c.send(ping_frame(1) + ping_frame(2) + bad + credit_frame(4, 900, later_buyer, 5) +
                     ping_frame(5)));
  for (std::uint64_t rid : {1u, 2u}) {
    const WireReply r = read_reply(c);
    ASSERT_TRUE(r.got);
    EXPECT_EQ(r.header.opcode, Opcode::ping);
    EXPECT_EQ(r.header.request_id, rid);
  }
  const WireReply r = read_reply(c);
  ASSERT_TRUE(r.got);
  EXPECT_EQ(r.header.opcode, Opcode::error);
  EXPECT_TRUE(c.closed_by_peer());
  // The credit that followed the bad frame was never applied.
  Stream none;
  none.credited[500] = 0;
  expect_balances(server_.port(), none);
}

}  // namespace
}  // namespace bonus::test
