// IdDirectory: which shard holds each write id the ledger remembers, so that an id means
// one command across the whole ledger. Every write passes it before it is journaled:
// - a new id is claimed for the shard(s) the command goes to;
// - a live id with the same body goes where the id lives (there its result is stored:
//   a retry is answered as a repeat even if its natural route changed meanwhile);
// - a live id with another body is `id_reused`, whatever shard it would go to;
// - a new id when `ids_max` applied ids are claimed is `ids_full`.
// Such rejections are decided here and never journaled: nothing changes.
//
// The directory must never forget an id a shard still remembers. It is optimistic on
// admission (claimed as applied, at the command's time: the longest window) and learns
// the exact state from the shards' outcome reports (server/outcome.h) for every result
// that differs from that: rejections (shorter window, or not remembered at all) and
// repeats (the original time). A report counts only if no later command with the id was
// admitted since, so it can only shorten a claim to what the shard really holds.
//
// Owned by the sequencer thread (and start-up, before it runs). Deterministic given the
// order of calls; not journaled: after a restart it is rebuilt from the ledgers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <unordered_map>
#include <utility>

#include "engine/hash.h"
#include "engine/keyed_table.h"
#include "engine/ledger_records.h"
#include "engine/result.h"
#include "engine/types.h"
#include "server/time_queue.h"

namespace bonus::server {

// What the directory knows of one id (IdDirectory's table record).
struct IdClaim {
  Id128 id;
  std::uint64_t body_hash = 0;
  TimeUs time_us = 0;  // when the shard(s) remembered it (optimistic until reported)
  TimeUs last_us = 0;  // the latest admitted command with this id
  std::uint32_t shard = 0;
  bool rejected = false;
  bool confirmed = false;  // time and class are the shard's own (reported or restored)

  Id128 key() const { return id; }
  static std::uint64_t hash(const Id128& key) { return hash_id(key); }
};

class IdDirectory {
 public:
  static constexpr std::uint32_t kAllShards = UINT32_MAX;
  // A claim no shard holds: the admission rejected the command itself and the directory
  // keeps its answer (remember_answer).
  static constexpr std::uint32_t kNoShard = UINT32_MAX - 1;

  struct Windows {
    std::uint64_t ids_max = 0;  // applied ids claimed at once, ledger-wide
    TimeUs id_window_us = 0;
    TimeUs rejected_id_window_us = 0;
    std::uint64_t answers_max = 0;  // answers of the admission's own kept at once
  };
  explicit IdDirectory(const Windows& windows) : windows_(windows) {}

  enum class Verdict : std::uint8_t { fresh, same, reused, full, answered };
  struct Look {
    Verdict verdict = Verdict::fresh;
    Result answer;            // for `answered`: what the admission answered the first time
    std::uint32_t shard = 0;  // for `same` and `reused`: where the id lives (or kAllShards)
    bool confirmed = false;   // for `same`: the shard surely holds it (a report said so)
    TimeUs last_us = 0;       // for `same`: the latest admitted use
  };
  // What a command with `id` and `body_hash` at `now` is: new, a use of a live claim with
  // the same body, another body under a live claim, or new with ids_max applied ids
  // claimed. Changes nothing (but forgets claims whose window passed).
  // REQUIRES: id non-zero; `now` no earlier than any earlier call's.
  Look lookup(const Id128& id, std::uint64_t body_hash, TimeUs now);
  // Admits a `fresh` id: claimed for `shard` (or kAllShards).
  void claim(const Id128& id, std::uint64_t body_hash, std::uint32_t shard, TimeUs now);
  // Keeps the admission's own rejection of a `fresh` id, as a shard keeps a rejection: a
  // retry within the rejected window gets it again, another body is `id_reused`. Past
  // `answers_max` such answers, it is not kept. Never across a restart.
  void remember_answer(const Id128& id, std::uint64_t body_hash, const Result& answer, TimeUs now);
  // Admits a `same` use at `now`. `confirmed` uses are answered from the shard's memory
  // and change nothing; others may be applied as new there, so the claim is extended to
  // the longest until the shard reports.
  void touch(const Id128& id, TimeUs now, bool confirmed);

  // What `shard` remembers of `id` after applying the command of time `stamp_us`
  // (nullopt: nothing).
  void report(const Id128& id, std::uint32_t shard, TimeUs stamp_us,
              const std::optional<IdMemory>& memory);

  // Start-up, from each shard's ledger (Ledger::for_each_id): an id held by two or more
  // shards belongs to a seller-wide command.
  void restore(const Id128& id, std::uint32_t shard, const IdMemory& memory);

  // A SetLimits at `now`: what is past its window at `now` is forgotten first (as the
  // ledgers do), then the new windows and bound apply.
  void set_windows(const Windows& windows, TimeUs now) {
    purge(now, SIZE_MAX);
    windows_ = windows;
  }

 private:
  using Claim = IdClaim;
  struct IdHash {
    std::size_t operator()(const Id128& id) const { return hash_id(id); }
  };

  TimeUs window_us(bool rejected) const {
    return rejected ? windows_.rejected_id_window_us : windows_.id_window_us;
  }
  bool live(const Claim& c, TimeUs now) const { return c.time_us > now - window_us(c.rejected); }
  void set(Claim& c, TimeUs time_us, bool rejected);
  void erase(const Claim& c);
  void purge(TimeUs now, std::size_t budget);

  Windows windows_;
  KeyedTable<Claim> claims_;
  // Per class (0 applied, 1 rejected): claims by time, oldest first; an entry whose claim
  // has since changed is skipped.
  TimeQueue<Id128> times_[2];
  std::uint64_t count_[2] = {0, 0};
  std::unordered_map<Id128, Result, IdHash> answers_;  // of the kNoShard claims
};

}  // namespace bonus::server
