#include "server/admission.h"

#include <memory>

#include "engine/command_checks.h"
#include "engine/command_id.h"

namespace bonus::server {

namespace {

IdDirectory::Windows windows_of(const EngineConfig& c) {
  return IdDirectory::Windows{c.ids_max, c.id_window_us, c.rejected_id_window_us,
                              c.rejected_ids_max};
}

}  // namespace

Admission::Admission(std::uint32_t shards, const EngineConfig& config)
    : config_(config),
      router_(shards, config.orders_max * shards, config.order_retention_us),
      ids_(windows_of(config)) {}

void Admission::reset(const EngineConfig& config) {
  config_ = config;
  router_.reset(config.orders_max * router_.shards(), config.order_retention_us);
  // The directory's tables cannot be assigned: made anew in place.
  std::destroy_at(&ids_);
  std::construct_at(&ids_, windows_of(config));
}

void Admission::set_limits(const SetLimits& c, TimeUs now) {
  if (!set_limits_valid(c)) return;  // the shards answer invalid_limits
  config_ = apply_limits(config_, c);
  ids_.set_windows(windows_of(config_), now);
  router_.set_limits(config_.orders_max * router_.shards(), config_.order_retention_us, now);
}

Admission::Admitted Admission::admit(const Command& command, TimeUs now) {
  if (std::holds_alternative<Sweep>(command)) return Admitted{Router::kAllShards, std::nullopt};
  const Id128 id = command_id(command);
  if (id.zero()) return Admitted{0, Result::of(Code::id_zero)};
  const std::uint64_t body = command_body_hash(command);
  const IdDirectory::Look look = ids_.lookup(id, body, now);
  // A command invalid in itself is rejected by its shard before its order is looked at.
  const bool valid = check_before_order(command) == Code::ok;
  switch (look.verdict) {
    case IdDirectory::Verdict::reused:
      return Admitted{look.shard, Result::of(Code::id_reused)};
    case IdDirectory::Verdict::answered: {
      Result repeat = look.answer;
      repeat.flags |= Result::kRepeat;
      return Admitted{0, repeat};
    }
    case IdDirectory::Verdict::full:
      if (!std::holds_alternative<SetLimits>(command)) {
        return Admitted{0, Result::of(Code::ids_full)};
      }
      break;
    case IdDirectory::Verdict::same: {
      // A retry goes where its id lives. If the shard surely holds the id (its report
      // said so, or it has applied the id's last use, which needed no report), it answers
      // with the stored result and nothing changes; otherwise it may apply it as new, so
      // the order checks run as for a new command.
      const bool confirmed = look.confirmed || router_.applied(look.shard, look.last_us);
      if (!confirmed) {
        const Router::Route route = router_.route(command, now, look.shard, valid);
        if (route.rejected != Code::ok) return Admitted{look.shard, Result::of(route.rejected)};
      }
      ids_.touch(id, now, confirmed);
      return Admitted{look.shard, std::nullopt};
    }
    case IdDirectory::Verdict::fresh:
      break;
  }
  const Router::Route route = router_.route(command, now, Router::kNoShard, valid);
  if (route.rejected != Code::ok) {
    ids_.remember_answer(id, body, Result::of(route.rejected), now);
    return Admitted{route.shard, Result::of(route.rejected)};
  }
  ids_.claim(id, body, route.shard, now);
  if (const auto* limits = std::get_if<SetLimits>(&command)) set_limits(*limits, now);
  return Admitted{route.shard, std::nullopt};
}

bool merge_seller_wide(Result& into, const Result& part, bool first) {
  if (first) {
    into = part;
    return false;
  }
  const bool disagree = into.code != part.code && into.code != Code::shards_disagree;
  if (disagree) into.code = Code::shards_disagree;
  into.flags |= part.flags;
  into.amount += part.amount;
  into.aux += part.aux;
  return disagree;
}

void Admission::report(const Outcome& o) {
  if (!o.id.zero()) ids_.report(o.id, o.shard, o.stamp_us, o.id_memory);
  if (o.has_order) router_.report(o.order, o.hold, o.shard, o.stamp_us, o.order_finished_us);
}

void Admission::restore(std::uint32_t shard, const Ledger& ledger, TimeUs now) {
  ledger.for_each_id(
      now, [&](const Id128& id, const IdMemory& memory) { ids_.restore(id, shard, memory); });
  ledger.for_each_order([&](OrderId order, bool hold, TimeUs) {
    const TimeUs finished = ledger.order_finished_us(order, hold, now);
    if (finished != 0) router_.restore(order, hold, shard, finished);
  });
}

}  // namespace bonus::server
