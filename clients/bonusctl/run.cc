// run(): reads the invocation's values, dispatches to the command, maps failures to
// exit codes. Context's option readers live here too.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <random>

#include "clients/bonusctl/context.h"
#include "clients/bonusctl/units.h"
#include "engine/reason.h"

namespace bonus::ctl {
namespace {

std::string dashed(std::string_view name) {
  return "--" + std::string(name);
}

UsageError bad_value(std::string_view name, const std::string& value, std::string_view want) {
  return UsageError(dashed(name) + " " + value + ": " + std::string(want));
}

}  // namespace

Context::Context(const Invocation& invocation) : invocation_(invocation) {}
Context::~Context() = default;

bool Context::has(std::string_view name) const {
  return invocation_.options.find(name) != invocation_.options.end();
}

const std::string& Context::text(std::string_view name) const {
  const auto it = invocation_.options.find(name);
  if (it == invocation_.options.end()) throw UsageError(dashed(name) + " is required");
  return it->second;
}

std::uint64_t Context::number(std::string_view name) const {
  const std::string& value = text(name);
  NumberError why = NumberError::none;
  const auto n = parse_u64(value, &why);
  if (!n) {
    throw bad_value(name, value, std::string(number_error_name(why)) + "; want a decimal number");
  }
  return *n;
}

std::optional<std::uint64_t> Context::maybe_number(std::string_view name) const {
  if (!has(name)) return std::nullopt;
  return number(name);
}

Amount Context::amount(std::string_view name) const {
  const std::string& value = text(name);
  const auto n = parse_u64(value);
  if (!n) throw bad_value(name, value, "want whole bonuses, like 300");
  return *n;
}

TimeUs Context::duration(std::string_view name) const {
  const std::string& value = text(name);
  const auto d = parse_duration(value);
  if (!d) throw bad_value(name, value, "want a duration like 30s, 15m, 24h or 7d");
  return *d;
}

Kopecks Context::money(std::string_view name) const {
  const std::string& value = text(name);
  const auto m = parse_money(value);
  if (!m) throw bad_value(name, value, "want roubles like 1990 or 1990.50 (at most 2 decimals)");
  return *m;
}

TimeUs Context::time(std::string_view name) const {
  const std::string& value = text(name);
  const auto t = parse_time(value);
  if (!t) throw bad_value(name, value, "want ISO-8601 UTC like 2026-12-01T00:00:00Z");
  return *t;
}

TimeUs Context::ttl(std::string_view name, bool never_ok) const {
  if (never_ok && text(name) == "never") return kTimeNever;
  const std::string& value = text(name);
  const auto d = parse_duration(value);
  if (!d) {
    throw bad_value(name, value,
                    never_ok ? "want a duration like 24h, 3d or 365d, or never"
                             : "want a duration like 24h, 3d or 365d");
  }
  return *d;
}

std::uint32_t Context::reason(std::string_view name, std::uint32_t absent) const {
  if (!has(name)) return absent;
  const std::string& value = text(name);
  const auto r = parse_reason(value);
  if (!r) {
    throw bad_value(name, value,
                    "want none, mailing, gift, apology, referral, manual, or a seller's own "
                    "code 16..255");
  }
  return *r;
}

Id128 Context::write_id() const {
  if (has("id")) {
    const auto id = parse_id(text("id"));
    if (!id) throw bad_value("id", text("id"), "want 1 to 32 hex digits, not all zero");
    return *id;
  }
  std::random_device random;
  const auto draw64 = [&random] { return std::uint64_t{random()} << 32 | std::uint64_t{random()}; };
  Id128 id;
  while (id.zero()) id = Id128{draw64(), draw64()};
  return id;
}

namespace {

// --tls-*: a file that cannot be opened is a usage error; one that is not PEM fails at
// connect, with OpenSSL's reason.
void read_tls_options(const Invocation& inv, client::ClientOptions& options) {
  if (inv.tls_ca.empty() && (!inv.tls_cert.empty() || !inv.tls_key.empty())) {
    throw UsageError(
        "--tls-cert and --tls-key need --tls-ca (the CA that signed bonusd's certificate)");
  }
  if (inv.tls_cert.empty() != inv.tls_key.empty()) {
    throw UsageError("--tls-cert and --tls-key go together");
  }
  for (const auto& [flag, path] :
       {std::pair{"--tls-ca", &inv.tls_ca}, std::pair{"--tls-cert", &inv.tls_cert},
        std::pair{"--tls-key", &inv.tls_key}}) {
    if (path->empty()) continue;
    if (std::FILE* f = std::fopen(path->c_str(), "r")) {
      std::fclose(f);
    } else {
      throw UsageError(std::string(flag) + " " + *path +
                       ": cannot read it: " + std::strerror(errno));
    }
  }
  options.tls_ca_file = inv.tls_ca;
  options.tls_server_name = inv.tls_server_name;
  options.tls_cert_file = inv.tls_cert;
  options.tls_key_file = inv.tls_key;
}

}  // namespace

client::ClientOptions Context::client_options() const {
  client::ClientOptions options;
  // HOST:PORT, or several, comma-separated: the nodes of one ledger (a leader and its
  // standbys); the client moves from one to the next when one fails or is not the leader.
  std::string server = invocation_.server;
  for (std::size_t comma; (comma = server.rfind(',')) != std::string::npos;) {
    options.others.insert(options.others.begin(), server.substr(comma + 1));
    server.resize(comma);
  }
  const auto colon = server.rfind(':');
  const auto port = colon == std::string::npos ? std::nullopt : parse_u64(server.substr(colon + 1));
  if (!port || *port == 0 || *port > 65535 || colon == 0) {
    throw UsageError("--server " + server + ": want HOST:PORT, like 127.0.0.1:7400");
  }
  for (const std::string& other : options.others) {
    const auto at = other.rfind(':');
    const auto other_port =
        at == std::string::npos ? std::nullopt : parse_u64(other.substr(at + 1));
    if (!other_port || *other_port == 0 || *other_port > 65535 || at == 0) {
      throw UsageError("--server " + other + ": want HOST:PORT, like 127.0.0.1:7400");
    }
  }
  options.host = server.substr(0, colon);
  if (options.host.size() > 2 && options.host.front() == '[' && options.host.back() == ']') {
    options.host = options.host.substr(1, options.host.size() - 2);
  }
  options.port = static_cast<std::uint16_t>(*port);
  const std::string& given = invocation_.request_timeout;
  const std::string wait = !given.empty() ? given
                           : invocation_.command == "admin checkpoint" ? "10m"
                                                                        : "5s";
  const auto timeout = parse_duration(wait);
  if (!timeout) {
    throw UsageError("--request-timeout " + wait + ": want a duration like 5s or 1m");
  }
  options.timeout = std::chrono::milliseconds(std::max<TimeUs>(1, *timeout / 1000));
  read_tls_options(invocation_, options);
  if (invocation_.token.size() > protocol::kTokenBytesMax) {
    throw UsageError("--token: at most " + std::to_string(protocol::kTokenBytesMax) + " bytes");
  }
  options.token = invocation_.token;
  options.client_name = "bonusctl";
  // Every request at a position: a write's answer names its own (--at-least for a
  // later read elsewhere).
  options.read_your_writes = true;
  return options;
}

client::Client* Context::client() {
  if (client_) return client_.get();
  std::uint64_t at_least = 0;
  if (!invocation_.at_least.empty()) {
    const auto position = parse_u64(invocation_.at_least);
    if (!position) {
      throw UsageError("--at-least " + invocation_.at_least +
                       ": want a log position, a whole number like 1042");
    }
    at_least = *position;
  }
  auto connected = client::Client::connect(client_options());
  if (auto* error = std::get_if<std::string>(&connected)) {
    std::fprintf(stderr, "bonusctl: cannot reach bonusd at %s: %s\n", invocation_.server.c_str(),
                 error->c_str());
    return nullptr;
  }
  client_ = std::move(std::get<std::unique_ptr<client::Client>>(connected));
  client_->read_at_least(at_least);
  return client_.get();
}

void Context::print(std::string_view line) const {
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fputc('\n', stdout);
}

int report_unanswered(const Context& context, client::Status status, protocol::FrameError error,
                      const std::string& message) {
  std::string what(client::status_name(status));
  if (status == client::Status::refused) {
    what += " (" + std::string(protocol::frame_error_name(error)) + ")";
  }
  std::fprintf(stderr, "bonusctl: %s: no answer from %s: %s%s%s\n", context.command().c_str(),
               context.invocation().server.c_str(), what.c_str(), message.empty() ? "" : ": ",
               message.c_str());
  return kExitUnreachable;
}

int run(const Invocation& invocation) {
  using Handler = int (*)(Context&);
  static const std::map<std::string, Handler, std::less<>> handlers = {
      {"credit", run_write},
      {"accrue", run_write},
      {"confirm", run_write},
      {"cancel-accrual", run_write},
      {"hold", run_write},
      {"capture", run_write},
      {"release", run_write},
      {"spend", run_write},
      {"refund", run_write},
      {"reverse-accrual", run_write},
      {"revoke-campaign", run_write},
      {"referral", run_write},
      {"policy", run_policy},
      {"balance", run_balance},
      {"wallet", run_wallet},
      {"cart", run_cart},
      {"expiring", run_expiring},
      {"stats", run_stats},
      {"segment", run_segment},
      {"history", run_history},
      {"order", run_order},
      {"mail", run_mail},
      {"clock advance", run_clock_advance},
      {"admin status", run_admin},
      {"admin audit", run_admin},
      {"admin checkpoint", run_admin},
      {"admin forget-node", run_admin},
      {"admin limits", run_limits},
      {"admin limits set", run_limits},
      {"admin token new", run_token_new},
  };
  const auto handler = handlers.find(invocation.command);
  if (handler == handlers.end()) {
    std::fprintf(stderr, "bonusctl: unknown command '%s'; see bonusctl --help\n",
                 invocation.command.c_str());
    return kExitUsage;
  }
  Context context(invocation);
  try {
    context.client_options();  // a bad --server is a usage error before anything else
    const int code = handler->second(context);
    std::fflush(stdout);
    return code;
  } catch (const UsageError& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "bonusctl %s: %s\n", invocation.command.c_str(), e.what());
    return kExitUsage;
  }
}

}  // namespace bonus::ctl
