#include "server/router.h"

namespace bonus::server {

std::uint32_t Router::remember(OrderMap& map, OrderId order, BuyerId buyer) {
  const std::uint32_t shard = shard_of_buyer(buyer);
  if (map.shard.insert_or_assign(order, shard).second) map.age.push_back(order);
  while (map.shard.size() > orders_max_ && !map.age.empty()) {
    map.shard.erase(map.age.front());
    map.age.pop_front();
  }
  return shard;
}

std::uint32_t Router::lookup(const OrderMap& map, OrderId order) const {
  const auto it = map.shard.find(order);
  return it == map.shard.end() ? 0 : it->second;
}

std::uint32_t Router::route(const Command& command) {
  return std::visit(
      [&](const auto& c) -> std::uint32_t {
        using T = std::decay_t<decltype(c)>;
        if constexpr (std::is_same_v<T, Credit>) return shard_of_buyer(c.buyer);
        if constexpr (std::is_same_v<T, Accrue>) return remember(accruals_, c.order, c.buyer);
        if constexpr (std::is_same_v<T, Hold> || std::is_same_v<T, Spend>) {
          return remember(holds_, c.order, c.buyer);
        }
        if constexpr (std::is_same_v<T, ConfirmAccrual> || std::is_same_v<T, CancelAccrual> ||
                      std::is_same_v<T, ReverseAccrual>) {
          return lookup(accruals_, c.order);
        }
        if constexpr (std::is_same_v<T, Capture> || std::is_same_v<T, Release> ||
                      std::is_same_v<T, Refund>) {
          return lookup(holds_, c.order);
        }
        if constexpr (std::is_same_v<T, RevokeCampaign> || std::is_same_v<T, SetPolicy> ||
                      std::is_same_v<T, Sweep>) {
          return kAllShards;
        }
      },
      command);
}

}  // namespace bonus::server
