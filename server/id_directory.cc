#include "server/id_directory.h"

#include "engine/assert.h"

namespace bonus::server {

IdDirectory::Look IdDirectory::lookup(const Id128& id, std::uint64_t body_hash, TimeUs now) {
  purge(now, 8);
  if (const Claim* c = claims_.find(id)) {
    if (live(*c, now)) {
      if (c->body_hash != body_hash)
        return Look{Verdict::reused, {}, c->shard, c->confirmed, c->last_us};
      if (c->shard == kNoShard) {
        return Look{Verdict::answered, answers_.at(id), c->shard, true, c->last_us};
      }
      return Look{Verdict::same, {}, c->shard, c->confirmed, c->last_us};
    }
    erase(*c);
  }
  if (count_[0] >= windows_.ids_max) {
    purge(now, SIZE_MAX);
    if (count_[0] >= windows_.ids_max) return Look{Verdict::full, {}, 0, false, 0};
  }
  return Look{Verdict::fresh, {}, 0, false, 0};
}

void IdDirectory::claim(const Id128& id, std::uint64_t body_hash, std::uint32_t shard, TimeUs now) {
  BONUS_ASSERT(claims_.find(id) == nullptr);
  claims_.insert(id, [&](Claim& c) { c = Claim{id, body_hash, now, now, shard, false, false}; });
  times_[0].push(now, id);
  ++count_[0];
}

void IdDirectory::remember_answer(const Id128& id, std::uint64_t body_hash, const Result& answer,
                                  TimeUs now) {
  if (answers_.size() >= windows_.answers_max) {
    purge(now, SIZE_MAX);
    if (answers_.size() >= windows_.answers_max) return;
  }
  BONUS_ASSERT(claims_.find(id) == nullptr);
  claims_.insert(id, [&](Claim& c) { c = Claim{id, body_hash, now, now, kNoShard, true, true}; });
  answers_.emplace(id, answer);
  times_[1].push(now, id);
  ++count_[1];
}

void IdDirectory::touch(const Id128& id, TimeUs now, bool confirmed) {
  Claim* c = claims_.find(id);
  BONUS_ASSERT(c != nullptr);
  c->last_us = now;
  if (confirmed) return;
  // The shard may have forgotten it (a rejection it had no room for): until its report
  // says otherwise, assume this use is applied as new, the longest claim.
  c->confirmed = false;
  set(*c, now, false);
}

void IdDirectory::report(const Id128& id, std::uint32_t shard, TimeUs stamp_us,
                         const std::optional<IdMemory>& memory) {
  Claim* c = claims_.find(id);
  if (c == nullptr || c->last_us != stamp_us) return;  // a later use governs
  if (c->shard != kAllShards && c->shard != shard) return;
  if (!memory) {
    // A seller-wide claim stays while any shard may hold it: its window is short anyway.
    if (c->shard != kAllShards) erase(*c);
    return;
  }
  c->body_hash = memory->body_hash;
  c->confirmed = true;
  set(*c, memory->time_us, memory->rejected);
}

void IdDirectory::restore(const Id128& id, std::uint32_t shard, const IdMemory& memory) {
  if (Claim* c = claims_.find(id)) {
    // Held by two shards: a seller-wide command's.
    c->shard = kAllShards;
    if (memory.time_us > c->time_us || (c->rejected && !memory.rejected)) {
      set(*c, memory.time_us, memory.rejected);
    }
    return;
  }
  claims_.insert(id, [&](Claim& c) {
    c = Claim{id, memory.body_hash, memory.time_us, memory.time_us, shard, memory.rejected, true};
  });
  times_[memory.rejected].push(memory.time_us, id);
  ++count_[memory.rejected];
}

void IdDirectory::set(Claim& c, TimeUs time_us, bool rejected) {
  if (c.time_us == time_us && c.rejected == rejected) return;
  --count_[c.rejected];
  ++count_[rejected];
  c.time_us = time_us;
  c.rejected = rejected;
  times_[rejected].push(time_us, c.id);
}

void IdDirectory::erase(const Claim& c) {
  --count_[c.rejected];
  if (c.shard == kNoShard) answers_.erase(c.id);
  claims_.erase(c);
}

void IdDirectory::purge(TimeUs now, std::size_t budget) {
  for (const bool rejected : {false, true}) {
    auto& times = times_[rejected];
    const TimeUs horizon = now - window_us(rejected);
    for (std::size_t n = 0; n < budget && !times.empty(); ++n) {
      const auto [time, id] = times.top();
      if (time > horizon) break;
      times.pop();
      const Claim* c = claims_.find(id);
      if (c != nullptr && c->time_us == time && c->rejected == rejected) erase(*c);
    }
  }
}

}  // namespace bonus::server
