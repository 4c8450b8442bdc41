#include "server/role.h"

#include <array>

namespace bonus::server {
namespace {

constexpr std::array<std::string_view, kRoleCount> kNames = {
    "none", "reader", "checkout", "batch", "seller-admin", "admin"};

}  // namespace

std::string_view role_name(Role role) {
  const auto i = static_cast<std::size_t>(role);
  return i < kNames.size() ? kNames[i] : "unknown";
}

std::optional<Role> parse_role(std::string_view name) {
  for (std::size_t i = 1; i < kNames.size(); ++i) {
    if (kNames[i] == name) return static_cast<Role>(i);
  }
  return std::nullopt;
}

namespace {

using protocol::Opcode;

bool is_read(Opcode op) {
  return op == Opcode::balance || op == Opcode::cart || op == Opcode::wallet ||
         op == Opcode::expiring || op == Opcode::stats || op == Opcode::policy ||
         op == Opcode::segment || op == Opcode::report || op == Opcode::history ||
         op == Opcode::order;
}

bool is_checkout_write(Opcode op) {
  return op == Opcode::hold || op == Opcode::capture || op == Opcode::release ||
         op == Opcode::spend || op == Opcode::refund;
}

bool is_batch_write(Opcode op) {
  return op == Opcode::credit || op == Opcode::accrue || op == Opcode::confirm_accrual ||
         op == Opcode::cancel_accrual || op == Opcode::reverse_accrual || op == Opcode::referral;
}

bool is_seller_admin(Opcode op) {
  return op == Opcode::set_policy || op == Opcode::revoke_campaign || op == Opcode::stats ||
         op == Opcode::policy || op == Opcode::report || op == Opcode::history ||
         op == Opcode::order;
}

}  // namespace

// `action` is not consulted today: every admin action is the admin role's. It is in the
// signature so a finer rule (say, `status` for monitoring) stays a change to this table.
bool allows(Role role, Opcode opcode, protocol::AdminAction /*action*/) {
  if (opcode == Opcode::ping || opcode == Opcode::hello) return true;
  if (!protocol::is_known(static_cast<std::uint16_t>(opcode)) || opcode == Opcode::error) {
    return false;
  }
  switch (role) {
    case Role::none: return false;
    case Role::reader: return is_read(opcode);
    case Role::checkout: return is_read(opcode) || is_checkout_write(opcode);
    case Role::batch: return is_read(opcode) || is_batch_write(opcode);
    case Role::seller_admin: return is_seller_admin(opcode);
    case Role::admin: return true;
  }
  return false;
}

}  // namespace bonus::server
