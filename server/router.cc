#include "server/router.h"

#include <algorithm>
#include <tuple>

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

void Router::restore(OrderId order, bool hold, std::uint32_t shard, TimeUs recency) {
  restored_.push_back(Restored{recency, order, shard, hold});
}

void Router::finish_restore() {
  // Oldest first, as route() would have recorded them; a later record of the same id
  // takes its place.
  std::sort(restored_.begin(), restored_.end(), [](const Restored& a, const Restored& b) {
    return std::tie(a.recency, a.order, a.shard) < std::tie(b.recency, b.order, b.shard);
  });
  for (const Restored& r : restored_) {
    OrderMap& map = r.hold ? holds_ : accruals_;
    if (map.shard.insert_or_assign(r.order, r.shard).second) map.age.push_back(r.order);
  }
  for (OrderMap* map : {&holds_, &accruals_}) {
    while (map->shard.size() > orders_max_ && !map->age.empty()) {
      map->shard.erase(map->age.front());
      map->age.pop_front();
    }
  }
  restored_.clear();
  restored_.shrink_to_fit();
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
                      std::is_same_v<T, Sweep> || std::is_same_v<T, SetLimits>) {
          return kAllShards;
        }
      },
      command);
}

}  // namespace bonus::server
