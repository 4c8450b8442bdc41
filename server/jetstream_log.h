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
// - A follower that watches (watch()) is fed: an ordered push consumer of the stream
//   delivers every message, payload and all, from the next one it needs, into a bounded
//   queue, and wakes it; follow() takes the queue. It asks the stream itself (its state,
//   then a request a message) only for what the feed missed (a gap, a full queue, a
//   consumer being recreated), and every kFeedCheck while the feed brings nothing, in
//   case it has stopped. A leader has no feed: take_over() ends it, follow() starts it.
//
// Owned by the Server; used by start-up, then by the sequencer's thread alone. Its NATS
// connection has the library's own threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "server/log.h"

typedef struct __natsMsg natsMsg;  // nats.h's

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
  // The fed queue's bound (watch()): deliveries past it are dropped, and follow() reads
  // them from the stream instead.
  std::uint64_t fed_bytes_max = std::uint64_t{64} << 20;
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
  // From now on, while following, the log is fed (above) and each delivery calls `on_new`
  // on the NATS library's thread. The feed starts here unless this process leads, then
  // again in each follow() that finds none (at most every kFeedRetry after a failure).
  std::optional<std::string> watch(std::function<void()> on_new) override;
  void unwatch() override;
  bool watching() const override { return feed_ != nullptr; }
  // The messages follow() took from the feed, and those it read from the stream (a
  // request each). Sequencer's thread.
  std::uint64_t followed_fed() const { return followed_fed_; }
  std::uint64_t followed_read() const { return followed_read_; }

  static constexpr std::chrono::milliseconds kFeedCheck{50};
  static constexpr std::chrono::milliseconds kFeedRetry{1000};

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
  // The same for a message in hand (`seq` names it in errors).
  std::optional<std::string> parse_message(
      std::uint64_t seq, std::string_view data, std::uint64_t from,
      const std::function<void(std::uint64_t, std::string_view)>& f, Header& header,
      std::uint64_t first_max) const;
  // Follows the message at `seq` (the next one, last_seq_ + 1), read from the stream, or
  // `data` when fed.
  std::optional<std::string> follow_message(
      std::uint64_t seq, const std::function<void(std::uint64_t, std::string_view)>& f,
      const std::string_view* data = nullptr);
  // Follows the stream from its own state (a request, then one a message). `to_end`:
  // always; else only without a feed, after a gap, or kFeedCheck since the last time.
  std::optional<std::string> follow_stream(
      const std::function<void(std::uint64_t, std::string_view)>& f);
  std::optional<std::string> follow_fed(
      const std::function<void(std::uint64_t, std::string_view)>& f, bool to_end);
  // The feed's consumer, from last_seq_ + 1; a failure is logged, and retried later.
  void start_feed();
  // No delivery is queued after it; `drain`: none is running either, once it returns.
  void stop_feed(bool drain);
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
  bool leading_ = false;  // take_over() made this process the writer; follow() ends it
  bool watched_ = false;  // watch() was called, unwatch() not yet
  std::chrono::steady_clock::time_point feed_retry_at_{};
  std::chrono::steady_clock::time_point checked_at_{};  // follow_stream()'s last time
  std::mutex feed_mutex_;          // held while a delivery is queued and on_new_ runs
  std::function<void()> on_new_;   // guarded by feed_mutex_
  bool feeding_ = false;           // guarded by feed_mutex_: deliveries are queued
  std::deque<natsMsg*> fed_;       // guarded by feed_mutex_; the messages delivered
  std::uint64_t fed_bytes_ = 0;    // guarded by feed_mutex_
  std::uint64_t fed_dropped_ = 0;  // guarded by feed_mutex_: deliveries past the bound
  std::uint64_t followed_fed_ = 0;
  std::uint64_t followed_read_ = 0;
  struct Feed;                  // the feed's consumer (jetstream_log.cc)
  std::unique_ptr<Feed> feed_;  // null: not fed
};

}  // namespace bonus::server
