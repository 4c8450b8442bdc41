// The C++ client against a fake server: a real TCP server on loopback, written here with
// blocking Asio sockets (one thread per connection), that reads frames with
// protocol::decode_header and answers with the messages.h encoders — in order, out of
// order, late, never, with an ErrorReply or with nonsense, as each test needs.
#include "clients/cpp/client.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <asio.hpp>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <vector>

#include "protocol/frame.h"
#include "protocol/messages.h"

namespace bonus::client {
namespace {

using asio::ip::tcp;
using namespace std::chrono_literals;
using protocol::Body;
using protocol::FrameError;
using protocol::FrameHeader;
using protocol::Opcode;

// ---------------------------------------------------------------------------------------
// The fake server.

// One request frame as the fake server read it; the body 8-byte aligned.
struct Frame {
  FrameHeader header;
  std::vector<std::uint64_t> words;
  Body body() const {
    return {reinterpret_cast<const std::uint8_t*>(words.data()), header.body_size};
  }
};

std::string reply_frame(Opcode opcode, std::uint64_t request_id,
                        const flatbuffers::FlatBufferBuilder& fbb) {
  return protocol::make_frame(opcode, protocol::kReply, request_id,
                              Body{fbb.GetBufferPointer(), fbb.GetSize()});
}

std::string error_frame(std::uint64_t request_id, FrameError error, std::string_view message) {
  flatbuffers::FlatBufferBuilder fbb;
  protocol::encode_error_reply(error, message, fbb);
  return reply_frame(Opcode::error, request_id, fbb);
}

// One accepted connection: read by its own thread, written from any thread.
class FakeConnection {
 public:
  explicit FakeConnection(tcp::socket socket) : socket_(std::move(socket)) {}

  // The next frame, or nothing once the client closed or the stream broke.
  std::optional<Frame> read_frame() {
    std::uint8_t header[protocol::kHeaderBytes];
    asio::error_code ec;
    asio::read(socket_, asio::buffer(header), ec);
    if (ec) return std::nullopt;
    Frame f;
    if (protocol::decode_header(header, protocol::kBodySizeMax, f.header) != FrameError::none) {
      return std::nullopt;
    }
    f.words.resize((f.header.body_size + 7) / 8);
    asio::read(socket_, asio::buffer(f.words.data(), f.header.body_size), ec);
    if (ec) return std::nullopt;
    EXPECT_EQ(protocol::body_checksum(f.body().data(), f.body().size()), f.header.body_crc32c);
    return f;
  }

  void send(const std::string& bytes) {
    std::lock_guard lock(write_mutex_);
    asio::error_code ec;
    asio::write(socket_, asio::buffer(bytes), ec);
  }

  // Whether more request bytes arrive within `wait`.
  bool more_within(std::chrono::milliseconds wait) {
    const auto until = std::chrono::steady_clock::now() + wait;
    while (std::chrono::steady_clock::now() < until) {
      asio::error_code ec;
      if (socket_.available(ec) > 0) return true;
      std::this_thread::sleep_for(1ms);
    }
    return false;
  }

  // Both directions, so a blocked read returns; safe from any thread.
  void close() { ::shutdown(socket_.native_handle(), SHUT_RDWR); }

 private:
  tcp::socket socket_;
  std::mutex write_mutex_;
};

std::string hello_reply(std::uint64_t request_id) {
  protocol::HelloAnswer a;
  a.role = "admin";
  a.protocol_version = protocol::kVersion;
  a.shards = 1;
  flatbuffers::FlatBufferBuilder fbb;
  protocol::encode_hello_reply(a, fbb);
  return protocol::make_frame(Opcode::hello, protocol::kReply, request_id,
                              Body{fbb.GetBufferPointer(), fbb.GetSize()});
}

class FakeServer {
 public:
  // Runs on the connection's thread for every frame read.
  using Handler = std::function<void(FakeConnection&, const Frame&)>;

  explicit FakeServer(Handler handler)
      : handler_(std::move(handler)),
        acceptor_(io_, tcp::endpoint(asio::ip::address_v4::loopback(), 0)) {
    accept_thread_ = std::thread([this] { accept_loop(); });
  }

  ~FakeServer() {
    stopping_ = true;
    asio::error_code ec;
    tcp::socket poke(io_);
    poke.connect(acceptor_.local_endpoint(), ec);  // wakes the blocked accept
    accept_thread_.join();
    std::lock_guard lock(mutex_);
    for (auto& c : connections_) c->close();
    for (auto& t : threads_) t.join();
  }

  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
  int accepted() const { return accepted_; }
  // Request frames read, pings and hellos (Client::connect sends one of each) left out.
  int frames() const { return frames_; }
  // Closes every connection accepted so far.
  void close_connections() {
    std::lock_guard lock(mutex_);
    for (auto& c : connections_) c->close();
  }

 private:
  void accept_loop() {
    for (;;) {
      tcp::socket socket(io_);
      asio::error_code ec;
      acceptor_.accept(socket, ec);
      if (stopping_ || ec) return;
      socket.set_option(tcp::no_delay(true), ec);
      auto c = std::make_shared<FakeConnection>(std::move(socket));
      std::lock_guard lock(mutex_);
      ++accepted_;
      connections_.push_back(c);
      threads_.emplace_back([this, c] {
        while (auto frame = c->read_frame()) {
          // The client's hello on connecting is answered as bonusd without --auth-file
          // answers it: role admin, no partition ports.
          if (frame->header.opcode == Opcode::hello) {
            c->send(hello_reply(frame->header.request_id));
            continue;
          }
          if (frame->header.opcode != Opcode::ping) ++frames_;
          handler_(*c, *frame);
        }
      });
    }
  }

  Handler handler_;
  asio::io_context io_;
  tcp::acceptor acceptor_;
  std::thread accept_thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> accepted_{0};
  std::atomic<int> frames_{0};
  std::mutex mutex_;
  std::vector<std::shared_ptr<FakeConnection>> connections_;
  std::vector<std::thread> threads_;
};

// ---------------------------------------------------------------------------------------
// What the fake server answers: results and read answers derived from the request, so
// each test can tell that every caller got its own.

Result answer(const Command& command) {
  Result r;
  if (const auto* c = std::get_if<Credit>(&command)) {
    r.amount = std::min<Amount>(c->amount, 30'000);
    r.aux = c->buyer;
    if (c->amount > 30'000) r.flags |= Result::kCappedBalance;
    if (c->id.hi == 2) r.flags |= Result::kRepeat;
    if (c->amount == 0) r = Result::of(Code::zero_amount);
  } else if (const auto* h = std::get_if<Hold>(&command)) {
    r.amount = h->amount;
    r.aux = h->order;
    if (h->amount > 1'000) r = Result::of(Code::insufficient_bonuses);
  } else if (const auto* cap = std::get_if<Capture>(&command)) {
    // A hold of 250: "all" captures it whole, 0 is rejected as the engine does.
    r.amount = cap->amount == kAmountAll ? 250 : cap->amount;
    r.aux = 250 - std::min<Amount>(r.amount, 250);
    if (cap->amount == 0) r = Result::of(Code::zero_amount);
  } else {
    r.amount = 1;
  }
  return r;
}

std::string write_reply(const Frame& f) {
  std::vector<Command> commands;
  EXPECT_EQ(
      protocol::decode_write(f.header.opcode, f.body(), protocol::kBatchCommandsMax, commands),
      FrameError::none);
  std::vector<Result> results;
  for (const Command& c : commands) results.push_back(answer(c));
  flatbuffers::FlatBufferBuilder fbb;
  protocol::encode_write_reply(results, (f.header.flags & protocol::kErrorsOnly) != 0, fbb);
  return reply_frame(f.header.opcode, f.header.request_id, fbb);
}

AccountView account_of(SellerId seller, BuyerId buyer) {
  AccountView a;
  a.seller = seller;
  a.buyer = buyer;
  a.available = seller + buyer;
  a.held = 1;
  a.pending = 2;
  a.next_expiry_us = static_cast<TimeUs>(buyer) * 1000;
  a.next_expiry_amount = 3;
  a.exists = true;
  return a;
}

std::vector<LotView> lots_of(BuyerId buyer) {
  return {LotView{5, 100, LotView::Origin::order, buyer},
          LotView{6, kTimeNever, LotView::Origin::campaign, 0}};
}

std::string read_reply(const Frame& f) {
  flatbuffers::FlatBufferBuilder fbb;
  const Body body = f.body();
  switch (f.header.opcode) {
    case Opcode::balance: {
      protocol::BalanceQuery q;
      EXPECT_EQ(protocol::decode_balance(body, protocol::kBatchCommandsMax, q), FrameError::none);
      std::vector<protocol::BalanceEntry> entries;
      for (const auto& key : q.accounts) {
        entries.push_back({account_of(key.seller, key.buyer),
                           q.with_lots ? lots_of(key.buyer) : std::vector<LotView>{}});
      }
      protocol::encode_balance_reply(entries, fbb);
      break;
    }
    case Opcode::cart: {
      protocol::CartQuery q;
      EXPECT_EQ(protocol::decode_cart(body, protocol::kBatchCommandsMax, q), FrameError::none);
      std::vector<CartEntry> entries;
      for (const CartLine& line : q.lines) {
        entries.push_back(CartEntry{line.seller, 100, line.goods_total / 100, q.buyer,
                                    static_cast<Amount>(q.soon_us), 777});
      }
      protocol::encode_cart_reply(entries, fbb);
      break;
    }
    case Opcode::wallet: {
      protocol::WalletQuery q;
      EXPECT_EQ(protocol::decode_wallet(body, q), FrameError::none);
      const std::vector<AccountView> accounts{account_of(1, q.buyer), account_of(2, q.buyer)};
      protocol::encode_wallet_reply(accounts, fbb);
      break;
    }
    case Opcode::expiring: {
      protocol::ExpiringQuery q;
      EXPECT_EQ(protocol::decode_expiring(body, protocol::kBatchCommandsMax, q), FrameError::none);
      protocol::ExpiringAnswer a;
      a.entries.push_back(ExpiringEntry{q.seller, q.limit, q.within_us});
      a.done = !q.from.at_start();
      if (!a.done) a.next = protocol::ExpiringPosition{1, ExpiringCursor{5, 9}};
      protocol::encode_expiring_reply(a, fbb);
      break;
    }
    case Opcode::stats: {
      protocol::StatsQuery q;
      EXPECT_EQ(protocol::decode_stats(body, q), FrameError::none);
      if (q.campaign == 0) {
        SellerStats s;
        s.issued = q.seller;
        s.outstanding = 42;
        protocol::encode_stats_reply(s, fbb);
      } else {
        CampaignStats s;
        s.issued = q.campaign;
        s.recipients = 3;
        s.revoked = true;
        protocol::encode_stats_reply(s, fbb);
      }
      break;
    }
    case Opcode::admin: {
      protocol::AdminQuery q;
      EXPECT_EQ(protocol::decode_admin(body, q), FrameError::none);
      if (q.action == protocol::AdminAction::clock_advance) {
        return error_frame(f.header.request_id, FrameError::test_clock_disabled,
                           "the test clock is off");
      }
      protocol::AdminStatus s;
      s.message = "fine";
      s.shards = 4;
      s.durability = "fsync";
      protocol::encode_admin_reply(s, fbb);
      break;
    }
    case Opcode::ping:
      return protocol::make_frame(Opcode::ping, protocol::kReply, f.header.request_id, Body{});
    default:
      ADD_FAILURE() << "unexpected opcode";
      break;
  }
  return reply_frame(f.header.opcode, f.header.request_id, fbb);
}

// The well-behaved server: every frame answered at once, in order.
std::string good_reply(const Frame& f) {
  return protocol::is_write(f.header.opcode) ? write_reply(f) : read_reply(f);
}
void answer_at_once(FakeConnection& c, const Frame& f) {
  c.send(good_reply(f));
}

// `handler` for every frame but pings, which are answered at once.
FakeServer::Handler pings_answered(FakeServer::Handler handler) {
  return [handler = std::move(handler)](FakeConnection& c, const Frame& f) {
    if (f.header.opcode == Opcode::ping) return answer_at_once(c, f);
    handler(c, f);
  };
}

Credit credit_of(std::uint64_t n, Amount amount) {
  Credit c;
  c.id = Id128{1, n};
  c.seller = 7;
  c.buyer = n;
  c.amount = amount;
  c.life = LotLife::ttl_of(kUsPerDay);
  return c;
}

Hold hold_of(std::uint64_t n, Amount amount) {
  Hold h;
  h.id = Id128{3, n};
  h.order = n;
  h.seller = 7;
  h.buyer = n;
  h.amount = amount;
  h.goods_total = 100'000;
  return h;
}

std::unique_ptr<Client> connect_to(const FakeServer& server, ClientOptions options = {}) {
  options.port = server.port();
  auto connected = Client::connect(options);
  if (auto* error = std::get_if<std::string>(&connected)) {
    ADD_FAILURE() << *error;
    return nullptr;
  }
  return std::move(std::get<std::unique_ptr<Client>>(connected));
}

// ---------------------------------------------------------------------------------------
// Tests.

TEST(ClientTest, ConnectSaysWhyItCannot) {
  std::uint16_t port = 0;
  {
    asio::io_context io;
    tcp::acceptor closed(io, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
    port = closed.local_endpoint().port();
  }
  ClientOptions options;
  options.port = port;
  auto connected = Client::connect(options);
  ASSERT_TRUE(std::holds_alternative<std::string>(connected));
  EXPECT_NE(std::get<std::string>(connected).find("cannot connect"), std::string::npos)
      << std::get<std::string>(connected);

  options.batch_commands_max = 0;
  connected = Client::connect(options);
  ASSERT_TRUE(std::holds_alternative<std::string>(connected));
  EXPECT_NE(std::get<std::string>(connected).find("batch_commands_max"), std::string::npos);
}

TEST(ClientTest, WriteReturnsEveryFieldOfTheResult) {
  FakeServer server(answer_at_once);
  auto client = connect_to(server);
  ASSERT_TRUE(client);

  Reply<Result> r = client->write(credit_of(11, 500));
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_EQ(r.value.code, Code::ok);
  EXPECT_EQ(r.value.amount, 500u);
  EXPECT_EQ(r.value.aux, 11u);
  EXPECT_EQ(r.value.flags, 0);

  Credit capped = credit_of(12, 40'000);
  capped.id.hi = 2;
  r = client->write(capped);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value.amount, 30'000u);
  EXPECT_EQ(r.value.flags, Result::kCappedBalance | Result::kRepeat);

  // A business rejection is an ok reply carrying a typed code.
  r = client->write(credit_of(13, 0));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value.code, Code::zero_amount);
  r = client->write(hold_of(14, 5'000));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value.code, Code::insufficient_bonuses);

  auto pending = client->write_async(hold_of(15, 300));
  r = pending.get();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value.amount, 300u);
  EXPECT_EQ(r.value.aux, 15u);
}

// The C++ vocabulary's "all" is the amount left out; it reaches the server as kAmountAll,
// and an explicit 0 reaches it as 0 (the server answers zero_amount).
TEST(ClientTest, CaptureWithoutAmountSendsAllAndZeroStaysZero) {
  FakeServer server(answer_at_once);
  auto client = connect_to(server);
  ASSERT_TRUE(client);
  Reply<Result> r = client->write(Capture{.id = Id128{7, 1}, .order = 5});
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_EQ(r.value.code, Code::ok);
  EXPECT_EQ(r.value.amount, 250u);
  r = client->write(Capture{.id = Id128{7, 2}, .order = 5, .amount = 0});
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_EQ(r.value.code, Code::zero_amount);
  r = client->write(Capture{.id = Id128{7, 3}, .order = 5, .amount = 100});
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_EQ(r.value.amount, 100u);
  EXPECT_EQ(r.value.aux, 150u);
}

TEST(ClientTest, ConcurrentWritesShareFramesAndEachCallerGetsItsOwnResult) {
  std::atomic<int> write_frames{0};
  std::atomic<int> commands{0};
  FakeServer server(pings_answered([&](FakeConnection& c, const Frame& f) {
    std::vector<Command> decoded;
    ASSERT_EQ(
        protocol::decode_write(f.header.opcode, f.body(), protocol::kBatchCommandsMax, decoded),
        FrameError::none);
    ++write_frames;
    commands += static_cast<int>(decoded.size());
    std::this_thread::sleep_for(1ms);  // a server busy enough that callers queue up
    c.send(write_reply(f));
  }));
  auto client = connect_to(server);
  ASSERT_TRUE(client);

  constexpr int kThreads = 8;
  constexpr int kWritesEach = 100;
  std::atomic<int> wrong{0};
  std::barrier start(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      for (int i = 0; i < kWritesEach; ++i) {
        const auto n = static_cast<std::uint64_t>(t * 1000 + i + 1);
        // write_async: write() would take a pooled connection of its own while one is free.
        if (t % 2 == 0) {
          const Reply<Result> r = client->write_async(credit_of(n, n)).get();
          if (!r.ok() || r.value.amount != n || r.value.aux != n) ++wrong;
        } else {
          const Reply<Result> r = client->write_async(hold_of(n, n % 1'000)).get();
          if (!r.ok() || r.value.amount != n % 1'000 || r.value.aux != n) ++wrong;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong, 0);
  EXPECT_EQ(commands, kThreads * kWritesEach);
  // Batching happened: some frame carried several callers' writes. (How many frames it
  // saves depends on scheduling, so only "fewer frames than writes" is asserted; with
  // the server taking 1 ms a frame and 8 writers, typically a quarter.)
  EXPECT_LT(write_frames, kThreads * kWritesEach) << write_frames << " frames";
  std::printf("%d writes from %d threads in %d frames\n", kThreads * kWritesEach, kThreads,
              write_frames.load());
}

TEST(ClientTest, LargeBatchIsSplitAndResultsComeInOrder) {
  std::atomic<std::uint32_t> largest{0};
  FakeServer server(pings_answered([&](FakeConnection& c, const Frame& f) {
    std::vector<Command> decoded;
    ASSERT_EQ(
        protocol::decode_write(f.header.opcode, f.body(), protocol::kBatchCommandsMax, decoded),
        FrameError::none);
    largest = std::max(largest.load(), static_cast<std::uint32_t>(decoded.size()));
    c.send(write_reply(f));
  }));
  ClientOptions options;
  options.batch_commands_max = 10;
  auto client = connect_to(server, options);
  ASSERT_TRUE(client);

  std::vector<Credit> batch;
  for (std::uint64_t n = 1; n <= 95; ++n) batch.push_back(credit_of(n, n == 50 ? 0 : n));
  const Reply<std::vector<Result>> r = client->write_batch(std::span<const Credit>(batch));
  ASSERT_TRUE(r.ok()) << r.message;
  ASSERT_EQ(r.value.size(), 95u);
  for (std::uint64_t n = 1; n <= 95; ++n) {
    if (n == 50) {
      EXPECT_EQ(r.value[n - 1].code, Code::zero_amount);
    } else {
      EXPECT_EQ(r.value[n - 1].amount, n);
    }
  }
  EXPECT_EQ(server.frames(), 10);
  EXPECT_EQ(largest, 10u);

  const Reply<std::vector<Result>> none = client->write_batch(std::span<const Credit>());
  EXPECT_TRUE(none.ok());
  EXPECT_TRUE(none.value.empty());
  EXPECT_EQ(server.frames(), 10);
}

TEST(ClientTest, RepliesOutOfOrderReachTheirRequests) {
  // Holds every frame until `hold` have come, then answers them newest first.
  constexpr std::size_t kHold = 8;
  std::vector<Frame> held;
  FakeServer server(pings_answered([&](FakeConnection& c, const Frame& f) {
    held.push_back(f);
    if (held.size() < kHold) return;
    for (auto it = held.rbegin(); it != held.rend(); ++it) c.send(good_reply(*it));
    held.clear();
  }));
  ClientOptions options;
  options.batch_commands_max = 10;
  options.direct_connections_max = 0;  // the reads too share the I/O thread's connection
  auto client = connect_to(server, options);
  ASSERT_TRUE(client);

  // One batch as 8 frames, all in flight at once.
  std::vector<Credit> batch;
  for (std::uint64_t n = 1; n <= 80; ++n) batch.push_back(credit_of(n, n));
  const Reply<std::vector<Result>> r = client->write_batch(std::span<const Credit>(batch));
  ASSERT_TRUE(r.ok()) << r.message;
  for (std::uint64_t n = 1; n <= 80; ++n) EXPECT_EQ(r.value[n - 1].amount, n);

  // 8 readers at once; reads are never merged, so 8 frames.
  std::atomic<int> wrong{0};
  std::vector<std::thread> readers;
  for (std::uint64_t t = 1; t <= kHold; ++t) {
    readers.emplace_back([&, t] {
      const Reply<protocol::BalanceEntry> b = client->balance(t, 100 + t);
      if (!b.ok() || b.value.account != account_of(t, 100 + t)) ++wrong;
    });
  }
  for (auto& t : readers) t.join();
  EXPECT_EQ(wrong, 0);
}

TEST(ClientTest, EveryReadDecodesItsAnswer) {
  FakeServer server(answer_at_once);
  auto client = connect_to(server);
  ASSERT_TRUE(client);

  const Reply<protocol::BalanceEntry> one = client->balance(3, 4, true);
  ASSERT_TRUE(one.ok()) << one.message;
  EXPECT_EQ(one.value.account, account_of(3, 4));
  EXPECT_EQ(one.value.lots, lots_of(4));

  const std::vector<protocol::AccountKey> keys{{1, 2}, {3, 4}, {5, 6}};
  const auto many = client->balances(keys);
  ASSERT_TRUE(many.ok());
  ASSERT_EQ(many.value.size(), 3u);
  for (std::size_t i = 0; i < keys.size(); ++i) {
    EXPECT_EQ(many.value[i].account, account_of(keys[i].seller, keys[i].buyer));
    EXPECT_TRUE(many.value[i].lots.empty());
  }

  const std::vector<CartLine> lines{{7, 199'000}, {8, 5'000}};
  const auto cart = client->cart(42, lines, kUsPerDay);
  ASSERT_TRUE(cart.ok());
  ASSERT_EQ(cart.value.size(), 2u);
  EXPECT_EQ(cart.value[0], (CartEntry{7, 100, 1'990, 42, kUsPerDay, 777}));
  EXPECT_EQ(cart.value[1].seller, 8u);

  const auto wallet = client->wallet(9);
  ASSERT_TRUE(wallet.ok());
  EXPECT_EQ(wallet.value, (std::vector<AccountView>{account_of(1, 9), account_of(2, 9)}));

  auto page = client->expiring(7, kUsPerDay, 50);
  ASSERT_TRUE(page.ok());
  EXPECT_FALSE(page.value.done);
  EXPECT_EQ(page.value.entries, (std::vector<ExpiringEntry>{{7, 50, kUsPerDay}}));
  EXPECT_EQ(page.value.next, (protocol::ExpiringPosition{1, ExpiringCursor{5, 9}}));
  page = client->expiring(7, kUsPerDay, 50, page.value.next);
  ASSERT_TRUE(page.ok());
  EXPECT_TRUE(page.value.done);

  const auto seller = client->seller_stats(77);
  ASSERT_TRUE(seller.ok());
  EXPECT_EQ(seller.value.issued, 77u);
  EXPECT_EQ(seller.value.outstanding, 42u);
  const auto campaign = client->campaign_stats(77, 5);
  ASSERT_TRUE(campaign.ok());
  EXPECT_EQ(campaign.value.issued, 5u);
  EXPECT_EQ(campaign.value.recipients, 3u);
  EXPECT_TRUE(campaign.value.revoked);

  const auto status = client->admin(protocol::AdminAction::status);
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status.value.message, "fine");
  EXPECT_EQ(status.value.shards, 4u);
  EXPECT_EQ(status.value.durability, "fsync");

  EXPECT_TRUE(client->ping().ok());
  EXPECT_TRUE(client->ping().value);
}

TEST(ClientTest, ErrorReplyIsRefusedWithCodeAndMessage) {
  FakeServer server([](FakeConnection& c, const Frame& f) {
    if (f.header.opcode == Opcode::credit) {
      return c.send(
          error_frame(f.header.request_id, FrameError::batch_too_large, "over 8192 commands"));
    }
    if (f.header.opcode == Opcode::wallet) {
      return c.send(error_frame(f.header.request_id, FrameError::malformed_body, "no buyer"));
    }
    answer_at_once(c, f);
  });
  auto client = connect_to(server);
  ASSERT_TRUE(client);

  const Reply<Result> w = client->write(credit_of(1, 1));
  EXPECT_EQ(w.status, Status::refused);
  EXPECT_EQ(w.error, FrameError::batch_too_large);
  EXPECT_EQ(w.message, "over 8192 commands");

  const std::vector<Credit> batch{credit_of(1, 1), credit_of(2, 2)};
  const auto b = client->write_batch(std::span<const Credit>(batch));
  EXPECT_EQ(b.status, Status::refused);
  EXPECT_EQ(b.error, FrameError::batch_too_large);
  EXPECT_TRUE(b.value.empty());

  const auto r = client->wallet(1);
  EXPECT_EQ(r.status, Status::refused);
  EXPECT_EQ(r.error, FrameError::malformed_body);
  EXPECT_EQ(r.message, "no buyer");

  const auto clock = client->admin(protocol::AdminAction::clock_advance, kUsPerHour);
  EXPECT_EQ(clock.status, Status::refused);
  EXPECT_EQ(clock.error, FrameError::test_clock_disabled);

  // The connection is still good.
  EXPECT_TRUE(client->ping().ok());
}

TEST(ClientTest, ConnectionWideErrorRefusesWhatIsInFlight) {
  // As bonusd does past its connection limit: an ErrorReply with request id 0, then close.
  FakeServer server([](FakeConnection& c, const Frame& f) {
    if (f.header.opcode == Opcode::ping) return answer_at_once(c, f);
    c.send(error_frame(0, FrameError::too_many_connections, "1024 connections already"));
    c.close();
  });
  auto client = connect_to(server);
  ASSERT_TRUE(client);
  const Reply<std::vector<AccountView>> r = client->wallet(1);
  EXPECT_EQ(r.status, Status::refused);
  EXPECT_EQ(r.error, FrameError::too_many_connections);
  EXPECT_EQ(r.message, "1024 connections already");
}

TEST(ClientTest, ConnectReportsAServerAtItsConnectionLimit) {
  FakeServer server([](FakeConnection& c, const Frame&) {
    c.send(error_frame(0, FrameError::too_many_connections, "1024 connections already"));
    c.close();
  });
  ClientOptions options;
  options.port = server.port();
  const auto connected = Client::connect(options);
  ASSERT_TRUE(std::holds_alternative<std::string>(connected));
  EXPECT_NE(std::get<std::string>(connected).find("too_many_connections"), std::string::npos)
      << std::get<std::string>(connected);
}

TEST(ClientTest, NonsenseRepliesAreBadReplies) {
  FakeServer server([](FakeConnection& c, const Frame& f) {
    switch (f.header.opcode) {
      case Opcode::cart: {  // a wallet reply to a cart request
        flatbuffers::FlatBufferBuilder fbb;
        protocol::encode_wallet_reply({}, fbb);
        return c.send(reply_frame(Opcode::wallet, f.header.request_id, fbb));
      }
      case Opcode::wallet: {  // the right opcode, a body of the wrong table
        flatbuffers::FlatBufferBuilder fbb;
        protocol::encode_cart_reply({}, fbb);
        return c.send(reply_frame(Opcode::wallet, f.header.request_id, fbb));
      }
      case Opcode::credit: {  // fewer results than commands
        flatbuffers::FlatBufferBuilder fbb;
        const std::vector<Result> one(1);
        protocol::encode_write_reply(one, false, fbb);
        return c.send(reply_frame(Opcode::credit, f.header.request_id, fbb));
      }
      case Opcode::stats: {  // a body that does not match its checksum
        flatbuffers::FlatBufferBuilder fbb;
        protocol::encode_stats_reply(SellerStats{}, fbb);
        std::string frame = reply_frame(Opcode::stats, f.header.request_id, fbb);
        frame.back() = static_cast<char>(frame.back() ^ 1);
        return c.send(frame);
      }
      default:
        answer_at_once(c, f);
    }
  });
  auto client = connect_to(server);
  ASSERT_TRUE(client);

  const std::vector<CartLine> lines{{7, 100}};
  EXPECT_EQ(client->cart(1, lines, 0).status, Status::bad_reply);
  const auto wallet = client->wallet(1);
  EXPECT_EQ(wallet.status, Status::bad_reply);
  EXPECT_EQ(wallet.error, FrameError::malformed_body);
  const std::vector<Credit> batch{credit_of(1, 1), credit_of(2, 2)};
  EXPECT_EQ(client->write_batch(std::span<const Credit>(batch)).status, Status::bad_reply);
  EXPECT_EQ(client->seller_stats(1).status, Status::bad_reply);
  EXPECT_TRUE(client->ping().ok());
}

TEST(ClientTest, SlowReplyTimesOutAndTheLateReplyIsDropped) {
  std::atomic<int> pings{0};
  FakeServer server([&](FakeConnection& c, const Frame& f) {
    // The first ping is Client::connect's; the second is late.
    if (f.header.opcode == Opcode::ping && pings++ == 1) std::this_thread::sleep_for(300ms);
    if (f.header.opcode == Opcode::hold) return;  // never answered
    answer_at_once(c, f);
  });
  ClientOptions options;
  options.timeout = 100ms;
  options.direct_connections_max = 0;  // pings through the I/O thread's connection
  auto client = connect_to(server, options);
  ASSERT_TRUE(client);

  const auto start = std::chrono::steady_clock::now();
  const Reply<bool> late = client->ping();
  const auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(late.status, Status::timeout);
  EXPECT_GE(waited, 100ms);
  EXPECT_LT(waited, 290ms);

  // The late pong comes at 300 ms, answering nothing: dropped. The connection stays.
  std::this_thread::sleep_for(300ms);
  const Reply<bool> next = client->ping();
  EXPECT_TRUE(next.ok()) << next.message;
  EXPECT_EQ(server.accepted(), 1);

  // Writes batched into one frame all time out.
  auto a = client->write_async(hold_of(1, 1));
  auto b = client->write_async(hold_of(2, 1));
  EXPECT_EQ(a.get().status, Status::timeout);
  EXPECT_EQ(b.get().status, Status::timeout);
  EXPECT_TRUE(client->ping().ok());
}

TEST(ClientTest, BrokenConnectionFailsInFlightThenReconnects) {
  FakeServer server([](FakeConnection& c, const Frame& f) {
    if (f.header.opcode == Opcode::credit) return c.close();  // drop everything in flight
    answer_at_once(c, f);
  });
  ClientOptions options;
  options.batch_commands_max = 10;
  auto client = connect_to(server, options);
  ASSERT_TRUE(client);

  std::vector<Credit> batch;
  for (std::uint64_t n = 1; n <= 50; ++n) batch.push_back(credit_of(n, n));
  auto single = client->write_async(credit_of(99, 99));
  const auto r = client->write_batch(std::span<const Credit>(batch));
  EXPECT_EQ(r.status, Status::disconnected) << r.message;
  EXPECT_EQ(single.get().status, Status::disconnected);

  // The next call reconnects. (The single write went out first: the batch may have been
  // on the same connection or on a second one, also closed.)
  const int accepted = server.accepted();
  const Reply<bool> pong = client->ping();
  EXPECT_TRUE(pong.ok()) << pong.message;
  EXPECT_EQ(server.accepted(), accepted + 1);
  const auto balance = client->balance(1, 2);
  EXPECT_TRUE(balance.ok());
}

TEST(ClientTest, ServerClosingAnIdleConnectionIsRepairedByTheNextCall) {
  FakeServer server(answer_at_once);
  ClientOptions options;
  options.direct_connections_max = 0;  // pings through the I/O thread's connection
  auto client = connect_to(server, options);
  ASSERT_TRUE(client);
  ASSERT_TRUE(client->ping().ok());
  server.close_connections();
  std::this_thread::sleep_for(50ms);  // the client sees the close (if slower, one call fails)
  Reply<bool> pong = client->ping();
  if (pong.status == Status::disconnected) pong = client->ping();
  EXPECT_TRUE(pong.ok()) << pong.message;
  EXPECT_EQ(server.accepted(), 2);
}

// ---------------------------------------------------------------------------------------
// Blocking reads on the caller's thread, over connections of their own (direct links).

TEST(ClientTest, BlockingReadsUseAPoolOfConnectionsOfTheirOwn) {
  std::mutex mutex;
  std::set<const FakeConnection*> writes, reads;
  FakeServer server([&](FakeConnection& c, const Frame& f) {
    {
      std::lock_guard lock(mutex);
      (f.header.opcode == Opcode::balance ? reads : writes).insert(&c);
    }
    if (f.header.opcode == Opcode::balance) std::this_thread::sleep_for(5ms);  // overlap them
    answer_at_once(c, f);
  });
  auto client = connect_to(server);  // direct_connections_max 4
  ASSERT_TRUE(client);
  ASSERT_TRUE(client->write_async(credit_of(1, 10)).get().ok());  // the I/O connection
  const Reply<protocol::BalanceEntry> first = client->balance(3, 4);
  ASSERT_TRUE(first.ok()) << first.message;
  EXPECT_EQ(first.value.account, account_of(3, 4));
  {
    std::lock_guard lock(mutex);
    ASSERT_EQ(writes.size(), 1u) << "the connect's ping and the write share the I/O connection";
    ASSERT_EQ(reads.size(), 1u);
    EXPECT_FALSE(writes.contains(*reads.begin())) << "a read went through the I/O connection";
  }
  EXPECT_EQ(server.accepted(), 2);

  // 8 readers at once: at most 4 direct links; a reader that finds none free goes through
  // the I/O thread. Every one gets its own answer.
  std::atomic<int> wrong{0};
  std::vector<std::thread> readers;
  for (std::uint64_t t = 1; t <= 8; ++t) {
    readers.emplace_back([&, t] {
      for (std::uint64_t k = 0; k < 5; ++k) {
        const Reply<protocol::BalanceEntry> b = client->balance(t, 100 * k + t);
        if (!b.ok() || b.value.account != account_of(t, 100 * k + t)) ++wrong;
      }
    });
  }
  for (auto& t : readers) t.join();
  EXPECT_EQ(wrong, 0);
  EXPECT_LE(server.accepted(), 5);
  EXPECT_GE(server.accepted(), 3) << "the readers never overlapped";
  // Idle links are reused: one more read makes no connection.
  const int accepted = server.accepted();
  EXPECT_TRUE(client->balance(1, 1).ok());
  EXPECT_EQ(server.accepted(), accepted);
}

TEST(ClientTest, ADirectReadOfALargeReplyComesWholeAndTheLinkGoesOn) {
  FakeServer server(answer_at_once);
  auto client = connect_to(server);
  ASSERT_TRUE(client);
  // One frame of 2,000 keys with lots: a reply of some 200 KB, many reads of the socket
  // and a buffer grown for it; then small reads on the same link.
  std::vector<protocol::AccountKey> keys;
  for (BuyerId b = 1; b <= 2'000; ++b) keys.push_back({9, b});
  const auto all = client->balances(keys, true);
  ASSERT_TRUE(all.ok()) << all.message;
  ASSERT_EQ(all.value.size(), keys.size());
  for (std::size_t i = 0; i < keys.size(); ++i) {
    ASSERT_EQ(all.value[i].account, account_of(9, keys[i].buyer)) << i;
    ASSERT_EQ(all.value[i].lots, lots_of(keys[i].buyer)) << i;
  }
  const int accepted = server.accepted();
  for (BuyerId b = 1; b <= 3; ++b) {
    const auto one = client->balance(4, b);
    ASSERT_TRUE(one.ok()) << one.message;
    EXPECT_EQ(one.value.account, account_of(4, b));
  }
  EXPECT_EQ(server.accepted(), accepted) << "the link was not reused";
}

TEST(ClientTest, ADirectReadThatTimesOutIsDroppedWithItsConnection) {
  FakeServer server([&](FakeConnection& c, const Frame& f) {
    if (f.header.opcode == Opcode::balance) {
      protocol::BalanceQuery q;
      EXPECT_EQ(protocol::decode_balance(f.body(), protocol::kBatchCommandsMax, q),
                FrameError::none);
      if (!q.accounts.empty() && q.accounts[0].buyer == 1) std::this_thread::sleep_for(300ms);
    }
    answer_at_once(c, f);
  });
  ClientOptions options;
  options.timeout = 100ms;
  auto client = connect_to(server, options);
  ASSERT_TRUE(client);

  const auto start = std::chrono::steady_clock::now();
  const Reply<protocol::BalanceEntry> late = client->balance(1, 1);
  const auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(late.status, Status::timeout) << late.message;
  EXPECT_GE(waited, 100ms);
  EXPECT_LT(waited, 290ms);

  // The link that timed out is gone: the next read makes a new one, and the late reply
  // (on the old one) answers nothing.
  const int accepted = server.accepted();
  const Reply<protocol::BalanceEntry> next = client->balance(2, 2);
  ASSERT_TRUE(next.ok()) << next.message;
  EXPECT_EQ(next.value.account, account_of(2, 2));
  EXPECT_EQ(server.accepted(), accepted + 1);
  std::this_thread::sleep_for(300ms);
  const Reply<protocol::BalanceEntry> after = client->balance(3, 3);
  ASSERT_TRUE(after.ok()) << after.message;
  EXPECT_EQ(after.value.account, account_of(3, 3));
}

TEST(ClientTest, APooledConnectionTheServerClosedIsReplacedWithinTheCall) {
  FakeServer server(answer_at_once);
  auto client = connect_to(server);
  ASSERT_TRUE(client);
  ASSERT_TRUE(client->ping().ok());  // a direct link, now idle in the pool
  EXPECT_EQ(server.accepted(), 2);
  server.close_connections();
  std::this_thread::sleep_for(50ms);
  const Reply<bool> pong = client->ping();
  EXPECT_TRUE(pong.ok()) << pong.message;
  EXPECT_EQ(server.accepted(), 3);
}

TEST(ClientTest, ABlockingWriteGoesOverAPooledConnectionAndAsyncOnesThroughTheIoThread) {
  std::mutex mutex;
  std::map<Opcode, std::set<const FakeConnection*>> seen;
  FakeServer server([&](FakeConnection& c, const Frame& f) {
    {
      std::lock_guard lock(mutex);
      seen[f.header.opcode].insert(&c);
    }
    answer_at_once(c, f);
  });
  auto client = connect_to(server);  // its ping: the I/O thread's connection
  ASSERT_TRUE(client);
  const Reply<Result> r = client->write(credit_of(21, 700));
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_EQ(r.value.amount, 700u);
  EXPECT_EQ(r.value.aux, 21u);
  const Reply<Result> h = client->write(hold_of(22, 40));
  ASSERT_TRUE(h.ok()) << h.message;
  EXPECT_EQ(h.value.amount, 40u);
  EXPECT_TRUE(client->balance(1, 2).ok());
  EXPECT_EQ(server.accepted(), 2) << "the writes and the read share one pooled connection";
  EXPECT_TRUE(client->write_async(credit_of(23, 5)).get().ok());
  std::lock_guard lock(mutex);
  ASSERT_EQ(seen[Opcode::ping].size(), 1u);
  const FakeConnection* io = *seen[Opcode::ping].begin();
  ASSERT_EQ(seen[Opcode::hold].size(), 1u);
  EXPECT_NE(*seen[Opcode::hold].begin(), io) << "write() went through the I/O connection";
  ASSERT_EQ(seen[Opcode::credit].size(), 2u) << "one credit direct, one through the I/O thread";
  EXPECT_TRUE(seen[Opcode::credit].contains(io));
  EXPECT_TRUE(seen[Opcode::credit].contains(*seen[Opcode::hold].begin()));
}

// A pooled link the server dropped after the write reached it (no byte of a reply came):
// the write is sent again on a fresh link within the call, with the same command id, so a
// server that had applied it answers the repeat instead of applying it twice.
TEST(ClientTest, ADirectWriteWhoseLinkWasDroppedIsSentAgainWithTheSameId) {
  std::mutex mutex;
  std::vector<Id128> ids;
  std::vector<const FakeConnection*> conns;
  FakeServer server([&](FakeConnection& c, const Frame& f) {
    if (f.header.opcode == Opcode::credit) {
      std::vector<Command> decoded;
      ASSERT_EQ(
          protocol::decode_write(f.header.opcode, f.body(), protocol::kBatchCommandsMax, decoded),
          FrameError::none);
      ASSERT_EQ(decoded.size(), 1u);
      std::lock_guard lock(mutex);
      ids.push_back(std::get<Credit>(decoded[0]).id);
      conns.push_back(&c);
      if (ids.size() == 1) return c.close();  // dropped before any byte of the reply
    }
    answer_at_once(c, f);
  });
  auto client = connect_to(server);
  ASSERT_TRUE(client);
  ASSERT_TRUE(client->ping().ok());  // a pooled link, now idle
  EXPECT_EQ(server.accepted(), 2);
  Credit credit = credit_of(31, 310);
  credit.id = Id128{0xABCD, 77};
  const Reply<Result> r = client->write(credit);
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_EQ(r.value.amount, 310u);
  EXPECT_EQ(server.accepted(), 3);
  std::lock_guard lock(mutex);
  ASSERT_EQ(ids.size(), 2u);
  EXPECT_EQ(ids[0], credit.id);
  EXPECT_EQ(ids[1], credit.id);
  EXPECT_NE(conns[0], conns[1]);
}

TEST(ClientTest, ReadsGoThroughTheIoThreadWhenTheServerRefusesMoreConnections) {
  // The first connection is the client's I/O connection (connect's ping); the server
  // refuses every later one as one too many, as bonusd at its limit does.
  std::mutex mutex;
  const FakeConnection* first = nullptr;
  FakeServer server([&](FakeConnection& c, const Frame& f) {
    {
      std::lock_guard lock(mutex);
      if (first == nullptr) first = &c;
      if (first != &c) {
        c.send(error_frame(0, FrameError::too_many_connections, "too many connections"));
        return c.close();
      }
    }
    answer_at_once(c, f);
  });
  auto client = connect_to(server);
  ASSERT_TRUE(client);
  const Reply<protocol::BalanceEntry> b = client->balance(5, 6);
  ASSERT_TRUE(b.ok()) << b.message;
  EXPECT_EQ(b.value.account, account_of(5, 6));
  EXPECT_EQ(server.accepted(), 2);
  // No more attempts: the pool's bound fell to what the server allowed.
  EXPECT_TRUE(client->balance(7, 8).ok());
  EXPECT_TRUE(client->ping().ok());
  EXPECT_EQ(server.accepted(), 2);
}

TEST(ClientTest, ErrorsOnlyFillsOkResults) {
  std::atomic<bool> flag_seen{false};
  FakeServer server([&](FakeConnection& c, const Frame& f) {
    if ((f.header.flags & protocol::kErrorsOnly) != 0) flag_seen = true;
    answer_at_once(c, f);
  });
  ClientOptions options;
  options.errors_only = true;
  auto client = connect_to(server, options);
  ASSERT_TRUE(client);

  const std::vector<Credit> batch{credit_of(1, 10), credit_of(2, 0), credit_of(3, 30)};
  const auto r = client->write_batch(std::span<const Credit>(batch));
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_TRUE(flag_seen);
  ASSERT_EQ(r.value.size(), 3u);
  EXPECT_EQ(r.value[0], Result{});
  EXPECT_EQ(r.value[1].code, Code::zero_amount);
  EXPECT_EQ(r.value[2], Result{});
  EXPECT_EQ(client->write(credit_of(4, 0)).value.code, Code::zero_amount);
  EXPECT_TRUE(client->write(credit_of(5, 5)).value.ok());
}

TEST(ClientTest, InFlightFramesStayWithinTheWindow) {
  // Answers what it holds once no more frames come for 30 ms, and records the most it held.
  std::vector<Frame> held;
  std::size_t held_max = 0;
  FakeServer server(pings_answered([&](FakeConnection& c, const Frame& f) {
    held.push_back(f);
    held_max = std::max(held_max, held.size());
    if (c.more_within(30ms)) return;
    for (const Frame& h : held) c.send(good_reply(h));
    held.clear();
  }));
  ClientOptions options;
  options.batch_commands_max = 1;
  options.in_flight_max = 2;
  auto client = connect_to(server, options);
  ASSERT_TRUE(client);

  std::vector<Credit> batch;
  for (std::uint64_t n = 1; n <= 8; ++n) batch.push_back(credit_of(n, n));
  const auto r = client->write_batch(std::span<const Credit>(batch));
  ASSERT_TRUE(r.ok()) << r.message;
  for (std::uint64_t n = 1; n <= 8; ++n) EXPECT_EQ(r.value[n - 1].amount, n);
  EXPECT_EQ(server.frames(), 8);
  EXPECT_LE(held_max, 2u);
}

TEST(ClientTest, AsyncBatchCallbackRunsOnTheIoThread) {
  FakeServer server(answer_at_once);
  auto client = connect_to(server);
  ASSERT_TRUE(client);

  std::vector<Credit> batch{credit_of(1, 1), credit_of(2, 2)};
  std::promise<std::pair<std::thread::id, Reply<std::vector<Result>>>> done;
  client->write_batch_async(std::span<const Credit>(batch), [&](Reply<std::vector<Result>> r) {
    done.set_value({std::this_thread::get_id(), std::move(r)});
  });
  batch.clear();  // the commands were encoded before write_batch_async returned
  auto [thread, r] = done.get_future().get();
  EXPECT_NE(thread, std::this_thread::get_id());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value[1].amount, 2u);
}

TEST(ClientTest, DestroyingTheClientCompletesWhatIsInFlight) {
  FakeServer server([](FakeConnection& c, const Frame& f) {  // answers pings only
    if (f.header.opcode == Opcode::ping) answer_at_once(c, f);
  });
  auto client = connect_to(server);
  ASSERT_TRUE(client);

  const std::vector<Credit> batch{credit_of(1, 1)};
  std::promise<Reply<std::vector<Result>>> done;
  client->write_batch_async(std::span<const Credit>(batch),
                            [&](Reply<std::vector<Result>> r) { done.set_value(std::move(r)); });
  auto single = client->write_async(credit_of(2, 2));
  std::this_thread::sleep_for(20ms);
  client.reset();
  const auto r = done.get_future().get();
  EXPECT_EQ(r.status, Status::disconnected);
  EXPECT_EQ(r.message, "client closed");
  EXPECT_EQ(single.get().status, Status::disconnected);
}

TEST(ClientTest, SendRawReturnsTheServersAnswer) {
  FakeServer server(answer_at_once);
  auto client = connect_to(server);
  ASSERT_TRUE(client);

  const std::uint64_t id = kRawRequestIdMin + 5;
  const auto pong = client->send_raw(protocol::make_frame(Opcode::ping, 0, id, Body{}));
  ASSERT_TRUE(pong.ok()) << pong.message;
  EXPECT_EQ(pong.value.header.opcode, Opcode::ping);
  EXPECT_EQ(pong.value.header.request_id, id);
  EXPECT_TRUE(pong.value.body.empty());
}

TEST(ClientTest, SendRawDeliversAnErrorReplyBeforeTheClose) {
  // As bonusd does when framing is lost: an ErrorReply, then the connection closes.
  FakeServer server([](FakeConnection& c, const Frame& f) {
    if (f.header.request_id >= kRawRequestIdMin) {
      c.send(error_frame(f.header.request_id, FrameError::bad_body_crc, "body checksum mismatch"));
      return c.close();
    }
    answer_at_once(c, f);
  });
  auto client = connect_to(server);
  ASSERT_TRUE(client);

  std::string frame = protocol::make_frame(Opcode::ping, 0, kRawRequestIdMin, Body{});
  const auto r = client->send_raw(frame);
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_EQ(r.value.header.opcode, Opcode::error);
  EXPECT_EQ(r.value.error.code, FrameError::bad_body_crc);
  EXPECT_EQ(r.value.error.message, "body checksum mismatch");

  std::this_thread::sleep_for(50ms);  // the client sees the close (if slower, one call fails)
  Reply<bool> pong = client->ping();
  if (pong.status == Status::disconnected) pong = client->ping();
  EXPECT_TRUE(pong.ok()) << pong.message;
  EXPECT_EQ(server.accepted(), 2);
}

}  // namespace
}  // namespace bonus::client
