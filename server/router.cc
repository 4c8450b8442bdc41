#include "server/router.h"

#include <cstddef>

namespace bonus::server {

Router::Route Router::create(Directory& d, OrderId order, BuyerId buyer, TimeUs now,
                             std::uint32_t forced, bool record) {
  const std::uint32_t shard = forced == kNoShard ? shard_of_buyer(buyer) : forced;
  if (!record) return Route{shard, Code::ok};
  purge(d, now, 8);
  Entry* e = d.entries.find(order);
  if (e != nullptr && live(*e, now) && e->shard != shard) return Route{shard, Code::order_exists};
  if (e == nullptr) {
    if (d.entries.size() >= orders_max_) {
      purge(d, now, SIZE_MAX);
      if (d.entries.size() >= orders_max_) return Route{shard, Code::orders_full};
    }
    e = &d.entries.insert(order, [&](Entry& n) { n.order = order; });
  }
  // Assume it opens; the shard reports if it did not (or if it was there already).
  *e = Entry{order, shard, now, kTimeNever};
  return Route{shard, Code::ok};
}

std::uint32_t Router::follow(Directory& d, OrderId order, TimeUs now, std::uint32_t forced) {
  Entry* e = d.entries.find(order);
  if (e == nullptr) return forced == kNoShard ? 0 : forced;
  if (forced != kNoShard && forced != e->shard) return forced;
  e->last_us = now;
  return e->shard;
}

Router::Route Router::route(const Command& command, TimeUs now, std::uint32_t forced, bool record) {
  return std::visit(
      [&](const auto& c) -> Route {
        using T = std::decay_t<decltype(c)>;
        if constexpr (std::is_same_v<T, Credit>) {
          return Route{forced == kNoShard ? shard_of_buyer(c.buyer) : forced};
        } else if constexpr (std::is_same_v<T, Accrue>) {
          return create(accruals_, c.order, c.buyer, now, forced, record);
        } else if constexpr (std::is_same_v<T, Hold> || std::is_same_v<T, Spend>) {
          return create(holds_, c.order, c.buyer, now, forced, record);
        } else if constexpr (std::is_same_v<T, ConfirmAccrual> ||
                             std::is_same_v<T, CancelAccrual> ||
                             std::is_same_v<T, ReverseAccrual>) {
          return Route{follow(accruals_, c.order, now, forced)};
        } else if constexpr (std::is_same_v<T, Capture> || std::is_same_v<T, Release> ||
                             std::is_same_v<T, Refund>) {
          return Route{follow(holds_, c.order, now, forced)};
        } else {
          // A referral names two buyers, maybe of two shards: every shard applies it and
          // credits those it owns (Ledger::set_partition).
          static_assert(std::is_same_v<T, RevokeCampaign> || std::is_same_v<T, SetPolicy> ||
                        std::is_same_v<T, Sweep> || std::is_same_v<T, SetLimits> ||
                        std::is_same_v<T, Referral>);
          return Route{kAllShards};
        }
      },
      command);
}

bool Router::applied(std::uint32_t shard, TimeUs time_us) const {
  if (shard != kAllShards) return applied_us_[shard] >= time_us;
  for (const TimeUs t : applied_us_) {
    if (t < time_us) return false;
  }
  return true;
}

void Router::report(OrderId order, bool hold, std::uint32_t shard, TimeUs stamp_us,
                    TimeUs finished_us) {
  Directory& d = hold ? holds_ : accruals_;
  Entry* e = d.entries.find(order);
  if (e == nullptr || e->shard != shard || stamp_us < e->last_us) return;
  if (finished_us == 0) {
    d.entries.erase(*e);
    return;
  }
  set_finished(d, *e, finished_us);
}

void Router::restore(OrderId order, bool hold, std::uint32_t shard, TimeUs finished_us) {
  Directory& d = hold ? holds_ : accruals_;
  Entry* e = d.entries.find(order);
  // An id live on two shards (reused before ids were ledger-wide): the longer-lived wins.
  if (e != nullptr && e->finished_us >= finished_us) return;
  if (e == nullptr) e = &d.entries.insert(order, [&](Entry& n) { n.order = order; });
  e->shard = shard;
  set_finished(d, *e, finished_us);
}

void Router::set_limits(std::uint64_t orders_max, TimeUs retention_us, TimeUs now) {
  purge(holds_, now, SIZE_MAX);
  purge(accruals_, now, SIZE_MAX);
  orders_max_ = orders_max;
  retention_us_ = retention_us;
}

void Router::set_finished(Directory& d, Entry& e, TimeUs finished_us) {
  e.finished_us = finished_us;
  if (finished_us != kTimeNever) d.finishes.push(finished_us, e.order);
}

void Router::purge(Directory& d, TimeUs now, std::size_t budget) {
  const TimeUs horizon = now - retention_us_;
  for (std::size_t n = 0; n < budget && !d.finishes.empty() && d.finishes.top().first <= horizon;
       ++n) {
    const auto [finished, order] = d.finishes.top();
    d.finishes.pop();
    const Entry* e = d.entries.find(order);
    if (e != nullptr && e->finished_us == finished) d.entries.erase(*e);
  }
}

}  // namespace bonus::server
