#include "server/access_log.h"

#include <mutex>

#include <spdlog/spdlog.h>

#include <string>

namespace bonus::server {
namespace {

// " (and 12 more like it dropped)" after a line that follows dropped ones.
std::string dropped_note(std::uint64_t dropped) {
  return dropped == 0 ? std::string()
                      : " (" + std::to_string(dropped) +
                            " more such lines dropped before this one: rate limit)";
}

std::string who(std::string_view peer, Role role, std::string_view token_name) {
  std::string s = "peer " + std::string(peer) + " role " + std::string(role_name(role));
  if (!token_name.empty()) s += " token " + std::string(token_name);
  return s;
}

}  // namespace

std::string_view admin_action_name(protocol::AdminAction action) {
  switch (action) {
    case protocol::AdminAction::status:
      return "status";
    case protocol::AdminAction::audit:
      return "audit";
    case protocol::AdminAction::checkpoint:
      return "checkpoint";
    case protocol::AdminAction::clock_advance:
      return "clock_advance";
    case protocol::AdminAction::limits:
      return "limits";
    case protocol::AdminAction::set_limits:
      return "set_limits";
    case protocol::AdminAction::forget_node:
      return "forget_node";
  }
  return "unknown";
}

void AccessLog::refused(std::string_view peer, Role role, std::string_view token_name,
                        protocol::Opcode opcode, protocol::FrameError code, std::string_view why) {
  std::uint64_t dropped = 0;
  std::lock_guard lock(mutex_);
  if (!refused_.allow(LogLimiter::Clock::now(), dropped)) return;
  spdlog::warn("refused {} ({}): {}; {}{}", protocol::opcode_name(opcode),
               protocol::frame_error_name(code), why, who(peer, role, token_name),
               dropped_note(dropped));
}

void AccessLog::hello(std::string_view peer, Role role, std::string_view token_name,
                      std::string_view client_name) {
  std::uint64_t dropped = 0;
  std::lock_guard lock(mutex_);
  if (!hello_.allow(LogLimiter::Clock::now(), dropped)) return;
  spdlog::info("hello from client \"{}\": {}{}", client_name, who(peer, role, token_name),
               dropped_note(dropped));
}

void AccessLog::admin(std::string_view peer, Role role, std::string_view token_name,
                      protocol::AdminAction action) {
  std::uint64_t dropped = 0;
  std::lock_guard lock(mutex_);
  if (!admin_.allow(LogLimiter::Clock::now(), dropped)) return;
  spdlog::info("admin {}: {}{}", admin_action_name(action), who(peer, role, token_name),
               dropped_note(dropped));
}

void AccessLog::connection_limit(std::string_view peer, std::uint32_t connections_max) {
  std::uint64_t dropped = 0;
  std::lock_guard lock(mutex_);
  if (!connection_limit_.allow(LogLimiter::Clock::now(), dropped)) return;
  spdlog::warn("refused a connection from {}: {} connections open (--connections-max){}", peer,
               connections_max, dropped_note(dropped));
}

}  // namespace bonus::server
