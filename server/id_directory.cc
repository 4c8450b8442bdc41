#include "server/id_directory.h"

#include "engine/assert.h"

#include <cstddef>

namespace bonus::server {

IdDirectory::Look IdDirectory::lookup(const Id128& id, std::uint64_t body_hash, TimeUs now) {
  purge(now, 8);
  auto it = claims_.find(id);
  if (it != claims_.end() && live(it->second, now)) {
    const Claim& c = it->second;
    if (c.body_hash != body_hash) return Look{Verdict::reused, {}, c.shard, c.confirmed, c.last_us};
    if (c.shard == kNoShard) return Look{Verdict::answered, answers_.at(id), c.shard, true, c.last_us};
    return Look{Verdict::same, {}, c.shard, c.confirmed, c.last_us};
  }
  if (it != claims_.end()) erase(it);
  if (count_[0] >= windows_.ids_max) {
    purge(now, SIZE_MAX);
    if (count_[0] >= windows_.ids_max) return Look{Verdict::full, {}, 0, false, 0};
  }
  return Look{Verdict::fresh, {}, 0, false, 0};
}

void IdDirectory::claim(const Id128& id, std::uint64_t body_hash, std::uint32_t shard,
                        TimeUs now) {
  const bool inserted = claims_.emplace(id, Claim{body_hash, now, now, shard, false, false}).second;
  BONUS_ASSERT(inserted);
  times_[0].emplace(now, id);
  ++count_[0];
}

void IdDirectory::remember_answer(const Id128& id, std::uint64_t body_hash, const Result& answer,
                                  TimeUs now) {
  if (answers_.size() >= windows_.answers_max) {
    purge(now, SIZE_MAX);
    if (answers_.size() >= windows_.answers_max) return;
  }
  const bool inserted =
      claims_.emplace(id, Claim{body_hash, now, now, kNoShard, true, true}).second;
  BONUS_ASSERT(inserted);
  answers_.emplace(id, answer);
  times_[1].emplace(now, id);
  ++count_[1];
}

void IdDirectory::touch(const Id128& id, TimeUs now, bool confirmed) {
  Claim& c = claims_.at(id);
  c.last_us = now;
  if (confirmed) return;
  // The shard may have forgotten it (a rejection it had no room for): until its report
  // says otherwise, assume this use is applied as new, the longest claim.
  c.confirmed = false;
  set(id, c, now, false);
}

void IdDirectory::report(const Id128& id, std::uint32_t shard, TimeUs stamp_us,
                         const std::optional<IdMemory>& memory) {
  auto it = claims_.find(id);
  if (it == claims_.end() || it->second.last_us != stamp_us) return;  // a later use governs
  Claim& c = it->second;
  if (c.shard != kAllShards && c.shard != shard) return;
  if (!memory) {
    // A seller-wide claim stays while any shard may hold it: its window is short anyway.
    if (c.shard != kAllShards) erase(it);
    return;
  }
  c.body_hash = memory->body_hash;
  c.confirmed = true;
  set(id, c, memory->time_us, memory->rejected);
}

void IdDirectory::restore(const Id128& id, std::uint32_t shard, const IdMemory& memory) {
  auto [it, inserted] =
      claims_.try_emplace(id, Claim{memory.body_hash, memory.time_us, memory.time_us, shard,
                                    memory.rejected, true});
  if (inserted) {
    times_[memory.rejected].emplace(memory.time_us, id);
    ++count_[memory.rejected];
    return;
  }
  Claim& c = it->second;
  c.shard = kAllShards;
  if (memory.time_us > c.time_us || (c.rejected && !memory.rejected)) {
    set(id, c, memory.time_us, memory.rejected);
  }
}

void IdDirectory::set(const Id128& id, Claim& c, TimeUs time_us, bool rejected) {
  if (c.time_us == time_us && c.rejected == rejected) return;
  --count_[c.rejected];
  ++count_[rejected];
  c.time_us = time_us;
  c.rejected = rejected;
  times_[rejected].emplace(time_us, id);
}

void IdDirectory::erase(std::unordered_map<Id128, Claim, IdHash>::iterator it) {
  --count_[it->second.rejected];
  if (it->second.shard == kNoShard) answers_.erase(it->first);
  claims_.erase(it);
}

void IdDirectory::purge(TimeUs now, std::size_t budget) {
  for (const bool rejected : {false, true}) {
    auto& times = times_[rejected];
    const TimeUs horizon = now - window_us(rejected);
    for (std::size_t n = 0; n < budget && !times.empty(); ++n) {
      const auto [time, id] = times.top();
      if (time > horizon) break;
      times.pop();
      auto it = claims_.find(id);
      if (it != claims_.end() && it->second.time_us == time && it->second.rejected == rejected) {
        erase(it);
      }
    }
  }
}

}  // namespace bonus::server
