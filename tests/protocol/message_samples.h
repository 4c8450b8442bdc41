// Test helpers shared by the protocol tests, the fuzz target and its seed generator:
// random engine values, one valid body of every root table, and every decoder behind
// one signature with a round-trip check. Not part of the product.
#pragma once

#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "engine/command.h"
#include "engine/result.h"
#include "engine/views.h"
#include "protocol/messages.h"

namespace bonus::protocol::testing {

using Rng = std::mt19937_64;

// The seed of a randomized test: PROTOCOL_SEED from the environment, else `fixed`.
std::uint64_t test_seed(std::uint64_t fixed);

// Random values; reserved fields are zero. Commands' bytes compare with same_command.
template <WriteCommand C>
C random_command(Rng& rng);
template <WriteCommand C>
std::vector<C> random_commands(Rng& rng, std::size_t count);
bool same_command(const Command& a, const Command& b);

Result random_result(Rng& rng);
AccountView random_account(Rng& rng);
std::vector<LotView> random_lots(Rng& rng, std::size_t count);
CartEntry random_cart_entry(Rng& rng);
ExpiringEntry random_expiring_entry(Rng& rng);
ExpiringPosition random_position(Rng& rng);  // never at_start()
// `events` random events (valid kinds), a cursor, not done.
HistoryAnswer random_history_answer(Rng& rng, int events);
SellerStats random_seller_stats(Rng& rng);
CampaignStats random_campaign_stats(Rng& rng);
BalanceQuery random_balance_query(Rng& rng, std::size_t accounts);
CartQuery random_cart_query(Rng& rng, std::size_t lines);
AdminStatus random_admin_status(Rng& rng);

bool same_cart_query(const CartQuery& a, const CartQuery& b);

// One valid body of a root table, as it would travel in a frame.
struct Sample {
  std::string root;  // the root table's name in bonus.fbs
  Opcode opcode;
  std::uint8_t flags;  // kReply on replies
  std::vector<std::uint8_t> body;
};
// One sample of every root table (28), with random contents.
std::vector<Sample> samples(Rng& rng);

// A decoder: decodes `body`; when that succeeds it also encodes the decoded value
// again and decodes that, and sets `stable` to whether both decodings are equal.
struct Decoder {
  std::string name;
  std::string root;  // the root table it accepts
  std::function<FrameError(Body body, bool& stable)> decode;
};
// Every decoder, server and client side (the write decoder once per opcode), with
// limits at the ceilings.
std::vector<Decoder> decoders();

}  // namespace bonus::protocol::testing
