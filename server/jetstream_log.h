// JetStreamLog: the ledger's write-ahead log (server/log.h) kept in a NATS JetStream stream
// instead of local segment files, so that it is stored on a quorum of JetStream servers
// (the stream's replicas) and outlives this machine (issue 15). The sequencer uses it as
// it uses the Journal.
//
// - One sync() is one message (or several, when a group is larger than
//   message_bytes_max): the records appended since the last sync, each behind its u32
//   size, after the message's first log position (u64) and record count (u32). A group
//   is durable once JetStream acknowledges it, which it does once the message is stored
//   on a quorum of the stream's replicas.
// - Each message carries its first log position as its message id (JetStream drops a
//   repeated id) and the stream sequence this writer last saw as the expected last
//   sequence: a second writer on the same stream makes the first one's next sync fail
//   (its expectation no longer holds), so two writers never interleave records. A failure
//   is sticky, as the journal's is.
// - replay() reads messages by stream sequence (a request each), after a binary search for
//   the one holding the first position asked for. trim_before() purges the messages that
//   hold only records before the position, and never the last message, whose header
//   keeps the positions going after a restart.
//
// Owned by the Server; used by start-up, then by the sequencer's thread alone. Its NATS
// connection has the library's own threads.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "server/log.h"

namespace bonus::server {

struct NatsConnection;

struct JetStreamLogOptions {
  std::string urls;                   // nats://host:port[,nats://...]
  std::string stream = "BONUS_LOG";   // created when missing
  std::string subject = "bonus.log";  // the stream's one subject
  int replicas = 3;                   // for a stream it creates
  // For a stream it creates: how long JetStream remembers a message id (0: its default,
  // 2 minutes). Within it a repeated group is dropped as a duplicate; past it only the
  // expected last sequence fences a second writer.
  std::int64_t duplicate_window_ms = 0;
  std::int64_t wait_ms = 5000;  // for each JetStream request and acknowledgement
  // A message's data bound. NATS's default max_payload is 1 MiB, and it counts the
  // headers too (the message id and the expected sequence): kHeaderRoomBytes is left.
  std::uint64_t message_bytes_max = (std::uint64_t{1} << 20) - kHeaderRoomBytes;
  static constexpr std::uint64_t kHeaderRoomBytes = 4096;
};

class JetStreamLog final : public Log {
 public:
  using Opened = std::variant<std::unique_ptr<JetStreamLog>, std::string>;
  // Connects, finds the stream (creating it when missing) and reads where the log is.
  static Opened open(const JetStreamLogOptions& options);
  ~JetStreamLog() override;
  JetStreamLog(const JetStreamLog&) = delete;
  JetStreamLog& operator=(const JetStreamLog&) = delete;

  std::optional<std::uint64_t> append(std::string_view payload) override;
  std::optional<std::string> sync() override;
  std::optional<std::string> replay(
      std::uint64_t from,
      const std::function<void(std::uint64_t, std::string_view)>& f) const override;
  std::optional<std::string> trim_before(std::uint64_t position) override;
  std::uint64_t first_position() const override { return first_position_; }
  std::uint64_t durable_position() const override { return next_position_ - pending_count_ - 1; }
  std::uint64_t bytes() const override { return bytes_; }
  std::uint64_t payload_max() const override;
  std::optional<std::string> follow(
      const std::function<void(std::uint64_t, std::string_view)>& f) override;
  // The mark is a message of no records (its header: the next position, count 0).
  std::optional<std::string> take_over(
      const std::function<void(std::uint64_t, std::string_view)>& f) override;
  std::optional<std::string> rejoin() override;
  // An ordered push consumer of the stream, headers only, from the next message on:
  // each delivery calls `on_new` on the NATS library's thread (the library recreates the
  // consumer after a reconnect or a gap).
  std::optional<std::string> watch(std::function<void()> on_new) override;
  void unwatch() override;

 private:
  // A message's header: its first position and how many records it holds.
  struct Header {
    std::uint64_t first = 0;
    std::uint32_t count = 0;
  };
  explicit JetStreamLog(JetStreamLogOptions options);
  struct Published {
    enum Outcome { ok, wrong_last_sequence, failed } outcome = ok;
    std::string error;
  };
  // One message with id `id`, expecting the stream's last sequence to be last_seq_.
  Published publish_raw(std::string_view message, const std::string& id);
  // A group's message: a failure is sticky.
  std::optional<std::string> publish(std::string_view message, std::uint64_t first);
  // The message at `seq`: its header, and f(position, record) for its records at or
  // after `from`; an error when it cannot be read, is not a log message, or starts past
  // `first_max` (then none of its records is read).
  std::optional<std::string> read_message(
      std::uint64_t seq, std::uint64_t from,
      const std::function<void(std::uint64_t, std::string_view)>& f, Header& header,
      std::uint64_t& size_bytes, std::uint64_t first_max = UINT64_MAX) const;
  // The header of the message at stream sequence `seq`, or why not.
  std::variant<Header, std::string> header_at(std::uint64_t seq) const;
  // The stream sequence of the message holding `position` (first_position_ <= position
  // <= durable_position()).
  std::variant<std::uint64_t, std::string> seq_of(std::uint64_t position) const;
  // Where the stream is: its sequences, its first and next positions, its bytes.
  std::optional<std::string> read_state();
  // The stream's message count, first and last sequences and bytes (one request).
  struct StreamState {
    std::uint64_t msgs = 0, first_seq = 0, last_seq = 0, bytes = 0;
  };
  std::variant<StreamState, std::string> stream_state() const;
  std::optional<std::string> fail(std::string why);

  JetStreamLogOptions options_;
  std::unique_ptr<NatsConnection> nats_;
  std::uint64_t first_seq_ = 0;  // the stream's first and last sequences (0: empty)
  std::uint64_t last_seq_ = 0;
  std::uint64_t first_position_ = 1;
  std::uint64_t next_position_ = 1;  // the next append's
  std::uint64_t bytes_ = 0;
  std::string pending_;  // appended, not yet synced: each record behind its size
  std::uint64_t pending_count_ = 0;
  std::string failure_;  // sticky
  std::mutex watch_mutex_;        // held while on_new_ runs, and to clear it
  std::function<void()> on_new_;  // guarded by watch_mutex_; empty: not watching
  struct Watch;                   // watch()'s consumer (jetstream_log.cc)
  std::unique_ptr<Watch> watch_;  // null before watch() and after unwatch()
};

}  // namespace bonus::server
