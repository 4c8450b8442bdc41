// The reads and the admin commands: one request each (expiring: one per page), printed
// as aligned text for people or JSON for scripts.
#include <cstdio>
#include <optional>

#include "clients/bonusctl/context.h"
#include "clients/bonusctl/json_writer.h"
#include "clients/bonusctl/units.h"
#include "engine/reason.h"

namespace bonus::ctl {
namespace {

std::string when(TimeUs t) {
  return t == kTimeNever ? "never" : format_time(t);
}

// The balance fields shared by balance, cart and wallet.
void json_account(JsonWriter& j, const AccountView& a) {
  j.field("available", a.available)
      .field("held", a.held)
      .field("pending", a.pending)
      .field("debt", a.debt)
      .key("next_expiry");
  if (a.next_expiry_us == kTimeNever) {
    j.null();
  } else {
    j.begin_object().key("at").time(a.next_expiry_us).field("amount", a.next_expiry_amount);
    j.end_object();
  }
}

// The account's place in the seller's tiers.
void json_tier(JsonWriter& j, const AccountView& a) {
  j.key("tier").begin_object().field("tier", std::uint64_t{a.tier});
  j.field("rate_bp", std::uint64_t{a.rate_bp}).field("purchases_kopecks", a.purchases_kopecks);
  j.field("next_tier_kopecks", a.next_tier_kopecks).key("last_purchase");
  if (a.last_purchase_us == 0) {
    j.null();
  } else {
    j.time(a.last_purchase_us);
  }
  j.end_object();
}

// A reason's name, "own" for a seller's own code (16..255).
std::string reason_text(std::uint32_t reason) {
  const std::string_view name = reason_name(reason);
  return name.empty() ? "own" : std::string(name);
}

void json_lots(JsonWriter& j, const std::vector<LotView>& lots) {
  j.key("lots").begin_array();
  for (const LotView& lot : lots) {
    j.begin_object().field("amount", lot.amount).key("expires_at").time(lot.expires_at_us);
    j.field(lot.origin == LotView::Origin::order ? "order" : "campaign", lot.origin_id);
    j.field("reason", std::uint64_t{lot.reason}).field("reason_name", reason_text(lot.reason));
    j.end_object();
  }
  j.end_array();
}

std::string row(const char* format, auto... values) {
  char text[512];
  std::snprintf(text, sizeof(text), format, values...);
  return text;
}

unsigned long long u(std::uint64_t v) {
  return v;
}

// --limit of a paged read: 1..kBatchCommandsMax entries a page, `fallback` without it.
std::uint32_t page_limit(const Context& context, std::uint32_t fallback) {
  const std::uint64_t limit = context.maybe_number("limit").value_or(fallback);
  if (limit == 0 || limit > protocol::kBatchCommandsMax) {
    throw UsageError("--limit " + context.text("limit") + ": want 1.." +
                     std::to_string(protocol::kBatchCommandsMax));
  }
  return static_cast<std::uint32_t>(limit);
}

void print_balance(const Context& c, const protocol::BalanceEntry& e) {
  const AccountView& a = e.account;
  c.print(row("seller %llu, buyer %llu%s", u(a.seller), u(a.buyer),
              a.exists ? "" : " (no account yet)"));
  c.print(row("  available  %12llu", u(a.available)));
  c.print(row("  held       %12llu", u(a.held)));
  c.print(row("  pending    %12llu", u(a.pending)));
  c.print(row("  debt       %12llu", u(a.debt)));
  if (a.next_expiry_us != kTimeNever) {
    c.print(row("  next expiry  %llu on %s", u(a.next_expiry_amount),
                format_time(a.next_expiry_us).c_str()));
  }
  if (a.rate_bp != 0) {
    const std::string next = a.next_tier_kopecks == 0
                                 ? "the top tier"
                                 : format_money(a.next_tier_kopecks) + " more for the next";
    c.print(row("  tier %u at %s, purchases %s in the window, %s", a.tier,
                format_rate(a.rate_bp).c_str(), format_money(a.purchases_kopecks).c_str(),
                next.c_str()));
  }
  if (a.last_purchase_us != 0) {
    c.print(row("  last purchase  %s", format_time(a.last_purchase_us).c_str()));
  }
  if (e.lots.empty()) return;
  c.print(row("  %10s  %-27s  %-20s  %s", "lot amount", "expires at", "origin", "reason"));
  for (const LotView& lot : e.lots) {
    const bool order = lot.origin == LotView::Origin::order;
    const std::string reason = reason_name(lot.reason).empty()
                                   ? "own " + std::to_string(lot.reason)
                                   : std::string(reason_name(lot.reason));
    c.print(row("  %10llu  %-27s  %-20s  %s", u(lot.amount), when(lot.expires_at_us).c_str(),
                order                ? ("order " + std::to_string(lot.origin_id)).c_str()
                : lot.origin_id == 0 ? "no campaign"
                                     : ("campaign " + std::to_string(lot.origin_id)).c_str(),
                reason.c_str()));
  }
}

}  // namespace

int run_balance(Context& context) {
  const SellerId seller = context.number("seller");
  const BuyerId buyer = context.number("buyer");
  client::Client* client = context.client();
  if (client == nullptr) return kExitUnreachable;
  const auto reply = client->balance(seller, buyer, /*with_lots=*/true);
  if (!reply.ok()) return report_unanswered(context, reply);
  if (!context.json()) {
    print_balance(context, reply.value);
    return kExitApplied;
  }
  JsonWriter j;
  j.begin_object().field("seller", seller).field("buyer", buyer);
  j.field("exists", reply.value.account.exists);
  json_account(j, reply.value.account);
  json_tier(j, reply.value.account);
  json_lots(j, reply.value.lots);
  context.print(j.end_object().text());
  return kExitApplied;
}

int run_wallet(Context& context) {
  const BuyerId buyer = context.number("buyer");
  client::Client* client = context.client();
  if (client == nullptr) return kExitUnreachable;
  const auto reply = client->wallet(buyer);
  if (!reply.ok()) return report_unanswered(context, reply);
  if (context.json()) {
    JsonWriter j;
    j.begin_array();
    for (const AccountView& a : reply.value) {
      j.begin_object().field("seller", a.seller);
      json_account(j, a);
      j.end_object();
    }
    context.print(j.end_array().text());
    return kExitApplied;
  }
  if (reply.value.empty()) {
    context.print(row("buyer %llu has no bonuses with any seller", u(buyer)));
    return kExitApplied;
  }
  context.print(row("%20s %10s %10s %10s %10s  %s", "seller", "available", "held", "pending",
                    "debt", "next expiry"));
  for (const AccountView& a : reply.value) {
    const std::string next =
        a.next_expiry_us == kTimeNever
            ? "-"
            : std::to_string(a.next_expiry_amount) + " on " + format_time(a.next_expiry_us);
    context.print(row("%20llu %10llu %10llu %10llu %10llu  %s", u(a.seller), u(a.available),
                      u(a.held), u(a.pending), u(a.debt), next.c_str()));
  }
  return kExitApplied;
}

int run_cart(Context& context) {
  const BuyerId buyer = context.number("buyer");
  const TimeUs soon = context.has("soon") ? context.duration("soon") : 24 * kUsPerHour;
  std::vector<CartLine> lines;
  for (const std::string& item : context.invocation().items) {
    const auto colon = item.find(':');
    const auto seller = parse_u64(std::string_view(item).substr(0, colon));
    const auto total = colon == std::string::npos
                           ? std::nullopt
                           : parse_money(std::string_view(item).substr(colon + 1));
    if (!seller || !total) {
      throw UsageError("--item " + item + ": want SELLER:GOODS_TOTAL, like 42:1990.00");
    }
    for (const CartLine& line : lines) {
      if (line.seller == *seller) {
        throw UsageError("--item " + item + ": seller " + std::to_string(*seller) +
                         " has a line already; one --item per seller (add up its goods)");
      }
    }
    lines.push_back(CartLine{*seller, *total});
  }
  if (lines.empty()) throw UsageError("--item is required");
  client::Client* client = context.client();
  if (client == nullptr) return kExitUnreachable;
  const auto cart = client->cart(buyer, lines, soon);
  if (!cart.ok()) return report_unanswered(context, cart);
  std::vector<protocol::AccountKey> keys;
  for (const CartLine& line : lines) keys.push_back({line.seller, buyer});
  const auto balances = client->balances(keys, /*with_lots=*/true);
  if (!balances.ok()) return report_unanswered(context, balances);
  if (cart.value.size() != lines.size() || balances.value.size() != lines.size()) {
    std::fprintf(stderr, "bonusctl: cart: the server answered %zu lines to %zu\n",
                 cart.value.size(), lines.size());
    return kExitUnreachable;
  }
  if (context.json()) {
    JsonWriter j;
    j.begin_array();
    for (std::size_t i = 0; i < lines.size(); ++i) {
      const CartEntry& e = cart.value[i];
      j.begin_object().field("seller", e.seller).field("goods_total_kopecks", lines[i].goods_total);
      j.field("spendable", e.spendable).field("expiring_soon", e.expiring_soon);
      j.field("earn", e.earn).field("earn_tier", std::uint64_t{e.tier});
      j.field("earn_rate_bp", std::uint64_t{e.rate_bp}).field("earn_month_room", e.earn_month_room);
      j.field("balance_room", e.balance_room);
      json_account(j, balances.value[i].account);
      json_lots(j, balances.value[i].lots);
      j.end_object();
    }
    context.print(j.end_array().text());
    return kExitApplied;
  }
  context.print(row("%20s %14s %10s %10s %10s %10s %8s %7s  %s", "seller", "goods total",
                    "spendable", "available", "pending", "expiring", "earn", "rate",
                    "next expiry"));
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const CartEntry& e = cart.value[i];
    context.print(row("%20llu %14s %10llu %10llu %10llu %10llu %8llu %7s  %s", u(e.seller),
                      format_money(lines[i].goods_total).c_str(), u(e.spendable), u(e.available),
                      u(e.pending), u(e.expiring_soon), u(e.earn),
                      e.rate_bp == 0 ? "-" : format_rate(e.rate_bp).c_str(),
                      when(e.next_expiry_us).c_str()));
  }
  context.print("(earn: what buying the line earns at the buyer's rate, after the month's "
                "allowance and the balance cap)");
  context.print(row("(expiring: within %s)", format_duration(soon).c_str()));
  return kExitApplied;
}

int run_expiring(Context& context) {
  const SellerId seller = context.number("seller");
  const TimeUs within = context.duration("within");
  const std::uint32_t limit = page_limit(context, 1000);
  client::Client* client = context.client();
  if (client == nullptr) return kExitUnreachable;
  const bool json = context.json();
  std::uint64_t buyers = 0;
  Amount bonuses = 0;
  protocol::ExpiringPosition from;
  std::string out = json ? "[" : row("%20s %10s  %s", "buyer", "amount", "first expiry");
  for (;;) {
    const auto page = client->expiring(seller, within, limit, from);
    if (!page.ok()) {
      std::fputs(out.c_str(), stdout);  // what came so far; an unclosed JSON array
      std::fputc('\n', stdout);
      std::fflush(stdout);
      return report_unanswered(context, page);
    }
    for (const ExpiringEntry& e : page.value.entries) {
      if (json) {
        JsonWriter j;
        j.begin_object().field("buyer", e.buyer).field("amount", e.amount);
        j.key("first_expiry").time(e.first_expiry_us).end_object();
        out += buyers == 0 ? "\n" : ",\n";
        out += j.text();
      } else {
        out += '\n';
        out += row("%20llu %10llu  %s", u(e.buyer), u(e.amount), when(e.first_expiry_us).c_str());
      }
      ++buyers;
      bonuses += e.amount;
    }
    std::fputs(out.c_str(), stdout);
    std::fflush(stdout);
    out.clear();
    if (page.value.done) break;
    from = page.value.next;
  }
  if (json) {
    context.print("\n]");
  } else {
    context.print(row("\nbuyers %llu, bonuses %llu, expiring within %s", u(buyers), u(bonuses),
                      format_duration(within).c_str()));
  }
  return kExitApplied;
}

namespace {

// Spent bonuses (a rouble each) as basis points of a goods total; nullopt with none.
std::optional<std::uint64_t> cost_bp_of(Amount spent, Kopecks goods_kopecks) {
  if (goods_kopecks == 0) return std::nullopt;
  __extension__ using U128 = unsigned __int128;
  const U128 bp = static_cast<U128>(spent) * 1'000'000u / goods_kopecks;
  return bp > UINT64_MAX ? UINT64_MAX : static_cast<std::uint64_t>(bp);
}

void json_optional(JsonWriter& j, const char* name, std::optional<std::uint64_t> value) {
  j.key(name);
  if (value) {
    j.value(*value);
  } else {
    j.null();
  }
}

int run_month_report(Context& context, SellerId seller) {
  if (context.has("campaign")) throw UsageError("give --campaign or --month, not both");
  const std::string& text = context.text("month");
  const auto month = parse_month(text);
  if (!month) {
    throw UsageError("--month " + text + ": want a calendar month like 2026-11 (1970-01 or later)");
  }
  client::Client* client = context.client();
  if (client == nullptr) return kExitUnreachable;
  const auto reply = client->month_report(seller, *month);
  if (!reply.ok()) return report_unanswered(context, reply);
  const MonthReport& m = reply.value;
  Amount credited = 0;
  for (Amount v : m.credited) credited += v;
  const std::optional<std::uint64_t> cost_bp = cost_bp_of(m.spent, m.orders_goods_kopecks);
  static constexpr const char* kBucketNames[MonthReport::kBuckets] = {
      "none", "mailing", "gift", "apology", "referral", "manual", "own"};
  if (context.json()) {
    JsonWriter j;
    j.begin_object().field("seller", seller).field("month", format_month(m.month));
    j.field("accrued", m.accrued).field("confirmed", m.confirmed);
    j.field("credited", credited).key("credited_by_reason").begin_object();
    for (std::uint32_t k = 0; k < MonthReport::kBuckets; ++k) j.field(kBucketNames[k], m.credited[k]);
    j.end_object();
    j.field("spent", m.spent).field("refunded", m.refunded).field("reversed", m.reversed);
    j.field("expired", m.expired).field("orders", m.orders);
    j.field("orders_goods_kopecks", m.orders_goods_kopecks);
    json_optional(j, "cost_bp", cost_bp);
    context.print(j.end_object().text());
    return kExitApplied;
  }
  context.print(row("seller %llu, month %s", u(seller), format_month(m.month).c_str()));
  const auto line = [&](const char* name, std::uint64_t v) {
    context.print(row("  %-20s %14llu", name, u(v)));
  };
  line("accrued", m.accrued);
  line("confirmed", m.confirmed);
  line("credited", credited);
  for (std::uint32_t k = 0; k < MonthReport::kBuckets; ++k) {
    if (m.credited[k] > 0) line(("  " + std::string(kBucketNames[k])).c_str(), m.credited[k]);
  }
  line("spent", m.spent);
  line("refunded", m.refunded);
  line("reversed", m.reversed);
  line("expired", m.expired);
  line("orders with bonuses", m.orders);
  context.print(row("  %-20s %14s", "their goods", format_money(m.orders_goods_kopecks).c_str()));
  if (cost_bp) {
    context.print(row("  %-20s %13.2f%% of those orders' goods", "cost",
                      static_cast<double>(*cost_bp) / 100.0));
  }
  return kExitApplied;
}

}  // namespace

int run_stats(Context& context) {
  const SellerId seller = context.number("seller");
  if (context.has("month")) return run_month_report(context, seller);
  const CampaignId campaign = context.maybe_number("campaign").value_or(0);
  client::Client* client = context.client();
  if (client == nullptr) return kExitUnreachable;
  std::vector<std::pair<std::string_view, std::uint64_t>> figures;
  bool revoked = false;
  // Campaigns: the share of recipients that spent, and the cost (spent bonuses, one
  // rouble each) as a share of the sales, both in basis points; nullopt when undefined.
  std::optional<std::uint64_t> spender_share_bp;
  std::optional<std::uint64_t> cost_bp;
  if (campaign == 0) {
    const auto reply = client->seller_stats(seller);
    if (!reply.ok()) return report_unanswered(context, reply);
    const SellerStats& s = reply.value;
    figures = {{"issued", s.issued},     {"accrued", s.accrued},
               {"spent", s.spent},       {"expired", s.expired},
               {"refunded", s.refunded}, {"reversed", s.reversed},
               {"held", s.held},         {"pending", s.pending},
               {"debt", s.debt},         {"outstanding", s.outstanding}};
  } else {
    const auto reply = client->campaign_stats(seller, campaign);
    if (!reply.ok()) return report_unanswered(context, reply);
    const CampaignStats& s = reply.value;
    figures = {{"issued", s.issued},
               {"spent", s.spent},
               {"expired", s.expired},
               {"revoked_amount", s.revoked_amount},
               {"refunded", s.refunded},
               {"reversed", s.reversed},
               {"outstanding", s.outstanding},
               {"recipients", s.recipients},
               {"spenders", s.spenders},
               {"sales_orders", s.sales_orders},
               {"sales_kopecks", s.sales_kopecks}};
    revoked = s.revoked;
    if (s.recipients > 0) spender_share_bp = s.spenders * 10'000 / s.recipients;
    cost_bp = cost_bp_of(s.spent, s.sales_kopecks);
  }
  if (context.json()) {
    JsonWriter j;
    j.begin_object().field("seller", seller);
    if (campaign != 0) j.field("campaign", campaign);
    for (const auto& [name, value] : figures) j.field(name, value);
    if (campaign != 0) {
      j.field("revoked", revoked);
      json_optional(j, "spender_share_bp", spender_share_bp);
      json_optional(j, "cost_bp", cost_bp);
    }
    context.print(j.end_object().text());
    return kExitApplied;
  }
  context.print(campaign == 0 ? row("seller %llu", u(seller))
                              : row("seller %llu, campaign %llu%s", u(seller), u(campaign),
                                    revoked ? " (revoked)" : ""));
  for (const auto& [name, value] : figures) {
    context.print(row("  %-14s %14llu", std::string(name).c_str(), u(value)));
  }
  if (spender_share_bp) {
    context.print(row("  %-14s %11.2f%% of recipients", "spent by",
                      static_cast<double>(*spender_share_bp) / 100.0));
  }
  if (cost_bp) {
    context.print(row("  %-14s %11.2f%% of the sales", "cost",
                      static_cast<double>(*cost_bp) / 100.0));
  }
  return kExitApplied;
}

int run_segment(Context& context) {
  SegmentQuery query;
  query.seller = context.number("seller");
  const int kinds = context.has("inactive") + context.has("bought-within") + context.has("unspent");
  if (kinds != 1) throw UsageError("give one of --inactive, --bought-within, --unspent");
  if (context.has("unspent")) {
    if (!context.has("campaign")) throw UsageError("--unspent needs --campaign");
    query.kind = SegmentKind::unspent;
    query.campaign = context.number("campaign");
    if (query.campaign == 0) throw UsageError("--campaign 0 is no campaign");
  } else {
    if (context.has("campaign")) throw UsageError("--campaign goes with --unspent");
    const bool inactive = context.has("inactive");
    query.kind = inactive ? SegmentKind::inactive : SegmentKind::bought_within;
    query.period_us = context.duration(inactive ? "inactive" : "bought-within");
  }
  const std::uint32_t limit = page_limit(context, protocol::kBatchCommandsDefault);
  client::Client* client = context.client();
  if (client == nullptr) return kExitUnreachable;
  const bool json = context.json();
  std::string out;
  const auto walked = client->for_each_in_segment(
      query,
      [&](BuyerId buyer) {
        if (json) {
          JsonWriter j;
          out += j.begin_object().field("buyer", buyer).end_object().text();
        } else {
          out += std::to_string(buyer);
        }
        out += '\n';
        if (out.size() > (1u << 16)) {  // streamed: memory stays a page
          std::fputs(out.c_str(), stdout);
          out.clear();
        }
      },
      limit);
  std::fputs(out.c_str(), stdout);
  std::fflush(stdout);
  if (!walked.ok()) return report_unanswered(context, walked);
  std::fprintf(stderr, "bonusctl segment: %llu buyers\n", u(walked.value));
  return kExitApplied;
}

int run_policy(Context& context) {
  for (const char* change : {"spend-share", "balance-max", "earn-month-max", "ttl", "rate", "tiers",
                             "tier-window"}) {
    if (context.has(change)) return run_write(context);
  }
  if (context.has("id")) throw UsageError("--id goes with a change; without one policy prints");
  const SellerId seller = context.number("seller");
  client::Client* client = context.client();
  if (client == nullptr) return kExitUnreachable;
  const auto reply = client->policy(seller);
  if (!reply.ok()) return report_unanswered(context, reply);
  const Policy& p = reply.value;
  if (context.json()) {
    JsonWriter j;
    j.begin_object().field("seller", seller);
    j.field("spend_share_bp", std::uint64_t{p.spend_share_bp});
    j.field("balance_max", p.balance_max).field("earn_month_max", p.earn_month_max);
    j.key("lot_life");
    if (p.lot_life_us == kTimeNever) {
      j.value("never");
    } else {
      j.value(format_duration(p.lot_life_us));
    }
    j.field("lot_life_us", static_cast<std::uint64_t>(p.lot_life_us));
    j.field("rate_bp", std::uint64_t{p.rate_bp});
    j.field("tier_window_days", std::uint64_t{p.tier_window_days});
    j.key("tiers").begin_array();
    for (std::uint32_t k = 0; k < p.tier_count; ++k) {
      j.begin_object().field("threshold_kopecks", p.tiers[k].threshold_kopecks);
      j.field("rate_bp", std::uint64_t{p.tiers[k].rate_bp}).end_object();
    }
    context.print(j.end_array().end_object().text());
    return kExitApplied;
  }
  context.print(row("seller %llu", u(seller)));
  context.print(
      row("  spend share     %s of the goods total", format_rate(p.spend_share_bp).c_str()));
  context.print(row("  balance max     %llu", u(p.balance_max)));
  context.print(row("  earn month max  %llu", u(p.earn_month_max)));
  const std::string life = p.lot_life_us == kTimeNever ? "never" : format_duration(p.lot_life_us);
  context.print(row("  lot life        %s", life.c_str()));
  context.print(row("  rate            %s", p.rate_bp == 0 ? "none (accrue by price is refused)"
                                                         : format_rate(p.rate_bp).c_str()));
  if (p.tier_count > 0) {
    context.print(row("  tiers           by purchases in the last %u days", p.tier_window_days));
    for (std::uint32_t k = 0; k < p.tier_count; ++k) {
      context.print(row("    from %14s  %s", format_money(p.tiers[k].threshold_kopecks).c_str(),
                        format_rate(p.tiers[k].rate_bp).c_str()));
    }
  }
  return kExitApplied;
}

namespace {

std::string json_admin(const protocol::AdminStatus& s) {
  JsonWriter j;
  j.begin_object()
      .field("ok", s.ok)
      .field("message", s.message)
      .key("ledger_time")
      .time(s.ledger_time_us)
      .field("accounts", s.accounts)
      .field("shards", s.shards)
      .field("test_clock", s.test_clock)
      .field("journal_bytes", s.journal_bytes)
      .field("durability", s.durability)
      .field("checkpoint_position", s.checkpoint_position)
      .field("history", s.history)
      .field("history_position", s.history_position);
  if (s.state_hash != 0) j.field("state_hash", s.state_hash);
  if (!s.node_state.empty()) {
    j.field("node_state", s.node_state)
        .field("leader", s.leader)
        .field("log_position", s.log_position);
  }
  return j.end_object().text();
}

}  // namespace

int run_admin(Context& context) {
  const std::string& name = context.command();
  const auto action = name == "admin audit"         ? protocol::AdminAction::audit
                      : name == "admin checkpoint"  ? protocol::AdminAction::checkpoint
                      : name == "admin forget-node" ? protocol::AdminAction::forget_node
                                                    : protocol::AdminAction::status;
  std::string node;
  if (action == protocol::AdminAction::forget_node) {
    node = context.text("node");
    if (!protocol::valid_node_name(node)) {
      throw UsageError("--node " + node + ": want 1..64 of [A-Za-z0-9_-]");
    }
  }
  client::Client* client = context.client();
  if (client == nullptr) return kExitUnreachable;
  const auto reply = action == protocol::AdminAction::forget_node ? client->forget_node(node)
                                                                  : client->admin(action);
  if (!reply.ok()) return report_unanswered(context, reply);
  const protocol::AdminStatus& s = reply.value;
  if (context.json()) {
    context.print(json_admin(s));
  } else if (action == protocol::AdminAction::status) {
    context.print(row("ledger time   %s", format_time(s.ledger_time_us).c_str()));
    context.print(row("accounts      %llu", u(s.accounts)));
    context.print(row("shards        %u", s.shards));
    context.print(
        row("journal       %llu bytes, durability %s", u(s.journal_bytes), s.durability.c_str()));
    context.print(row("checkpoint    %s", s.checkpoint_position == 0
                                                ? "none yet"
                                                : ("at log position " +
                                                   std::to_string(s.checkpoint_position)).c_str()));
    context.print(row("history       %s, at log position %llu", s.history.c_str(),
                      u(s.history_position)));
    context.print(row("test clock    %s", s.test_clock ? "on" : "off"));
    if (!s.node_state.empty()) {
      context.print(
          row("node          %s, at log position %llu", s.node_state.c_str(), u(s.log_position)));
      context.print(
          row("leader        %s", s.leader.empty() ? "none right now" : s.leader.c_str()));
    }
    if (!s.message.empty()) context.print(s.message);
  } else {
    const std::string action_name = name.substr(6);
    context.print(s.ok ? (s.message.empty() ? action_name + " ok" : s.message)
                       : action_name + " FAILED: " + s.message);
  }
  return s.ok ? kExitApplied : kExitRejected;
}

int run_clock_advance(Context& context) {
  const auto by = parse_duration(context.invocation().argument);
  if (!by) {
    throw UsageError("'" + context.invocation().argument +
                     "': want a duration like 30s, 15m, 25h or 7d");
  }
  client::Client* client = context.client();
  if (client == nullptr) return kExitUnreachable;
  const auto reply = client->admin(protocol::AdminAction::clock_advance, *by);
  if (reply.status == client::Status::refused &&
      reply.error == protocol::FrameError::test_clock_disabled) {
    std::fprintf(stderr,
                 "bonusctl: clock advance: this bonusd has no test clock (test_clock_disabled); "
                 "only a server started with --test-clock lets the ledger time move\n");
    if (context.json()) {
      JsonWriter j;
      j.begin_object().field("ok", false).field("error", "test_clock_disabled");
      context.print(j.field("message", reply.message).end_object().text());
    }
    return kExitRejected;
  }
  if (!reply.ok()) return report_unanswered(context, reply);
  if (context.json()) {
    context.print(json_admin(reply.value));
  } else {
    context.print(row("ledger time advanced by %s, now %s", format_duration(*by).c_str(),
                      format_time(reply.value.ledger_time_us).c_str()));
  }
  return reply.value.ok ? kExitApplied : kExitRejected;
}

}  // namespace bonus::ctl
