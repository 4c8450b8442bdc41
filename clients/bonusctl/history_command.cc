// Statements: `history` (an account's events, newest first, one page per run: --limit,
// and --cursor to go on) and `order` (an order's events, oldest first, every page).
// Printed as a table for people or one JSON object for scripts.
#include <cstdio>

#include "clients/bonusctl/context.h"
#include "clients/bonusctl/json_writer.h"
#include "clients/bonusctl/units.h"
#include "engine/reason.h"

namespace bonus::ctl {
namespace {

unsigned long long u(std::uint64_t v) {
  return v;
}

std::string cursor_text(const HistoryCursor& c) {
  return std::to_string(c.position) + ":" + std::to_string(c.index);
}

HistoryCursor parse_cursor(const Context& context) {
  if (!context.has("cursor")) return {};
  const std::string& text = context.text("cursor");
  unsigned long long position = 0;
  unsigned int index = 0;
  char rest = 0;
  if (std::sscanf(text.c_str(), "%llu:%u%c", &position, &index, &rest) != 2 || position == 0) {
    throw UsageError("--cursor " + text + ": want POSITION:INDEX, as a page's `next` says");
  }
  return HistoryCursor{position, index};
}

// A credit's reason, for people: "apology", "own 200", or "" for none.
std::string reason_text(const LedgerEvent& e) {
  if (e.kind != LedgerEvent::Kind::credited || e.reason == 0) return "";
  const std::string_view name = reason_name(e.reason);
  return name.empty() ? "own " + std::to_string(e.reason) : std::string(name);
}

// What the ref names, for people: "campaign 7", "order 5", a credit's reason ("campaign
// 7 mailing", "referral"), or "".
std::string ref_text(const LedgerEvent& e) {
  std::string ref;
  switch (e.ref_kind) {
    case LedgerEvent::Ref::campaign: ref = "campaign " + std::to_string(e.ref); break;
    case LedgerEvent::Ref::order: ref = "order " + std::to_string(e.ref); break;
    case LedgerEvent::Ref::none: break;
  }
  const std::string reason = reason_text(e);
  if (!reason.empty()) ref += (ref.empty() ? "" : " ") + reason;
  return ref;
}

void json_event(JsonWriter& j, const HistoryEntry& h, bool with_account) {
  const LedgerEvent& e = h.event;
  j.begin_object().key("time").time(e.time_us).field("kind", event_kind_name(e.kind));
  if (with_account) j.field("seller", e.seller).field("buyer", e.buyer);
  j.field("amount", e.amount);
  if (e.ref_kind == LedgerEvent::Ref::campaign) j.field("campaign", e.ref);
  if (e.ref_kind == LedgerEvent::Ref::order) j.field("order", e.ref);
  if (e.kind == LedgerEvent::Kind::credited) {
    j.field("reason", e.reason).field("reason_name", e.reason == 0 ? "none" : reason_text(e));
  }
  j.field("debt_part", e.debt_part).field("expired_part", e.expired_part);
  j.field("balance_after", e.balance_after).field("held_after", e.held_after);
  j.field("pending_after", e.pending_after).field("debt_after", e.debt_after);
  j.field("position", h.position).field("index", h.index).end_object();
}

std::string text_event(const HistoryEntry& h, bool with_account) {
  const LedgerEvent& e = h.event;
  char line[256];
  std::snprintf(line, sizeof(line), "%-27s %-10s %10llu  %-22s %10u %8u %8u %8u",
                format_time(e.time_us).c_str(), event_kind_name(e.kind), u(e.amount),
                ref_text(e).c_str(), e.balance_after, e.held_after, e.pending_after,
                e.debt_after);
  std::string out = line;
  if (with_account) out += "  buyer " + std::to_string(e.buyer);
  return out;
}

const char* kTextHeader =
    "time                        event          amount  ref                       balance     "
    "held  pending     debt";

// The page's freshness: the log position it reflects and what may be missing.
void json_coverage(JsonWriter& j, const protocol::HistoryAnswer& a) {
  j.field("position", a.position).field("complete_from", a.complete_from);
  j.key("trimmed_before");
  if (a.trimmed_before_us == 0) {
    j.null();
  } else {
    j.time(a.trimmed_before_us);
  }
}

std::string text_coverage(const protocol::HistoryAnswer& a) {
  std::string out = "(as of log position " + std::to_string(a.position);
  if (a.complete_from != 0) {
    out += "; events before position " + std::to_string(a.complete_from) + " may be missing";
  }
  if (a.trimmed_before_us != 0) out += "; kept since " + format_time(a.trimmed_before_us);
  return out + ")";
}

std::uint32_t page_limit(const Context& context, std::uint64_t fallback) {
  const std::uint64_t limit = context.maybe_number("limit").value_or(fallback);
  if (limit == 0 || limit > protocol::kHistoryPageMax) {
    throw UsageError("--limit " + context.text("limit") + ": want 1.." +
                     std::to_string(protocol::kHistoryPageMax));
  }
  return static_cast<std::uint32_t>(limit);
}

}  // namespace

int run_history(Context& context) {
  const SellerId seller = context.number("seller");
  const BuyerId buyer = context.number("buyer");
  const std::uint32_t limit = page_limit(context, 50);
  const HistoryCursor from = parse_cursor(context);
  client::Client* client = context.client();
  if (client == nullptr) return kExitUnreachable;
  const auto page = client->history(seller, buyer, limit, from);
  if (!page.ok()) return report_unanswered(context, page);
  const protocol::HistoryAnswer& a = page.value;
  if (context.json()) {
    JsonWriter j;
    j.begin_object().field("seller", seller).field("buyer", buyer);
    json_coverage(j, a);
    j.key("events").begin_array();
    for (const HistoryEntry& h : a.entries) json_event(j, h, false);
    j.end_array().key("next");
    if (a.done) {
      j.null();
    } else {
      j.value(cursor_text(a.next));
    }
    j.end_object();
    context.print(j.text());
    return kExitApplied;
  }
  context.print("seller " + std::to_string(seller) + ", buyer " + std::to_string(buyer) +
                ", newest first " + text_coverage(a));
  context.print(kTextHeader);
  for (const HistoryEntry& h : a.entries) context.print(text_event(h, false));
  if (!a.done) context.print("more: --cursor " + cursor_text(a.next));
  return kExitApplied;
}

int run_order(Context& context) {
  const OrderId order = context.number("order");
  client::Client* client = context.client();
  if (client == nullptr) return kExitUnreachable;
  // An order has few events (a hold, its capture, some refunds): every page, in one answer.
  protocol::HistoryAnswer all;
  HistoryCursor from;
  for (;;) {
    const auto page = client->order(order, protocol::kHistoryPageMax, from);
    if (!page.ok()) return report_unanswered(context, page);
    const protocol::HistoryAnswer& a = page.value;
    all.entries.insert(all.entries.end(), a.entries.begin(), a.entries.end());
    all.position = a.position;
    all.complete_from = a.complete_from;
    all.trimmed_before_us = a.trimmed_before_us;
    if (a.done) break;
    from = a.next;
  }
  if (context.json()) {
    JsonWriter j;
    j.begin_object().field("order", order);
    json_coverage(j, all);
    j.key("events").begin_array();
    for (const HistoryEntry& h : all.entries) json_event(j, h, true);
    j.end_array().end_object();
    context.print(j.text());
    return kExitApplied;
  }
  context.print("order " + std::to_string(order) + ", oldest first " + text_coverage(all));
  context.print(kTextHeader);
  for (const HistoryEntry& h : all.entries) context.print(text_event(h, true));
  return kExitApplied;
}

}  // namespace bonus::ctl
