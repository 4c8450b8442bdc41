// bonusctl admin limits [set ...]: the ledger's limits (EngineConfig), read or changed on
// purpose through a journaled SetLimits command.
#include <cstdio>
#include <string>

#include "clients/bonusctl/context.h"
#include "clients/bonusctl/json_writer.h"
#include "clients/bonusctl/units.h"
#include "engine/code.h"
#include "engine/ledger_config.h"

namespace bonus::ctl {
namespace {

unsigned long long u(std::uint64_t v) { return static_cast<unsigned long long>(v); }

// Windows in seconds, as bonusd's flags take them (a fraction when not whole).
std::string seconds(TimeUs us) {
  if (us % kUsPerSecond == 0) return std::to_string(us / kUsPerSecond);
  char text[64];
  std::snprintf(text, sizeof(text), "%.6f", static_cast<double>(us) / 1e6);
  return text;
}

std::string json_limits(const protocol::AdminStatus& s, const SetLimits* command) {
  const EngineConfig& l = s.limits;
  JsonWriter j;
  j.begin_object();
  if (command != nullptr) j.field("id", format_id(command->id));
  j.field("ok", s.ok)
      .field("message", s.message)
      .field("code", std::string(code_name(s.limits_code)))
      .field("accounts_max", l.accounts_max)
      .field("orders_max", l.orders_max)
      .field("ids_max", l.ids_max)
      .field("id_window_us", static_cast<std::uint64_t>(l.id_window_us))
      .field("order_retention_us", static_cast<std::uint64_t>(l.order_retention_us))
      .field("rejected_ids_max", l.rejected_ids_max)
      .field("rejected_id_window_us", static_cast<std::uint64_t>(l.rejected_id_window_us))
      .field("changes", s.limits_changes);
  return j.end_object().text();
}

void print_limits(const Context& context, const protocol::AdminStatus& s) {
  const EngineConfig& l = s.limits;
  auto line = [&](const char* name, const std::string& value) {
    context.print(std::string(name) + std::string(24 - std::string(name).size(), ' ') + value);
  };
  line("accounts-max", std::to_string(u(l.accounts_max)));
  line("orders-max", std::to_string(u(l.orders_max)));
  line("ids-max", std::to_string(u(l.ids_max)));
  line("id-window-s", seconds(l.id_window_us));
  line("order-retention-s", seconds(l.order_retention_us));
  line("rejected-ids-max", std::to_string(u(l.rejected_ids_max)));
  line("rejected-id-window-s", seconds(l.rejected_id_window_us));
  line("changes", std::to_string(u(s.limits_changes)) + " (set_limits applied so far)");
}

// A window option in whole seconds, > 0 (the engine checks the upper bound).
TimeUs window_us(const Context& context, std::string_view name) {
  const std::uint64_t s = context.number(name);
  if (s == 0 || s > static_cast<std::uint64_t>(kWindowMaxUs / kUsPerSecond)) {
    throw UsageError("--" + std::string(name) + " " + context.text(name) +
                     ": want seconds, 1 to " + std::to_string(kWindowMaxUs / kUsPerSecond));
  }
  return static_cast<TimeUs>(s) * kUsPerSecond;
}

std::uint64_t bound(const Context& context, std::string_view name) {
  const std::uint64_t n = context.number(name);
  if (n == 0 || n > kTableBoundMax) {
    throw UsageError("--" + std::string(name) + " " + context.text(name) + ": want 1 to " +
                     std::to_string(kTableBoundMax));
  }
  return n;
}

SetLimits command_from(const Context& c) {
  SetLimits s;
  if (c.has("accounts-max")) s.fields |= SetLimits::kAccountsMax, s.accounts_max = bound(c, "accounts-max");
  if (c.has("orders-max")) s.fields |= SetLimits::kOrdersMax, s.orders_max = bound(c, "orders-max");
  if (c.has("ids-max")) s.fields |= SetLimits::kIdsMax, s.ids_max = bound(c, "ids-max");
  if (c.has("id-window-s")) s.fields |= SetLimits::kIdWindow, s.id_window_us = window_us(c, "id-window-s");
  if (c.has("order-retention-s")) {
    s.fields |= SetLimits::kOrderRetention;
    s.order_retention_us = window_us(c, "order-retention-s");
  }
  if (c.has("rejected-ids-max")) {
    s.fields |= SetLimits::kRejectedIdsMax;
    s.rejected_ids_max = bound(c, "rejected-ids-max");
  }
  if (c.has("rejected-id-window-s")) {
    s.fields |= SetLimits::kRejectedIdWindow;
    s.rejected_id_window_us = window_us(c, "rejected-id-window-s");
  }
  if (s.fields == 0) throw UsageError("admin limits set: name at least one limit to change");
  s.id = c.write_id();
  return s;
}

}  // namespace

int run_limits(Context& context) {
  const bool set = context.command() == "admin limits set";
  const SetLimits command = set ? command_from(context) : SetLimits{};
  client::Client* client = context.client();
  if (client == nullptr) return kExitUnreachable;
  const auto reply = set ? client->set_limits(command) : client->admin(protocol::AdminAction::limits);
  if (!reply.ok()) return report_unanswered(context, reply);
  const protocol::AdminStatus& s = reply.value;
  if (context.json()) {
    context.print(json_limits(s, set ? &command : nullptr));
  } else {
    if (set) {
      context.print(std::string(s.limits_code == Code::ok ? "limits set" : "limits NOT set: ") +
                    (s.limits_code == Code::ok ? "" : std::string(code_name(s.limits_code))) +
                    " (id " + format_id(command.id) + ")");
    }
    print_limits(context, s);
    if (!s.ok && !s.message.empty()) context.print(s.message);
  }
  return s.ok ? kExitApplied : kExitRejected;
}

}  // namespace bonus::ctl
