#include "server/outcome.h"

#include "engine/command_id.h"

namespace bonus::server {
namespace {

struct OrderNamed {
  OrderId order = 0;
  bool named = false;
  bool hold = false;
  bool creates = false;
};

OrderNamed order_named(const Command& command) {
  return std::visit(
      [](const auto& c) -> OrderNamed {
        using T = std::decay_t<decltype(c)>;
        constexpr bool hold_kind = std::is_same_v<T, Hold> || std::is_same_v<T, Spend> ||
                                   std::is_same_v<T, Capture> || std::is_same_v<T, Release> ||
                                   std::is_same_v<T, Refund>;
        constexpr bool accrual_kind =
            std::is_same_v<T, Accrue> || std::is_same_v<T, ConfirmAccrual> ||
            std::is_same_v<T, CancelAccrual> || std::is_same_v<T, ReverseAccrual>;
        if constexpr (hold_kind || accrual_kind) {
          // What admission assumes: a hold or accrual opens (live for ever). A one-step
          // spend finishes at once, so it is always reported.
          constexpr bool creates = std::is_same_v<T, Hold> || std::is_same_v<T, Accrue>;
          return OrderNamed{c.order, true, hold_kind, creates};
        } else {
          return OrderNamed{};
        }
      },
      command);
}

}  // namespace

void collect_outcomes(const Command& command, const Result& result, const Ledger& ledger,
                      std::uint32_t shard, TimeUs stamp_us, std::vector<Outcome>& out) {
  if (std::holds_alternative<Sweep>(command)) {
    for (const OrderId order : ledger.swept_holds()) {
      Outcome o;
      o.stamp_us = stamp_us;
      o.shard = shard;
      o.order = order;
      o.has_order = true;
      o.hold = true;
      o.order_finished_us = ledger.order_finished_us(order, true, stamp_us);
      out.push_back(o);
    }
    return;
  }
  const bool assumed = result.ok() && (result.flags & Result::kRepeat) == 0;
  const OrderNamed named = order_named(command);
  const bool say_order = named.named && !(assumed && named.creates);
  const Id128 id = command_id(command);
  const bool say_id = !assumed && !id.zero();
  if (!say_order && !say_id) return;
  Outcome o;
  o.stamp_us = stamp_us;
  o.shard = shard;
  if (say_id) {
    o.id = id;
    o.id_memory = ledger.id_memory(id, stamp_us);
  }
  if (say_order) {
    o.order = named.order;
    o.has_order = true;
    o.hold = named.hold;
    o.order_finished_us = ledger.order_finished_us(named.order, named.hold, stamp_us);
  }
  out.push_back(o);
}

}  // namespace bonus::server
