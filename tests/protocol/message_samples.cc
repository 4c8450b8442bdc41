#include "tests/protocol/message_samples.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <span>
#include <type_traits>
#include <utility>

namespace bonus::protocol::testing {
namespace {

std::uint64_t u64(Rng& rng) { return rng(); }
std::int64_t i64(Rng& rng) { return static_cast<std::int64_t>(rng()); }
std::uint32_t u32(Rng& rng) { return static_cast<std::uint32_t>(rng()); }
bool coin(Rng& rng) { return (rng() & 1) != 0; }

Id128 random_id(Rng& rng) { return Id128{u64(rng), u64(rng)}; }
LotLife random_life(Rng& rng) {
  LotLife life;
  life.kind = static_cast<LotLife::Kind>(rng() % 5);  // 4: unknown, passed through
  life.value = i64(rng);
  return life;
}

std::string random_text(Rng& rng) {
  std::string s(rng() % 40, '\0');
  for (char& c : s) c = static_cast<char>(rng() % 256);  // NULs included
  return s;
}

std::vector<std::uint8_t> body_of(const flatbuffers::FlatBufferBuilder& fbb) {
  return std::vector<std::uint8_t>(fbb.GetBufferPointer(), fbb.GetBufferPointer() + fbb.GetSize());
}

Body span_of(const flatbuffers::FlatBufferBuilder& fbb) {
  return Body(fbb.GetBufferPointer(), fbb.GetSize());
}

template <WriteCommand C>
std::vector<std::uint8_t> write_body(Rng& rng) {
  flatbuffers::FlatBufferBuilder fbb;
  const std::vector<C> commands = random_commands<C>(rng, 1 + rng() % 5);
  encode_write(std::span<const C>(commands), fbb);
  return body_of(fbb);
}

// Decodes with `decode`, then re-encodes the value with `encode` and compares.
template <typename T, typename Decode, typename Encode, typename Equal>
FrameError round_trip(Body body, bool& stable, Decode decode, Encode encode, Equal equal) {
  T first{};
  const FrameError e = decode(body, first);
  stable = true;
  if (e != FrameError::none) return e;
  flatbuffers::FlatBufferBuilder fbb;
  encode(first, fbb);
  T second{};
  stable = decode(span_of(fbb), second) == FrameError::none && equal(first, second);
  return e;
}

template <typename T>
FrameError round_trip(Body body, bool& stable, auto decode, auto encode) {
  return round_trip<T>(body, stable, decode, encode,
                       [](const T& a, const T& b) { return a == b; });
}

template <WriteCommand C>
Decoder write_decoder(std::string root) {
  return Decoder{
      "decode_write/" + std::string(opcode_name(kWriteOpcode<C>)), std::move(root),
      [](Body body, bool& stable) {
        return round_trip<std::vector<Command>>(
            body, stable,
            [](Body b, std::vector<Command>& out) {
              return decode_write(kWriteOpcode<C>, b, kBatchCommandsMax, out);
            },
            [](const std::vector<Command>& commands, flatbuffers::FlatBufferBuilder& fbb) {
              std::vector<C> typed;
              for (const Command& c : commands) typed.push_back(std::get<C>(c));
              encode_write(std::span<const C>(typed), fbb);
            },
            [](const std::vector<Command>& a, const std::vector<Command>& b) {
              if (a.size() != b.size()) return false;
              for (std::size_t i = 0; i < a.size(); ++i) {
                if (!same_command(a[i], b[i])) return false;
              }
              return true;
            });
      }};
}

// The write reply decoder for a batch of `sent` commands.
Decoder write_reply_decoder(std::uint32_t sent, bool errors_only) {
  return Decoder{
      "decode_write_reply/" + std::to_string(sent) + (errors_only ? "/errors_only" : "/all"),
      "WriteReply", [sent, errors_only](Body body, bool& stable) {
        return round_trip<std::vector<IndexedResult>>(
            body, stable,
            [sent, errors_only](Body b, std::vector<IndexedResult>& out) {
              return decode_write_reply(b, sent, errors_only, out);
            },
            [sent, errors_only](const std::vector<IndexedResult>& in,
                                flatbuffers::FlatBufferBuilder& fbb) {
              std::vector<Result> results(sent);
              for (const IndexedResult& r : in) results[r.index] = r.result;
              encode_write_reply(results, errors_only, fbb);
            });
      }};
}

}  // namespace

std::uint64_t test_seed(std::uint64_t fixed) {
  const char* env = std::getenv("PROTOCOL_SEED");
  return env != nullptr ? std::strtoull(env, nullptr, 10) : fixed;
}

template <WriteCommand C>
C random_command(Rng& rng) {
  C c{};
  // Every command is fields of 8 bytes or less, no padding (command.h): fill all bytes.
  static_assert(kNoPadding<C>);
  auto* bytes = reinterpret_cast<unsigned char*>(&c);
  for (std::size_t i = 0; i < sizeof(C); ++i) bytes[i] = static_cast<unsigned char>(rng());
  if constexpr (requires { c.life; }) c.life = random_life(rng);
  if constexpr (requires { c.reserved; }) c.reserved = 0;
  if constexpr (std::is_same_v<C, SetPolicy>) {
    // Reserved fields are not on the wire; rates travel only with a rate field named.
    for (PolicyTier& t : c.tiers) t.reserved = 0;
    if ((c.fields & (SetPolicy::kRate | SetPolicy::kTiers | SetPolicy::kTierWindow)) == 0) {
      c.rate_bp = c.tier_window_days = c.tier_count = 0;
      std::fill(std::begin(c.tiers), std::end(c.tiers), PolicyTier{});
    }
  }
  c.id = random_id(rng);
  return c;
}

template <WriteCommand C>
std::vector<C> random_commands(Rng& rng, std::size_t count) {
  std::vector<C> out;
  out.reserve(count);
  for (std::size_t i = 0; i < count; ++i) out.push_back(random_command<C>(rng));
  return out;
}

#define BONUS_INSTANTIATE(C)                              \
  template C random_command<C>(Rng&);                     \
  template std::vector<C> random_commands<C>(Rng&, std::size_t);
BONUS_INSTANTIATE(Credit)
BONUS_INSTANTIATE(Accrue)
BONUS_INSTANTIATE(ConfirmAccrual)
BONUS_INSTANTIATE(CancelAccrual)
BONUS_INSTANTIATE(Hold)
BONUS_INSTANTIATE(Capture)
BONUS_INSTANTIATE(Release)
BONUS_INSTANTIATE(Spend)
BONUS_INSTANTIATE(Refund)
BONUS_INSTANTIATE(ReverseAccrual)
BONUS_INSTANTIATE(RevokeCampaign)
BONUS_INSTANTIATE(SetPolicy)
#undef BONUS_INSTANTIATE

bool same_command(const Command& a, const Command& b) {
  if (a.index() != b.index()) return false;
  return std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        return std::memcmp(&x, &std::get<T>(b), sizeof(T)) == 0;
      },
      a);
}

Result random_result(Rng& rng) {
  Result r;
  r.code = rng() % 3 == 0 ? Code::ok : static_cast<Code>(rng() % (kCodeCount + 3));
  r.flags = static_cast<std::uint8_t>(rng());
  r.amount = u64(rng);
  r.aux = u64(rng);
  if (r.ok() && rng() % 2 == 0) r.expired = static_cast<std::uint32_t>(rng()) | 1;
  return r;
}

AccountView random_account(Rng& rng) {
  AccountView a;
  a.seller = u64(rng);
  a.buyer = u64(rng);
  a.available = u64(rng);
  a.held = u64(rng);
  a.pending = u64(rng);
  a.debt = u64(rng);
  a.next_expiry_us = coin(rng) ? kTimeNever : i64(rng);
  a.next_expiry_amount = u64(rng);
  a.exists = coin(rng);
  return a;
}

std::vector<LotView> random_lots(Rng& rng, std::size_t count) {
  std::vector<LotView> lots(count);
  for (LotView& l : lots) {
    l.amount = u64(rng);
    l.expires_at_us = i64(rng);
    l.origin = coin(rng) ? LotView::Origin::order : LotView::Origin::campaign;
    l.origin_id = u64(rng);
  }
  return lots;
}

CartEntry random_cart_entry(Rng& rng) {
  return CartEntry{u64(rng), u64(rng), u64(rng), u64(rng), u64(rng), i64(rng)};
}

ExpiringEntry random_expiring_entry(Rng& rng) {
  return ExpiringEntry{u64(rng), u64(rng), i64(rng)};
}

ExpiringPosition random_position(Rng& rng) {
  ExpiringPosition p{u32(rng) | 1, ExpiringCursor{i64(rng), u32(rng)}};
  return p;
}

HistoryAnswer random_history_answer(Rng& rng, int events) {
  HistoryAnswer a;
  for (int i = 0; i < events; ++i) {
    HistoryEntry h{u64(rng), u32(rng), {}};
    LedgerEvent& e = h.event;
    e.seller = u64(rng);
    e.buyer = u64(rng);
    e.ref = u64(rng);
    e.time_us = i64(rng);
    e.amount = u64(rng);
    e.debt_part = u32(rng);
    e.expired_part = u32(rng);
    e.reason = u32(rng);
    e.balance_after = u32(rng);
    e.held_after = u32(rng);
    e.pending_after = u32(rng);
    e.debt_after = u32(rng);
    e.kind = static_cast<LedgerEvent::Kind>(1 + u32(rng) % LedgerEvent::kKindMax);
    e.ref_kind = static_cast<LedgerEvent::Ref>(u32(rng) % 3);
    a.entries.push_back(h);
  }
  a.next = HistoryCursor{u64(rng) | 1, u32(rng)};
  a.done = false;
  a.position = u64(rng);
  a.complete_from = u64(rng);
  a.trimmed_before_us = i64(rng);
  return a;
}

SellerStats random_seller_stats(Rng& rng) {
  return SellerStats{u64(rng), u64(rng), u64(rng), u64(rng), u64(rng),
                     u64(rng), u64(rng), u64(rng), u64(rng), u64(rng)};
}

CampaignStats random_campaign_stats(Rng& rng) {
  return CampaignStats{u64(rng), u64(rng), u64(rng), u64(rng), u64(rng),
                       u64(rng), u64(rng), u64(rng), coin(rng)};
}

BalanceQuery random_balance_query(Rng& rng, std::size_t accounts) {
  BalanceQuery q;
  for (std::size_t i = 0; i < accounts; ++i) q.accounts.push_back({u64(rng), u64(rng)});
  q.with_lots = coin(rng);
  return q;
}

CartQuery random_cart_query(Rng& rng, std::size_t lines) {
  CartQuery q;
  q.buyer = u64(rng);
  for (std::size_t i = 0; i < lines; ++i) q.lines.push_back({u64(rng), u64(rng)});
  q.soon_us = i64(rng);
  return q;
}

AdminStatus random_admin_status(Rng& rng) {
  AdminStatus s;
  s.ok = coin(rng);
  s.message = random_text(rng);
  s.ledger_time_us = i64(rng);
  s.accounts = u64(rng);
  s.shards = u32(rng);
  s.test_clock = coin(rng);
  s.journal_bytes = u64(rng);
  s.durability = random_text(rng);
  s.has_limits = coin(rng);
  if (s.has_limits) {
    s.limits = EngineConfig{u64(rng), u64(rng), u64(rng), i64(rng), u64(rng), i64(rng), i64(rng)};
    s.limits_changes = u64(rng);
  }
  s.limits_code = static_cast<Code>(u32(rng) % kCodeCount);
  s.history_position = u64(rng);
  s.history = random_text(rng);
  s.node_state = random_text(rng);
  s.leader = random_text(rng);
  s.log_position = u64(rng);
  return s;
}

bool same_cart_query(const CartQuery& a, const CartQuery& b) {
  if (a.buyer != b.buyer || a.soon_us != b.soon_us || a.lines.size() != b.lines.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.lines.size(); ++i) {
    if (a.lines[i].seller != b.lines[i].seller ||
        a.lines[i].goods_total != b.lines[i].goods_total) {
      return false;
    }
  }
  return true;
}

std::vector<Sample> samples(Rng& rng) {
  std::vector<Sample> out;
  flatbuffers::FlatBufferBuilder fbb;
  const auto add = [&](std::string root, Opcode opcode, bool reply) {
    out.push_back(Sample{std::move(root), opcode, reply ? std::uint8_t{kReply} : std::uint8_t{0},
                         body_of(fbb)});
  };
  const auto add_write = [&](std::string root, Opcode opcode, std::vector<std::uint8_t> body) {
    out.push_back(Sample{std::move(root), opcode, 0, std::move(body)});
  };
  add_write("CreditBatch", Opcode::credit, write_body<Credit>(rng));
  add_write("AccrueBatch", Opcode::accrue, write_body<Accrue>(rng));
  add_write("ConfirmAccrualBatch", Opcode::confirm_accrual, write_body<ConfirmAccrual>(rng));
  add_write("CancelAccrualBatch", Opcode::cancel_accrual, write_body<CancelAccrual>(rng));
  add_write("HoldBatch", Opcode::hold, write_body<Hold>(rng));
  add_write("CaptureBatch", Opcode::capture, write_body<Capture>(rng));
  add_write("ReleaseBatch", Opcode::release, write_body<Release>(rng));
  add_write("SpendBatch", Opcode::spend, write_body<Spend>(rng));
  add_write("RefundBatch", Opcode::refund, write_body<Refund>(rng));
  add_write("ReverseAccrualBatch", Opcode::reverse_accrual, write_body<ReverseAccrual>(rng));
  add_write("RevokeCampaignBatch", Opcode::revoke_campaign, write_body<RevokeCampaign>(rng));
  add_write("SetPolicyBatch", Opcode::set_policy, write_body<SetPolicy>(rng));

  std::vector<Result> results(3);
  for (Result& r : results) r = random_result(rng);
  results[1].code = Code::insufficient_bonuses;
  encode_write_reply(results, false, fbb);
  add("WriteReply", Opcode::credit, true);

  encode_balance(random_balance_query(rng, 3), fbb);
  add("BalanceRequest", Opcode::balance, false);
  std::vector<BalanceEntry> balances(2);
  for (BalanceEntry& b : balances) b = BalanceEntry{random_account(rng), random_lots(rng, 2)};
  encode_balance_reply(balances, fbb);
  add("BalanceReply", Opcode::balance, true);

  encode_cart(random_cart_query(rng, 2), fbb);
  add("CartRequest", Opcode::cart, false);
  const std::vector<CartEntry> cart{random_cart_entry(rng), random_cart_entry(rng)};
  encode_cart_reply(cart, fbb);
  add("CartReply", Opcode::cart, true);

  encode_wallet(WalletQuery{u64(rng)}, fbb);
  add("WalletRequest", Opcode::wallet, false);
  const std::vector<AccountView> wallet{random_account(rng), random_account(rng)};
  encode_wallet_reply(wallet, fbb);
  add("WalletReply", Opcode::wallet, true);

  encode_expiring(ExpiringQuery{u64(rng), i64(rng), 100, random_position(rng)}, fbb);
  add("ExpiringRequest", Opcode::expiring, false);
  encode_expiring_reply(
      ExpiringAnswer{{random_expiring_entry(rng), random_expiring_entry(rng)},
                     random_position(rng),
                     false},
      fbb);
  add("ExpiringReply", Opcode::expiring, true);

  encode_history(HistoryQuery{u64(rng), u64(rng), 0, 50, HistoryCursor{u64(rng), 3}}, fbb);
  add("HistoryRequest", Opcode::history, false);
  encode_order(HistoryQuery{0, 0, u64(rng), 0, HistoryCursor{}}, fbb);
  add("OrderRequest", Opcode::order, false);
  encode_history_reply(random_history_answer(rng, 3), fbb);
  add("HistoryReply", Opcode::history, true);

  encode_stats(StatsQuery{u64(rng), u64(rng)}, fbb);
  add("StatsRequest", Opcode::stats, false);
  encode_stats_reply(random_campaign_stats(rng), fbb);
  add("StatsReply", Opcode::stats, true);

  // set_limits: the request with every field, its struct included.
  encode_admin(AdminQuery{AdminAction::set_limits,
                          60'000'000,
                          SetLimits{Id128{u64(rng), u64(rng)}, 127, 0, u64(rng), u64(rng), u64(rng),
                                    i64(rng), i64(rng), u64(rng), i64(rng)},
                          {}},
               fbb);
  add("AdminRequest", Opcode::admin, false);
  encode_admin_reply(random_admin_status(rng), fbb);
  add("AdminReply", Opcode::admin, true);

  encode_hello(HelloQuery{"bt_" + std::to_string(u64(rng)), 1, "sample"}, fbb);
  add("HelloRequest", Opcode::hello, false);
  encode_hello_reply(HelloAnswer{"checkout",
                                 1,
                                 4,
                                 1u << 20,
                                 8192,
                                 4096,
                                 true,
                                 "till-3",
                                 {7401, 7402, 7403, 7404},
                                 std::string(kPartitionHashMix64Mod),
                                 "standby",
                                 "127.0.0.1:7500",
                                 u64(rng)},
                     fbb);
  add("HelloReply", Opcode::hello, true);

  encode_error_reply(FrameError::batch_too_large, "more than 8192 commands", fbb);
  add("ErrorReply", Opcode::error, true);
  return out;
}

std::vector<Decoder> decoders() {
  using FBB = flatbuffers::FlatBufferBuilder;
  constexpr std::uint32_t kMax = kBatchCommandsMax;
  std::vector<Decoder> out{
      write_decoder<Credit>("CreditBatch"),
      write_decoder<Accrue>("AccrueBatch"),
      write_decoder<ConfirmAccrual>("ConfirmAccrualBatch"),
      write_decoder<CancelAccrual>("CancelAccrualBatch"),
      write_decoder<Hold>("HoldBatch"),
      write_decoder<Capture>("CaptureBatch"),
      write_decoder<Release>("ReleaseBatch"),
      write_decoder<Spend>("SpendBatch"),
      write_decoder<Refund>("RefundBatch"),
      write_decoder<ReverseAccrual>("ReverseAccrualBatch"),
      write_decoder<RevokeCampaign>("RevokeCampaignBatch"),
      write_decoder<SetPolicy>("SetPolicyBatch"),
      write_reply_decoder(1000, true),
      write_reply_decoder(3, false),
  };
  out.push_back({"decode_balance", "BalanceRequest", [](Body body, bool& stable) {
                   return round_trip<BalanceQuery>(
                       body, stable,
                       [](Body b, BalanceQuery& q) { return decode_balance(b, kMax, q); },
                       [](const BalanceQuery& q, FBB& fbb) { encode_balance(q, fbb); });
                 }});
  out.push_back({"decode_cart", "CartRequest", [](Body body, bool& stable) {
                   return round_trip<CartQuery>(
                       body, stable, [](Body b, CartQuery& q) { return decode_cart(b, kMax, q); },
                       [](const CartQuery& q, FBB& fbb) { encode_cart(q, fbb); },
                       same_cart_query);
                 }});
  out.push_back({"decode_wallet", "WalletRequest", [](Body body, bool& stable) {
                   return round_trip<WalletQuery>(
                       body, stable, [](Body b, WalletQuery& q) { return decode_wallet(b, q); },
                       [](const WalletQuery& q, FBB& fbb) { encode_wallet(q, fbb); });
                 }});
  out.push_back({"decode_expiring", "ExpiringRequest", [](Body body, bool& stable) {
                   return round_trip<ExpiringQuery>(
                       body, stable,
                       [](Body b, ExpiringQuery& q) { return decode_expiring(b, kMax, q); },
                       [](const ExpiringQuery& q, FBB& fbb) { encode_expiring(q, fbb); });
                 }});
  out.push_back({"decode_stats", "StatsRequest", [](Body body, bool& stable) {
                   return round_trip<StatsQuery>(
                       body, stable, [](Body b, StatsQuery& q) { return decode_stats(b, q); },
                       [](const StatsQuery& q, FBB& fbb) { encode_stats(q, fbb); });
                 }});
  out.push_back({"decode_admin", "AdminRequest", [](Body body, bool& stable) {
                   return round_trip<AdminQuery>(
                       body, stable, [](Body b, AdminQuery& q) { return decode_admin(b, q); },
                       [](const AdminQuery& q, FBB& fbb) { encode_admin(q, fbb); });
                 }});
  out.push_back({"decode_hello", "HelloRequest", [](Body body, bool& stable) {
                   return round_trip<HelloQuery>(
                       body, stable, [](Body b, HelloQuery& q) { return decode_hello(b, q); },
                       [](const HelloQuery& q, FBB& fbb) { encode_hello(q, fbb); });
                 }});
  out.push_back({"decode_hello_reply", "HelloReply", [](Body body, bool& stable) {
                   return round_trip<HelloAnswer>(
                       body, stable,
                       [](Body b, HelloAnswer& a) { return decode_hello_reply(b, a); },
                       [](const HelloAnswer& a, FBB& fbb) { encode_hello_reply(a, fbb); });
                 }});
  out.push_back({"decode_balance_reply", "BalanceReply", [](Body body, bool& stable) {
                   return round_trip<std::vector<BalanceEntry>>(
                       body, stable,
                       [](Body b, std::vector<BalanceEntry>& v) {
                         return decode_balance_reply(b, v);
                       },
                       [](const std::vector<BalanceEntry>& v, FBB& fbb) {
                         encode_balance_reply(v, fbb);
                       });
                 }});
  out.push_back({"decode_cart_reply", "CartReply", [](Body body, bool& stable) {
                   return round_trip<std::vector<CartEntry>>(
                       body, stable,
                       [](Body b, std::vector<CartEntry>& v) { return decode_cart_reply(b, v); },
                       [](const std::vector<CartEntry>& v, FBB& fbb) {
                         encode_cart_reply(v, fbb);
                       });
                 }});
  out.push_back({"decode_wallet_reply", "WalletReply", [](Body body, bool& stable) {
                   return round_trip<std::vector<AccountView>>(
                       body, stable,
                       [](Body b, std::vector<AccountView>& v) {
                         return decode_wallet_reply(b, v);
                       },
                       [](const std::vector<AccountView>& v, FBB& fbb) {
                         encode_wallet_reply(v, fbb);
                       });
                 }});
  out.push_back({"decode_expiring_reply", "ExpiringReply", [](Body body, bool& stable) {
                   return round_trip<ExpiringAnswer>(
                       body, stable,
                       [](Body b, ExpiringAnswer& a) { return decode_expiring_reply(b, a); },
                       [](const ExpiringAnswer& a, FBB& fbb) { encode_expiring_reply(a, fbb); });
                 }});
  out.push_back({"decode_stats_reply/seller", "StatsReply", [](Body body, bool& stable) {
                   return round_trip<SellerStats>(
                       body, stable,
                       [](Body b, SellerStats& s) { return decode_stats_reply(b, s); },
                       [](const SellerStats& s, FBB& fbb) { encode_stats_reply(s, fbb); });
                 }});
  out.push_back({"decode_stats_reply/campaign", "StatsReply", [](Body body, bool& stable) {
                   return round_trip<CampaignStats>(
                       body, stable,
                       [](Body b, CampaignStats& s) { return decode_stats_reply(b, s); },
                       [](const CampaignStats& s, FBB& fbb) { encode_stats_reply(s, fbb); });
                 }});
  out.push_back({"decode_admin_reply", "AdminReply", [](Body body, bool& stable) {
                   return round_trip<AdminStatus>(
                       body, stable,
                       [](Body b, AdminStatus& s) { return decode_admin_reply(b, s); },
                       [](const AdminStatus& s, FBB& fbb) { encode_admin_reply(s, fbb); });
                 }});
  out.push_back({"decode_error_reply", "ErrorReply", [](Body body, bool& stable) {
                   return round_trip<ErrorInfo>(
                       body, stable, [](Body b, ErrorInfo& e) { return decode_error_reply(b, e); },
                       [](const ErrorInfo& e, FBB& fbb) {
                         encode_error_reply(e.code, e.message, fbb);
                       });
                 }});
  return out;
}

}  // namespace bonus::protocol::testing
