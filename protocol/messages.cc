#include "protocol/messages.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>

#include "engine/assert.h"
#include "protocol/bonus_generated.h"
#include "protocol/crc32c.h"

namespace bonus::protocol {
namespace {

using flatbuffers::FlatBufferBuilder;
using flatbuffers::Offset;

// ---------------------------------------------------------------------------------------
// Bodies: identifiers, alignment, verification.

// The 4-byte file identifier of each root table (protocol/README.md). FlatBuffers
// allows one file_identifier per schema, so they live here and are passed to Finish
// and to the verifier explicitly.
template <typename T>
inline constexpr const char* kIdentifier = nullptr;
template <> inline constexpr const char* kIdentifier<wire::CreditBatch> = "CRDQ";
template <> inline constexpr const char* kIdentifier<wire::AccrueBatch> = "ACRQ";
template <> inline constexpr const char* kIdentifier<wire::ConfirmAccrualBatch> = "CNFQ";
template <> inline constexpr const char* kIdentifier<wire::CancelAccrualBatch> = "CNLQ";
template <> inline constexpr const char* kIdentifier<wire::HoldBatch> = "HLDQ";
template <> inline constexpr const char* kIdentifier<wire::CaptureBatch> = "CAPQ";
template <> inline constexpr const char* kIdentifier<wire::ReleaseBatch> = "RELQ";
template <> inline constexpr const char* kIdentifier<wire::SpendBatch> = "SPNQ";
template <> inline constexpr const char* kIdentifier<wire::RefundBatch> = "RFNQ";
template <> inline constexpr const char* kIdentifier<wire::ReverseAccrualBatch> = "RVAQ";
template <> inline constexpr const char* kIdentifier<wire::RevokeCampaignBatch> = "RVCQ";
template <> inline constexpr const char* kIdentifier<wire::SetPolicyBatch> = "POLQ";
template <> inline constexpr const char* kIdentifier<wire::ReferralBatch> = "REFQ";
template <> inline constexpr const char* kIdentifier<wire::WriteReply> = "WRTR";
template <> inline constexpr const char* kIdentifier<wire::BalanceRequest> = "BALQ";
template <> inline constexpr const char* kIdentifier<wire::BalanceReply> = "BALR";
template <> inline constexpr const char* kIdentifier<wire::CartRequest> = "CRTQ";
template <> inline constexpr const char* kIdentifier<wire::CartReply> = "CRTR";
template <> inline constexpr const char* kIdentifier<wire::WalletRequest> = "WALQ";
template <> inline constexpr const char* kIdentifier<wire::WalletReply> = "WALR";
template <> inline constexpr const char* kIdentifier<wire::ExpiringRequest> = "EXPQ";
template <> inline constexpr const char* kIdentifier<wire::ExpiringReply> = "EXPR";
template <> inline constexpr const char* kIdentifier<wire::HistoryRequest> = "HISQ";
template <> inline constexpr const char* kIdentifier<wire::OrderRequest> = "ORDQ";
template <> inline constexpr const char* kIdentifier<wire::HistoryReply> = "HISR";
template <> inline constexpr const char* kIdentifier<wire::StatsRequest> = "STAQ";
template <> inline constexpr const char* kIdentifier<wire::StatsReply> = "STAR";
template <> inline constexpr const char* kIdentifier<wire::PolicyRequest> = "PRDQ";
template <> inline constexpr const char* kIdentifier<wire::SegmentRequest> = "SEGQ";
template <> inline constexpr const char* kIdentifier<wire::SegmentReply> = "SEGR";
template <> inline constexpr const char* kIdentifier<wire::PolicyReply> = "PRDR";
template <> inline constexpr const char* kIdentifier<wire::ReportRequest> = "REPQ";
template <> inline constexpr const char* kIdentifier<wire::ReportReply> = "REPR";
template <> inline constexpr const char* kIdentifier<wire::AdminRequest> = "ADMQ";
template <> inline constexpr const char* kIdentifier<wire::AdminReply> = "ADMR";
template <> inline constexpr const char* kIdentifier<wire::HelloRequest> = "HELQ";
template <> inline constexpr const char* kIdentifier<wire::HelloReply> = "HELR";
template <> inline constexpr const char* kIdentifier<wire::ErrorReply> = "ERRR";

template <typename T>
void finish(FlatBufferBuilder& fbb, Offset<T> root) {
  static_assert(kIdentifier<T> != nullptr, "every root table has an identifier");
  fbb.Finish(root, kIdentifier<T>);
}

// The largest alignment of anything in bonus.fbs (ulong fields and the structs).
constexpr std::size_t kBodyAlign = 8;

// The body's bytes at an address aligned to kBodyAlign: FlatBuffers reads scalars and
// structs in place, and the verifier only checks alignment relative to the buffer's
// start. A misaligned body is copied once.
class AlignedBody {
 public:
  explicit AlignedBody(Body body) : bytes_(body) {
    if (reinterpret_cast<std::uintptr_t>(body.data()) % kBodyAlign == 0) return;
    copy_.resize((body.size() + kBodyAlign - 1) / kBodyAlign);
    std::memcpy(copy_.data(), body.data(), body.size());
    bytes_ = Body(reinterpret_cast<const std::uint8_t*>(copy_.data()), body.size());
  }
  Body bytes() const { return bytes_; }

 private:
  Body bytes_;
  std::vector<std::uint64_t> copy_;
};

// The root table of an aligned body when it verifies with T's identifier, else null.
template <typename T>
const T* verified_root(Body aligned) {
  flatbuffers::Verifier::Options options;
  options.max_depth = 8;  // root → vector → table → vector is the deepest message
  flatbuffers::Verifier verifier(aligned.data(), aligned.size(), options);
  if (!verifier.VerifyBuffer<T>(kIdentifier<T>)) return nullptr;
  return flatbuffers::GetRoot<T>(aligned.data());
}

// Verifies `body` as a T and calls read(root), which returns the decoder's answer.
template <typename T, typename Read>
FrameError with_root(Body body, Read&& read) {
  // Also keeps the verifier's own size assertion (< 2 GiB) out of reach.
  if (body.size() > kBodySizeMax) return FrameError::malformed_body;
  const AlignedBody aligned(body);
  const T* root = verified_root<T>(aligned.bytes());
  if (root == nullptr) return FrameError::malformed_body;
  return read(*root);
}

// The verifier checks that a vector of structs lies within the buffer, not that its
// elements are aligned; reading a misaligned struct would be undefined. (An empty one
// is not aligned by the builder either, and has nothing to read.)
template <typename S>
bool readable(const flatbuffers::Vector<const S*>* v) {
  return v != nullptr &&
         (v->size() == 0 || reinterpret_cast<std::uintptr_t>(v->Data()) % alignof(S) == 0);
}

std::uint32_t cap(std::uint32_t batch_commands_max) {
  return batch_commands_max < kBatchCommandsMax ? batch_commands_max : kBatchCommandsMax;
}

// A request's list: present, aligned, 1..batch_commands_max long.
template <typename S>
FrameError check_list(const flatbuffers::Vector<const S*>* v, std::uint32_t batch_commands_max) {
  if (!readable(v) || v->size() == 0) return FrameError::malformed_body;
  if (v->size() > cap(batch_commands_max)) return FrameError::batch_too_large;
  return FrameError::none;
}

// ---------------------------------------------------------------------------------------
// Engine ⇄ wire structs. Reserved engine fields are never sent and decode as zero.

wire::Id128 to_wire(const Id128& id) { return wire::Id128(id.hi, id.lo); }
Id128 from_wire(const wire::Id128& w) { return Id128{w.hi(), w.lo()}; }

wire::Life to_wire(const LotLife& life) {
  return wire::Life(static_cast<std::uint8_t>(life.kind), life.value);
}
// Any kind is passed through: the engine answers invalid_expiry for an unknown one.
LotLife from_wire(const wire::Life& w) {
  return LotLife{.kind = static_cast<LotLife::Kind>(w.kind()), .reserved = {}, .value = w.value()};
}

wire::Credit to_wire(const Credit& c) {
  return wire::Credit(to_wire(c.id), c.seller, c.buyer, c.amount, c.campaign, to_wire(c.life),
                      c.reason);
}
Credit from_wire(const wire::Credit& w) {
  return Credit{.id = from_wire(w.id()),
                .seller = w.seller(),
                .buyer = w.buyer(),
                .amount = w.amount(),
                .campaign = w.campaign(),
                .life = from_wire(w.life()),
                .reason = w.reason()};
}

wire::Accrue to_wire(const Accrue& c) {
  return wire::Accrue(to_wire(c.id), c.order, c.seller, c.buyer, c.amount, to_wire(c.life));
}
Accrue from_wire(const wire::Accrue& w) {
  return Accrue{.id = from_wire(w.id()),
                .order = w.order(),
                .seller = w.seller(),
                .buyer = w.buyer(),
                .amount = w.amount(),
                .life = from_wire(w.life())};
}

wire::ConfirmAccrual to_wire(const ConfirmAccrual& c) {
  return wire::ConfirmAccrual(to_wire(c.id), c.order);
}
ConfirmAccrual from_wire(const wire::ConfirmAccrual& w) {
  return ConfirmAccrual{.id = from_wire(w.id()), .order = w.order()};
}

wire::CancelAccrual to_wire(const CancelAccrual& c) {
  return wire::CancelAccrual(to_wire(c.id), c.order);
}
CancelAccrual from_wire(const wire::CancelAccrual& w) {
  return CancelAccrual{.id = from_wire(w.id()), .order = w.order()};
}

wire::Hold to_wire(const Hold& c) {
  return wire::Hold(to_wire(c.id), c.order, c.seller, c.buyer, c.amount, c.goods_total,
                    c.timeout_us);
}
Hold from_wire(const wire::Hold& w) {
  return Hold{.id = from_wire(w.id()),
              .order = w.order(),
              .seller = w.seller(),
              .buyer = w.buyer(),
              .amount = w.amount(),
              .goods_total = w.goods_total_kopecks(),
              .timeout_us = w.timeout_us()};
}

wire::Capture to_wire(const Capture& c) { return wire::Capture(to_wire(c.id), c.order, c.amount); }
Capture from_wire(const wire::Capture& w) {
  return Capture{.id = from_wire(w.id()), .order = w.order(), .amount = w.amount()};
}

wire::Release to_wire(const Release& c) { return wire::Release(to_wire(c.id), c.order); }
Release from_wire(const wire::Release& w) {
  return Release{.id = from_wire(w.id()), .order = w.order()};
}

wire::Spend to_wire(const Spend& c) {
  return wire::Spend(to_wire(c.id), c.order, c.seller, c.buyer, c.amount, c.goods_total);
}
Spend from_wire(const wire::Spend& w) {
  return Spend{.id = from_wire(w.id()),
               .order = w.order(),
               .seller = w.seller(),
               .buyer = w.buyer(),
               .amount = w.amount(),
               .goods_total = w.goods_total_kopecks()};
}

wire::Refund to_wire(const Refund& c) { return wire::Refund(to_wire(c.id), c.order, c.amount); }
Refund from_wire(const wire::Refund& w) {
  return Refund{.id = from_wire(w.id()), .order = w.order(), .amount = w.amount()};
}

wire::ReverseAccrual to_wire(const ReverseAccrual& c) {
  return wire::ReverseAccrual(to_wire(c.id), c.order);
}
ReverseAccrual from_wire(const wire::ReverseAccrual& w) {
  return ReverseAccrual{.id = from_wire(w.id()), .order = w.order()};
}

wire::RevokeCampaign to_wire(const RevokeCampaign& c) {
  return wire::RevokeCampaign(to_wire(c.id), c.seller, c.campaign);
}
RevokeCampaign from_wire(const wire::RevokeCampaign& w) {
  return RevokeCampaign{.id = from_wire(w.id()), .seller = w.seller(), .campaign = w.campaign()};
}

wire::SetPolicy to_wire(const SetPolicy& c) {
  return wire::SetPolicy(to_wire(c.id), c.seller, c.fields, c.spend_share_bp, c.balance_max,
                         c.earn_month_max, c.lot_life_us);
}
SetPolicy from_wire(const wire::SetPolicy& w) {
  return SetPolicy{.id = from_wire(w.id()),
                   .seller = w.seller(),
                   .fields = w.fields(),
                   .spend_share_bp = w.spend_share_bp(),
                   .balance_max = w.balance_max(),
                   .earn_month_max = w.earn_month_max(),
                   .lot_life_us = w.lot_life_us()};
}

wire::Referral to_wire(const Referral& c) {
  return wire::Referral(to_wire(c.id), c.seller, c.referrer, c.friend_buyer, c.referrer_amount,
                        c.friend_amount, c.campaign, to_wire(c.life));
}
Referral from_wire(const wire::Referral& w) {
  return Referral{.id = from_wire(w.id()),
                  .seller = w.seller(),
                  .referrer = w.referrer(),
                  .friend_buyer = w.friend_(),
                  .referrer_amount = w.referrer_amount(),
                  .friend_amount = w.friend_amount(),
                  .campaign = w.campaign(),
                  .life = from_wire(w.life())};
}

wire::AccountKey to_wire(const AccountKey& k) { return wire::AccountKey(k.seller, k.buyer); }
AccountKey from_wire(const wire::AccountKey& w) { return AccountKey{w.seller(), w.buyer()}; }

wire::CartLine to_wire(const CartLine& l) { return wire::CartLine(l.seller, l.goods_total); }
CartLine from_wire(const wire::CartLine& w) { return CartLine{w.seller(), w.goods_total_kopecks()}; }

wire::LotEntry to_wire(const LotView& l) {
  return wire::LotEntry(l.amount, l.expires_at_us, static_cast<std::uint8_t>(l.origin),
                        l.origin_id);
}
LotView from_wire(const wire::LotEntry& w) {
  return LotView{w.amount(), w.expires_at_us(), static_cast<LotView::Origin>(w.origin()),
                 w.origin_id()};
}
bool valid(const wire::LotEntry& w) {
  return w.origin() <= static_cast<std::uint8_t>(LotView::Origin::order);
}

wire::CartEntry to_wire(const CartEntry& e) {
  return wire::CartEntry(e.seller, e.available, e.spendable, e.pending, e.expiring_soon,
                         e.next_expiry_us);
}
CartEntry from_wire(const wire::CartEntry& w) {
  return CartEntry{w.seller(),  w.available(),     w.spendable(),
                   w.pending(), w.expiring_soon(), w.next_expiry_us()};
}

wire::HistoryCursor to_wire(const HistoryCursor& c) { return wire::HistoryCursor(c.position, c.index); }
HistoryCursor from_wire(const wire::HistoryCursor* w) {
  if (w == nullptr) return HistoryCursor{};
  return HistoryCursor{w->position(), w->index()};
}

wire::HistoryEvent to_wire(const HistoryEntry& h) {
  const LedgerEvent& e = h.event;
  return wire::HistoryEvent(h.position, h.index, static_cast<std::uint8_t>(e.kind),
                            static_cast<std::uint8_t>(e.ref_kind), e.seller, e.buyer, e.ref,
                            e.time_us, e.amount, e.debt_part, e.expired_part, e.reason,
                            e.balance_after, e.held_after, e.pending_after, e.debt_after);
}
HistoryEntry from_wire(const wire::HistoryEvent& w) {
  HistoryEntry h;
  h.position = w.position();
  h.index = w.index();
  LedgerEvent& e = h.event;
  e.kind = static_cast<LedgerEvent::Kind>(w.kind());
  e.ref_kind = static_cast<LedgerEvent::Ref>(w.ref_kind());
  e.seller = w.seller();
  e.buyer = w.buyer();
  e.ref = w.ref();
  e.time_us = w.time_us();
  e.amount = w.amount();
  e.debt_part = w.debt_part();
  e.expired_part = w.expired_part();
  e.reason = w.reason();
  e.balance_after = w.balance_after();
  e.held_after = w.held_after();
  e.pending_after = w.pending_after();
  e.debt_after = w.debt_after();
  return h;
}

wire::ExpiringEntry to_wire(const ExpiringEntry& e) {
  return wire::ExpiringEntry(e.buyer, e.amount, e.first_expiry_us);
}
ExpiringEntry from_wire(const wire::ExpiringEntry& w) {
  return ExpiringEntry{w.buyer(), w.amount(), w.first_expiry_us()};
}

wire::ExpiringCursor to_wire(const ExpiringPosition& p) {
  return wire::ExpiringCursor(p.shard, p.cursor.after_account, p.cursor.bucket);
}
// An absent cursor is the beginning.
ExpiringPosition from_wire(const wire::ExpiringCursor* w) {
  if (w == nullptr) return ExpiringPosition{};
  return ExpiringPosition{w->shard(), ExpiringCursor{w->bucket(), w->after_account()}};
}

// A list of engine values as a vector of wire structs.
template <typename S, typename V>
Offset<flatbuffers::Vector<const S*>> structs(FlatBufferBuilder& fbb, std::span<const V> values) {
  return fbb.CreateVectorOfNativeStructs<S, V>(values.data(), values.size(), &to_wire);
}

// A vector of wire structs as engine values, appended to `out`.
template <typename S, typename V>
void append(const flatbuffers::Vector<const S*>& in, std::vector<V>& out) {
  out.reserve(out.size() + in.size());
  for (const S* s : in) out.push_back(from_wire(*s));
}

// ---------------------------------------------------------------------------------------
// Write batches: one wire struct and batch table per command kind.

template <typename C>
struct WriteWire;
template <> struct WriteWire<Credit> { using Struct = wire::Credit; using Batch = wire::CreditBatch; };
template <> struct WriteWire<Accrue> { using Struct = wire::Accrue; using Batch = wire::AccrueBatch; };
template <> struct WriteWire<ConfirmAccrual> {
  using Struct = wire::ConfirmAccrual;
  using Batch = wire::ConfirmAccrualBatch;
};
template <> struct WriteWire<CancelAccrual> {
  using Struct = wire::CancelAccrual;
  using Batch = wire::CancelAccrualBatch;
};
template <> struct WriteWire<Hold> { using Struct = wire::Hold; using Batch = wire::HoldBatch; };
template <> struct WriteWire<Capture> { using Struct = wire::Capture; using Batch = wire::CaptureBatch; };
template <> struct WriteWire<Release> { using Struct = wire::Release; using Batch = wire::ReleaseBatch; };
template <> struct WriteWire<Spend> { using Struct = wire::Spend; using Batch = wire::SpendBatch; };
template <> struct WriteWire<Refund> { using Struct = wire::Refund; using Batch = wire::RefundBatch; };
template <> struct WriteWire<ReverseAccrual> {
  using Struct = wire::ReverseAccrual;
  using Batch = wire::ReverseAccrualBatch;
};
template <> struct WriteWire<RevokeCampaign> {
  using Struct = wire::RevokeCampaign;
  using Batch = wire::RevokeCampaignBatch;
};
template <> struct WriteWire<SetPolicy> {
  using Struct = wire::SetPolicy;
  using Batch = wire::SetPolicyBatch;
};
template <> struct WriteWire<Referral> {
  using Struct = wire::Referral;
  using Batch = wire::ReferralBatch;
};

// A batch's side vector (AccrueBatch.prices, SetPolicyBatch.rates): absent, or aligned
// and one per command.
template <typename S>
bool side_vector_fits(const flatbuffers::Vector<const S*>* v, std::uint32_t commands) {
  return v == nullptr || (readable(v) && v->size() == commands);
}

wire::PolicyTier to_wire(const PolicyTier& t) {
  return wire::PolicyTier(t.threshold_kopecks, t.rate_bp, 0);
}
PolicyTier from_wire(const wire::PolicyTier& w) {
  return PolicyTier{w.threshold_kopecks(), w.rate_bp(), 0};
}

wire::PolicyRates rates_of(const SetPolicy& c) {
  static_assert(kPolicyTiersMax == 8, "PolicyRates.tiers in bonus.fbs");
  std::array<wire::PolicyTier, kPolicyTiersMax> tiers;
  for (std::uint32_t k = 0; k < kPolicyTiersMax; ++k) tiers[k] = to_wire(c.tiers[k]);
  return wire::PolicyRates(c.rate_bp, c.tier_window_days, c.tier_count, 0,
                           flatbuffers::span<const wire::PolicyTier, kPolicyTiersMax>(tiers));
}
void set_rates(const wire::PolicyRates& w, SetPolicy& c) {
  c.rate_bp = w.rate_bp();
  c.tier_window_days = w.tier_window_days();
  c.tier_count = w.tier_count();
  for (std::uint32_t k = 0; k < kPolicyTiersMax; ++k) c.tiers[k] = from_wire(*w.tiers()->Get(k));
}

template <typename C>
FrameError decode_batch(Body body, std::uint32_t batch_commands_max, std::vector<Command>& out) {
  using Batch = typename WriteWire<C>::Batch;
  return with_root<Batch>(body, [&](const Batch& batch) {
    const auto* commands = batch.commands();
    if (const FrameError e = check_list(commands, batch_commands_max); e != FrameError::none) {
      return e;
    }
    out.reserve(commands->size());
    if constexpr (std::is_same_v<C, Accrue>) {
      const auto* prices = batch.prices();
      if (!side_vector_fits(prices, commands->size())) return FrameError::malformed_body;
      for (std::uint32_t i = 0; i < commands->size(); ++i) {
        Accrue c = from_wire(*commands->Get(i));
        if (prices != nullptr) c.price = prices->Get(i)->price_kopecks();
        out.emplace_back(c);
      }
    } else if constexpr (std::is_same_v<C, SetPolicy>) {
      const auto* rates = batch.rates();
      if (!side_vector_fits(rates, commands->size())) return FrameError::malformed_body;
      for (std::uint32_t i = 0; i < commands->size(); ++i) {
        SetPolicy c = from_wire(*commands->Get(i));
        if (rates != nullptr) set_rates(*rates->Get(i), c);
        out.emplace_back(c);
      }
    } else {
      for (const auto* c : *commands) out.emplace_back(from_wire(*c));
    }
    return FrameError::none;
  });
}

// ---------------------------------------------------------------------------------------
// Accounts (balance and wallet replies).

Offset<wire::Account> create_account(FlatBufferBuilder& fbb, const AccountView& a,
                                     std::span<const LotView> lots) {
  Offset<flatbuffers::Vector<const wire::LotEntry*>> lot_vector = 0;
  if (!lots.empty()) lot_vector = structs<wire::LotEntry>(fbb, lots);
  const wire::AccountTier tier(a.tier, a.rate_bp, a.purchases_kopecks, a.next_tier_kopecks,
                               a.last_purchase_us);
  Offset<flatbuffers::Vector<std::uint8_t>> reason_vector = 0;
  const auto has_reason = [](const LotView& l) { return l.reason != 0; };
  if (std::any_of(lots.begin(), lots.end(), has_reason)) {
    std::uint8_t* reasons = nullptr;
    reason_vector = fbb.CreateUninitializedVector(lots.size(), &reasons);
    for (const LotView& l : lots) *reasons++ = l.reason;
  }
  return wire::CreateAccount(fbb, a.seller, a.buyer, a.exists, a.available, a.held, a.pending,
                             a.debt, a.next_expiry_us, a.next_expiry_amount, lot_vector, &tier,
                             reason_vector);
}

AccountView account_view(const wire::Account& w) {
  AccountView a;
  a.seller = w.seller();
  a.buyer = w.buyer();
  a.available = w.available();
  a.held = w.held();
  a.pending = w.pending();
  a.debt = w.debt();
  a.next_expiry_us = w.next_expiry_us();
  a.next_expiry_amount = w.next_expiry_amount();
  a.exists = w.exists();
  if (const wire::AccountTier* t = w.tier()) {
    a.tier = t->tier();
    a.rate_bp = t->rate_bp();
    a.purchases_kopecks = t->purchases_kopecks();
    a.next_tier_kopecks = t->next_tier_kopecks();
    a.last_purchase_us = t->last_purchase_us();
  }
  return a;
}

// An account's lots: absent is none; present must be aligned with known origins.
FrameError read_lots(const wire::Account& w, std::vector<LotView>& out) {
  const auto* lots = w.lots();
  if (lots == nullptr) return FrameError::none;
  if (!readable(lots)) return FrameError::malformed_body;
  for (const wire::LotEntry* l : *lots) {
    if (!valid(*l)) return FrameError::malformed_body;
  }
  const std::size_t first = out.size();
  append(*lots, out);
  if (const auto* reasons = w.lot_reasons()) {
    if (reasons->size() != lots->size()) return FrameError::malformed_body;
    for (flatbuffers::uoffset_t k = 0; k < reasons->size(); ++k) out[first + k].reason = reasons->Get(k);
  }
  return FrameError::none;
}

using AccountOffsets = flatbuffers::Vector<Offset<wire::Account>>;

std::string read_string(const flatbuffers::String* s) {
  return s == nullptr ? std::string() : std::string(s->c_str(), s->size());
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Frames.

void append_frame(Opcode opcode, std::uint8_t flags, std::uint64_t request_id, Body body,
                  std::string& out) {
  BONUS_ASSERT(body.size() <= kBodySizeMax);
  FrameHeader header;
  header.flags = flags;
  header.opcode = opcode;
  header.body_size = static_cast<std::uint32_t>(body.size());
  header.request_id = request_id;
  header.body_crc32c = body_checksum(body.data(), body.size());
  std::uint8_t bytes[kHeaderBytes];
  encode_header(header, bytes);
  out.append(reinterpret_cast<const char*>(bytes), kHeaderBytes);
  out.append(reinterpret_cast<const char*>(body.data()), body.size());
}

std::string make_frame(Opcode opcode, std::uint8_t flags, std::uint64_t request_id, Body body) {
  std::string out;
  out.reserve(kHeaderBytes + body.size());
  append_frame(opcode, flags, request_id, body, out);
  return out;
}

void append_frame_at(Opcode opcode, std::uint8_t flags, std::uint64_t request_id,
                     std::uint64_t position, Body body, std::string& out) {
  BONUS_ASSERT(body.size() + kPositionBytes <= kBodySizeMax);
  std::uint8_t prefix[kPositionBytes];
  for (std::size_t i = 0; i < kPositionBytes; ++i) {
    prefix[i] = static_cast<std::uint8_t>(position >> (8 * i));
  }
  FrameHeader header;
  header.flags = flags | kPosition;
  header.opcode = opcode;
  header.body_size = static_cast<std::uint32_t>(kPositionBytes + body.size());
  header.request_id = request_id;
  header.body_crc32c = crc32c(body.data(), body.size(), crc32c(prefix, kPositionBytes));
  std::uint8_t bytes[kHeaderBytes];
  encode_header(header, bytes);
  out.append(reinterpret_cast<const char*>(bytes), kHeaderBytes);
  out.append(reinterpret_cast<const char*>(prefix), kPositionBytes);
  out.append(reinterpret_cast<const char*>(body.data()), body.size());
}

std::string make_frame_at(Opcode opcode, std::uint8_t flags, std::uint64_t request_id,
                          std::uint64_t position, Body body) {
  std::string out;
  out.reserve(kHeaderBytes + kPositionBytes + body.size());
  append_frame_at(opcode, flags, request_id, position, body, out);
  return out;
}

bool split_position(Body body, std::uint64_t& position, Body& message) {
  if (body.size() < kPositionBytes) return false;
  position = 0;
  for (std::size_t i = 0; i < kPositionBytes; ++i) {
    position |= std::uint64_t{body[i]} << (8 * i);
  }
  message = body.subspan(kPositionBytes);
  return true;
}

bool ExpiringPosition::at_start() const { return *this == ExpiringPosition{}; }

// ---------------------------------------------------------------------------------------
// Server side: requests.

FrameError decode_write(Opcode opcode, Body body, std::uint32_t batch_commands_max,
                        std::vector<Command>& out) {
  out.clear();
  switch (opcode) {
    case Opcode::credit: return decode_batch<Credit>(body, batch_commands_max, out);
    case Opcode::accrue: return decode_batch<Accrue>(body, batch_commands_max, out);
    case Opcode::confirm_accrual:
      return decode_batch<ConfirmAccrual>(body, batch_commands_max, out);
    case Opcode::cancel_accrual: return decode_batch<CancelAccrual>(body, batch_commands_max, out);
    case Opcode::hold: return decode_batch<Hold>(body, batch_commands_max, out);
    case Opcode::capture: return decode_batch<Capture>(body, batch_commands_max, out);
    case Opcode::release: return decode_batch<Release>(body, batch_commands_max, out);
    case Opcode::spend: return decode_batch<Spend>(body, batch_commands_max, out);
    case Opcode::refund: return decode_batch<Refund>(body, batch_commands_max, out);
    case Opcode::reverse_accrual:
      return decode_batch<ReverseAccrual>(body, batch_commands_max, out);
    case Opcode::revoke_campaign:
      return decode_batch<RevokeCampaign>(body, batch_commands_max, out);
    case Opcode::set_policy: return decode_batch<SetPolicy>(body, batch_commands_max, out);
    case Opcode::referral: return decode_batch<Referral>(body, batch_commands_max, out);
    default: return FrameError::malformed_body;
  }
}

FrameError decode_balance(Body body, std::uint32_t batch_commands_max, BalanceQuery& out) {
  return with_root<wire::BalanceRequest>(body, [&](const wire::BalanceRequest& r) {
    const auto* accounts = r.accounts();
    if (const FrameError e = check_list(accounts, batch_commands_max); e != FrameError::none) {
      return e;
    }
    out.accounts.clear();
    append(*accounts, out.accounts);
    out.with_lots = r.with_lots();
    return FrameError::none;
  });
}

FrameError decode_cart(Body body, std::uint32_t batch_commands_max, CartQuery& out) {
  return with_root<wire::CartRequest>(body, [&](const wire::CartRequest& r) {
    const auto* lines = r.lines();
    if (const FrameError e = check_list(lines, batch_commands_max); e != FrameError::none) {
      return e;
    }
    out.buyer = r.buyer();
    out.lines.clear();
    append(*lines, out.lines);
    out.soon_us = r.soon_us();
    return FrameError::none;
  });
}

FrameError decode_wallet(Body body, WalletQuery& out) {
  return with_root<wire::WalletRequest>(body, [&](const wire::WalletRequest& r) {
    out.buyer = r.buyer();
    return FrameError::none;
  });
}

FrameError decode_expiring(Body body, std::uint32_t batch_commands_max, ExpiringQuery& out) {
  return with_root<wire::ExpiringRequest>(body, [&](const wire::ExpiringRequest& r) {
    const std::uint32_t limit_max = cap(batch_commands_max);
    out.seller = r.seller();
    out.within_us = r.within_us();
    out.limit = r.limit() == 0 || r.limit() > limit_max ? limit_max : r.limit();
    out.from = from_wire(r.cursor());
    return FrameError::none;
  });
}

FrameError decode_history(Body body, HistoryQuery& out) {
  return with_root<wire::HistoryRequest>(body, [&](const wire::HistoryRequest& r) {
    out.seller = r.seller();
    out.buyer = r.buyer();
    out.limit = r.limit() == 0 || r.limit() > kHistoryPageMax ? kHistoryPageMax : r.limit();
    out.from = from_wire(r.cursor());
    return FrameError::none;
  });
}

FrameError decode_order(Body body, HistoryQuery& out) {
  return with_root<wire::OrderRequest>(body, [&](const wire::OrderRequest& r) {
    out.order = r.order();
    out.limit = r.limit() == 0 || r.limit() > kHistoryPageMax ? kHistoryPageMax : r.limit();
    out.from = from_wire(r.cursor());
    return FrameError::none;
  });
}

FrameError decode_stats(Body body, StatsQuery& out) {
  return with_root<wire::StatsRequest>(body, [&](const wire::StatsRequest& r) {
    out.seller = r.seller();
    out.campaign = r.campaign();
    return FrameError::none;
  });
}

FrameError decode_segment(Body body, std::uint32_t batch_commands_max, SegmentRequestQuery& out) {
  return with_root<wire::SegmentRequest>(body, [&](const wire::SegmentRequest& r) {
    if (r.kind() >= kSegmentKindCount) return FrameError::malformed_body;
    out.query = SegmentQuery{r.seller(), static_cast<SegmentKind>(r.kind()), r.campaign(),
                             r.period_us()};
    const bool unspent = out.query.kind == SegmentKind::unspent;
    if (unspent ? out.query.campaign == 0 : out.query.period_us <= 0) {
      return FrameError::malformed_body;
    }
    const std::uint32_t most = cap(batch_commands_max);
    out.limit = r.limit() == 0 || r.limit() > most ? most : r.limit();
    out.from = SegmentPosition{};
    if (const wire::SegmentCursor* c = r.cursor()) {
      if (c->after() > UINT32_MAX) return FrameError::malformed_body;
      out.from =
          SegmentPosition{c->shard(), SegmentCursor{static_cast<std::uint32_t>(c->after())}};
    }
    return FrameError::none;
  });
}

FrameError decode_policy(Body body, PolicyQuery& out) {
  return with_root<wire::PolicyRequest>(body, [&](const wire::PolicyRequest& r) {
    out.seller = r.seller();
    return FrameError::none;
  });
}

FrameError decode_report(Body body, ReportQuery& out) {
  return with_root<wire::ReportRequest>(body, [&](const wire::ReportRequest& r) {
    out.seller = r.seller();
    out.month = r.month();
    return FrameError::none;
  });
}

FrameError decode_hello(Body body, HelloQuery& out) {
  return with_root<wire::HelloRequest>(body, [&](const wire::HelloRequest& r) {
    if ((r.token() != nullptr && r.token()->size() > kTokenBytesMax) ||
        (r.client_name() != nullptr && r.client_name()->size() > kClientNameBytesMax)) {
      return FrameError::malformed_body;
    }
    out.token = read_string(r.token());
    out.protocol_version = r.protocol_version();
    out.client_name = read_string(r.client_name());
    return FrameError::none;
  });
}

FrameError decode_admin(Body body, AdminQuery& out) {
  return with_root<wire::AdminRequest>(body, [&](const wire::AdminRequest& r) {
    const auto action = static_cast<std::uint8_t>(r.action());
    if (action > static_cast<std::uint8_t>(AdminAction::forget_node)) {
      return FrameError::malformed_body;
    }
    out.action = static_cast<AdminAction>(action);
    out.clock_advance_us = r.clock_advance_us();
    if (out.action == AdminAction::clock_advance && out.clock_advance_us <= 0) {
      return FrameError::malformed_body;
    }
    out.set_limits = SetLimits{};
    if (out.action == AdminAction::set_limits) {
      const wire::SetLimits* c = r.set_limits();
      if (c == nullptr) return FrameError::malformed_body;
      out.set_limits = SetLimits{Id128{c->id().hi(), c->id().lo()}, c->fields(), c->reserved(),
                                 c->accounts_max(), c->orders_max(), c->ids_max(),
                                 c->id_window_us(), c->order_retention_us(),
                                 c->rejected_ids_max(), c->rejected_id_window_us()};
    }
    out.node.clear();
    if (out.action == AdminAction::forget_node) {
      if (r.node() == nullptr || !valid_node_name(r.node()->string_view())) {
        return FrameError::malformed_body;
      }
      out.node = r.node()->str();
    }
    return FrameError::none;
  });
}

// ---------------------------------------------------------------------------------------
// Server side: replies.

void encode_write_reply(std::span<const Result> results, bool errors_only,
                        FlatBufferBuilder& fbb) {
  fbb.Clear();
  std::vector<wire::WriteResult> sent;
  std::vector<wire::ExpiredResult> expired;
  sent.reserve(errors_only ? 0 : results.size());
  for (std::size_t i = 0; i < results.size(); ++i) {
    const Result& r = results[i];
    if (errors_only && r.ok()) continue;
    const auto index = static_cast<std::uint32_t>(i);
    sent.emplace_back(index, static_cast<std::uint16_t>(r.code), r.flags, r.amount, r.aux);
    if (r.ok() && r.expired != 0) expired.emplace_back(index, r.expired);
  }
  const auto results_offset = fbb.CreateVectorOfStructs(sent);
  const auto expired_offset = expired.empty() ? 0 : fbb.CreateVectorOfStructs(expired);
  finish(fbb, wire::CreateWriteReply(fbb, results_offset, expired_offset));
}

void encode_balance_reply(std::span<const BalanceEntry> accounts, FlatBufferBuilder& fbb) {
  fbb.Clear();
  std::vector<Offset<wire::Account>> offsets;
  offsets.reserve(accounts.size());
  for (const BalanceEntry& e : accounts) offsets.push_back(create_account(fbb, e.account, e.lots));
  finish(fbb, wire::CreateBalanceReply(fbb, fbb.CreateVector(offsets)));
}

void encode_cart_reply(std::span<const CartEntry> entries, FlatBufferBuilder& fbb) {
  fbb.Clear();
  const auto entry_vector = structs<wire::CartEntry>(fbb, entries);
  std::vector<wire::CartEarn> earn;
  earn.reserve(entries.size());
  for (const CartEntry& e : entries) {
    earn.emplace_back(e.earn, e.tier, e.rate_bp, e.earn_month_room, e.balance_room);
  }
  finish(fbb, wire::CreateCartReply(fbb, entry_vector, fbb.CreateVectorOfStructs(earn)));
}

void encode_segment_reply(const SegmentAnswer& answer, FlatBufferBuilder& fbb) {
  fbb.Clear();
  std::vector<wire::SegmentBuyer> buyers;
  buyers.reserve(answer.buyers.size());
  for (BuyerId b : answer.buyers) buyers.emplace_back(b);
  const auto vector = fbb.CreateVectorOfStructs(buyers);
  const wire::SegmentCursor next(answer.next.shard, 0, answer.next.cursor.after);
  finish(fbb, wire::CreateSegmentReply(fbb, vector, answer.done ? nullptr : &next, answer.done));
}

void encode_policy_reply(SellerId seller, const Policy& p, FlatBufferBuilder& fbb) {
  fbb.Clear();
  std::vector<wire::PolicyTier> tiers;
  for (std::uint32_t k = 0; k < p.tier_count; ++k) tiers.push_back(to_wire(p.tiers[k]));
  const auto tier_vector = fbb.CreateVectorOfStructs(tiers);
  finish(fbb, wire::CreatePolicyReply(fbb, seller, p.spend_share_bp, p.balance_max,
                                      p.earn_month_max, p.lot_life_us, p.rate_bp,
                                      p.tier_window_days, tier_vector));
}

void encode_wallet_reply(std::span<const AccountView> accounts, FlatBufferBuilder& fbb) {
  fbb.Clear();
  std::vector<Offset<wire::Account>> offsets;
  offsets.reserve(accounts.size());
  for (const AccountView& a : accounts) offsets.push_back(create_account(fbb, a, {}));
  finish(fbb, wire::CreateWalletReply(fbb, fbb.CreateVector(offsets)));
}

void encode_expiring_reply(const ExpiringAnswer& answer, FlatBufferBuilder& fbb) {
  fbb.Clear();
  const auto entries = structs<wire::ExpiringEntry>(fbb, std::span(answer.entries));
  const wire::ExpiringCursor next = to_wire(answer.next);
  finish(fbb, wire::CreateExpiringReply(fbb, entries, answer.done ? nullptr : &next, answer.done));
}

void encode_history_reply(const HistoryAnswer& answer, FlatBufferBuilder& fbb) {
  fbb.Clear();
  std::vector<wire::HistoryEvent> events;
  events.reserve(answer.entries.size());
  for (const HistoryEntry& h : answer.entries) events.push_back(to_wire(h));
  const auto vector = fbb.CreateVectorOfStructs(events);
  const wire::HistoryCursor next = to_wire(answer.next);
  finish(fbb, wire::CreateHistoryReply(fbb, vector, answer.done ? nullptr : &next, answer.done,
                                       answer.position, answer.complete_from,
                                       answer.trimmed_before_us));
}

void encode_stats_reply(const SellerStats& s, FlatBufferBuilder& fbb) {
  fbb.Clear();
  finish(fbb, wire::CreateStatsReply(fbb, s.issued, s.accrued, s.spent, s.expired, s.refunded,
                                     s.reversed, s.held, s.pending, s.debt, s.outstanding));
}

void encode_stats_reply(const CampaignStats& s, FlatBufferBuilder& fbb) {
  fbb.Clear();
  finish(fbb, wire::CreateStatsReply(fbb, s.issued, 0, s.spent, s.expired, s.refunded,
                                     s.reversed, 0, 0, 0, s.outstanding, s.recipients,
                                     s.spenders, s.revoked, s.revoked_amount, s.sales_orders,
                                     s.sales_kopecks));
}

void encode_report_reply(SellerId seller, const MonthReport& m, FlatBufferBuilder& fbb) {
  fbb.Clear();
  const auto credited = fbb.CreateVector(m.credited, MonthReport::kBuckets);
  finish(fbb, wire::CreateReportReply(fbb, seller, m.month, m.accrued, m.confirmed, credited,
                                      m.spent, m.refunded, m.reversed, m.expired, m.orders,
                                      m.orders_goods_kopecks));
}

void encode_admin_reply(const AdminStatus& status, FlatBufferBuilder& fbb) {
  fbb.Clear();
  const auto message = fbb.CreateString(status.message);
  const auto durability = fbb.CreateString(status.durability);
  const auto history = fbb.CreateString(status.history);
  const auto node_state = status.node_state.empty() ? 0 : fbb.CreateString(status.node_state);
  const auto leader = status.leader.empty() ? 0 : fbb.CreateString(status.leader);
  const EngineConfig& l = status.limits;
  const wire::Limits limits(l.accounts_max, l.orders_max, l.ids_max, l.id_window_us,
                            l.order_retention_us, l.rejected_ids_max, l.rejected_id_window_us,
                            status.limits_changes);
  finish(fbb,
         wire::CreateAdminReply(
             fbb, status.ok, message, status.ledger_time_us, status.accounts, status.shards,
             status.test_clock, status.journal_bytes, durability, status.checkpoint_position,
             status.has_limits ? &limits : nullptr, static_cast<std::uint16_t>(status.limits_code),
             status.history_position, history, node_state, leader, status.log_position));
}

void encode_hello_reply(const HelloAnswer& a, FlatBufferBuilder& fbb) {
  fbb.Clear();
  const auto role = fbb.CreateString(a.role);
  const auto name = fbb.CreateString(a.name);
  const auto ports = a.partition_ports.empty() ? 0 : fbb.CreateVector(a.partition_ports);
  const auto hash = a.partition_hash.empty() ? 0 : fbb.CreateString(a.partition_hash);
  const auto node_state = a.node_state.empty() ? 0 : fbb.CreateString(a.node_state);
  const auto leader = a.leader.empty() ? 0 : fbb.CreateString(a.leader);
  finish(fbb, wire::CreateHelloReply(fbb, role, a.protocol_version, a.shards, a.body_size_max,
                                     a.batch_commands_max, a.in_flight_max, a.authenticated, name,
                                     ports, hash, node_state, leader, a.log_position));
}

void encode_error_reply(FrameError code, std::string_view message, FlatBufferBuilder& fbb) {
  fbb.Clear();
  const auto text = fbb.CreateString(message.data(), message.size());
  finish(fbb, wire::CreateErrorReply(fbb, static_cast<std::uint16_t>(code), text));
}

// ---------------------------------------------------------------------------------------
// Client side: requests.

template <WriteCommand C>
void encode_write(std::span<const C> commands, FlatBufferBuilder& fbb) {
  using Wire = WriteWire<C>;
  fbb.Clear();
  const auto vector = structs<typename Wire::Struct>(fbb, commands);
  // The side vectors only when a command needs them: a batch without prices or rates is
  // what servers before them read.
  Offset<flatbuffers::Vector<const wire::AccruePrice*>> prices = 0;
  Offset<flatbuffers::Vector<const wire::PolicyRates*>> rates = 0;
  if constexpr (std::is_same_v<C, Accrue>) {
    if (std::any_of(commands.begin(), commands.end(),
                    [](const Accrue& c) { return c.price != 0; })) {
      std::vector<wire::AccruePrice> side;
      for (const Accrue& c : commands) side.emplace_back(c.price);
      prices = fbb.CreateVectorOfStructs(side);
    }
  } else if constexpr (std::is_same_v<C, SetPolicy>) {
    // Whenever a command names a rate field or carries any rate value: a value in a field
    // it does not name is the engine's to refuse (invalid_policy), so it must reach it
    // as it was sent (and decode → encode → decode keeps it).
    constexpr std::uint32_t kRateFields =
        SetPolicy::kRate | SetPolicy::kTiers | SetPolicy::kTierWindow;
    const auto has_rates = [](const SetPolicy& c) {
      return (c.fields & kRateFields) != 0 || c.rate_bp != 0 || c.tier_window_days != 0 ||
             c.tier_count != 0 ||
             std::any_of(std::begin(c.tiers), std::end(c.tiers),
                         [](const PolicyTier& t) { return t != PolicyTier{}; });
    };
    if (std::any_of(commands.begin(), commands.end(), has_rates)) {
      std::vector<wire::PolicyRates> side;
      for (const SetPolicy& c : commands) side.push_back(rates_of(c));
      rates = fbb.CreateVectorOfStructs(side);
    }
  }
  typename Wire::Batch::Builder batch(fbb);
  batch.add_commands(vector);
  if constexpr (std::is_same_v<C, Accrue>) {
    if (!prices.IsNull()) batch.add_prices(prices);
  } else if constexpr (std::is_same_v<C, SetPolicy>) {
    if (!rates.IsNull()) batch.add_rates(rates);
  }
  finish(fbb, batch.Finish());
}

template void encode_write(std::span<const Credit>, FlatBufferBuilder&);
template void encode_write(std::span<const Accrue>, FlatBufferBuilder&);
template void encode_write(std::span<const ConfirmAccrual>, FlatBufferBuilder&);
template void encode_write(std::span<const CancelAccrual>, FlatBufferBuilder&);
template void encode_write(std::span<const Hold>, FlatBufferBuilder&);
template void encode_write(std::span<const Capture>, FlatBufferBuilder&);
template void encode_write(std::span<const Release>, FlatBufferBuilder&);
template void encode_write(std::span<const Spend>, FlatBufferBuilder&);
template void encode_write(std::span<const Refund>, FlatBufferBuilder&);
template void encode_write(std::span<const ReverseAccrual>, FlatBufferBuilder&);
template void encode_write(std::span<const RevokeCampaign>, FlatBufferBuilder&);
template void encode_write(std::span<const SetPolicy>, FlatBufferBuilder&);
template void encode_write(std::span<const Referral>, FlatBufferBuilder&);

void encode_balance(const BalanceQuery& query, FlatBufferBuilder& fbb) {
  fbb.Clear();
  const auto accounts = structs<wire::AccountKey>(fbb, std::span(query.accounts));
  finish(fbb, wire::CreateBalanceRequest(fbb, accounts, query.with_lots));
}

void encode_cart(const CartQuery& query, FlatBufferBuilder& fbb) {
  fbb.Clear();
  const auto lines = structs<wire::CartLine>(fbb, std::span(query.lines));
  finish(fbb, wire::CreateCartRequest(fbb, query.buyer, lines, query.soon_us));
}

void encode_wallet(const WalletQuery& query, FlatBufferBuilder& fbb) {
  fbb.Clear();
  finish(fbb, wire::CreateWalletRequest(fbb, query.buyer));
}

void encode_expiring(const ExpiringQuery& query, FlatBufferBuilder& fbb) {
  fbb.Clear();
  const wire::ExpiringCursor cursor = to_wire(query.from);
  finish(fbb, wire::CreateExpiringRequest(fbb, query.seller, query.within_us, query.limit,
                                          query.from.at_start() ? nullptr : &cursor));
}

void encode_history(const HistoryQuery& query, FlatBufferBuilder& fbb) {
  fbb.Clear();
  const wire::HistoryCursor cursor = to_wire(query.from);
  finish(fbb, wire::CreateHistoryRequest(fbb, query.seller, query.buyer, query.limit,
                                         query.from.start() ? nullptr : &cursor));
}

void encode_order(const HistoryQuery& query, FlatBufferBuilder& fbb) {
  fbb.Clear();
  const wire::HistoryCursor cursor = to_wire(query.from);
  finish(fbb, wire::CreateOrderRequest(fbb, query.order, query.limit,
                                       query.from.start() ? nullptr : &cursor));
}

void encode_stats(const StatsQuery& query, FlatBufferBuilder& fbb) {
  fbb.Clear();
  finish(fbb, wire::CreateStatsRequest(fbb, query.seller, query.campaign));
}

void encode_segment(const SegmentRequestQuery& q, FlatBufferBuilder& fbb) {
  fbb.Clear();
  const wire::SegmentCursor cursor(q.from.shard, 0, q.from.cursor.after);
  finish(fbb, wire::CreateSegmentRequest(fbb, q.query.seller,
                                         static_cast<std::uint8_t>(q.query.kind), q.query.campaign,
                                         q.query.period_us, q.limit,
                                         q.from.at_start() ? nullptr : &cursor));
}

void encode_policy(const PolicyQuery& query, FlatBufferBuilder& fbb) {
  fbb.Clear();
  finish(fbb, wire::CreatePolicyRequest(fbb, query.seller));
}

void encode_report(const ReportQuery& query, FlatBufferBuilder& fbb) {
  fbb.Clear();
  finish(fbb, wire::CreateReportRequest(fbb, query.seller, query.month));
}

void encode_hello(const HelloQuery& query, FlatBufferBuilder& fbb) {
  fbb.Clear();
  const auto token = fbb.CreateString(query.token);
  const auto client_name = fbb.CreateString(query.client_name);
  finish(fbb, wire::CreateHelloRequest(fbb, token, query.protocol_version, client_name));
}

void encode_admin(const AdminQuery& query, FlatBufferBuilder& fbb) {
  fbb.Clear();
  const SetLimits& c = query.set_limits;
  const wire::SetLimits set_limits(wire::Id128(c.id.hi, c.id.lo), c.fields, c.reserved,
                                   c.accounts_max, c.orders_max, c.ids_max, c.id_window_us,
                                   c.order_retention_us, c.rejected_ids_max,
                                   c.rejected_id_window_us);
  const auto node = query.action == AdminAction::forget_node ? fbb.CreateString(query.node) : 0;
  finish(fbb, wire::CreateAdminRequest(
                  fbb, static_cast<wire::AdminAction>(query.action), query.clock_advance_us,
                  query.action == AdminAction::set_limits ? &set_limits : nullptr, node));
}

bool valid_node_name(std::string_view name) {
  return !name.empty() && name.size() <= kNodeNameBytesMax &&
         name.find_first_not_of(
             "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
             "0123456789_-") == std::string_view::npos;
}

// ---------------------------------------------------------------------------------------
// Client side: replies.

namespace {

// Puts a WriteReply's `expired` entries into their results (`out`, by increasing index).
// Each must name, in increasing order, an ok result of the reply, with a non-zero figure.
FrameError add_expired(const flatbuffers::Vector<const wire::ExpiredResult*>* expired,
                       std::vector<IndexedResult>& out) {
  if (expired == nullptr) return FrameError::none;
  if (!readable(expired)) return FrameError::malformed_body;
  auto at = out.begin();
  for (const wire::ExpiredResult* e : *expired) {
    at = std::lower_bound(at, out.end(), e->index(),
                          [](const IndexedResult& r, std::uint32_t i) { return r.index < i; });
    if (at == out.end() || at->index != e->index() || !at->result.ok() || e->expired() == 0 ||
        at->result.expired != 0) {
      return FrameError::malformed_body;
    }
    at->result.expired = e->expired();
  }
  return FrameError::none;
}

}  // namespace

FrameError decode_write_reply(Body body, std::uint32_t commands_sent, bool errors_only,
                              std::vector<IndexedResult>& out) {
  return with_root<wire::WriteReply>(body, [&](const wire::WriteReply& r) {
    const auto* results = r.results();
    if (!readable(results) || results->size() > commands_sent ||
        (!errors_only && results->size() != commands_sent)) {
      return FrameError::malformed_body;
    }
    out.clear();
    out.reserve(results->size());
    std::int64_t previous = -1;
    for (const wire::WriteResult* w : *results) {
      if (w->index() >= commands_sent || w->index() <= previous) return FrameError::malformed_body;
      if (errors_only && w->code() == static_cast<std::uint16_t>(Code::ok)) {
        return FrameError::malformed_body;
      }
      previous = w->index();
      Result result;
      result.code = static_cast<Code>(w->code());  // a newer server's code is kept as is
      result.flags = w->flags();
      result.amount = w->amount();
      result.aux = w->aux();
      out.push_back(IndexedResult{w->index(), result});
    }
    return add_expired(r.expired(), out);
  });
}

FrameError decode_balance_reply(Body body, std::vector<BalanceEntry>& out) {
  return with_root<wire::BalanceReply>(body, [&](const wire::BalanceReply& r) {
    const AccountOffsets* accounts = r.accounts();
    if (accounts == nullptr) return FrameError::malformed_body;
    out.clear();
    out.reserve(accounts->size());
    for (const wire::Account* a : *accounts) {
      BalanceEntry& entry = out.emplace_back();
      entry.account = account_view(*a);
      if (const FrameError e = read_lots(*a, entry.lots); e != FrameError::none) return e;
    }
    return FrameError::none;
  });
}

FrameError decode_cart_reply(Body body, std::vector<CartEntry>& out) {
  return with_root<wire::CartReply>(body, [&](const wire::CartReply& r) {
    const auto* entries = r.entries();
    if (!readable(entries)) return FrameError::malformed_body;
    const auto* earn = r.earn();
    if (!side_vector_fits(earn, entries->size())) return FrameError::malformed_body;
    out.clear();
    append(*entries, out);
    if (earn == nullptr) return FrameError::none;
    for (std::uint32_t i = 0; i < earn->size(); ++i) {
      const wire::CartEarn& e = *earn->Get(i);
      out[i].earn = e.earn();
      out[i].tier = e.tier();
      out[i].rate_bp = e.rate_bp();
      out[i].earn_month_room = e.earn_month_room();
      out[i].balance_room = e.balance_room();
    }
    return FrameError::none;
  });
}

FrameError decode_segment_reply(Body body, SegmentAnswer& out) {
  return with_root<wire::SegmentReply>(body, [&](const wire::SegmentReply& r) {
    const auto* buyers = r.buyers();
    if (!readable(buyers)) return FrameError::malformed_body;
    out.buyers.clear();
    out.buyers.reserve(buyers->size());
    for (const wire::SegmentBuyer* b : *buyers) out.buyers.push_back(b->buyer());
    out.done = r.done();
    out.next = SegmentPosition{};
    if (!out.done) {
      const wire::SegmentCursor* next = r.next();
      if (next == nullptr) return FrameError::malformed_body;
      if (next->after() > UINT32_MAX) return FrameError::malformed_body;
      out.next = SegmentPosition{next->shard(),
                                 SegmentCursor{static_cast<std::uint32_t>(next->after())}};
    }
    return FrameError::none;
  });
}

FrameError decode_policy_reply(Body body, PolicyAnswer& out) {
  return with_root<wire::PolicyReply>(body, [&](const wire::PolicyReply& r) {
    const auto* tiers = r.tiers();
    if (tiers != nullptr && (!readable(tiers) || tiers->size() > kPolicyTiersMax)) {
      return FrameError::malformed_body;
    }
    out = PolicyAnswer{};
    out.seller = r.seller();
    Policy& p = out.policy;
    p.spend_share_bp = r.spend_share_bp();
    p.balance_max = r.balance_max();
    p.earn_month_max = r.earn_month_max();
    p.lot_life_us = r.lot_life_us();
    p.rate_bp = r.rate_bp();
    p.tier_window_days = r.tier_window_days();
    if (tiers != nullptr) {
      p.tier_count = tiers->size();
      for (std::uint32_t k = 0; k < tiers->size(); ++k) p.tiers[k] = from_wire(*tiers->Get(k));
    }
    return FrameError::none;
  });
}

FrameError decode_wallet_reply(Body body, std::vector<AccountView>& out) {
  return with_root<wire::WalletReply>(body, [&](const wire::WalletReply& r) {
    const AccountOffsets* accounts = r.accounts();
    if (accounts == nullptr) return FrameError::malformed_body;
    out.clear();
    out.reserve(accounts->size());
    for (const wire::Account* a : *accounts) out.push_back(account_view(*a));
    return FrameError::none;
  });
}

FrameError decode_expiring_reply(Body body, ExpiringAnswer& out) {
  return with_root<wire::ExpiringReply>(body, [&](const wire::ExpiringReply& r) {
    const auto* entries = r.entries();
    if (!readable(entries)) return FrameError::malformed_body;
    out.entries.clear();
    append(*entries, out.entries);
    out.done = r.done();
    out.next = out.done ? ExpiringPosition{} : from_wire(r.next());
    return FrameError::none;
  });
}

FrameError decode_history_reply(Body body, HistoryAnswer& out) {
  return with_root<wire::HistoryReply>(body, [&](const wire::HistoryReply& r) {
    const auto* events = r.events();
    if (!readable(events)) return FrameError::malformed_body;
    out.entries.clear();
    for (const wire::HistoryEvent* e : *events) {
      if (e->kind() < 1 || e->kind() > LedgerEvent::kKindMax || e->ref_kind() > 2) {
        return FrameError::malformed_body;
      }
      out.entries.push_back(from_wire(*e));
    }
    out.done = r.done();
    out.next = out.done ? HistoryCursor{} : from_wire(r.next());
    out.position = r.position();
    out.complete_from = r.complete_from();
    out.trimmed_before_us = r.trimmed_before_us();
    return FrameError::none;
  });
}

FrameError decode_stats_reply(Body body, SellerStats& out) {
  return with_root<wire::StatsReply>(body, [&](const wire::StatsReply& r) {
    out = SellerStats{r.issued(),   r.accrued(), r.spent(),   r.expired(),
                      r.refunded(), r.reversed(), r.held(),   r.pending(),
                      r.debt(),     r.outstanding()};
    return FrameError::none;
  });
}

FrameError decode_report_reply(Body body, MonthReport& out) {
  return with_root<wire::ReportReply>(body, [&](const wire::ReportReply& r) {
    const auto* credited = r.credited();
    if (credited == nullptr || credited->size() != MonthReport::kBuckets) {
      return FrameError::malformed_body;
    }
    out = MonthReport{};
    out.month = r.month();
    out.accrued = r.accrued();
    out.confirmed = r.confirmed();
    for (flatbuffers::uoffset_t k = 0; k < MonthReport::kBuckets; ++k) {
      out.credited[k] = credited->Get(k);
    }
    out.spent = r.spent();
    out.refunded = r.refunded();
    out.reversed = r.reversed();
    out.expired = r.expired();
    out.orders = r.orders();
    out.orders_goods_kopecks = r.orders_goods_kopecks();
    return FrameError::none;
  });
}

FrameError decode_stats_reply(Body body, CampaignStats& out) {
  return with_root<wire::StatsReply>(body, [&](const wire::StatsReply& r) {
    out = CampaignStats{r.issued(),         r.spent(),        r.expired(),
                        r.refunded(),       r.reversed(),     r.outstanding(),
                        r.recipients(),     r.spenders(),     r.revoked(),
                        r.revoked_amount(), r.sales_orders(), r.sales_kopecks()};
    return FrameError::none;
  });
}

FrameError decode_admin_reply(Body body, AdminStatus& out) {
  return with_root<wire::AdminReply>(body, [&](const wire::AdminReply& r) {
    out.ok = r.ok();
    out.message = read_string(r.message());
    out.ledger_time_us = r.ledger_time_us();
    out.accounts = r.accounts();
    out.shards = r.shards();
    out.test_clock = r.test_clock();
    out.journal_bytes = r.journal_bytes();
    out.durability = read_string(r.durability());
    out.checkpoint_position = r.checkpoint_position();
    out.history_position = r.history_position();
    out.history = read_string(r.history());
    out.node_state = read_string(r.node_state());
    out.leader = read_string(r.leader());
    out.log_position = r.log_position();
    out.has_limits = r.limits() != nullptr;
    out.limits = EngineConfig{};
    out.limits_changes = 0;
    if (const wire::Limits* l = r.limits()) {
      out.limits.accounts_max = l->accounts_max();
      out.limits.orders_max = l->orders_max();
      out.limits.ids_max = l->ids_max();
      out.limits.id_window_us = l->id_window_us();
      out.limits.order_retention_us = l->order_retention_us();
      out.limits.rejected_ids_max = l->rejected_ids_max();
      out.limits.rejected_id_window_us = l->rejected_id_window_us();
      out.limits_changes = l->changes();
    }
    out.limits_code = static_cast<Code>(r.limits_code());  // a newer server's code is kept as is
    return FrameError::none;
  });
}

FrameError decode_hello_reply(Body body, HelloAnswer& out) {
  return with_root<wire::HelloReply>(body, [&](const wire::HelloReply& r) {
    out.role = read_string(r.role());
    out.protocol_version = r.protocol_version();
    out.shards = r.shards();
    out.body_size_max = r.body_size_max();
    out.batch_commands_max = r.batch_commands_max();
    out.in_flight_max = r.in_flight_max();
    out.authenticated = r.authenticated();
    out.name = read_string(r.name());
    out.partition_ports.clear();
    if (const auto* ports = r.partition_ports()) out.partition_ports.assign(ports->begin(), ports->end());
    out.partition_hash = read_string(r.partition_hash());
    out.node_state = read_string(r.node_state());
    out.leader = read_string(r.leader());
    out.log_position = r.log_position();
    return FrameError::none;
  });
}

FrameError decode_error_reply(Body body, ErrorInfo& out) {
  return with_root<wire::ErrorReply>(body, [&](const wire::ErrorReply& r) {
    out.code = static_cast<FrameError>(r.code());  // a newer server's code is kept as is
    out.message = read_string(r.message());
    return FrameError::none;
  });
}

}  // namespace bonus::protocol
