// ReadTimer: one entry per read in flight, whatever request ids a client sends, and every
// reply that completes a read observes bonus_read_seconds once.
#include "server/read_timer.h"

#include <gtest/gtest.h>

#include <string>

#include "protocol/messages.h"

namespace bonus::server {
namespace {

using protocol::Opcode;

protocol::FrameHeader request(Opcode op, std::uint64_t request_id) {
  protocol::FrameHeader h;
  h.opcode = op;
  h.request_id = request_id;
  return h;
}

std::string reply_frame(Opcode op, std::uint64_t request_id) {
  return protocol::make_frame(op, protocol::kReply, request_id, protocol::Body{});
}

std::uint64_t balance_reads() {
  const auto i = static_cast<std::size_t>(Histogram::read_balance);
  std::uint64_t n = 0;
  for (const std::uint64_t b : metrics().snapshot().buckets[i]) n += b;
  return n;
}

TEST(ReadTimer, TimesReadsOnlyAndForgetsThemWhenAnswered) {
  ReadTimer timer;
  const std::uint64_t before = balance_reads();
  timer.arrived(request(Opcode::balance, 1));
  timer.arrived(request(Opcode::credit, 2));  // a write: not timed
  timer.arrived(request(Opcode::ping, 3));
  EXPECT_EQ(timer.pending(), 1u);
  timer.replied(reply_frame(Opcode::credit, 2));
  timer.replied(reply_frame(Opcode::ping, 3));
  EXPECT_EQ(timer.pending(), 1u);
  timer.replied(reply_frame(Opcode::error, 1));  // an error answers a read too
  EXPECT_EQ(timer.pending(), 0u);
  EXPECT_EQ(balance_reads() - before, 1u);
}

// A hostile client reusing one request id for every read holds one entry, not one per read.
TEST(ReadTimer, ReusedRequestIdsHoldOneEntry) {
  ReadTimer timer;
  for (int i = 0; i < 10'000; ++i) timer.arrived(request(Opcode::balance, 7));
  EXPECT_EQ(timer.pending(), 1u);
  for (int i = 0; i < 10'000; ++i) timer.replied(reply_frame(Opcode::balance, 7));
  EXPECT_EQ(timer.pending(), 0u);
}

TEST(ReadTimer, FramesThatAreNotFramesAreIgnored) {
  ReadTimer timer;
  timer.arrived(request(Opcode::cart, 1));
  timer.replied("short");
  timer.replied(std::string(protocol::kHeaderBytes, 'x'));  // bad magic
  EXPECT_EQ(timer.pending(), 1u);
}

}  // namespace
}  // namespace bonus::server
