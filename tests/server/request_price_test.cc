// RequestPrice (server/request_price.h): its size bounds hold against the real encoder
// for the fullest entries, and duplicates are found wherever they are.
#include "server/request_price.h"
#include "server/server_config.h"

#include <gtest/gtest.h>

#include <random>

namespace bonus::server {
namespace {

using protocol::FrameError;

AccountView full_account(SellerId seller, BuyerId buyer) {
  AccountView v;
  v.seller = seller;
  v.buyer = buyer;
  v.available = v.held = v.pending = v.debt = v.next_expiry_amount = ~Amount{0};
  v.next_expiry_us = INT64_MAX - 1;
  v.exists = true;
  v.tier = v.rate_bp = ~std::uint32_t{0};
  v.purchases_kopecks = v.next_tier_kopecks = ~Kopecks{0};
  v.last_purchase_us = INT64_MAX;
  return v;
}

TEST(RequestPrice, BalanceReplyBoundHoldsForFullAccountsAndLots) {
  for (const std::size_t accounts : {1u, 2u, 100u, 8192u}) {
    for (const bool with_lots : {false, true}) {
      protocol::BalanceQuery query;
      std::vector<protocol::BalanceEntry> entries;
      for (std::size_t i = 0; i < accounts; ++i) {
        query.accounts.push_back({i + 1, i + 2});
        protocol::BalanceEntry e{full_account(i + 1, i + 2), {}};
        if (with_lots)
          e.lots.assign(i == 0 ? kAccountLotsMax : 1, LotView{1, 2, LotView::Origin::order, 3, 255});
        entries.push_back(e);
      }
      query.with_lots = with_lots;
      flatbuffers::FlatBufferBuilder fbb;
      protocol::encode_balance_reply(entries, fbb);
      EXPECT_LE(fbb.GetSize() + protocol::kHeaderBytes,
                balance_reply_bytes_max(query, kLotsPerReplyDefault))
          << accounts << " accounts, lots " << with_lots;
      // The header-only price (before decoding) is at least the decoded one.
      flatbuffers::FlatBufferBuilder request;
      protocol::encode_balance(query, request);
      EXPECT_GE(reply_bytes_max(protocol::Opcode::balance, request.GetSize(), kLotsPerReplyDefault),
                balance_reply_bytes_max(query, kLotsPerReplyDefault));
    }
  }
}

TEST(RequestPrice, WriteAndCartReplyBoundsHold) {
  std::vector<Result> results(8192, Result{Code::ok, 0, 0, 5, 1'000'000'000, 7});
  flatbuffers::FlatBufferBuilder fbb;
  protocol::encode_write_reply(results, false, fbb);
  std::vector<Release> releases(8192, Release{Id128{1, 2}, 3});
  flatbuffers::FlatBufferBuilder request;
  protocol::encode_write(std::span<const Release>(releases), request);
  EXPECT_LE(fbb.GetSize() + protocol::kHeaderBytes,
            reply_bytes_max(protocol::Opcode::release, request.GetSize(), kLotsPerReplyDefault));

  std::vector<CartEntry> entries(8192, CartEntry{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
  protocol::encode_cart_reply(entries, fbb);
  protocol::CartQuery cart{1, std::vector<CartLine>(8192, CartLine{1, 2}), 0};
  protocol::encode_cart(cart, request);
  EXPECT_LE(fbb.GetSize() + protocol::kHeaderBytes,
            reply_bytes_max(protocol::Opcode::cart, request.GetSize(), kLotsPerReplyDefault));
}

TEST(RequestPrice, DuplicatesAreFoundAnywhere) {
  const std::uint32_t seed = std::random_device{}();
  std::printf("seed %u\n", seed);
  std::mt19937 random(seed);
  for (int round = 0; round < 50; ++round) {
    protocol::BalanceQuery query;
    protocol::CartQuery cart;
    const std::size_t n = 2 + random() % 500;
    for (std::uint64_t i = 0; i < n; ++i) {
      query.accounts.push_back({i % 7, i});  // distinct
      cart.lines.push_back({i * 3 + 1, 100});
    }
    EXPECT_FALSE(price_balance(query, kLotsPerReplyDefault)) << "seed " << seed;
    EXPECT_FALSE(price_cart(cart)) << "seed " << seed;
    const std::size_t from = random() % n, to = random() % n;
    if (from == to) continue;
    query.accounts[to] = query.accounts[from];
    cart.lines[to].seller = cart.lines[from].seller;
    EXPECT_EQ(price_balance(query, kLotsPerReplyDefault).error, FrameError::duplicate_key)
        << "seed " << seed;
    EXPECT_EQ(price_cart(cart).error, FrameError::duplicate_key) << "seed " << seed;
  }
}

TEST(RequestPrice, ServerConfigDefaultIsTheLimitsDefault) {
  EXPECT_EQ(ServerConfig{}.lots_per_reply_max, kLotsPerReplyDefault);
  EXPECT_GE(ServerConfig{}.unsent_bytes_max, std::uint64_t{64} << 10);  // the flag's minimum
}

TEST(RequestPrice, WalletPastTheFrameIsRefused) {
  EXPECT_FALSE(price_wallet_reply(1000));
  EXPECT_EQ(price_wallet_reply(200'000).error, FrameError::batch_too_large);
}

}  // namespace
}  // namespace bonus::server
