// Server: the manifest at start and after a limit change (server/manifest.h).
#include <spdlog/spdlog.h>

#include <thread>

#include "server/server.h"

namespace bonus::server {

// A data directory without a manifest is new (or from a bonusd before manifests): the
// flags given now become the stored settings, at log position 0.
std::optional<std::string> Server::settle_manifest(const CheckpointInfo& info) {
  flag_limits_ = config_.engine;
  std::optional<Manifest> stored;
  if (auto error = read_manifest(config_.data_dir, stored)) return error;
  if (!stored) {
    if (info.present && config_.shards == 0) config_.shards = info.shards;
    if (config_.shards == 0) config_.shards = std::max(1u, std::thread::hardware_concurrency());
    if (info.present && config_.shards != info.shards) {
      return "checkpoint: written with " + std::to_string(info.shards) +
             " shards; start with --shards " + std::to_string(info.shards) +
             " (or leave --shards at 0 to follow the checkpoint)";
    }
    if (const char* flag = invalid_limit_flag(config_.engine)) {
      return std::string(flag) +
             " is out of range: table bounds are 1 to 2^32, windows 1 s to 100 years";
    }
    const Manifest fresh{config_.shards, 0, config_.engine, config_.engine};
    if (info.present || journal_->durable_position() > 0) {
      spdlog::warn("manifest: {}/{} is missing in a data directory with data (an older bonusd's); "
                   "recording the settings given now: {} shards, {}",
                   config_.data_dir, Manifest::kFileName, config_.shards, limits_text(config_.engine));
    }
    if (auto error = write_manifest(config_.data_dir, fresh)) return error;
    manifest_ = fresh;
    return std::nullopt;
  }
  if (auto error = check_flags(config_.engine, config_.limits_given, config_.shards,
                               config_.shards != 0, *stored, stored->current)) {
    return error;
  }
  if (info.present && info.shards != stored->shards) {
    return "checkpoint: written with " + std::to_string(info.shards) + " shards but the manifest says " +
           std::to_string(stored->shards) + ": the data directory is inconsistent";
  }
  spdlog::info("manifest: {} shards, limits {} (flags not given take these stored values)",
               stored->shards, limits_text(stored->current));
  config_.shards = stored->shards;
  config_.engine = stored->current;
  manifest_ = *stored;
  return std::nullopt;
}

std::optional<std::string> Server::shard_limits(EngineConfig& limits, std::uint64_t& changes) {
  limits = shards_.front()->ledger_before_start().config();
  changes = shards_.front()->ledger_before_start().limits_changes();
  for (std::size_t s = 1; s < shards_.size(); ++s) {
    const Ledger& l = shards_[s]->ledger_before_start();
    if (!(l.config() == limits) || l.limits_changes() != changes) {
      return "shard " + std::to_string(s) + " has limits " + limits_text(l.config()) + " (" +
             std::to_string(l.limits_changes()) + " changes) but shard 0 has " +
             limits_text(limits) + " (" + std::to_string(changes) + " changes)";
    }
  }
  return std::nullopt;
}

// A checkpoint with as many limit changes as the manifest must hold its limits; one with
// more is newer than a manifest a crash kept from being rewritten (finish_manifest mends
// it); one with fewer is older than a change the journal after it must bring.
std::optional<std::string> Server::check_checkpoint_limits() {
  EngineConfig limits;
  std::uint64_t changes = 0;
  if (auto error = shard_limits(limits, changes)) return "checkpoint: " + *error;
  if (changes == manifest_.limits_changes && !(limits == manifest_.current)) {
    return "checkpoint: its limits (" + limits_text(limits) + ") differ from the manifest's (" +
           limits_text(manifest_.current) + ") after as many changes (" + std::to_string(changes) +
           "): the data directory is inconsistent";
  }
  return std::nullopt;
}

std::optional<std::string> Server::finish_manifest() {
  EngineConfig limits;
  std::uint64_t changes = 0;
  if (auto error = shard_limits(limits, changes)) return "after the replay, " + *error;
  if (changes < manifest_.limits_changes) {
    return "the manifest records " + std::to_string(manifest_.limits_changes) +
           " limit changes but the checkpoint and journal hold " + std::to_string(changes) +
           ": journal records are missing";
  }
  if (changes == manifest_.limits_changes) {
    if (limits == manifest_.current) return std::nullopt;
    return "the log leads to limits " + limits_text(limits) + " but the manifest says " +
           limits_text(manifest_.current) + ": the data directory is inconsistent";
  }
  // A change was durable in the journal but the manifest was not rewritten (a crash in
  // between): the log is right, and the flags must agree with it.
  if (auto error = check_flags(flag_limits_, config_.limits_given, config_.shards, true,
                               manifest_, limits)) {
    return error;
  }
  spdlog::warn("manifest: the journal holds {} limit changes the manifest missed; recording the "
               "limits the log leads to: {}",
               changes - manifest_.limits_changes, limits_text(limits));
  config_.engine = limits;
  return record_limits(limits, changes);
}

Manifest Server::manifest() const {
  std::lock_guard lock(manifest_mutex_);
  return manifest_;
}

std::optional<std::string> Server::record_limits(const EngineConfig& limits, std::uint64_t changes) {
  std::lock_guard lock(manifest_mutex_);
  if (changes <= manifest_.limits_changes) return std::nullopt;
  Manifest next = manifest_;
  next.current = limits;
  next.limits_changes = changes;
  if (auto error = write_manifest(config_.data_dir, next)) return error;
  manifest_ = next;
  spdlog::info("manifest: limits now {} ({} changes)", limits_text(limits), changes);
  return std::nullopt;
}

}  // namespace bonus::server
