// Every message both ways: the client's encoding decoded by the server gives the same
// engine values, and the server's encoding decoded by the client too; the limits.
#include "protocol/messages.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "protocol/bonus_generated.h"
#include "tests/protocol/message_samples.h"

namespace bonus::protocol {
namespace {

using testing::Rng;
using FBB = flatbuffers::FlatBufferBuilder;

Body body_of(const FBB& fbb) { return Body(fbb.GetBufferPointer(), fbb.GetSize()); }

Rng seeded(std::uint64_t fixed) { return Rng(testing::test_seed(fixed)); }

TEST(Hello, RoundTrip) {
  FBB fbb;
  for (const HelloQuery& sent :
       {HelloQuery{}, HelloQuery{"bt_abc", 1, "checkout-7"},
        HelloQuery{std::string(kTokenBytesMax, 't'), 0, std::string(kClientNameBytesMax, 'n')}}) {
    encode_hello(sent, fbb);
    HelloQuery got{"stale", 9, "stale"};
    ASSERT_EQ(decode_hello(body_of(fbb), got), FrameError::none);
    EXPECT_EQ(got, sent);
  }
  // With the partitions' ports and a leader, and without (a server with --partition-ports
  // off and the local journal): a decode into a used answer leaves nothing of the last one.
  HelloAnswer got;
  for (const HelloAnswer& answer :
       {HelloAnswer{"seller-admin",
                    1,
                    4,
                    65536,
                    10,
                    4096,
                    true,
                    "seller-42",
                    {7401, 7402, 7403, 65535},
                    std::string(kPartitionHashMix64Mod),
                    "standby",
                    "10.0.0.7:7400",
                    123'456'789},
        HelloAnswer{"seller-admin", 1, 4, 65536, 10, 4096, true, "seller-42", {}, "", "", "", 0}}) {
    encode_hello_reply(answer, fbb);
    ASSERT_EQ(decode_hello_reply(body_of(fbb), got), FrameError::none);
    EXPECT_EQ(got, answer);
  }
}

TEST(Hello, OverlongTokenOrNameIsMalformed) {
  FBB fbb;
  HelloQuery got;
  encode_hello(HelloQuery{std::string(kTokenBytesMax + 1, 't'), 1, "x"}, fbb);
  EXPECT_EQ(decode_hello(body_of(fbb), got), FrameError::malformed_body);
  encode_hello(HelloQuery{"t", 1, std::string(kClientNameBytesMax + 1, 'n')}, fbb);
  EXPECT_EQ(decode_hello(body_of(fbb), got), FrameError::malformed_body);
  // A hello body is not an admin body and the other way round.
  encode_admin(AdminQuery{AdminAction::status, 0, {}, {}}, fbb);
  EXPECT_EQ(decode_hello(body_of(fbb), got), FrameError::malformed_body);
}

// ---------------------------------------------------------------------------------------
// Writes, for every command kind.

template <typename C>
class WriteBatch : public ::testing::Test {};
using CommandKinds = ::testing::Types<Credit, Accrue, ConfirmAccrual, CancelAccrual, Hold,
                                      Capture, Release, Spend, Refund, ReverseAccrual,
                                      RevokeCampaign, SetPolicy>;
TYPED_TEST_SUITE(WriteBatch, CommandKinds);

TYPED_TEST(WriteBatch, ClientEncodeServerDecode) {
  Rng rng = seeded(21);
  FBB fbb;
  for (std::size_t count : {1, 2, 17, 1000}) {
    const std::vector<TypeParam> sent = testing::random_commands<TypeParam>(rng, count);
    encode_write(std::span<const TypeParam>(sent), fbb);
    std::vector<Command> got;
    ASSERT_EQ(decode_write(kWriteOpcode<TypeParam>, body_of(fbb), kBatchCommandsDefault, got),
              FrameError::none);
    ASSERT_EQ(got.size(), sent.size());
    for (std::size_t i = 0; i < count; ++i) {
      ASSERT_TRUE(std::holds_alternative<TypeParam>(got[i])) << i;
      // Byte-equal: the engine's idempotency check hashes exactly these bytes.
      EXPECT_EQ(0, std::memcmp(&std::get<TypeParam>(got[i]), &sent[i], sizeof(TypeParam))) << i;
    }
  }
}

TYPED_TEST(WriteBatch, OtherOpcodesRefuseIt) {
  Rng rng = seeded(22);
  FBB fbb;
  const std::vector<TypeParam> sent = testing::random_commands<TypeParam>(rng, 3);
  encode_write(std::span<const TypeParam>(sent), fbb);
  for (std::uint16_t op = 0; op < 128; ++op) {
    if (static_cast<Opcode>(op) == kWriteOpcode<TypeParam>) continue;
    std::vector<Command> got;
    EXPECT_EQ(decode_write(static_cast<Opcode>(op), body_of(fbb), kBatchCommandsMax, got),
              FrameError::malformed_body)
        << op;
  }
}

TYPED_TEST(WriteBatch, BatchLimits) {
  Rng rng = seeded(23);
  FBB fbb;
  const Opcode op = kWriteOpcode<TypeParam>;
  std::vector<Command> got;
  const std::vector<TypeParam> full = testing::random_commands<TypeParam>(rng, 101);
  encode_write(std::span<const TypeParam>(full).first(100), fbb);
  EXPECT_EQ(decode_write(op, body_of(fbb), 100, got), FrameError::none);
  EXPECT_EQ(got.size(), 100u);
  encode_write(std::span<const TypeParam>(full), fbb);
  EXPECT_EQ(decode_write(op, body_of(fbb), 100, got), FrameError::batch_too_large);
  encode_write(std::span<const TypeParam>(), fbb);
  EXPECT_EQ(decode_write(op, body_of(fbb), 100, got), FrameError::malformed_body);
}

TEST(WriteBatchLimits, CeilingHoldsWhateverTheServerSays) {
  Rng rng = seeded(24);
  FBB fbb;
  std::vector<Command> got;
  const std::vector<Release> at_ceiling =
      testing::random_commands<Release>(rng, kBatchCommandsMax);
  encode_write(std::span<const Release>(at_ceiling), fbb);
  EXPECT_EQ(decode_write(Opcode::release, body_of(fbb), UINT32_MAX, got), FrameError::none);
  const std::vector<Release> over = testing::random_commands<Release>(rng, kBatchCommandsMax + 1);
  encode_write(std::span<const Release>(over), fbb);
  EXPECT_EQ(decode_write(Opcode::release, body_of(fbb), UINT32_MAX, got),
            FrameError::batch_too_large);
}

TEST(WriteBatchLimits, MissingVectorIsMalformed) {
  FBB fbb;
  wire::CreditBatchBuilder batch(fbb);
  fbb.Finish(batch.Finish(), "CRDQ");
  std::vector<Command> got;
  EXPECT_EQ(decode_write(Opcode::credit, body_of(fbb), kBatchCommandsMax, got),
            FrameError::malformed_body);
}

TEST(WriteBatchLimits, SweepIsNotAWriteOpcode) {
  static_assert(kWriteOpcode<Sweep> == Opcode::error);
  static_assert(!WriteCommand<Sweep>);
  std::vector<Command> got;
  FBB fbb;
  encode_wallet(WalletQuery{1}, fbb);
  EXPECT_EQ(decode_write(Opcode::ping, body_of(fbb), kBatchCommandsMax, got),
            FrameError::malformed_body);
}

// "All" travels as the amount kAmountAll (2^64 - 1), 0 as 0: the two never meet, so a
// server never reads an explicit 0 as "all" (protocol/README.md, "Amounts").
template <typename C>
void expect_all_and_zero_cross_apart(Opcode op) {
  const std::vector<C> sent{C{Id128{1, 1}, 7, kAmountAll}, C{Id128{1, 2}, 7, 0},
                            C{Id128{1, 3}, 7}, C{Id128{1, 4}, 7, kAmountMax}};
  FBB fbb;
  encode_write(std::span<const C>(sent), fbb);
  std::vector<Command> got;
  ASSERT_EQ(decode_write(op, body_of(fbb), kBatchCommandsDefault, got), FrameError::none);
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(std::get<C>(got[0]).amount, kAmountAll);
  EXPECT_EQ(std::get<C>(got[1]).amount, 0u);
  EXPECT_EQ(std::get<C>(got[2]).amount, kAmountAll) << "an amount left out is all";
  EXPECT_EQ(std::get<C>(got[3]).amount, kAmountMax);
}

TEST(WriteAmounts, CaptureAllAndZeroCrossTheWireApart) {
  expect_all_and_zero_cross_apart<Capture>(Opcode::capture);
  FBB fbb;
  const std::vector<Capture> all{Capture{Id128{1, 1}, 7}};
  encode_write(std::span<const Capture>(all), fbb);
  const auto* batch = flatbuffers::GetRoot<wire::CaptureBatch>(fbb.GetBufferPointer());
  EXPECT_EQ(batch->commands()->Get(0)->amount(), 0xFFFF'FFFF'FFFF'FFFFull);
}

TEST(WriteAmounts, RefundAllAndZeroCrossTheWireApart) {
  expect_all_and_zero_cross_apart<Refund>(Opcode::refund);
  FBB fbb;
  const std::vector<Refund> all{Refund{Id128{1, 1}, 7}};
  encode_write(std::span<const Refund>(all), fbb);
  const auto* batch = flatbuffers::GetRoot<wire::RefundBatch>(fbb.GetBufferPointer());
  EXPECT_EQ(batch->commands()->Get(0)->amount(), 0xFFFF'FFFF'FFFF'FFFFull);
}

TEST(WriteReply, AllResultsRoundTrip) {
  Rng rng = seeded(25);
  std::vector<Result> results(50);
  for (Result& r : results) r = testing::random_result(rng);
  FBB fbb;
  encode_write_reply(results, false, fbb);
  std::vector<IndexedResult> got;
  ASSERT_EQ(decode_write_reply(body_of(fbb), 50, false, got), FrameError::none);
  ASSERT_EQ(got.size(), 50u);
  for (std::uint32_t i = 0; i < 50; ++i) {
    EXPECT_EQ(got[i].index, i);
    EXPECT_EQ(got[i].result, results[i]) << i;
  }
}

TEST(WriteReply, ErrorsOnlySendsTheRejections) {
  Rng rng = seeded(26);
  std::vector<Result> results(1000);
  for (Result& r : results) r = testing::random_result(rng);
  FBB fbb;
  encode_write_reply(results, true, fbb);
  std::vector<IndexedResult> got;
  ASSERT_EQ(decode_write_reply(body_of(fbb), 1000, true, got), FrameError::none);
  std::size_t next = 0;
  for (std::uint32_t i = 0; i < 1000; ++i) {
    if (results[i].ok()) continue;
    ASSERT_LT(next, got.size());
    EXPECT_EQ(got[next].index, i);
    EXPECT_EQ(got[next].result, results[i]);
    ++next;
  }
  EXPECT_EQ(next, got.size());
}

TEST(WriteReply, AllOkWithErrorsOnlyIsEmpty) {
  const std::vector<Result> results(10, Result::of(Code::ok));
  FBB fbb;
  encode_write_reply(results, true, fbb);
  std::vector<IndexedResult> got{IndexedResult{}};
  ASSERT_EQ(decode_write_reply(body_of(fbb), 10, true, got), FrameError::none);
  EXPECT_TRUE(got.empty());
}

TEST(WriteReply, ClientChecksTheShape) {
  std::vector<Result> results(5, Result::of(Code::ok));
  results[3] = Result::of(Code::zero_amount);
  FBB fbb;
  std::vector<IndexedResult> got;
  encode_write_reply(results, false, fbb);
  EXPECT_EQ(decode_write_reply(body_of(fbb), 5, false, got), FrameError::none);
  EXPECT_EQ(decode_write_reply(body_of(fbb), 6, false, got), FrameError::malformed_body);
  EXPECT_EQ(decode_write_reply(body_of(fbb), 4, false, got), FrameError::malformed_body);
  EXPECT_EQ(decode_write_reply(body_of(fbb), 5, true, got), FrameError::malformed_body)
      << "an ok result in an errors_only reply";
  encode_write_reply(results, true, fbb);
  EXPECT_EQ(decode_write_reply(body_of(fbb), 5, true, got), FrameError::none);
  EXPECT_EQ(decode_write_reply(body_of(fbb), 3, true, got), FrameError::malformed_body)
      << "index 3 of a batch of 3";
  // Indexes out of order.
  fbb.Clear();
  const std::vector<wire::WriteResult> swapped{wire::WriteResult(2, 3, 0, 0, 0),
                                               wire::WriteResult(1, 3, 0, 0, 0)};
  fbb.Finish(wire::CreateWriteReply(fbb, fbb.CreateVectorOfStructs(swapped)), "WRTR");
  EXPECT_EQ(decode_write_reply(body_of(fbb), 5, true, got), FrameError::malformed_body);
}

// What a refund, release or capture returned already dead travels in the optional
// `expired` vector, only for ok results that have some.
TEST(WriteReply, ExpiredTravelsWithItsResult) {
  std::vector<Result> results(4, Result::of(Code::ok));
  results[1].amount = 150;
  results[1].expired = 100;
  results[2] = Result::of(Code::unknown_order);
  results[3].expired = 7;
  FBB fbb;
  encode_write_reply(results, false, fbb);
  std::vector<IndexedResult> got;
  ASSERT_EQ(decode_write_reply(body_of(fbb), 4, false, got), FrameError::none);
  ASSERT_EQ(got.size(), 4u);
  for (std::uint32_t i = 0; i < 4; ++i) EXPECT_EQ(got[i].result, results[i]) << i;
  const auto* reply = flatbuffers::GetRoot<wire::WriteReply>(body_of(fbb).data());
  ASSERT_NE(reply->expired(), nullptr);
  EXPECT_EQ(reply->expired()->size(), 2u);

  // None to send: the vector is left out, and the reply is as before.
  encode_write_reply(std::vector<Result>(3, Result::of(Code::ok)), false, fbb);
  EXPECT_EQ(flatbuffers::GetRoot<wire::WriteReply>(body_of(fbb).data())->expired(), nullptr);
}

TEST(WriteReply, ClientChecksTheExpiredEntries) {
  const std::vector<wire::WriteResult> results{wire::WriteResult(0, 0, 0, 150, 0),
                                               wire::WriteResult(1, 0, 0, 80, 20),
                                               wire::WriteResult(2, 3, 0, 0, 0)};
  const std::vector<std::vector<wire::ExpiredResult>> bad{
      {wire::ExpiredResult(1, 5), wire::ExpiredResult(0, 5)},  // not by increasing index
      {wire::ExpiredResult(0, 5), wire::ExpiredResult(0, 5)},  // twice
      {wire::ExpiredResult(2, 5)},                             // a rejection
      {wire::ExpiredResult(3, 5)},                             // no such result
      {wire::ExpiredResult(0, 0)}};                            // nothing to say
  std::vector<IndexedResult> got;
  FBB fbb;
  for (const auto& entries : bad) {
    fbb.Clear();
    const auto r = fbb.CreateVectorOfStructs(results);
    const auto e = fbb.CreateVectorOfStructs(entries);
    fbb.Finish(wire::CreateWriteReply(fbb, r, e), "WRTR");
    EXPECT_EQ(decode_write_reply(body_of(fbb), 3, false, got), FrameError::malformed_body)
        << entries.size() << " entries, first index " << entries[0].index();
  }
  fbb.Clear();
  const auto r = fbb.CreateVectorOfStructs(results);
  const std::vector<wire::ExpiredResult> good{wire::ExpiredResult(0, 100),
                                              wire::ExpiredResult(1, 60)};
  const auto e = fbb.CreateVectorOfStructs(good);
  fbb.Finish(wire::CreateWriteReply(fbb, r, e), "WRTR");
  ASSERT_EQ(decode_write_reply(body_of(fbb), 3, false, got), FrameError::none);
  EXPECT_EQ(got[0].result.expired, 100u);
  EXPECT_EQ(got[1].result.expired, 60u);
  EXPECT_EQ(got[2].result.expired, 0u);
}

// ---------------------------------------------------------------------------------------
// Reads: requests.

TEST(Balance, RequestRoundTrip) {
  Rng rng = seeded(31);
  FBB fbb;
  for (std::size_t n : {1, 5, 300}) {
    const BalanceQuery sent = testing::random_balance_query(rng, n);
    encode_balance(sent, fbb);
    BalanceQuery got;
    ASSERT_EQ(decode_balance(body_of(fbb), kBatchCommandsDefault, got), FrameError::none);
    EXPECT_EQ(got, sent);
  }
}

TEST(Balance, Limits) {
  Rng rng = seeded(32);
  FBB fbb;
  BalanceQuery got;
  encode_balance(testing::random_balance_query(rng, 8), fbb);
  EXPECT_EQ(decode_balance(body_of(fbb), 8, got), FrameError::none);
  EXPECT_EQ(decode_balance(body_of(fbb), 7, got), FrameError::batch_too_large);
  encode_balance(testing::random_balance_query(rng, kBatchCommandsMax + 1), fbb);
  EXPECT_EQ(decode_balance(body_of(fbb), UINT32_MAX, got), FrameError::batch_too_large);
  encode_balance(BalanceQuery{}, fbb);
  EXPECT_EQ(decode_balance(body_of(fbb), 8, got), FrameError::malformed_body);
  fbb.Clear();
  fbb.Finish(wire::CreateBalanceRequest(fbb, 0, true), "BALQ");
  EXPECT_EQ(decode_balance(body_of(fbb), 8, got), FrameError::malformed_body);
}

TEST(Cart, RequestRoundTrip) {
  Rng rng = seeded(33);
  FBB fbb;
  for (std::size_t n : {1, 4, 200}) {
    const CartQuery sent = testing::random_cart_query(rng, n);
    encode_cart(sent, fbb);
    CartQuery got;
    ASSERT_EQ(decode_cart(body_of(fbb), kBatchCommandsDefault, got), FrameError::none);
    EXPECT_TRUE(testing::same_cart_query(got, sent));
  }
}

TEST(Cart, Limits) {
  Rng rng = seeded(34);
  FBB fbb;
  CartQuery got;
  encode_cart(testing::random_cart_query(rng, 3), fbb);
  EXPECT_EQ(decode_cart(body_of(fbb), 3, got), FrameError::none);
  EXPECT_EQ(decode_cart(body_of(fbb), 2, got), FrameError::batch_too_large);
  encode_cart(testing::random_cart_query(rng, 0), fbb);
  EXPECT_EQ(decode_cart(body_of(fbb), 3, got), FrameError::malformed_body);
  fbb.Clear();
  fbb.Finish(wire::CreateCartRequest(fbb, 9, 0, 0), "CRTQ");
  EXPECT_EQ(decode_cart(body_of(fbb), 3, got), FrameError::malformed_body);
}

TEST(Wallet, RequestRoundTrip) {
  FBB fbb;
  for (BuyerId buyer : {BuyerId{0}, BuyerId{1}, ~BuyerId{0}}) {
    encode_wallet(WalletQuery{buyer}, fbb);
    WalletQuery got{12345};
    ASSERT_EQ(decode_wallet(body_of(fbb), got), FrameError::none);
    EXPECT_EQ(got.buyer, buyer);
  }
}

TEST(Expiring, RequestRoundTrip) {
  Rng rng = seeded(35);
  FBB fbb;
  const ExpiringQuery sent{77, 30 * kUsPerDay, 500, testing::random_position(rng)};
  encode_expiring(sent, fbb);
  ExpiringQuery got;
  ASSERT_EQ(decode_expiring(body_of(fbb), kBatchCommandsDefault, got), FrameError::none);
  EXPECT_EQ(got, sent);
}

TEST(Expiring, StartCursorIsLeftOut) {
  FBB fbb;
  encode_expiring(ExpiringQuery{77, kUsPerDay, 10, ExpiringPosition{}}, fbb);
  const auto* request = flatbuffers::GetRoot<wire::ExpiringRequest>(fbb.GetBufferPointer());
  EXPECT_EQ(request->cursor(), nullptr);
  ExpiringQuery got;
  got.from.shard = 5;
  ASSERT_EQ(decode_expiring(body_of(fbb), kBatchCommandsDefault, got), FrameError::none);
  EXPECT_TRUE(got.from.at_start());
  EXPECT_EQ(got.from.cursor.bucket, INT64_MIN);
  EXPECT_EQ(got.from.cursor.after_account, UINT32_MAX);
}

TEST(Expiring, LimitIsClampedToTheMaximum) {
  FBB fbb;
  ExpiringQuery got;
  for (const auto& [sent, expected] :
       std::vector<std::pair<std::uint32_t, std::uint32_t>>{{0, 100}, {1, 1}, {100, 100},
                                                            {101, 100}, {UINT32_MAX, 100}}) {
    encode_expiring(ExpiringQuery{1, kUsPerDay, sent, {}}, fbb);
    ASSERT_EQ(decode_expiring(body_of(fbb), 100, got), FrameError::none);
    EXPECT_EQ(got.limit, expected) << sent;
  }
  encode_expiring(ExpiringQuery{1, kUsPerDay, 0, {}}, fbb);
  ASSERT_EQ(decode_expiring(body_of(fbb), UINT32_MAX, got), FrameError::none);
  EXPECT_EQ(got.limit, kBatchCommandsMax);
}

TEST(History, RequestsRoundTripAndTheLimitIsCapped) {
  FBB fbb;
  const HistoryQuery sent{7, 8, 0, 50, HistoryCursor{99, 3}};
  encode_history(sent, fbb);
  HistoryQuery got;
  ASSERT_EQ(decode_history(body_of(fbb), got), FrameError::none);
  EXPECT_EQ(got, sent);
  const HistoryQuery order{0, 0, 12, 0, HistoryCursor{}};
  encode_order(order, fbb);
  EXPECT_EQ(flatbuffers::GetRoot<wire::OrderRequest>(fbb.GetBufferPointer())->cursor(), nullptr);
  ASSERT_EQ(decode_order(body_of(fbb), got), FrameError::none);
  EXPECT_EQ(got.order, 12u);
  EXPECT_EQ(got.limit, kHistoryPageMax);  // 0: the page's maximum
  EXPECT_TRUE(got.from.start());
  encode_history(HistoryQuery{1, 2, 0, UINT32_MAX, {}}, fbb);
  ASSERT_EQ(decode_history(body_of(fbb), got), FrameError::none);
  EXPECT_EQ(got.limit, kHistoryPageMax);
  // A history request is not an order request.
  EXPECT_EQ(decode_order(body_of(fbb), got), FrameError::malformed_body);
}

TEST(History, ReplyRoundTripAndAnUnknownKindIsRefused) {
  Rng rng = seeded(38);
  HistoryAnswer sent = testing::random_history_answer(rng, 20);
  FBB fbb;
  encode_history_reply(sent, fbb);
  HistoryAnswer got;
  ASSERT_EQ(decode_history_reply(body_of(fbb), got), FrameError::none);
  EXPECT_EQ(got, sent);
  sent.done = true;
  sent.next = {};
  encode_history_reply(sent, fbb);
  ASSERT_EQ(decode_history_reply(body_of(fbb), got), FrameError::none);
  EXPECT_EQ(got, sent);
  sent.entries[3].event.kind = static_cast<LedgerEvent::Kind>(LedgerEvent::kKindMax + 1);
  encode_history_reply(sent, fbb);
  EXPECT_EQ(decode_history_reply(body_of(fbb), got), FrameError::malformed_body);
}

TEST(Stats, RequestRoundTrip) {
  FBB fbb;
  for (const StatsQuery sent : {StatsQuery{1, 0}, StatsQuery{~0ull, 42}}) {
    encode_stats(sent, fbb);
    StatsQuery got;
    ASSERT_EQ(decode_stats(body_of(fbb), got), FrameError::none);
    EXPECT_EQ(got, sent);
  }
}

TEST(Admin, RequestRoundTrip) {
  FBB fbb;
  for (const AdminQuery& sent :
       {AdminQuery{AdminAction::status, 0, {}, {}}, AdminQuery{AdminAction::audit, 0, {}, {}},
        AdminQuery{AdminAction::checkpoint, 0, {}, {}},
        AdminQuery{AdminAction::clock_advance, 1, {}, {}},
        AdminQuery{AdminAction::clock_advance, 90 * kUsPerDay, {}, {}},
        AdminQuery{AdminAction::limits, 0, {}, {}},
        AdminQuery{AdminAction::set_limits,
                   0,
                   SetLimits{Id128{7, 9}, SetLimits::kIdsMax | SetLimits::kIdWindow, 0, 1, 2, 3, 4,
                             5, 6, 7},
                   {}},
        AdminQuery{AdminAction::forget_node, 0, {}, "node-2_b"}}) {
    encode_admin(sent, fbb);
    AdminQuery got;
    ASSERT_EQ(decode_admin(body_of(fbb), got), FrameError::none);
    EXPECT_EQ(got, sent);
  }
}

TEST(Admin, OutOfRangeFieldsAreMalformed) {
  FBB fbb;
  AdminQuery got;
  encode_admin(AdminQuery{AdminAction::clock_advance, 0, {}, {}}, fbb);
  EXPECT_EQ(decode_admin(body_of(fbb), got), FrameError::malformed_body);
  encode_admin(AdminQuery{AdminAction::clock_advance, -5, {}, {}}, fbb);
  EXPECT_EQ(decode_admin(body_of(fbb), got), FrameError::malformed_body);
  fbb.Clear();
  fbb.Finish(wire::CreateAdminRequest(fbb, static_cast<wire::AdminAction>(7), 0), "ADMQ");
  EXPECT_EQ(decode_admin(body_of(fbb), got), FrameError::malformed_body);
  // forget_node without a node, or with a name no node can have.
  for (const char* node : {"", "two words", "x/y"}) {
    encode_admin(AdminQuery{AdminAction::forget_node, 0, {}, node}, fbb);
    EXPECT_EQ(decode_admin(body_of(fbb), got), FrameError::malformed_body) << node;
  }
  encode_admin(AdminQuery{AdminAction::forget_node, 0, {}, std::string(65, 'n')}, fbb);
  EXPECT_EQ(decode_admin(body_of(fbb), got), FrameError::malformed_body);
  fbb.Clear();
  fbb.Finish(wire::CreateAdminRequest(fbb, wire::AdminAction::forget_node, 0), "ADMQ");
  EXPECT_EQ(decode_admin(body_of(fbb), got), FrameError::malformed_body);
  // set_limits without its command.
  fbb.Clear();
  fbb.Finish(wire::CreateAdminRequest(fbb, wire::AdminAction::set_limits, 0), "ADMQ");
  EXPECT_EQ(decode_admin(body_of(fbb), got), FrameError::malformed_body);
}

// ---------------------------------------------------------------------------------------
// Reads: replies.

TEST(Balance, ReplyRoundTrip) {
  Rng rng = seeded(41);
  std::vector<BalanceEntry> sent;
  sent.push_back({testing::random_account(rng), {}});
  sent.push_back({testing::random_account(rng), testing::random_lots(rng, 1)});
  sent.push_back({testing::random_account(rng), testing::random_lots(rng, 300)});
  sent.push_back({AccountView{}, {}});
  FBB fbb;
  encode_balance_reply(sent, fbb);
  std::vector<BalanceEntry> got;
  ASSERT_EQ(decode_balance_reply(body_of(fbb), got), FrameError::none);
  EXPECT_EQ(got, sent);
  encode_balance_reply({}, fbb);
  ASSERT_EQ(decode_balance_reply(body_of(fbb), got), FrameError::none);
  EXPECT_TRUE(got.empty());
}

TEST(Balance, UnknownLotOriginIsMalformed) {
  FBB fbb;
  const std::vector<wire::LotEntry> lots{wire::LotEntry(5, 6, 2, 7)};
  const auto account = wire::CreateAccount(fbb, 1, 2, true, 5, 0, 0, 0, 6, 5,
                                           fbb.CreateVectorOfStructs(lots));
  fbb.Finish(wire::CreateBalanceReply(fbb, fbb.CreateVector(&account, 1)), "BALR");
  std::vector<BalanceEntry> got;
  EXPECT_EQ(decode_balance_reply(body_of(fbb), got), FrameError::malformed_body);
}

TEST(Cart, ReplyRoundTrip) {
  Rng rng = seeded(42);
  std::vector<CartEntry> sent;
  for (int i = 0; i < 20; ++i) sent.push_back(testing::random_cart_entry(rng));
  FBB fbb;
  encode_cart_reply(sent, fbb);
  std::vector<CartEntry> got;
  ASSERT_EQ(decode_cart_reply(body_of(fbb), got), FrameError::none);
  EXPECT_EQ(got, sent);
}

TEST(Wallet, ReplyRoundTrip) {
  Rng rng = seeded(43);
  std::vector<AccountView> sent;
  for (int i = 0; i < 20; ++i) sent.push_back(testing::random_account(rng));
  FBB fbb;
  encode_wallet_reply(sent, fbb);
  std::vector<AccountView> got;
  ASSERT_EQ(decode_wallet_reply(body_of(fbb), got), FrameError::none);
  EXPECT_EQ(got, sent);
}

TEST(Expiring, ReplyRoundTrip) {
  Rng rng = seeded(44);
  ExpiringAnswer sent;
  for (int i = 0; i < 20; ++i) sent.entries.push_back(testing::random_expiring_entry(rng));
  sent.next = testing::random_position(rng);
  sent.done = false;
  FBB fbb;
  encode_expiring_reply(sent, fbb);
  ExpiringAnswer got;
  ASSERT_EQ(decode_expiring_reply(body_of(fbb), got), FrameError::none);
  EXPECT_EQ(got, sent);
  // The last page: done, no cursor.
  sent.done = true;
  sent.next = {};
  encode_expiring_reply(sent, fbb);
  ASSERT_EQ(decode_expiring_reply(body_of(fbb), got), FrameError::none);
  EXPECT_EQ(got, sent);
  EXPECT_EQ(flatbuffers::GetRoot<wire::ExpiringReply>(fbb.GetBufferPointer())->next(), nullptr);
}

// Paging across shards: the cursor names the shard and the engine's place in it.
TEST(Expiring, CursorCarriesTheShard) {
  FBB fbb;
  ExpiringAnswer sent;
  sent.done = false;
  sent.next = ExpiringPosition{3, ExpiringCursor{}};  // shard 3 from its start
  encode_expiring_reply(sent, fbb);
  ExpiringAnswer page;
  ASSERT_EQ(decode_expiring_reply(body_of(fbb), page), FrameError::none);
  EXPECT_EQ(page.next.shard, 3u);
  EXPECT_FALSE(page.next.at_start());
  encode_expiring(ExpiringQuery{1, kUsPerDay, 10, page.next}, fbb);
  ExpiringQuery next;
  ASSERT_EQ(decode_expiring(body_of(fbb), 100, next), FrameError::none);
  EXPECT_EQ(next.from, sent.next);
}

TEST(Stats, ReplyRoundTrip) {
  Rng rng = seeded(45);
  FBB fbb;
  const SellerStats seller = testing::random_seller_stats(rng);
  encode_stats_reply(seller, fbb);
  SellerStats got_seller;
  ASSERT_EQ(decode_stats_reply(body_of(fbb), got_seller), FrameError::none);
  EXPECT_EQ(got_seller, seller);
  const CampaignStats campaign = testing::random_campaign_stats(rng);
  encode_stats_reply(campaign, fbb);
  CampaignStats got_campaign;
  ASSERT_EQ(decode_stats_reply(body_of(fbb), got_campaign), FrameError::none);
  EXPECT_EQ(got_campaign, campaign);
}

TEST(Admin, ReplyRoundTrip) {
  Rng rng = seeded(46);
  FBB fbb;
  for (int i = 0; i < 10; ++i) {
    const AdminStatus sent = testing::random_admin_status(rng);
    encode_admin_reply(sent, fbb);
    AdminStatus got;
    ASSERT_EQ(decode_admin_reply(body_of(fbb), got), FrameError::none);
    EXPECT_EQ(got, sent);
  }
}

TEST(Error, ReplyRoundTrip) {
  FBB fbb;
  for (int code : {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 21}) {
    const ErrorInfo sent{static_cast<FrameError>(code), std::string(frame_error_name(
                                                            static_cast<FrameError>(code)))};
    encode_error_reply(sent.code, sent.message, fbb);
    ErrorInfo got;
    ASSERT_EQ(decode_error_reply(body_of(fbb), got), FrameError::none);
    EXPECT_EQ(got, sent);
  }
}

// ---------------------------------------------------------------------------------------
// Bodies in frames.

// Rates and tiers on the wire: the side vectors (accrue's prices, set_policy's rates), the
// account's tier, the cart's earn, the policy read and segments.
TEST(RatesOnTheWire, SideVectorsRoundTripAndMustMatchTheCommands) {
  FBB fbb;
  std::vector<Accrue> accruals(3);
  for (std::size_t i = 0; i < accruals.size(); ++i) {
    accruals[i].id = Id128{1, i + 1};
    accruals[i].order = 10 + i;
  }
  encode_write(std::span<const Accrue>(accruals), fbb);  // no price: no vector
  const std::size_t without = fbb.GetSize();
  accruals[1].price = 199'050;
  encode_write(std::span<const Accrue>(accruals), fbb);
  EXPECT_GT(fbb.GetSize(), without);
  std::vector<Command> got;
  ASSERT_EQ(decode_write(Opcode::accrue, body_of(fbb), kBatchCommandsMax, got), FrameError::none);
  EXPECT_EQ(std::get<Accrue>(got[1]).price, 199'050u);
  EXPECT_EQ(std::get<Accrue>(got[2]).price, 0u);

  // A prices vector of another length is refused.
  {
    FBB bad;
    std::vector<wire::Accrue> commands{wire::Accrue(), wire::Accrue()};
    std::vector<wire::AccruePrice> prices{wire::AccruePrice(5)};
    const auto c = bad.CreateVectorOfStructs(commands);
    const auto p = bad.CreateVectorOfStructs(prices);
    bad.Finish(wire::CreateAccrueBatch(bad, c, p), "ACRQ");
    EXPECT_EQ(decode_write(Opcode::accrue, body_of(bad), kBatchCommandsMax, got),
              FrameError::malformed_body);
  }

  SetPolicy policy{Id128{2, 1}, 7, SetPolicy::kRate | SetPolicy::kTiers, 0, 0, 0, 0, 500, 30, 2};
  policy.tiers[0] = {100, 700, 0};
  policy.tiers[1] = {200, 900, 0};
  encode_write(std::span<const SetPolicy>(&policy, 1), fbb);
  ASSERT_EQ(decode_write(Opcode::set_policy, body_of(fbb), kBatchCommandsMax, got),
            FrameError::none);
  EXPECT_EQ(0, std::memcmp(&std::get<SetPolicy>(got[0]), &policy, sizeof(SetPolicy)));

  // A rate value in a field the command does not name still travels (the engine refuses
  // it, invalid_policy): found by frame_fuzz, whose decode → encode → decode lost it.
  SetPolicy stray{Id128{2, 2}, 7, SetPolicy::kSpendShare, 5'000};
  stray.rate_bp = 300;
  stray.tiers[3] = {1, 2, 0};
  encode_write(std::span<const SetPolicy>(&stray, 1), fbb);
  ASSERT_EQ(decode_write(Opcode::set_policy, body_of(fbb), kBatchCommandsMax, got),
            FrameError::none);
  EXPECT_EQ(0, std::memcmp(&std::get<SetPolicy>(got[0]), &stray, sizeof(SetPolicy)));
}

TEST(RatesOnTheWire, TierEarnPolicyAndSegmentRoundTrip) {
  FBB fbb;
  BalanceEntry entry;
  entry.account.seller = 1;
  entry.account.tier = 2;
  entry.account.rate_bp = 700;
  entry.account.purchases_kopecks = 1'234'567;
  entry.account.next_tier_kopecks = 89;
  entry.account.last_purchase_us = 42;
  encode_balance_reply(std::span<const BalanceEntry>(&entry, 1), fbb);
  std::vector<BalanceEntry> balances;
  ASSERT_EQ(decode_balance_reply(body_of(fbb), balances), FrameError::none);
  EXPECT_EQ(balances.at(0), entry);

  const std::vector<CartEntry> cart{{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, {12, 0, 0, 0, 0, 0}};
  encode_cart_reply(cart, fbb);
  std::vector<CartEntry> cart_got;
  ASSERT_EQ(decode_cart_reply(body_of(fbb), cart_got), FrameError::none);
  EXPECT_EQ(cart_got, cart);

  Policy p;
  p.rate_bp = 500;
  p.tier_count = 2;
  p.tiers[0] = {100, 700, 0};
  p.tiers[1] = {200, 900, 0};
  p.tier_window_days = 30;
  encode_policy_reply(9, p, fbb);
  PolicyAnswer answer;
  ASSERT_EQ(decode_policy_reply(body_of(fbb), answer), FrameError::none);
  EXPECT_EQ(answer, (PolicyAnswer{9, p}));
  encode_policy(PolicyQuery{9}, fbb);
  PolicyQuery q;
  ASSERT_EQ(decode_policy(body_of(fbb), q), FrameError::none);
  EXPECT_EQ(q.seller, 9u);

  const SegmentRequestQuery sent{{5, SegmentKind::inactive, 0, kUsPerDay}, 10, {1, {77}}};
  encode_segment(sent, fbb);
  SegmentRequestQuery seg;
  ASSERT_EQ(decode_segment(body_of(fbb), kBatchCommandsMax, seg), FrameError::none);
  EXPECT_EQ(seg, sent);
  for (const SegmentQuery& bad : {SegmentQuery{5, SegmentKind::inactive, 0, 0},
                                  SegmentQuery{5, SegmentKind::bought_within, 0, -1},
                                  SegmentQuery{5, SegmentKind::unspent, 0, kUsPerDay},
                                  SegmentQuery{5, static_cast<SegmentKind>(3), 1, 1}}) {
    encode_segment(SegmentRequestQuery{bad, 10, {}}, fbb);
    EXPECT_EQ(decode_segment(body_of(fbb), kBatchCommandsMax, seg), FrameError::malformed_body);
  }
  encode_segment(SegmentRequestQuery{{5, SegmentKind::unspent, 3, 0}, 0, {}}, fbb);
  ASSERT_EQ(decode_segment(body_of(fbb), 100, seg), FrameError::none);
  EXPECT_EQ(seg.limit, 100u);  // 0: the maximum

  const SegmentAnswer page{{1, 2, 3}, {1, {9}}, false};
  encode_segment_reply(page, fbb);
  SegmentAnswer page_got;
  ASSERT_EQ(decode_segment_reply(body_of(fbb), page_got), FrameError::none);
  EXPECT_EQ(page_got, page);
}

TEST(Identifiers, EachRootHasItsDocumentedIdentifier) {
  Rng rng = seeded(51);
  const std::vector<std::pair<std::string, std::string>> documented{
      {"CreditBatch", "CRDQ"},         {"AccrueBatch", "ACRQ"},
      {"ConfirmAccrualBatch", "CNFQ"}, {"CancelAccrualBatch", "CNLQ"},
      {"HoldBatch", "HLDQ"},           {"CaptureBatch", "CAPQ"},
      {"ReleaseBatch", "RELQ"},        {"SpendBatch", "SPNQ"},
      {"RefundBatch", "RFNQ"},         {"ReverseAccrualBatch", "RVAQ"},
      {"RevokeCampaignBatch", "RVCQ"}, {"SetPolicyBatch", "POLQ"},
      {"WriteReply", "WRTR"},          {"BalanceRequest", "BALQ"},
      {"BalanceReply", "BALR"},        {"CartRequest", "CRTQ"},
      {"CartReply", "CRTR"},           {"WalletRequest", "WALQ"},
      {"WalletReply", "WALR"},         {"ExpiringRequest", "EXPQ"},
      {"ExpiringReply", "EXPR"},       {"HistoryRequest", "HISQ"},
      {"OrderRequest", "ORDQ"},        {"HistoryReply", "HISR"},
      {"StatsRequest", "STAQ"},
      {"StatsReply", "STAR"},          {"AdminRequest", "ADMQ"},
      {"AdminReply", "ADMR"},          {"HelloRequest", "HELQ"},
      {"HelloReply", "HELR"},          {"ErrorReply", "ERRR"}};
  const std::vector<testing::Sample> samples = testing::samples(rng);
  ASSERT_EQ(samples.size(), documented.size());
  for (std::size_t i = 0; i < samples.size(); ++i) {
    EXPECT_EQ(samples[i].root, documented[i].first);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(samples[i].body.data()) + 4, 4),
              documented[i].second)
        << samples[i].root;
  }
}

TEST(Frames, WholeFrameThroughHeaderAndBody) {
  Rng rng = seeded(52);
  FBB fbb;
  const std::vector<Spend> sent = testing::random_commands<Spend>(rng, 10);
  encode_write(std::span<const Spend>(sent), fbb);
  const std::string frame = make_frame(kWriteOpcode<Spend>, kErrorsOnly, 9, body_of(fbb));
  const auto* bytes = reinterpret_cast<const std::uint8_t*>(frame.data());
  FrameHeader header;
  ASSERT_EQ(decode_header(bytes, kBodySizeDefault, header), FrameError::none);
  ASSERT_EQ(header.body_size, frame.size() - kHeaderBytes);
  const Body body(bytes + kHeaderBytes, header.body_size);
  EXPECT_EQ(body_checksum(body.data(), body.size()), header.body_crc32c);
  std::vector<Command> got;
  ASSERT_EQ(decode_write(header.opcode, body, kBatchCommandsDefault, got), FrameError::none);
  ASSERT_EQ(got.size(), 10u);
  EXPECT_EQ(0, std::memcmp(&std::get<Spend>(got[9]), &sent[9], sizeof(Spend)));
}

TEST(Frames, MisalignedBodiesAreDecoded) {
  Rng rng = seeded(53);
  for (const testing::Sample& s : testing::samples(rng)) {
    for (const testing::Decoder& d : testing::decoders()) {
      if (d.root != s.root) continue;
      for (std::size_t shift = 1; shift < 8; ++shift) {
        std::vector<std::uint8_t> storage(s.body.size() + 16);
        const std::size_t pad =
            (8 - reinterpret_cast<std::uintptr_t>(storage.data()) % 8) % 8 + shift;
        std::memcpy(storage.data() + pad, s.body.data(), s.body.size());
        bool stable = false;
        const FrameError e = d.decode(Body(storage.data() + pad, s.body.size()), stable);
        if (d.name == "decode_write_reply/1000/errors_only") continue;  // the sample is a full reply
        EXPECT_EQ(e, FrameError::none) << d.name << " shift " << shift;
        EXPECT_TRUE(stable) << d.name;
      }
    }
  }
}

// A balance with lots of many full accounts is larger than any frame: the server must
// check and answer batch_too_large instead (make_frame would refuse it).
TEST(Frames, OversizedReplyDoesNotFit) {
  Rng rng = seeded(54);
  std::vector<BalanceEntry> entries(130);
  const std::vector<LotView> lots = testing::random_lots(rng, 4096);  // kAccountLotsMax
  for (BalanceEntry& e : entries) e = BalanceEntry{testing::random_account(rng), lots};
  FBB fbb;
  encode_balance_reply(std::span(entries).first(10), fbb);
  EXPECT_TRUE(fits_in_frame(fbb));
  encode_balance_reply(entries, fbb);
  EXPECT_FALSE(fits_in_frame(fbb));
}

template <typename T>
std::vector<std::uint8_t> bytes_of(const T& s) {
  std::vector<std::uint8_t> out(sizeof(T));
  std::memcpy(out.data(), &s, sizeof(T));
  return out;
}

template <typename V>
V read_at(const std::vector<std::uint8_t>& bytes, std::size_t offset) {
  V v;
  std::memcpy(&v, bytes.data() + offset, sizeof(V));
  return v;
}

// The struct layouts protocol/README.md gives with byte offsets.
TEST(Layouts, StructsAreAsDocumented) {
  const auto credit = bytes_of(wire::Credit(wire::Id128(1, 2), 3, 4, 5, 6, wire::Life(7, 8), 9));
  ASSERT_EQ(credit.size(), 72u);
  EXPECT_EQ(read_at<std::uint64_t>(credit, 0), 1u);
  EXPECT_EQ(read_at<std::uint64_t>(credit, 8), 2u);
  EXPECT_EQ(read_at<std::uint64_t>(credit, 16), 3u);
  EXPECT_EQ(read_at<std::uint64_t>(credit, 24), 4u);
  EXPECT_EQ(read_at<std::uint64_t>(credit, 32), 5u);
  EXPECT_EQ(read_at<std::uint64_t>(credit, 40), 6u);
  EXPECT_EQ(read_at<std::uint8_t>(credit, 48), 7u);
  EXPECT_EQ(read_at<std::int64_t>(credit, 56), 8);
  EXPECT_EQ(read_at<std::uint32_t>(credit, 64), 9u);

  const auto hold = bytes_of(wire::Hold(wire::Id128(1, 2), 3, 4, 5, 6, 7, 8));
  ASSERT_EQ(hold.size(), 64u);
  EXPECT_EQ(read_at<std::uint64_t>(hold, 16), 3u);
  EXPECT_EQ(read_at<std::uint64_t>(hold, 48), 7u);
  EXPECT_EQ(read_at<std::int64_t>(hold, 56), 8);

  const auto policy = bytes_of(wire::SetPolicy(wire::Id128(1, 2), 3, 4, 5, 6, 7, 8));
  ASSERT_EQ(policy.size(), 56u);
  EXPECT_EQ(read_at<std::uint64_t>(policy, 16), 3u);
  EXPECT_EQ(read_at<std::uint32_t>(policy, 24), 4u);
  EXPECT_EQ(read_at<std::uint32_t>(policy, 28), 5u);
  EXPECT_EQ(read_at<std::uint64_t>(policy, 32), 6u);
  EXPECT_EQ(read_at<std::uint64_t>(policy, 40), 7u);
  EXPECT_EQ(read_at<std::int64_t>(policy, 48), 8);

  const auto result = bytes_of(wire::WriteResult(1, 2, 3, 4, 5));
  ASSERT_EQ(result.size(), 24u);
  EXPECT_EQ(read_at<std::uint32_t>(result, 0), 1u);
  EXPECT_EQ(read_at<std::uint16_t>(result, 4), 2u);
  EXPECT_EQ(read_at<std::uint8_t>(result, 6), 3u);
  EXPECT_EQ(read_at<std::uint64_t>(result, 8), 4u);
  EXPECT_EQ(read_at<std::uint64_t>(result, 16), 5u);

  const auto lot = bytes_of(wire::LotEntry(1, 2, 1, 4));
  ASSERT_EQ(lot.size(), 32u);
  EXPECT_EQ(read_at<std::int64_t>(lot, 8), 2);
  EXPECT_EQ(read_at<std::uint8_t>(lot, 16), 1u);
  EXPECT_EQ(read_at<std::uint64_t>(lot, 24), 4u);

  const auto cursor = bytes_of(wire::ExpiringCursor(1, 2, 3));
  ASSERT_EQ(cursor.size(), 16u);
  EXPECT_EQ(read_at<std::uint32_t>(cursor, 0), 1u);
  EXPECT_EQ(read_at<std::uint32_t>(cursor, 4), 2u);
  EXPECT_EQ(read_at<std::int64_t>(cursor, 8), 3);

  EXPECT_EQ(sizeof(wire::Accrue), 64u);
  EXPECT_EQ(sizeof(wire::ConfirmAccrual), 24u);
  EXPECT_EQ(sizeof(wire::CancelAccrual), 24u);
  EXPECT_EQ(sizeof(wire::Capture), 32u);
  EXPECT_EQ(sizeof(wire::Release), 24u);
  EXPECT_EQ(sizeof(wire::Spend), 56u);
  EXPECT_EQ(sizeof(wire::Refund), 32u);
  EXPECT_EQ(sizeof(wire::ReverseAccrual), 24u);
  EXPECT_EQ(sizeof(wire::RevokeCampaign), 32u);
  EXPECT_EQ(sizeof(wire::AccountKey), 16u);
  EXPECT_EQ(sizeof(wire::CartLine), 16u);
  EXPECT_EQ(sizeof(wire::CartEntry), 48u);
  EXPECT_EQ(sizeof(wire::ExpiringEntry), 24u);
}

}  // namespace
}  // namespace bonus::protocol
