// bonusctl: the command-line tool for bonusd. This file only declares the command line
// (CLI11 stays here); run() in run.cc does the work. `bonusctl --help` lists it all.
#include <CLI/CLI.hpp>

#include "clients/bonusctl/invocation.h"

namespace {

using bonus::ctl::Invocation;

constexpr const char* kFooter = R"(
Exit codes: 0 applied (or an idempotent repeat of an applied write; a read answered),
1 rejected by the ledger (its code name is printed; also a failed audit or checkpoint, and
clock advance on a server without --test-clock), 2 usage error (nothing was sent),
3 no answer (cannot connect, timeout, disconnected, or the server refused the request:
a write may or may not have been applied; run it again with the printed --id).
TLS: --tls-ca PEM (or BONUS_TLS_CA) for a bonusd started with --tls-cert; add --tls-cert
and --tls-key (BONUS_TLS_CERT, BONUS_TLS_KEY) when it requires client certificates.
Authentication: a server started with --auth-file wants a token: export BONUS_TOKEN=...
(or --token). Refused for the token's role: exit 3, `refused (forbidden)`.
Durations: 30s 15m 24h 7d. Money: roubles, 1990 or 1990.50. Times: 2026-12-01T00:00:00Z.
See clients/bonusctl/README.md.)";

class Declarer {
 public:
  explicit Declarer(Invocation& invocation) : inv_(invocation) {}

  CLI::Option* option(CLI::App* sub, const std::string& name, const std::string& type,
                      const std::string& help, bool required = false) {
    Invocation* inv = &inv_;
    auto* o = sub->add_option_function<std::string>(
        "--" + name, [inv, name](const std::string& v) { inv->options[name] = v; }, help);
    o->type_name(type);
    if (required) o->required();
    return o;
  }
  CLI::Option* seller(CLI::App* sub, bool required = true) {
    return option(sub, "seller", "ID", "Seller id", required);
  }
  CLI::Option* buyer(CLI::App* sub) { return option(sub, "buyer", "ID", "Buyer id", true); }
  CLI::Option* order(CLI::App* sub) { return option(sub, "order", "ID", "Order id", true); }
  CLI::Option* amount(CLI::App* sub, const std::string& help, bool required = true) {
    return option(sub, "amount", "N", help, required);
  }
  // capture and refund: --amount N, or --all (the default when neither is given).
  // --amount 0 is sent, and the ledger answers zero_amount: 0 never means "all".
  void amount_or_all(CLI::App* sub, const std::string& amount_help, const std::string& all_help) {
    CLI::Option* amount_option = amount(sub, amount_help + "; 0 is rejected (zero_amount)", false);
    Invocation* inv = &inv_;
    sub->add_flag_callback("--all", [inv] { inv->options["all"] = "yes"; }, all_help)
        ->excludes(amount_option);
  }
  CLI::Option* goods_total(CLI::App* sub) {
    return option(sub, "goods-total", "ROUBLES",
                  "The order's goods total in roubles (1990 or 1990.50); the spend cap applies "
                  "to it",
                  true);
  }
  CLI::Option* id(CLI::App* sub) {
    return option(sub, "id", "HEX",
                  "Write id, up to 32 hex digits (default: a fresh random one, printed): "
                  "pass the printed id to retry safely");
  }

 private:
  Invocation& inv_;
};

void declare_writes(CLI::App& app, Declarer& d) {
  auto* credit = app.add_subcommand("credit", "Credit a new lot of bonuses to a buyer");
  d.seller(credit);
  d.buyer(credit);
  d.amount(credit, "Bonuses (whole); caps may cut it (the result says so)");
  d.option(credit, "ttl", "DURATION",
           "Life of the lot (24h, 7d, ...; or never); default: the "
           "seller's policy");
  d.option(credit, "expires-at", "TIME", "Absolute expiry, ISO-8601 UTC (2026-12-01T00:00:00Z)");
  d.option(credit, "campaign", "ID", "Campaign id (default 0: none)");
  d.option(credit, "reason", "REASON",
           "Why: mailing, gift, apology, referral, manual, or a seller's own code 16..255 "
           "(default none); kept on the lot, shown by balance");
  d.id(credit);

  auto* referral = app.add_subcommand(
      "referral", "Credit a buyer who brought a friend and the friend, under one id");
  d.seller(referral);
  d.option(referral, "referrer", "BUYER", "The buyer who brought the friend", true);
  d.option(referral, "friend", "BUYER", "The new buyer", true);
  d.amount(referral, "Bonuses for the referrer (and the friend unless --friend-amount)");
  d.option(referral, "friend-amount", "N", "Bonuses for the friend (default: --amount)");
  d.option(referral, "ttl", "DURATION", "Life of both lots (30d, ...; or never); default: the "
           "seller's policy");
  d.option(referral, "expires-at", "TIME", "Absolute expiry, ISO-8601 UTC");
  d.option(referral, "campaign", "ID", "Campaign id (default 0: none)");
  d.id(referral);

  auto* accrue = app.add_subcommand("accrue", "Accrue pending cashback for an order");
  d.order(accrue);
  d.seller(accrue);
  d.buyer(accrue);
  d.amount(accrue, "Bonuses to accrue (credited on confirm); or give --price", false);
  d.option(accrue, "price", "ROUBLES",
           "The order's price (1990 or 1990.50): without --amount the bonuses are the price at "
           "the buyer's rate now (rounded down); either way it counts in the buyer's purchases "
           "once confirmed");
  d.option(accrue, "ttl", "DURATION",
           "Life of the lot from confirmation (or never); default: "
           "the seller's policy");
  d.id(accrue);

  for (const auto& [name, help] : std::vector<std::pair<std::string, std::string>>{
           {"confirm", "Confirm an order's accrual: it becomes a lot (caps apply)"},
           {"cancel-accrual", "Cancel an order's pending accrual"},
           {"release", "Release an order's hold: the bonuses go back"},
           {"reverse-accrual", "Take back a confirmed accrual (what was spent becomes debt)"}}) {
    auto* sub = app.add_subcommand(name, help);
    d.order(sub);
    d.id(sub);
  }

  auto* hold = app.add_subcommand("hold", "Hold bonuses for an order at checkout");
  d.order(hold);
  d.seller(hold);
  d.buyer(hold);
  d.amount(hold, "Bonuses to hold");
  d.goods_total(hold);
  d.option(hold, "timeout", "DURATION", "Released by itself after this (default 15m, at most 30d)");
  d.id(hold);

  auto* capture = app.add_subcommand("capture", "Spend an order's hold (the rest is released)");
  d.order(capture);
  d.amount_or_all(capture, "Bonuses to spend (default: --all)",
                  "Spend the whole hold (the default without --amount)");
  d.id(capture);

  auto* spend = app.add_subcommand("spend", "Hold and capture in one step (point of sale)");
  d.order(spend);
  d.seller(spend);
  d.buyer(spend);
  d.amount(spend, "Bonuses to spend");
  d.goods_total(spend);
  d.id(spend);

  auto* refund = app.add_subcommand("refund", "Return a captured order's bonuses to their lots");
  d.order(refund);
  d.amount_or_all(refund, "Bonuses to refund (default: --all)",
                  "Refund all not yet refunded (the default without --amount)");
  d.id(refund);

  auto* revoke =
      app.add_subcommand("revoke-campaign", "Cancel a mailing: its unspent bonuses expire now");
  d.seller(revoke);
  d.option(revoke, "campaign", "ID", "Campaign id", true);
  d.id(revoke);

  auto* policy = app.add_subcommand(
      "policy", "Print a seller's policy, or set it (only the fields given)");
  d.seller(policy);
  d.option(policy, "spend-share", "PERCENT", "Most of an order bonuses may pay: 99%, 99.5% or 99");
  d.option(policy, "balance-max", "N", "Most bonuses one buyer may hold");
  d.option(policy, "earn-month-max", "N", "Most bonuses one buyer may earn per calendar month");
  d.option(policy, "ttl", "DURATION", "Default life of a lot (365d, ...; or never)");
  d.option(policy, "rate", "PERCENT", "Cashback rate of the price: 5%, 7.5% or 750bp");
  d.option(policy, "tiers", "LIST",
           "Rates by the buyer's purchases in the window: ROUBLES:RATE,... ascending, like "
           "10000:7%,50000:10% (up to 8; none: no tiers)");
  d.option(policy, "tier-window", "DURATION", "The purchase window of tiers: whole days (365d)");
  d.id(policy);
}

void declare_reads(CLI::App& app, Declarer& d, Invocation& inv) {
  auto* balance = app.add_subcommand("balance", "One account: figures, next expiry and lots");
  d.seller(balance);
  d.buyer(balance);

  auto* wallet = app.add_subcommand("wallet", "Every seller a buyer has bonuses with");
  d.buyer(wallet);

  auto* cart = app.add_subcommand("cart", "The cart screen: what the buyer can spend per seller");
  d.buyer(cart);
  cart->add_option("--item", inv.items,
                   "SELLER:GOODS_TOTAL (roubles), one per seller in the cart; repeatable")
      ->type_name("S:ROUBLES")
      ->required();
  d.option(cart, "soon", "DURATION", "What counts as expiring soon (default 24h)");

  auto* expiring = app.add_subcommand(
      "expiring",
      "Buyers whose bonuses expire within a window, page by page (streamed; with "
      "--json one JSON array, one element a line)");
  d.seller(expiring);
  d.option(expiring, "within", "DURATION", "The window from now (24h, 3d, ...)", true);
  d.option(expiring, "limit", "N", "Buyers per page (default 1000)");

  auto* segment = app.add_subcommand(
      "segment",
      "A seller's buyers to mail, one id a line (feeds mail --buyers), walking all pages; "
      "with --json one JSON object a line");
  d.seller(segment);
  d.option(segment, "inactive", "DURATION",
           "Buyers whose last purchase is older than this (60d): sleeping; never-bought excluded");
  d.option(segment, "bought-within", "DURATION", "Buyers whose last purchase is within this (30d)");
  d.option(segment, "campaign", "ID", "With --unspent: the campaign");
  segment->add_flag_callback(
      "--unspent", [&inv] { inv.options["unspent"] = "yes"; },
      "Buyers who received the campaign's bonuses and spent none of them");
  d.option(segment, "limit", "N", "Buyers per page (default 8192)");

  auto* stats = app.add_subcommand("stats", "A seller's or a campaign's statistics");
  d.seller(stats);
  d.option(stats, "campaign", "ID",
           "A campaign's results instead (buyers reached and spending, revoked, the sales it "
           "brought and its cost as a share of them)");
  d.option(stats, "month", "YYYY-MM",
           "The seller's report of a calendar month (Moscow time) instead: accrued, confirmed, "
           "credited by reason, spent, refunded, reversed, expired, orders with bonuses and "
           "their goods, the cost as a share of them; kept for 24 months");

  auto* history = app.add_subcommand(
      "history",
      "A buyer's statement with a seller: why the balance changed, newest first, one page "
      "(from the server's history, behind the ledger by up to a second)");
  d.seller(history);
  d.buyer(history);
  d.option(history, "limit", "N", "Events on the page (1..1000, default 50)");
  d.option(history, "cursor", "POS:INDEX", "Go on after a page (its `more:` line, JSON `next`)");

  auto* order = app.add_subcommand(
      "order", "An order's events, oldest first: what it accrued, held, spent, refunded");
  d.order(order);
}

void declare_mail(CLI::App& app, Declarer& d, Invocation& inv) {
  auto* mail = app.add_subcommand(
      "mail", "Credit a campaign to every buyer of a file (fast, safe to run again)");
  mail->footer(
      "\nCredits go in large pipelined batches. Each credit's id "
      "is derived from (seller, campaign, buyer), so running the same mailing again (after a "
      "crash, or by mistake) credits nobody twice: the buyers already credited are answered as "
      "repeats. The server remembers ids for its --id-window-s (24 h by default): a rerun after "
      "that window credits again, and a new mailing needs a new campaign id. Exit code 1 "
      "when some buyers were rejected or some lines were bad; 3 when the server was lost "
      "(run it again to go on).");
  d.seller(mail);
  d.option(mail, "campaign", "ID", "Campaign id (above 0; it names the mailing in its ids)", true);
  d.amount(mail, "Bonuses per buyer");
  d.option(mail, "ttl", "DURATION", "Life of the lots (24h, 3d, ...; or never)");
  d.option(mail, "expires-at", "TIME", "Or an absolute expiry, ISO-8601 UTC");
  d.option(mail, "reason", "REASON",
           "The credits' reason, as for credit (default mailing; part of each credit, so a "
           "rerun must give the same)");
  d.option(mail, "buyers", "FILE",
           "One buyer id a line, or CSV with a buyer_id column; - for stdin. Bad lines are "
           "reported with their number and skipped",
           true);
  d.option(mail, "batch", "N", "Credits per request (default 4096)");
  d.option(mail, "window", "N", "Requests in flight (default 16)");
  d.option(mail, "rate-max", "N", "Credits per second at most (default: no limit)");
  d.option(mail, "tries", "N",
           "Sends of a batch without an answer before giving up (default 8, about 13 s)");
  mail->add_flag_callback(
      "--no-progress", [&inv] { inv.progress = false; }, "No progress display on stderr");
}

void declare_admin(CLI::App& app, Declarer& d, Invocation& inv) {
  auto* clock = app.add_subcommand("clock", "The ledger's test clock");
  clock->require_subcommand(1);
  auto* advance = clock->add_subcommand(
      "advance", "Move the ledger time forward (only on a server started with --test-clock)");
  advance->add_option("duration", inv.argument, "How far: 30s, 15m, 25h, 7d")->required();

  auto* admin = app.add_subcommand("admin", "Operate the server");
  admin->require_subcommand(1);
  admin->add_subcommand("status", "Ledger time, accounts, shards, journal, durability");
  admin->add_subcommand("audit", "Check the conservation invariant on every shard");
  admin->add_subcommand("checkpoint", "Write a checkpoint of everything acknowledged, now");
  auto* forget = admin->add_subcommand(
      "forget-node",
      "A leader and standbys on one log (bonusd --log jetstream): a node gone for good stops "
      "holding back the log's trimming (refused for a node still running)");
  d.option(forget, "node", "NAME", "The node's --node name", true);
  auto* limits = admin->add_subcommand(
      "limits", "The ledger's limits (table bounds, windows), as the log set them");
  auto* set = limits->add_subcommand(
      "set", "Change limits on purpose: a journaled command every shard applies at the same "
             "log position; the data directory's manifest follows");
  d.option(set, "accounts-max", "N", "Accounts per shard at most");
  d.option(set, "orders-max", "N", "Live holds (and accruals) per shard at most");
  d.option(set, "ids-max", "N", "Remembered write ids per shard at most");
  d.option(set, "id-window-s", "SECONDS", "How long a write id is remembered");
  d.option(set, "order-retention-s", "SECONDS", "How long a finished order is kept");
  d.option(set, "rejected-ids-max", "N", "Remembered rejected write ids at most");
  d.option(set, "rejected-id-window-s", "SECONDS", "How long a rejected write id is remembered");
  d.id(set);

  auto* token = admin->add_subcommand("token", "Tokens for a server started with --auth-file");
  token->require_subcommand(1);
  auto* token_new = token->add_subcommand(
      "new",
      "Print a fresh random token and the auth-file line that grants it a role (no "
      "server needed; the token is shown once and stored nowhere)");
  d.option(token_new, "role", "ROLE", "reader, checkout, batch, seller-admin or admin", true);
  d.option(token_new, "name", "NAME",
           "Who holds it, for the server's logs: 1..64 of [A-Za-z0-9._@-]", true);
}

// --tls-*: how to reach a bonusd that serves TLS.
void declare_tls(CLI::App& app, Invocation& inv) {
  app.add_option("--tls-ca", inv.tls_ca,
                 "Speak TLS and trust bonusd only with a certificate signed by a CA in this PEM "
                 "file, naming the --server host (or --tls-server-name)")
      ->type_name("PEM")
      ->envname("BONUS_TLS_CA");
  app.add_option("--tls-server-name", inv.tls_server_name,
                 "The DNS name or IP address bonusd's certificate must carry; default: the "
                 "--server host")
      ->type_name("NAME");
  app.add_option("--tls-cert", inv.tls_cert,
                 "Mutual TLS: present this PEM certificate chain (needs --tls-key, --tls-ca)")
      ->type_name("PEM")
      ->envname("BONUS_TLS_CERT");
  app.add_option("--tls-key", inv.tls_key, "Mutual TLS: the PEM private key of --tls-cert")
      ->type_name("PEM")
      ->envname("BONUS_TLS_KEY");
}

// "credit", "clock advance", "admin status": the chosen subcommand's path.
std::string chosen(const CLI::App& app) {
  std::string name;
  const CLI::App* at = &app;
  while (!at->get_subcommands().empty()) {
    at = at->get_subcommands().front();
    name += (name.empty() ? "" : " ") + at->get_name();
  }
  return name;
}

}  // namespace

int main(int argc, char** argv) {
  Invocation inv;
  CLI::App app{"bonusctl: the command line of the bonus ledger (talks to bonusd)"};
  app.require_subcommand(1);
  app.fallthrough();
  app.footer(kFooter);
  app.add_option("--server", inv.server,
                 "bonusd's address; or the addresses of a leader and its standbys "
                 "(bonusd --log jetstream), comma-separated: writes find the leader, retried "
                 "with the same ids while a standby takes over")
      ->type_name("HOST:PORT")
      ->capture_default_str();
  app.add_option("--token", inv.token,
                 "Bearer token for a server started with --auth-file (`bonusctl admin token new` "
                 "makes one); default: the BONUS_TOKEN environment variable, which is the "
                 "better place (a command line is visible to every user in ps)")
      ->envname("BONUS_TOKEN")
      ->type_name("TOKEN");
  app.add_flag("--json", inv.json, "Print JSON for scripts instead of text for people");
  app.add_option("--request-timeout", inv.request_timeout,
                 "Wait this long for each answer (mail: for each batch); default 5s, and 10m "
                 "for admin checkpoint (a checkpoint of millions of accounts takes seconds)")
      ->type_name("DURATION");
  app.add_option("--at-least", inv.at_least,
                 "Served only once the node has applied the log up to this position (a write's "
                 "\"log position\"): a read on a standby then sees that write; a node that "
                 "does not get there within its --position-wait-ms answers position_unreached")
      ->type_name("POSITION");
  declare_tls(app, inv);
  Declarer declarer(inv);
  declare_writes(app, declarer);
  declare_reads(app, declarer, inv);
  declare_mail(app, declarer, inv);
  declare_admin(app, declarer, inv);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : bonus::ctl::kExitUsage;
  }
  inv.command = chosen(app);
  return bonus::ctl::run(inv);
}
