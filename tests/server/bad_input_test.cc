// Bad input against a real bonusd: each kind of bad frame gets its documented answer
// (protocol/README.md), the server keeps serving other connections, and nothing
// acknowledged is lost.
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "protocol/crc32c.h"
#include "protocol/frame.h"
#include "protocol/messages.h"
#include "tests/server/wire.h"

namespace bonus::test {
namespace {

using protocol::FrameError;
using protocol::FrameHeader;
using protocol::Opcode;

using Reply = WireReply;

protocol::Body body_of(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

FrameError error_of(const Reply& r) {
  if (!r.got || r.header.opcode != Opcode::error) return FrameError::none;
  protocol::ErrorInfo info;
  std::string aligned = r.body;  // decoders copy misaligned bodies themselves
  if (protocol::decode_error_reply(body_of(aligned), info) != FrameError::none) {
    return FrameError::none;
  }
  return info.code;
}

std::string credit_frame(std::uint64_t request_id, std::uint64_t id, Amount amount) {
  const Credit c{Id128{9, id}, 1, 42, amount, 0, LotLife::forever()};
  return write_frame(request_id, std::span<const Credit>(&c, 1));
}

std::string ping_frame(std::uint64_t request_id) {
  return protocol::make_frame(Opcode::ping, 0, request_id, protocol::Body{});
}

// Rewrites the header checksum after a test changed header bytes on purpose.
void reseal(std::string& frame) {
  const std::uint32_t crc = crc32c(frame.data(), 28);
  std::memcpy(frame.data() + 28, &crc, 4);
}

class BadInput : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.start({"--batch-commands-max", "10", "--frame-size-max", "65536"}))
        << server_.log();
    // One acknowledged write that must survive everything below.
    RawConnection c(server_.port());
    ASSERT_TRUE(c.send(credit_frame(1, 1, 500)));
    const Reply r = read_reply(c);
    ASSERT_TRUE(r.got);
    ASSERT_EQ(r.header.opcode, Opcode::credit);
    std::vector<protocol::IndexedResult> results;
    ASSERT_EQ(protocol::decode_write_reply(body_of(r.body), 1, false, results), FrameError::none);
    ASSERT_EQ(results.size(), 1u);
    ASSERT_EQ(results[0].result.code, Code::ok);
  }

  void TearDown() override {
    // Another connection still works, and the acknowledged credit is there, before and
    // after a restart.
    expect_credit_present();
    EXPECT_EQ(server_.stop(SIGTERM), 0) << server_.log();
    ASSERT_TRUE(server_.start()) << server_.log();
    expect_credit_present();
  }

  void expect_credit_present() {
    RawConnection c(server_.port());
    ASSERT_TRUE(c.connected());
    protocol::BalanceQuery q;
    q.accounts.push_back({1, 42});
    flatbuffers::FlatBufferBuilder fbb;
    protocol::encode_balance(q, fbb);
    ASSERT_TRUE(c.send(protocol::make_frame(Opcode::balance, 0, 77,
                                            protocol::Body{fbb.GetBufferPointer(), fbb.GetSize()})));
    const Reply r = read_reply(c);
    ASSERT_TRUE(r.got);
    EXPECT_EQ(r.header.request_id, 77u);
    std::vector<protocol::BalanceEntry> entries;
    ASSERT_EQ(protocol::decode_balance_reply(body_of(r.body), entries), FrameError::none);
    ASSERT_EQ(entries.size(), 1u);
    EXPECT_EQ(entries[0].account.available, 500u);
  }

  // Sends `frame`, expects an ErrorReply with `expected`, and then either a closed
  // connection or one that still answers a ping.
  void expect_answer(const std::string& frame, FrameError expected, bool closes) {
    RawConnection c(server_.port());
    ASSERT_TRUE(c.connected());
    ASSERT_TRUE(c.send(frame));
    const Reply r = read_reply(c);
    EXPECT_EQ(error_of(r), expected) << "opcode " << static_cast<int>(r.header.opcode);
    if (closes) {
      EXPECT_TRUE(c.closed_by_peer());
      return;
    }
    ASSERT_TRUE(c.send(ping_frame(5)));
    const Reply pong = read_reply(c);
    EXPECT_TRUE(pong.got);
    EXPECT_EQ(pong.header.opcode, Opcode::ping);
    EXPECT_EQ(pong.header.request_id, 5u);
  }

  BonusdProcess server_;
};

TEST_F(BadInput, WrongMagicIsAnsweredAndClosed) {
  std::string f = ping_frame(3);
  f[0] = 'X';
  expect_answer(f, FrameError::bad_magic, true);
}

TEST_F(BadInput, WrongVersionIsAnsweredAndClosed) {
  std::string f = ping_frame(3);
  f[4] = 9;
  reseal(f);
  expect_answer(f, FrameError::bad_version, true);
}

TEST_F(BadInput, BadHeaderChecksumIsAnsweredAndClosed) {
  std::string f = ping_frame(3);
  f[16] ^= 1;  // request id changed, checksum not
  expect_answer(f, FrameError::bad_header_crc, true);
}

TEST_F(BadInput, OversizedLengthIsAnsweredAndClosed) {
  std::string f = ping_frame(3);
  const std::uint32_t huge = 1u << 20;  // over --frame-size-max 65536
  std::memcpy(f.data() + 8, &huge, 4);
  reseal(f);
  expect_answer(f, FrameError::frame_too_large, true);
}

TEST_F(BadInput, BadBodyChecksumIsAnsweredAndTheConnectionGoesOn) {
  std::string f = credit_frame(3, 2, 100);
  f[protocol::kHeaderBytes + 4] ^= 0x40;
  expect_answer(f, FrameError::bad_body_crc, false);
}

TEST_F(BadInput, UnknownOpcodeIsAnsweredAndTheConnectionGoesOn) {
  std::string f = ping_frame(3);
  const std::uint16_t opcode = 999;
  std::memcpy(f.data() + 6, &opcode, 2);
  reseal(f);
  expect_answer(f, FrameError::unknown_opcode, false);
}

TEST_F(BadInput, BodyFailingTheVerifierIsAnsweredAndTheConnectionGoesOn) {
  const std::string junk = "this is not a flatbuffer at all, not even close";
  expect_answer(protocol::make_frame(Opcode::credit, 0, 3, body_of(junk)),
                FrameError::malformed_body, false);
}

TEST_F(BadInput, BatchOverTheLimitIsAnsweredAndTheConnectionGoesOn) {
  std::vector<Credit> credits(11, Credit{Id128{9, 1000}, 1, 42, 1, 0, LotLife::forever()});
  for (std::size_t i = 0; i < credits.size(); ++i) credits[i].id.lo += i;
  expect_answer(write_frame(3, std::span<const Credit>(credits)), FrameError::batch_too_large,
                false);
}

TEST_F(BadInput, TruncatedFrameThenCloseLeavesTheServerServing) {
  RawConnection c(server_.port());
  const std::string f = credit_frame(3, 3, 100);
  ASSERT_TRUE(c.send(f.substr(0, f.size() - 7)));
  c.close();
  // TearDown checks that other connections are served and nothing acknowledged is lost;
  // the truncated credit itself was never applied.
  RawConnection d(server_.port());
  protocol::BalanceQuery q;
  q.accounts.push_back({1, 42});
  flatbuffers::FlatBufferBuilder fbb;
  protocol::encode_balance(q, fbb);
  ASSERT_TRUE(d.send(protocol::make_frame(Opcode::balance, 0, 8,
                                          protocol::Body{fbb.GetBufferPointer(), fbb.GetSize()})));
  const Reply r = read_reply(d);
  std::vector<protocol::BalanceEntry> entries;
  ASSERT_EQ(protocol::decode_balance_reply(body_of(r.body), entries), FrameError::none);
  EXPECT_EQ(entries.at(0).account.available, 500u);
}

TEST_F(BadInput, ReplyFlagOnARequestIsAnUnknownOpcode) {
  std::string f = ping_frame(3);
  f[5] = protocol::kReply;
  reseal(f);
  expect_answer(f, FrameError::unknown_opcode, false);
}

}  // namespace
}  // namespace bonus::test
