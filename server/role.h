// Role: what a connection may do, granted by its bearer token (server/auth_file.h) or,
// on a server without --auth-file (loopback only), `admin` to everyone. A role is a
// fixed set of operations; the table is role.cc's `allows`. Stateless; any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "protocol/frame.h"
#include "protocol/messages.h"

namespace bonus::server {

enum class Role : std::uint8_t {
  none = 0,      // not authenticated yet: ping and hello only
  reader = 1,    // balance, cart, wallet, expiring, stats, policy, segment, report, history, order
  checkout = 2,  // reader + hold, capture, release, spend, refund
  batch = 3,     // reader + credit, accrue, confirm, cancel, reverse, referral (mail: credits)
  seller_admin = 4,  // set_policy, revoke_campaign, stats, policy, report, history, order
  admin = 5,     // everything, admin requests and the test clock included
};
inline constexpr std::size_t kRoleCount = 6;

// "none", "reader", "checkout", "batch", "seller-admin", "admin".
std::string_view role_name(Role role);
// The inverse of role_name for the five grantable roles (not "none").
std::optional<Role> parse_role(std::string_view name);

// Whether `role` may send a request with `opcode`; `action` matters for Opcode::admin
// only (admin requests are the admin role's, every action). ping and hello are allowed
// to every role, none included; error and unknown opcodes to none.
//   reader        balance cart wallet expiring stats policy segment report history order
//   checkout      reader + hold capture release spend refund
//   batch         reader + credit accrue confirm_accrual cancel_accrual reverse_accrual referral
//   seller-admin  set_policy revoke_campaign + stats, report (to see what a revocation did), policy
//                 + history order (a seller's support answers "why did my balance change")
//   admin         everything
bool allows(Role role, protocol::Opcode opcode,
            protocol::AdminAction action = protocol::AdminAction::status);

}  // namespace bonus::server
