// Log: the ledger's write-ahead log as the sequencer and start-up use it. Records are
// appended in order at positions 1, 2, 3, ...; one sync() makes everything appended
// durable (group commit), and only then may those records be acknowledged; start-up
// replays the durable records from a position; a checkpoint as of position P lets the
// records up to P go. What a record holds is the caller's (server/sequencer.h:
// encode_record).
//
// The local journal (server/journal.h: segment files, fdatasync) is the implementation
// today; a replicated log (issue 15: a NATS JetStream stream a partition) is to be
// another, under the same sequencer. A failure is sticky: once append() or sync() has
// failed, every later call fails alike until the log is opened again.
//
// Owned by the Server; used by start-up, then by the sequencer's thread alone.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace bonus::server {

class Log {
 public:
  virtual ~Log() = default;

  // Buffers one record and returns its position, or nullopt once the log has failed
  // (sync() then says why). REQUIRES: payload.size() <= payload_max().
  [[nodiscard]] virtual std::optional<std::uint64_t> append(std::string_view payload) = 0;
  // Makes every appended record durable; nullopt once it is, else why not (sticky).
  [[nodiscard]] virtual std::optional<std::string> sync() = 0;
  // Calls f(position, payload) for every durable record at or after `from`, in order;
  // the view is valid during the call only. An error when `from` is before
  // first_position() or after durable_position() + 1, or a record does not read back.
  [[nodiscard]] virtual std::optional<std::string> replay(
      std::uint64_t from, const std::function<void(std::uint64_t, std::string_view)>& f) const = 0;
  // Lets the records before `position` go, as far as the storage's units allow (the
  // journal deletes whole segments); records at and after it stay. Nothing goes once
  // the log has failed.
  [[nodiscard]] virtual std::optional<std::string> trim_before(std::uint64_t position) = 0;

  // The oldest record kept (the next position when there is none), and the last durable
  // one (first_position() - 1 when there is none).
  virtual std::uint64_t first_position() const = 0;
  virtual std::uint64_t durable_position() const = 0;
  // The bytes the log keeps on this machine, appended records included.
  virtual std::uint64_t bytes() const = 0;
  // The largest payload append() takes.
  virtual std::uint64_t payload_max() const = 0;

  // A log other processes write too (a JetStream stream: issue 15, server/leadership.h)
  // has one writer at a time, the leader; the others follow it. The journal has one
  // writer, this process: it follows nobody, and these do nothing.
  //
  // follow(): calls f for every record another writer made durable after
  // durable_position(), in order, and moves the positions past them. REQUIRES: nothing
  // appended and not synced.
  [[nodiscard]] virtual std::optional<std::string> follow(
      const std::function<void(std::uint64_t, std::string_view)>& /*f*/) {
    return std::nullopt;
  }
  // take_over(): follows to the end, then marks the log as this writer's, so that the
  // writer before it can append nothing more (its next sync fails); f gets the records
  // followed on the way. An error leaves this process a follower.
  [[nodiscard]] virtual std::optional<std::string> take_over(
      const std::function<void(std::uint64_t, std::string_view)>& f) {
    return follow(f);
  }
  // watch(): from now on `on_new` runs (on a thread of the log's) soon after a message
  // is stored, so that a follower need not ask the log over and over: a hint, follow()
  // still reads. An error when the log cannot watch (the follower then asks on a timer).
  [[nodiscard]] virtual std::optional<std::string> watch(std::function<void()> /*on_new*/) {
    return std::string("this log has one writer: nothing to watch");
  }
  // After unwatch() returns, on_new runs no more (the watcher may be destroyed).
  virtual void unwatch() {}
  // Whether on_new comes now (a watch that failed or has not started yet: not); a follower
  // that is not told asks the log more often.
  virtual bool watching() const { return false; }
  // rejoin(): after a failure (sticky until now), drops what was appended and not
  // synced and goes back to following from durable_position(); records a failed sync may
  // have stored after all come back through follow().
  [[nodiscard]] virtual std::optional<std::string> rejoin() {
    return std::string("this log has one writer: it cannot rejoin after a failure");
  }
};

}  // namespace bonus::server
