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

}  // namespace bonus::server
