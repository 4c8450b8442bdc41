// The roles' operation sets: every opcode (0..0xFFFF) against every role, against the
// table written in server/role.h and protocol/README.md.
#include "server/role.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

namespace bonus::server {
namespace {

using protocol::Opcode;

std::set<Opcode> expected(Role role) {
  const std::set<Opcode> reads{Opcode::balance, Opcode::cart,    Opcode::wallet,  Opcode::expiring,
                               Opcode::stats,   Opcode::policy,  Opcode::segment, Opcode::report,
                               Opcode::history, Opcode::order};
  std::set<Opcode> s{Opcode::ping, Opcode::hello};
  auto add = [&s](const std::set<Opcode>& more) { s.insert(more.begin(), more.end()); };
  switch (role) {
    case Role::none:
      break;
    case Role::reader:
      add(reads);
      break;
    case Role::checkout:
      add(reads);
      add({Opcode::hold, Opcode::capture, Opcode::release, Opcode::spend, Opcode::refund});
      break;
    case Role::batch:
      add(reads);
      add({Opcode::credit, Opcode::accrue, Opcode::confirm_accrual, Opcode::cancel_accrual,
           Opcode::reverse_accrual, Opcode::referral});
      break;
    case Role::seller_admin:
      add({Opcode::set_policy, Opcode::revoke_campaign, Opcode::stats, Opcode::policy,
           Opcode::report, Opcode::history, Opcode::order});
      break;
    case Role::admin:
      for (std::uint32_t op = 0; op <= 0xFFFF; ++op) {
        const auto code = static_cast<std::uint16_t>(op);
        if (protocol::is_known(code) && static_cast<Opcode>(code) != Opcode::error) {
          s.insert(static_cast<Opcode>(code));
        }
      }
      break;
  }
  return s;
}

TEST(Role, EveryOpcodeAgainstEveryRole) {
  for (std::size_t r = 0; r < kRoleCount; ++r) {
    const auto role = static_cast<Role>(r);
    const std::set<Opcode> allowed = expected(role);
    for (std::uint32_t op = 0; op <= 0xFFFF; ++op) {
      const auto opcode = static_cast<Opcode>(op);
      EXPECT_EQ(allows(role, opcode), allowed.contains(opcode))
          << role_name(role) << " " << op << " " << protocol::opcode_name(opcode);
    }
  }
}

TEST(Role, AdminRequestsAreTheAdminsWhateverTheAction) {
  for (std::uint8_t a = 0; a <= static_cast<std::uint8_t>(protocol::AdminAction::forget_node);
       ++a) {
    const auto action = static_cast<protocol::AdminAction>(a);
    for (std::size_t r = 0; r < kRoleCount; ++r) {
      const auto role = static_cast<Role>(r);
      EXPECT_EQ(allows(role, Opcode::admin, action), role == Role::admin) << role_name(role);
    }
  }
}

TEST(Role, NamesRoundTrip) {
  for (std::size_t r = 1; r < kRoleCount; ++r) {
    const auto role = static_cast<Role>(r);
    EXPECT_EQ(parse_role(role_name(role)), role);
  }
  EXPECT_EQ(parse_role("none"), std::nullopt);
  EXPECT_EQ(parse_role("seller_admin"), std::nullopt);
  EXPECT_EQ(parse_role("Admin"), std::nullopt);
}

}  // namespace
}  // namespace bonus::server
