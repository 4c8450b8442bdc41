// The thirteen writes: build the engine command from the options, send it once, print
// the result as a line for people or one JSON object.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <thread>

#include "clients/bonusctl/context.h"
#include "clients/bonusctl/json_writer.h"
#include "clients/bonusctl/units.h"

namespace bonus::ctl {
namespace {

// How a write's Result reads: the names of its two figures (engine/result.h), empty when
// the command has none, whether caps can cut it, and whether returned bonuses may have
// expired at once (Result::expired).
struct Shape {
  std::string_view amount;
  std::string_view aux;
  bool capped = false;
  bool expired = false;
};

struct Built {
  Command command;
  Shape shape;
};

LotLife credit_life(const Context& c) {
  if (c.has("ttl") && c.has("expires-at")) {
    throw UsageError("give --ttl or --expires-at, not both");
  }
  if (c.has("expires-at")) return LotLife::at(c.time("expires-at"));
  if (c.has("ttl")) {
    const TimeUs ttl = c.ttl("ttl", true);
    return ttl == kTimeNever ? LotLife::forever() : LotLife::ttl_of(ttl);
  }
  return LotLife::policy();
}

SetPolicy build_policy(const Context& c, Id128 id) {
  SetPolicy p;
  p.id = id;
  p.seller = c.number("seller");
  if (c.has("spend-share")) {
    const auto bp = parse_share_bp(c.text("spend-share"));
    if (!bp) {
      throw UsageError("--spend-share " + c.text("spend-share") +
                       ": want a percentage like 99%, 99.5% or 99 (0..100, 2 decimals)");
    }
    p.fields |= SetPolicy::kSpendShare;
    p.spend_share_bp = *bp;
  }
  if (c.has("balance-max")) {
    p.fields |= SetPolicy::kBalanceMax;
    p.balance_max = c.amount("balance-max");
  }
  if (c.has("earn-month-max")) {
    p.fields |= SetPolicy::kEarnMonthMax;
    p.earn_month_max = c.amount("earn-month-max");
  }
  if (c.has("ttl")) {
    p.fields |= SetPolicy::kLotLife;
    p.lot_life_us = c.ttl("ttl", true);
  }
  if (c.has("rate")) {
    const auto bp = parse_rate_bp(c.text("rate"));
    if (!bp) {
      throw UsageError("--rate " + c.text("rate") +
                       ": want a percentage of the price like 5%, 7.5% or 750bp (0.01%..100%)");
    }
    p.fields |= SetPolicy::kRate;
    p.rate_bp = *bp;
  }
  if (c.has("tiers")) {
    p.fields |= SetPolicy::kTiers;
    const std::string& text = c.text("tiers");
    for (std::size_t at = 0; text != "none" && at <= text.size();) {
      const std::size_t end = std::min(text.find(',', at), text.size());
      const std::string_view item = std::string_view(text).substr(at, end - at);
      const std::size_t colon = item.find(':');
      const auto threshold = parse_money(item.substr(0, colon));
      const auto bp = colon == std::string_view::npos ? std::nullopt
                                                      : parse_rate_bp(item.substr(colon + 1));
      if (!threshold || !bp || p.tier_count == kPolicyTiersMax) {
        throw UsageError("--tiers " + text + ": want up to " + std::to_string(kPolicyTiersMax) +
                         " of ROUBLES:RATE, comma-separated, like 10000:7%,50000:10% (or none)");
      }
      p.tiers[p.tier_count++] = PolicyTier{*threshold, *bp, 0};
      at = end + 1;
    }
  }
  if (c.has("tier-window")) {
    const TimeUs window = c.duration("tier-window");
    if (window % kUsPerDay != 0) {
      throw UsageError("--tier-window " + c.text("tier-window") + ": want whole days, like 365d");
    }
    p.fields |= SetPolicy::kTierWindow;
    p.tier_window_days =
        static_cast<std::uint32_t>(std::min<TimeUs>(window / kUsPerDay, UINT32_MAX));
  }
  if (p.fields == 0) {
    throw UsageError(
        "name at least one of --spend-share, --balance-max, --earn-month-max, --ttl, --rate, "
        "--tiers, --tier-window");
  }
  return p;
}

Built build(const Context& c, Id128 id) {
  const std::string& name = c.command();
  // capture and refund: no --amount (or --all) is "all"; --amount 0 goes as 0 (zero_amount).
  const auto amount_or_all = [&c] { return c.has("amount") ? c.amount("amount") : kAmountAll; };
  if (name == "credit") {
    return {Credit{id, c.number("seller"), c.number("buyer"), c.amount("amount"),
                   c.maybe_number("campaign").value_or(0), credit_life(c),
                   c.reason("reason", 0), 0},
            {"credited", "debt_repaid", true}};
  }
  if (name == "accrue") {
    LotLife life;
    if (c.has("ttl")) {
      const TimeUs ttl = c.ttl("ttl", true);
      life = ttl == kTimeNever ? LotLife::forever() : LotLife::ttl_of(ttl);
    }
    if (!c.has("amount") && !c.has("price")) {
      throw UsageError("give --amount (bonuses) or --price (roubles, at the seller's rate)");
    }
    const Amount amount = c.has("amount") ? c.amount("amount") : 0;
    const Kopecks price = c.has("price") ? c.money("price") : 0;
    return {Accrue{id, c.number("order"), c.number("seller"), c.number("buyer"), amount, life,
                   price},
            {"accrued", amount == 0 ? "rate_bp" : "", false}};
  }
  if (name == "confirm") {
    return {ConfirmAccrual{id, c.number("order")}, {"credited", "debt_repaid", true}};
  }
  if (name == "cancel-accrual") {
    return {CancelAccrual{id, c.number("order")}, {"cancelled", "", false}};
  }
  if (name == "hold") {
    return {Hold{id, c.number("order"), c.number("seller"), c.number("buyer"), c.amount("amount"),
                 c.money("goods-total"), c.has("timeout") ? c.duration("timeout") : 0},
            {"held", "", false}};
  }
  if (name == "capture") {
    return {Capture{id, c.number("order"), amount_or_all()}, {"spent", "released", false, true}};
  }
  if (name == "release") {
    return {Release{id, c.number("order")}, {"released", "debt_repaid", false, true}};
  }
  if (name == "spend") {
    return {Spend{id, c.number("order"), c.number("seller"), c.number("buyer"), c.amount("amount"),
                  c.money("goods-total")},
            {"spent", "", false}};
  }
  if (name == "refund") {
    return {Refund{id, c.number("order"), amount_or_all()},
            {"refunded", "debt_repaid", false, true}};
  }
  if (name == "reverse-accrual") {
    return {ReverseAccrual{id, c.number("order")}, {"reversed", "debt", false}};
  }
  if (name == "referral") {
    const LotLife life = credit_life(c);
    const Amount amount = c.amount("amount");
    return {Referral{id, c.number("seller"), c.number("referrer"), c.number("friend"), amount,
                     c.has("friend-amount") ? c.amount("friend-amount") : amount,
                     c.maybe_number("campaign").value_or(0), life},
            {"referrer_credited", "friend_credited", true}};
  }
  if (name == "revoke-campaign") {
    return {RevokeCampaign{id, c.number("seller"), c.number("campaign")}, {"expired", "", false}};
  }
  return {build_policy(c, id), {"", "", false}};
}

std::string human_name(std::string_view key) {
  if (key == "rate_bp") return "at rate (bp)";
  std::string text(key);
  for (char& ch : text) ch = ch == '_' ? ' ' : ch;
  return text;
}

std::string json_result(Id128 id, const Result& r, const Shape& shape, std::uint64_t position) {
  JsonWriter j;
  j.begin_object()
      .field("result", code_name(r.code))
      .field("code", std::uint64_t{static_cast<std::uint16_t>(r.code)})
      .field("id", format_id(id))
      .field("repeat", (r.flags & Result::kRepeat) != 0)
      .field("position", position);
  if (!shape.amount.empty()) j.field(shape.amount, r.amount);
  if (!shape.aux.empty()) j.field(shape.aux, r.aux);
  if (shape.expired) j.field("expired", std::uint64_t{r.expired});
  if (shape.capped) {
    j.field("capped", (r.flags & (Result::kCappedBalance | Result::kCappedEarn)) != 0);
    j.key("capped_by").begin_array();
    if ((r.flags & Result::kCappedBalance) != 0) j.value("balance_max");
    if ((r.flags & Result::kCappedEarn) != 0) j.value("earn_month_max");
    j.end_array();
  }
  return j.end_object().text();
}

std::string human_result(std::string_view command, Id128 id, const Result& r, const Shape& shape,
                         std::uint64_t position) {
  std::string line(command);
  if (!r.ok()) {
    line += " rejected: " + std::string(code_name(r.code)) + " (code " +
            std::to_string(static_cast<std::uint16_t>(r.code)) + ")";
  } else {
    line += " ok";
    if (!shape.amount.empty()) {
      line += ": " + human_name(shape.amount) + " " + std::to_string(r.amount);
    }
    if (!shape.aux.empty() && r.aux != 0) {
      line += ", " + human_name(shape.aux) + " " + std::to_string(r.aux);
    }
    if (shape.expired && r.expired != 0) {
      line += ", of which expired at once " + std::to_string(r.expired) +
              " (their lot's life or campaign was over)";
    }
    if ((r.flags & Result::kCappedBalance) != 0) line += ", cut by the balance cap";
    if ((r.flags & Result::kCappedEarn) != 0) line += ", cut by the monthly earn cap";
  }
  if ((r.flags & Result::kRepeat) != 0) line += " (a repeat: applied before, nothing changed)";
  return line + "; id " + format_id(id) + "; log position " + std::to_string(position);
}

// How long a write with several --server addresses keeps trying: past a takeover
// (a lease's life and the standby's catch-up).
constexpr std::chrono::seconds kFailoverWait{15};

bool worth_another_node(const client::Reply<Result>& reply) {
  switch (reply.status) {
    case client::Status::timeout:
    case client::Status::disconnected:
      return true;
    case client::Status::refused:
      return reply.error == protocol::FrameError::not_leader ||
             reply.error == protocol::FrameError::storage_failed ||
             reply.error == protocol::FrameError::shutting_down;
    default:
      return false;
  }
}

}  // namespace

int run_write(Context& context) {
  const Id128 id = context.write_id();
  const Built built = build(context, id);
  client::Client* client = context.client();
  if (client == nullptr) {
    if (context.json()) {
      JsonWriter j;
      j.begin_object().field("error", "unreachable").field("message", "cannot connect");
      context.print(j.field("id", format_id(id)).end_object().text());
    }
    return kExitUnreachable;
  }
  const auto send = [&] {
    return std::visit(
        [client](const auto& command) -> client::Reply<Result> {
          using C = std::decay_t<decltype(command)>;
          if constexpr (protocol::WriteCommand<C>) {
            return client->write(command);
          } else {
            return {client::Status::bad_reply, protocol::FrameError::none, "not a write", {}};
          }
        },
        built.command);
  };
  client::Reply<Result> reply = send();
  // With several --server addresses: while a standby takes over (a few seconds), the same
  // command again, same id, until a leader answers.
  const auto give_up = std::chrono::steady_clock::now() + kFailoverWait;
  while (!reply.ok() && !client->options().others.empty() && worth_another_node(reply) &&
         std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    reply = send();
  }
  if (!reply.ok()) {
    report_unanswered(context, reply);
    std::fprintf(stderr,
                 "bonusctl: it may or may not have been applied; run it again with --id %s "
                 "(a repeat changes nothing)\n",
                 format_id(id).c_str());
    if (context.json()) {
      JsonWriter j;
      j.begin_object()
          .field("error", client::status_name(reply.status))
          .field("message", reply.message)
          .field("id", format_id(id))
          .end_object();
      context.print(j.text());
    }
    return kExitUnreachable;
  }
  const std::uint64_t position = client->position();
  context.print(context.json()
                    ? json_result(id, reply.value, built.shape, position)
                    : human_result(context.command(), id, reply.value, built.shape, position));
  return reply.value.ok() ? kExitApplied : kExitRejected;
}

}  // namespace bonus::ctl
