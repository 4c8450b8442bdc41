// Messages: the one translation between wire messages (FlatBuffers, protocol/bonus.fbs)
// and engine types, both ways, shared by the server and the clients.
//
//   client                                   server
//   encode_write / encode_<read>    ──▶      decode_write / decode_<read>
//   decode_<kind>_reply             ◀──      encode_<kind>_reply
//
// Every body carries a 4-byte FlatBuffers file identifier naming its root table
// (protocol/README.md lists them), so a valid body of the wrong table is refused.
// Decoders run flatbuffers::Verifier before reading a byte and return
// FrameError::malformed_body for anything it refuses, for a body of the wrong table,
// for a missing vector and for a field out of range; they never crash and never
// throw. A decoder leaves `out` unspecified when it fails.
//
// Bodies should start 8-byte aligned (a frame read into an 8-aligned buffer has its
// body at offset 32): decoders copy a misaligned body once before verifying it.
//
// Encoders clear the builder and finish it; the body is then
// {fbb.GetBufferPointer(), fbb.GetSize()}.
//
// Stateless; any thread.
#pragma once

#include <flatbuffers/flatbuffer_builder.h>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/command.h"
#include "engine/ledger_config.h"
#include "engine/policy.h"
#include "engine/month_report.h"
#include "engine/ledger_event.h"
#include "engine/result.h"
#include "engine/views.h"
#include "protocol/frame.h"

namespace bonus::protocol {

using Body = std::span<const std::uint8_t>;

// ---------------------------------------------------------------------------------------
// Frames.

// One whole frame: the 32-byte header (checksums included) followed by `body`.
// REQUIRES: body.size() <= kBodySizeMax.
std::string make_frame(Opcode opcode, std::uint8_t flags, std::uint64_t request_id, Body body);
// The same frame appended to `out`, for pipelining several frames into one write.
void append_frame(Opcode opcode, std::uint8_t flags, std::uint64_t request_id, Body body,
                  std::string& out);

// A frame whose body is `position` (flag kPosition) and then `body`.
// REQUIRES: body.size() + kPositionBytes <= kBodySizeMax.
void append_frame_at(Opcode opcode, std::uint8_t flags, std::uint64_t request_id,
                     std::uint64_t position, Body body, std::string& out);
std::string make_frame_at(Opcode opcode, std::uint8_t flags, std::uint64_t request_id,
                          std::uint64_t position, Body body);
// A kPosition body's position and the message after it; false when the body is shorter
// than kPositionBytes.
bool split_position(Body body, std::uint64_t& position, Body& message);

// Whether an encoded body fits in a frame. Replies are not bounded by the request limit
// (body_size_max) but by the ceiling: a balance with lots or a wallet of very many
// accounts could pass it. The server answers batch_too_large instead of such a reply.
inline bool fits_in_frame(const flatbuffers::FlatBufferBuilder& fbb) {
  return fbb.GetSize() <= kBodySizeMax;
}

// ---------------------------------------------------------------------------------------
// Plain values for what the engine has no type for.

// Read requests.
struct AccountKey {
  SellerId seller = 0;
  BuyerId buyer = 0;
  friend bool operator==(const AccountKey&, const AccountKey&) = default;
};

struct BalanceQuery {
  std::vector<AccountKey> accounts;  // 1..batch_commands_max
  bool with_lots = false;
  friend bool operator==(const BalanceQuery&, const BalanceQuery&) = default;
};

struct CartQuery {
  BuyerId buyer = 0;
  std::vector<CartLine> lines;  // 1..batch_commands_max
  TimeUs soon_us = 0;
};

struct WalletQuery {
  BuyerId buyer = 0;
  friend bool operator==(const WalletQuery&, const WalletQuery&) = default;
};

// Where a page of `expiring` starts across the server's shards: shards are walked in
// order 0..n-1, each with the engine's cursor. The default value is the beginning.
struct ExpiringPosition {
  std::uint32_t shard = 0;
  ExpiringCursor cursor;

  bool at_start() const;
  friend bool operator==(const ExpiringPosition& a, const ExpiringPosition& b) {
    return a.shard == b.shard && a.cursor.bucket == b.cursor.bucket &&
           a.cursor.after_account == b.cursor.after_account;
  }
};

struct ExpiringQuery {
  SellerId seller = 0;
  TimeUs within_us = 0;
  std::uint32_t limit = 0;  // decoded as 1..batch_commands_max (0 or more: the maximum)
  ExpiringPosition from;
  friend bool operator==(const ExpiringQuery&, const ExpiringQuery&) = default;
};

struct ReportQuery {
  SellerId seller = 0;
  std::uint16_t month = 0;  // calendar_month index (engine/calendar.h)
  friend bool operator==(const ReportQuery&, const ReportQuery&) = default;
};

// A statement page: an account's events (seller, buyer) newest first, or an order's
// (order) oldest first.
struct HistoryQuery {
  SellerId seller = 0;
  BuyerId buyer = 0;
  OrderId order = 0;
  std::uint32_t limit = 0;  // decoded as 1..kHistoryPageMax (0 or more: the maximum)
  HistoryCursor from;
  friend bool operator==(const HistoryQuery&, const HistoryQuery&) = default;
};
inline constexpr std::uint32_t kHistoryPageMax = 1000;

struct StatsQuery {
  SellerId seller = 0;
  CampaignId campaign = 0;  // 0: the seller's statistics
  friend bool operator==(const StatsQuery&, const StatsQuery&) = default;
};

// Where a page of `segment` starts across the server's shards, walked in order 0..n-1,
// each with the engine's cursor. The default value is the beginning.
struct SegmentPosition {
  std::uint32_t shard = 0;
  SegmentCursor cursor;
  bool at_start() const { return *this == SegmentPosition{}; }
  friend bool operator==(const SegmentPosition&, const SegmentPosition&) = default;
};

struct SegmentRequestQuery {
  SegmentQuery query;
  std::uint32_t limit = 0;  // decoded as 1..batch_commands_max (0 or more: the maximum)
  SegmentPosition from;
  friend bool operator==(const SegmentRequestQuery&, const SegmentRequestQuery&) = default;
};

struct PolicyQuery {
  SellerId seller = 0;
  friend bool operator==(const PolicyQuery&, const PolicyQuery&) = default;
};

enum class AdminAction : std::uint8_t {
  status = 0,
  audit = 1,
  checkpoint = 2,
  clock_advance = 3,
  limits = 4,       // read the limits
  set_limits = 5,   // journal and apply `set_limits`
  forget_node = 6,  // a log several nodes follow: stop keeping records for `node`
};

// A node's name (bonusd --node): 1..kNodeNameBytesMax of [A-Za-z0-9_-].
inline constexpr std::size_t kNodeNameBytesMax = 64;
bool valid_node_name(std::string_view name);

struct AdminQuery {
  AdminAction action = AdminAction::status;
  TimeUs clock_advance_us = 0;  // clock_advance only: > 0
  SetLimits set_limits;         // set_limits only (its ranges are the engine's to check)
  std::string node;             // forget_node only: a valid_node_name
  friend bool operator==(const AdminQuery&, const AdminQuery&) = default;
};

// Replies.

// One command's result; `index` is its position in the request's batch.
struct IndexedResult {
  std::uint32_t index = 0;
  Result result;
  friend bool operator==(const IndexedResult&, const IndexedResult&) = default;
};

// One account of a balance reply; `lots` is empty unless the query asked with_lots.
struct BalanceEntry {
  AccountView account;
  std::vector<LotView> lots;
  friend bool operator==(const BalanceEntry&, const BalanceEntry&) = default;
};

struct ExpiringAnswer {
  std::vector<ExpiringEntry> entries;
  ExpiringPosition next;  // where the next page starts; meaningless when done
  bool done = true;
  friend bool operator==(const ExpiringAnswer&, const ExpiringAnswer&) = default;
};

struct SegmentAnswer {
  std::vector<BuyerId> buyers;
  SegmentPosition next;  // where the next page starts; meaningless when done
  bool done = true;
  friend bool operator==(const SegmentAnswer&, const SegmentAnswer&) = default;
};

// A seller's policy (the defaults for a seller that never set one).
struct PolicyAnswer {
  SellerId seller = 0;
  Policy policy;
  friend bool operator==(const PolicyAnswer&, const PolicyAnswer&) = default;
};

struct HistoryAnswer {
  std::vector<HistoryEntry> entries;
  HistoryCursor next;  // where the next page starts; meaningless when done
  bool done = true;
  std::uint64_t position = 0;       // every event up to this log position is in
  std::uint64_t complete_from = 0;  // events before this position may be missing (0: none)
  TimeUs trimmed_before_us = 0;     // events before this ledger time were trimmed
  friend bool operator==(const HistoryAnswer&, const HistoryAnswer&) = default;
};

struct AdminStatus {
  bool ok = true;
  std::string message;
  TimeUs ledger_time_us = 0;
  std::uint64_t accounts = 0;
  std::uint32_t shards = 0;
  bool test_clock = false;
  std::uint64_t journal_bytes = 0;
  std::string durability;
  std::uint64_t checkpoint_position = 0;  // 0: no checkpoint yet
  std::uint64_t history_position = 0;     // every event up to it is in history
  std::string history;                    // "on", "off: <why>" or "stopped: <why>"
  // limits and set_limits: the limits in effect (after the change) and how many SetLimits
  // the ledger applied; set_limits: the command's result code.
  bool has_limits = false;
  EngineConfig limits;
  std::uint64_t limits_changes = 0;
  Code limits_code = Code::ok;
  // A log several nodes follow (bonusd --log jetstream); empty and 0 with the journal.
  std::string node_state;  // "leader", "standby", "taking over", "standby (stepped down: ...)"
  std::string leader;      // the leader's client address; empty: unknown or none now
  std::uint64_t log_position = 0;  // handed to the shards: reads reflect about this far
  std::uint64_t state_hash = 0;    // audit: every shard's state hash, folded in shard order
  friend bool operator==(const AdminStatus&, const AdminStatus&) = default;
};

// hello: the connection's bearer token (protocol/README.md, Hello and authentication).
inline constexpr std::size_t kTokenBytesMax = 256;
inline constexpr std::size_t kClientNameBytesMax = 128;

struct HelloQuery {
  std::string token;                   // at most kTokenBytesMax bytes; empty: none
  std::uint32_t protocol_version = 0;  // the frame version the client speaks; 0: any
  std::string client_name;             // at most kClientNameBytesMax bytes, for the logs
  friend bool operator==(const HelloQuery&, const HelloQuery&) = default;
};

inline constexpr std::string_view kPartitionHashMix64Mod = "mix64-mod";

struct HelloAnswer {
  std::string role;  // "reader", "checkout", "batch", "seller-admin", "admin"
  std::uint32_t protocol_version = 0;
  std::uint32_t shards = 0;
  std::uint32_t body_size_max = 0;       // the server's --frame-size-max
  std::uint32_t batch_commands_max = 0;  // the server's --batch-commands-max
  std::uint32_t in_flight_max = 0;       // the server's --in-flight-max
  bool authenticated = false;            // false: no --auth-file, everyone is admin
  std::string name;                      // the token's name; empty without --auth-file
  // Each partition's own port (--partition-ports), in partition order, on the host the
  // client reached; empty when the server has none. A buyer's partition is
  // mix64(buyer) % shards when partition_hash is kPartitionHashMix64Mod; a client that
  // does not know the name sends everything to the address it has.
  std::vector<std::uint16_t> partition_ports;
  std::string partition_hash;
  // As AdminStatus's: a client of several nodes sends its writes to `leader`.
  std::string node_state;
  std::string leader;
  std::uint64_t log_position = 0;
  friend bool operator==(const HelloAnswer&, const HelloAnswer&) = default;
};

struct ErrorInfo {
  FrameError code = FrameError::none;
  std::string message;
  friend bool operator==(const ErrorInfo&, const ErrorInfo&) = default;
};

// ---------------------------------------------------------------------------------------
// Server side: requests in, replies out.

// A write batch of the opcode's kind into `out` (cleared first), in batch order.
// malformed_body: not a write opcode, wrong table, failed verification, no or an empty
// vector; batch_too_large: more than batch_commands_max commands.
[[nodiscard]] FrameError decode_write(Opcode opcode, Body body,
                                      std::uint32_t batch_commands_max,
                                      std::vector<Command>& out);
// Reads. Limits: at most batch_commands_max accounts or lines (batch_too_large past it),
// at least one (malformed_body). batch_commands_max is capped at kBatchCommandsMax.
[[nodiscard]] FrameError decode_balance(Body body, std::uint32_t batch_commands_max,
                                        BalanceQuery& out);
[[nodiscard]] FrameError decode_cart(Body body, std::uint32_t batch_commands_max,
                                     CartQuery& out);
[[nodiscard]] FrameError decode_wallet(Body body, WalletQuery& out);
[[nodiscard]] FrameError decode_expiring(Body body, std::uint32_t batch_commands_max,
                                         ExpiringQuery& out);
[[nodiscard]] FrameError decode_stats(Body body, StatsQuery& out);
[[nodiscard]] FrameError decode_policy(Body body, PolicyQuery& out);
// malformed_body also for an unknown kind, inactive or bought_within without a period
// above 0, and unspent without a campaign.
[[nodiscard]] FrameError decode_segment(Body body, std::uint32_t batch_commands_max,
                                        SegmentRequestQuery& out);
[[nodiscard]] FrameError decode_report(Body body, ReportQuery& out);
// history: seller and buyer; order: the order. The limit is capped at kHistoryPageMax.
[[nodiscard]] FrameError decode_history(Body body, HistoryQuery& out);
[[nodiscard]] FrameError decode_order(Body body, HistoryQuery& out);
// malformed_body also for an unknown action, for clock_advance by <= 0 and for
// set_limits without its command.
[[nodiscard]] FrameError decode_admin(Body body, AdminQuery& out);
// malformed_body also for a token or client name longer than its maximum. A missing
// token decodes as an empty one.
[[nodiscard]] FrameError decode_hello(Body body, HelloQuery& out);

// `results[i]` answers command i; with errors_only only the non-ok ones are sent.
void encode_write_reply(std::span<const Result> results, bool errors_only,
                        flatbuffers::FlatBufferBuilder& fbb);
void encode_balance_reply(std::span<const BalanceEntry> accounts,
                          flatbuffers::FlatBufferBuilder& fbb);
void encode_cart_reply(std::span<const CartEntry> entries, flatbuffers::FlatBufferBuilder& fbb);
void encode_wallet_reply(std::span<const AccountView> accounts,
                         flatbuffers::FlatBufferBuilder& fbb);
void encode_expiring_reply(const ExpiringAnswer& answer, flatbuffers::FlatBufferBuilder& fbb);
void encode_history_reply(const HistoryAnswer& answer, flatbuffers::FlatBufferBuilder& fbb);
void encode_stats_reply(const SellerStats& stats, flatbuffers::FlatBufferBuilder& fbb);
void encode_stats_reply(const CampaignStats& stats, flatbuffers::FlatBufferBuilder& fbb);
void encode_policy_reply(SellerId seller, const Policy& policy,
                         flatbuffers::FlatBufferBuilder& fbb);
void encode_segment_reply(const SegmentAnswer& answer, flatbuffers::FlatBufferBuilder& fbb);
void encode_report_reply(SellerId seller, const MonthReport& report,
                         flatbuffers::FlatBufferBuilder& fbb);
void encode_admin_reply(const AdminStatus& status, flatbuffers::FlatBufferBuilder& fbb);
void encode_hello_reply(const HelloAnswer& answer, flatbuffers::FlatBufferBuilder& fbb);
void encode_error_reply(FrameError code, std::string_view message,
                        flatbuffers::FlatBufferBuilder& fbb);

// ---------------------------------------------------------------------------------------
// Client side: requests out, replies in.

// The write opcode of each command kind; Opcode::error for anything else (Sweep).
template <typename C>
inline constexpr Opcode kWriteOpcode = Opcode::error;
template <> inline constexpr Opcode kWriteOpcode<Credit> = Opcode::credit;
template <> inline constexpr Opcode kWriteOpcode<Accrue> = Opcode::accrue;
template <> inline constexpr Opcode kWriteOpcode<ConfirmAccrual> = Opcode::confirm_accrual;
template <> inline constexpr Opcode kWriteOpcode<CancelAccrual> = Opcode::cancel_accrual;
template <> inline constexpr Opcode kWriteOpcode<Hold> = Opcode::hold;
template <> inline constexpr Opcode kWriteOpcode<Capture> = Opcode::capture;
template <> inline constexpr Opcode kWriteOpcode<Release> = Opcode::release;
template <> inline constexpr Opcode kWriteOpcode<Spend> = Opcode::spend;
template <> inline constexpr Opcode kWriteOpcode<Refund> = Opcode::refund;
template <> inline constexpr Opcode kWriteOpcode<ReverseAccrual> = Opcode::reverse_accrual;
template <> inline constexpr Opcode kWriteOpcode<RevokeCampaign> = Opcode::revoke_campaign;
template <> inline constexpr Opcode kWriteOpcode<SetPolicy> = Opcode::set_policy;
template <> inline constexpr Opcode kWriteOpcode<Referral> = Opcode::referral;

template <typename C>
concept WriteCommand = kWriteOpcode<C> != Opcode::error;

// A batch of one kind; send it with opcode kWriteOpcode<C>. Reserved fields are not sent.
template <WriteCommand C>
void encode_write(std::span<const C> commands, flatbuffers::FlatBufferBuilder& fbb);
void encode_balance(const BalanceQuery& query, flatbuffers::FlatBufferBuilder& fbb);
void encode_cart(const CartQuery& query, flatbuffers::FlatBufferBuilder& fbb);
void encode_wallet(const WalletQuery& query, flatbuffers::FlatBufferBuilder& fbb);
void encode_expiring(const ExpiringQuery& query, flatbuffers::FlatBufferBuilder& fbb);
void encode_stats(const StatsQuery& query, flatbuffers::FlatBufferBuilder& fbb);
void encode_policy(const PolicyQuery& query, flatbuffers::FlatBufferBuilder& fbb);
void encode_segment(const SegmentRequestQuery& query, flatbuffers::FlatBufferBuilder& fbb);
void encode_report(const ReportQuery& query, flatbuffers::FlatBufferBuilder& fbb);
void encode_history(const HistoryQuery& query, flatbuffers::FlatBufferBuilder& fbb);
void encode_order(const HistoryQuery& query, flatbuffers::FlatBufferBuilder& fbb);
void encode_admin(const AdminQuery& query, flatbuffers::FlatBufferBuilder& fbb);
void encode_hello(const HelloQuery& query, flatbuffers::FlatBufferBuilder& fbb);

// The reply to a batch of `commands_sent` commands sent with or without errors_only.
// Also malformed_body when indexes are not increasing or not below commands_sent, when
// a full reply does not have one result per command, or an errors_only one has an ok.
[[nodiscard]] FrameError decode_write_reply(Body body, std::uint32_t commands_sent,
                                            bool errors_only, std::vector<IndexedResult>& out);
[[nodiscard]] FrameError decode_balance_reply(Body body, std::vector<BalanceEntry>& out);
[[nodiscard]] FrameError decode_cart_reply(Body body, std::vector<CartEntry>& out);
[[nodiscard]] FrameError decode_wallet_reply(Body body, std::vector<AccountView>& out);
[[nodiscard]] FrameError decode_expiring_reply(Body body, ExpiringAnswer& out);
// Also malformed_body for an event of an unknown kind.
[[nodiscard]] FrameError decode_history_reply(Body body, HistoryAnswer& out);
// The same StatsReply read as the seller's or as a campaign's statistics.
[[nodiscard]] FrameError decode_stats_reply(Body body, SellerStats& out);
[[nodiscard]] FrameError decode_stats_reply(Body body, CampaignStats& out);
// malformed_body unless `credited` has exactly MonthReport::kBuckets entries.
[[nodiscard]] FrameError decode_report_reply(Body body, MonthReport& out);
[[nodiscard]] FrameError decode_admin_reply(Body body, AdminStatus& out);
// malformed_body also for more than kPolicyTiersMax tiers.
[[nodiscard]] FrameError decode_policy_reply(Body body, PolicyAnswer& out);
[[nodiscard]] FrameError decode_segment_reply(Body body, SegmentAnswer& out);
[[nodiscard]] FrameError decode_hello_reply(Body body, HelloAnswer& out);
[[nodiscard]] FrameError decode_error_reply(Body body, ErrorInfo& out);

}  // namespace bonus::protocol
