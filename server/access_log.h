// AccessLog: the log lines about who asked for what: accepted hellos, requests refused
// for lack of authentication or of a role's permission, admin requests, and connections
// refused at --connections-max. Each line names the peer's address and the connection's
// role (and its token's name); each kind is rate-limited (LogLimiter: 20 lines a second, then one
// line saying how many were dropped), so a misbehaving client cannot flood the log.
//
// The refusals are counted elsewhere, with every ErrorReply the server sends
// (bonus_refusals_total, server/metrics.h); this is only the log.
//
// Owned by the Server; any thread (the partitions' loops, the main loop): the limiters
// are taken under a mutex.
#pragma once

#include <cstdint>
#include <mutex>
#include <string_view>

#include "protocol/frame.h"
#include "protocol/messages.h"
#include "server/log_limiter.h"
#include "server/role.h"

namespace bonus::server {

class AccessLog {
 public:
  static constexpr std::uint32_t kLinesPerSecondMax = 20;

  // A request refused with `code` (unauthenticated or forbidden; also a failed hello).
  void refused(std::string_view peer, Role role, std::string_view token_name,
               protocol::Opcode opcode, protocol::FrameError code, std::string_view why);
  // A hello accepted: the role granted to the token named `token_name`.
  void hello(std::string_view peer, Role role, std::string_view token_name,
             std::string_view client_name);
  // An admin request about to run.
  void admin(std::string_view peer, Role role, std::string_view token_name,
             protocol::AdminAction action);
  // A connection refused because --connections-max connections are open.
  void connection_limit(std::string_view peer, std::uint32_t connections_max);

 private:
  std::mutex mutex_;  // guards the limiters
  LogLimiter hello_{kLinesPerSecondMax, std::chrono::seconds(1)};
  LogLimiter refused_{kLinesPerSecondMax, std::chrono::seconds(1)};
  LogLimiter admin_{kLinesPerSecondMax, std::chrono::seconds(1)};
  LogLimiter connection_limit_{kLinesPerSecondMax, std::chrono::seconds(1)};
};

std::string_view admin_action_name(protocol::AdminAction action);

}  // namespace bonus::server
