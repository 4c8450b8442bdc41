#include "server/jetstream_log.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "server/metrics.h"
#include "server/nats_connection.h"

namespace bonus::server {
namespace {

constexpr std::size_t kHeaderBytes = 8 + 4;

template <typename T>
void put(std::string& out, T v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof(v));
}

template <typename T>
T get(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

}  // namespace

JetStreamLog::JetStreamLog(JetStreamLogOptions options) : options_(std::move(options)) {}

struct JetStreamLog::Feed {
  natsSubscription* subscription = nullptr;
};

JetStreamLog::~JetStreamLog() {
  unwatch();
}

std::optional<std::string> JetStreamLog::watch(std::function<void()> on_new) {
  if (watched_) return std::string("jetstream: already watching");
  {
    std::lock_guard lock(feed_mutex_);
    on_new_ = std::move(on_new);
  }
  watched_ = true;
  if (!leading_) start_feed();
  return std::nullopt;
}

void JetStreamLog::unwatch() {
  stop_feed(true);
  std::lock_guard lock(feed_mutex_);
  on_new_ = nullptr;
  watched_ = false;
}

void JetStreamLog::start_feed() {
  if (!watched_ || feed_ != nullptr || !failure_.empty()) return;
  const auto now = std::chrono::steady_clock::now();
  if (now < feed_retry_at_) return;
  jsSubOptions options;
  jsSubOptions_Init(&options);
  options.Stream = options_.stream.c_str();
  options.Ordered = true;
  if (last_seq_ > 0) {
    options.Config.DeliverPolicy = js_DeliverByStartSequence;
    options.Config.OptStartSeq = last_seq_ + 1;
  } else {
    options.Config.DeliverPolicy = js_DeliverAll;
  }
  {
    std::lock_guard lock(feed_mutex_);
    feeding_ = true;
  }
  jsErrCode code = static_cast<jsErrCode>(0);
  auto feed = std::make_unique<Feed>();
  const natsStatus s = js_Subscribe(
      &feed->subscription, nats_->js, options_.subject.c_str(),
      [](natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
        auto* self = static_cast<JetStreamLog*>(closure);
        std::lock_guard lock(self->feed_mutex_);
        const auto size = static_cast<std::uint64_t>(natsMsg_GetDataLength(msg));
        if (!self->feeding_ || self->fed_bytes_ + size > self->options_.fed_bytes_max) {
          if (self->feeding_) ++self->fed_dropped_;
          natsMsg_Destroy(msg);
        } else {
          self->fed_.push_back(msg);
          self->fed_bytes_ += size;
        }
        if (self->on_new_) self->on_new_();
      },
      this, nullptr, &options, &code);
  if (s != NATS_OK) {
    {
      std::lock_guard lock(feed_mutex_);
      feeding_ = false;
    }
    feed_retry_at_ = now + kFeedRetry;
    spdlog::warn("journal: {}; following the stream by asking it",
                 nats_status_text("feed from the stream", s, code));
    return;
  }
  feed_ = std::move(feed);
}

void JetStreamLog::stop_feed(bool drain) {
  std::deque<natsMsg*> fed;
  {
    std::lock_guard lock(feed_mutex_);
    feeding_ = false;
    fed.swap(fed_);
    fed_bytes_ = 0;
  }
  for (natsMsg* msg : fed) natsMsg_Destroy(msg);
  if (feed_ == nullptr) return;
  // Drained, no delivery is under way once it completes. Without, a late one finds
  // feeding_ false and drops its message, or is queued once a new feed runs: either way
  // a message of the stream at its own sequence, which follow() takes only in order.
  // (This object outlives it: the destructor drains.)
  if (drain) {
    if (natsSubscription_Drain(feed_->subscription) == NATS_OK) {
      (void)natsSubscription_WaitForDrainCompletion(feed_->subscription, 2000);
    }
  } else {
    (void)natsSubscription_Unsubscribe(feed_->subscription);
  }
  natsSubscription_Destroy(feed_->subscription);
  feed_.reset();
}

JetStreamLog::Opened JetStreamLog::open(const JetStreamLogOptions& options) {
  std::unique_ptr<JetStreamLog> log(new JetStreamLog(options));
  auto connected = NatsConnection::open(options.urls, options.wait_ms);
  if (auto* error = std::get_if<std::string>(&connected)) return *error;
  auto& connection = std::get<std::unique_ptr<NatsConnection>>(connected);
  log->nats_ = std::move(connection);
  natsStatus s = NATS_OK;
  jsStreamInfo* info = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  s = js_GetStreamInfo(&info, log->nats_->js, options.stream.c_str(), nullptr, &code);
  if (s == NATS_NOT_FOUND || code == JSStreamNotFoundErr) {
    jsStreamConfig config;
    jsStreamConfig_Init(&config);
    const char* subjects[] = {options.subject.c_str()};
    config.Name = options.stream.c_str();
    config.Subjects = subjects;
    config.SubjectsLen = 1;
    config.Storage = js_FileStorage;
    config.Replicas = options.replicas;
    config.MaxMsgSize = static_cast<std::int32_t>(options.message_bytes_max +
                                                  JetStreamLogOptions::kHeaderRoomBytes);
    config.Discard = js_DiscardNew;  // never drop the log's records to make room
    config.Duplicates = options.duplicate_window_ms * 1'000'000;  // ns
    code = static_cast<jsErrCode>(0);
    s = js_AddStream(&info, log->nats_->js, &config, nullptr, &code);
    if (s != NATS_OK) return nats_status_text(("create stream " + options.stream).c_str(), s, code);
  } else if (s != NATS_OK) {
    return nats_status_text(("stream " + options.stream).c_str(), s, code);
  }
  jsStreamInfo_Destroy(info);
  if (auto error = log->read_state()) return *error;
  return log;
}

std::variant<JetStreamLog::StreamState, std::string> JetStreamLog::stream_state() const {
  jsStreamInfo* info = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus s = js_GetStreamInfo(&info, nats_->js, options_.stream.c_str(), nullptr, &code);
  if (s != NATS_OK) return nats_status_text(("stream " + options_.stream).c_str(), s, code);
  const StreamState state{info->State.Msgs, info->State.FirstSeq, info->State.LastSeq,
                          info->State.Bytes};
  jsStreamInfo_Destroy(info);
  return state;
}

std::optional<std::string> JetStreamLog::read_state() {
  auto read = stream_state();
  if (auto* error = std::get_if<std::string>(&read)) return *error;
  const StreamState state = std::get<StreamState>(read);
  bytes_ = state.bytes;
  if (state.msgs == 0) {
    first_seq_ = last_seq_ = 0;
    return std::nullopt;  // a new log: positions start at 1
  }
  first_seq_ = state.first_seq;
  last_seq_ = state.last_seq;
  auto first = header_at(first_seq_);
  if (auto* error = std::get_if<std::string>(&first)) return *error;
  auto last = header_at(last_seq_);
  if (auto* error = std::get_if<std::string>(&last)) return *error;
  first_position_ = std::get<Header>(first).first;
  next_position_ = std::get<Header>(last).first + std::get<Header>(last).count;
  return std::nullopt;
}

std::variant<JetStreamLog::Header, std::string> JetStreamLog::header_at(std::uint64_t seq) const {
  natsMsg* msg = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus s = js_GetMsg(&msg, nats_->js, options_.stream.c_str(), seq, nullptr, &code);
  if (s != NATS_OK) {
    return nats_status_text(("read message " + std::to_string(seq)).c_str(), s, code);
  }
  Header h;
  const int size = natsMsg_GetDataLength(msg);
  if (size < static_cast<int>(kHeaderBytes)) {
    natsMsg_Destroy(msg);
    return "jetstream: message " + std::to_string(seq) + " of stream " + options_.stream +
           " is not a log message (" + std::to_string(size) + " bytes)";
  }
  h.first = get<std::uint64_t>(natsMsg_GetData(msg));
  h.count = get<std::uint32_t>(natsMsg_GetData(msg) + 8);
  natsMsg_Destroy(msg);
  return h;
}

std::uint64_t JetStreamLog::payload_max() const {
  return options_.message_bytes_max - kHeaderBytes - sizeof(std::uint32_t);
}

std::optional<std::string> JetStreamLog::fail(std::string why) {
  if (failure_.empty()) failure_ = std::move(why);
  return failure_;
}

std::optional<std::uint64_t> JetStreamLog::append(std::string_view payload) {
  if (!failure_.empty()) return std::nullopt;
  put(pending_, static_cast<std::uint32_t>(payload.size()));
  pending_.append(payload);
  ++pending_count_;
  return next_position_++;
}

JetStreamLog::Published JetStreamLog::publish_raw(std::string_view message, const std::string& id) {
  jsPubOptions pub;
  jsPubOptions_Init(&pub);
  pub.MsgId = id.c_str();
  pub.MaxWait = options_.wait_ms;
  // This writer's view of the stream: another writer's message in between fails this one.
  // (0, a new stream's, sets no expectation in this client.)
  pub.ExpectLastSeq = last_seq_;
  jsPubAck* ack = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus s = js_Publish(&ack, nats_->js, options_.subject.c_str(), message.data(),
                            static_cast<int>(message.size()), &pub, &code);
  if (s != NATS_OK) {
    if (code == JSStreamWrongLastSequenceErr) {
      return {Published::wrong_last_sequence,
              "jetstream: stream " + options_.stream +
                  " has messages this writer did not write (expected the last at sequence " +
                  std::to_string(last_seq_) + "): another writer took the log"};
    }
    return {Published::failed, nats_status_text("publish", s, code)};
  }
  const bool duplicate = ack->Duplicate;
  last_seq_ = ack->Sequence;
  if (first_seq_ == 0) first_seq_ = last_seq_;
  jsPubAck_Destroy(ack);
  if (duplicate) {
    return {Published::failed, "jetstream: message id " + id + " was already in stream " +
                                   options_.stream + ": another writer took the log"};
  }
  bytes_ += message.size();
  return {Published::ok, {}};
}

std::optional<std::string> JetStreamLog::publish(std::string_view message, std::uint64_t first) {
  Published published = publish_raw(message, options_.stream + "-" + std::to_string(first));
  if (published.outcome == Published::ok) return std::nullopt;
  return fail(published.error + "; refusing writes");
}

std::optional<std::string> JetStreamLog::sync() {
  if (!failure_.empty()) return failure_;
  std::uint64_t first = next_position_ - pending_count_;
  std::string message;
  std::uint32_t count = 0;
  auto flush = [&]() -> std::optional<std::string> {
    if (count == 0) return std::nullopt;
    std::memcpy(message.data(), &first, sizeof(first));
    std::memcpy(message.data() + 8, &count, sizeof(count));
    if (auto error = publish(message, first)) return error;
    first += count;
    count = 0;
    message.assign(kHeaderBytes, '\0');
    return std::nullopt;
  };
  message.assign(kHeaderBytes, '\0');
  for (std::size_t at = 0; at < pending_.size();) {
    const auto size = get<std::uint32_t>(pending_.data() + at);
    const std::size_t record = sizeof(size) + size;
    if (count > 0 && message.size() + record > options_.message_bytes_max) {
      if (auto error = flush()) return error;
    }
    message.append(pending_, at, record);
    ++count;
    at += record;
  }
  if (auto error = flush()) return error;
  if (pending_count_ > 0) metrics().journal_group_durable(pending_count_, first - 1);
  pending_.clear();
  pending_count_ = 0;
  return std::nullopt;
}

std::variant<std::uint64_t, std::string> JetStreamLog::seq_of(std::uint64_t position) const {
  // Sequences in [lo, hi] hold the position's message; message headers are in position
  // order (purges only take a prefix).
  std::uint64_t lo = first_seq_;
  std::uint64_t hi = last_seq_;
  while (lo < hi) {
    const std::uint64_t mid = lo + (hi - lo + 1) / 2;
    auto h = header_at(mid);
    if (auto* error = std::get_if<std::string>(&h)) return *error;
    if (std::get<Header>(h).first <= position) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  return lo;
}

std::optional<std::string> JetStreamLog::read_message(
    std::uint64_t seq, std::uint64_t from,
    const std::function<void(std::uint64_t, std::string_view)>& f, Header& header,
    std::uint64_t& size_bytes, std::uint64_t first_max) const {
  natsMsg* msg = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus s = js_GetMsg(&msg, nats_->js, options_.stream.c_str(), seq, nullptr, &code);
  if (s != NATS_OK)
    return nats_status_text(("read message " + std::to_string(seq)).c_str(), s, code);
  const std::string_view data(natsMsg_GetData(msg),
                              static_cast<std::size_t>(natsMsg_GetDataLength(msg)));
  size_bytes = data.size();
  auto error = parse_message(seq, data, from, f, header, first_max);
  natsMsg_Destroy(msg);
  return error;
}

std::optional<std::string> JetStreamLog::parse_message(
    std::uint64_t seq, std::string_view data, std::uint64_t from,
    const std::function<void(std::uint64_t, std::string_view)>& f, Header& header,
    std::uint64_t first_max) const {
  const std::size_t size = data.size();
  std::optional<std::string> bad;
  if (size < kHeaderBytes) {
    bad = "is shorter than its header";
  } else {
    header.first = get<std::uint64_t>(data.data());
    header.count = get<std::uint32_t>(data.data() + 8);
    if (header.first > first_max) {
      bad = "starts at position " + std::to_string(header.first) + " but the log's next is " +
            std::to_string(first_max) + ": records are missing";
      header.count = 0;  // none of its records is read
    }
    std::uint64_t position = header.first;
    std::size_t at = kHeaderBytes;
    for (std::uint32_t i = 0; i < header.count && !bad; ++i, ++position) {
      std::uint32_t record = 0;
      if (at + sizeof(record) > size) {
        bad = "ends inside record " + std::to_string(position);
        break;
      }
      record = get<std::uint32_t>(data.data() + at);
      at += sizeof(record);
      if (at + record > size) {
        bad = "ends inside record " + std::to_string(position);
        break;
      }
      if (position >= from) f(position, data.substr(at, record));
      at += record;
    }
    if (!bad && at != size) bad = "has bytes after its records";
  }
  if (bad) {
    return "jetstream: message " + std::to_string(seq) + " of stream " + options_.stream + " " +
           *bad;
  }
  return std::nullopt;
}

std::optional<std::string> JetStreamLog::replay(
    std::uint64_t from, const std::function<void(std::uint64_t, std::string_view)>& f) const {
  const std::uint64_t durable = durable_position();
  if (from < first_position_ || from > durable + 1) {
    return "jetstream: replay from position " + std::to_string(from) + ": the log holds " +
           std::to_string(first_position_) + ".." + std::to_string(durable);
  }
  if (from > durable) return std::nullopt;
  auto start = seq_of(from);
  if (auto* error = std::get_if<std::string>(&start)) return *error;
  for (std::uint64_t seq = std::get<std::uint64_t>(start); seq <= last_seq_; ++seq) {
    Header header;
    std::uint64_t size = 0;
    if (auto error = read_message(seq, from, f, header, size)) return error;
  }
  return std::nullopt;
}

std::optional<std::string> JetStreamLog::follow(
    const std::function<void(std::uint64_t, std::string_view)>& f) {
  leading_ = false;
  start_feed();
  return follow_fed(f, false);
}

std::optional<std::string> JetStreamLog::follow_message(
    std::uint64_t seq, const std::function<void(std::uint64_t, std::string_view)>& f,
    const std::string_view* data) {
  Header header;
  std::uint64_t size = 0;
  const std::uint64_t from = next_position_;
  if (data != nullptr) {
    size = data->size();
    if (auto error = parse_message(seq, *data, from, f, header, from)) return error;
    ++followed_fed_;
  } else if (auto error = read_message(seq, from, f, header, size, from)) {
    return error;
  } else {
    ++followed_read_;
  }
  metrics().count_log_followed(data != nullptr);
  next_position_ = std::max(next_position_, header.first + header.count);
  last_seq_ = seq;
  if (first_seq_ == 0) first_seq_ = seq;
  bytes_ += size;
  return std::nullopt;
}

std::optional<std::string> JetStreamLog::follow_stream(
    const std::function<void(std::uint64_t, std::string_view)>& f) {
  checked_at_ = std::chrono::steady_clock::now();
  auto read = stream_state();
  if (auto* error = std::get_if<std::string>(&read)) return *error;
  const StreamState state = std::get<StreamState>(read);
  if (state.msgs == 0 || state.last_seq <= last_seq_) return std::nullopt;
  if (state.first_seq > last_seq_ + 1) {
    return "jetstream: stream " + options_.stream + " now starts at sequence " +
           std::to_string(state.first_seq) + ", past this node's next message " +
           std::to_string(last_seq_ + 1) + " (position " + std::to_string(next_position_) +
           "): the records this node still needs were trimmed; start it from a newer "
           "checkpoint (another node's data directory)";
  }
  for (std::uint64_t seq = last_seq_ + 1; seq <= state.last_seq; ++seq) {
    if (auto error = follow_message(seq, f)) return error;
  }
  return std::nullopt;
}

std::optional<std::string> JetStreamLog::follow_fed(
    const std::function<void(std::uint64_t, std::string_view)>& f, bool to_end) {
  if (!failure_.empty()) return failure_;
  std::deque<natsMsg*> fed;
  std::uint64_t dropped = 0;
  {
    std::lock_guard lock(feed_mutex_);
    fed.swap(fed_);
    fed_bytes_ = 0;
    std::swap(dropped, fed_dropped_);
  }
  std::optional<std::string> error;
  bool gap = dropped > 0;
  bool took = false;
  for (natsMsg* msg : fed) {
    jsMsgMetaData* meta = nullptr;
    if (!error && natsMsg_GetMetaData(&meta, msg) == NATS_OK) {
      const std::uint64_t seq = meta->Sequence.Stream;
      jsMsgMetaData_Destroy(meta);
      // Delivered again after the consumer was recreated: had already. Past the next: a
      // gap, read from the stream (to its end, or a clear error if it was trimmed past
      // this node); the message is then had already, or the next.
      if (seq > last_seq_ + 1) {
        error = follow_stream(f);
        gap = true;
      }
      if (!error && seq == last_seq_ + 1) {
        const std::string_view data(natsMsg_GetData(msg),
                                    static_cast<std::size_t>(natsMsg_GetDataLength(msg)));
        error = follow_message(seq, f, &data);
        took = true;
      }
    }
    natsMsg_Destroy(msg);
  }
  if (error) return error;
  // What the feed may have missed since: a dropped delivery, a consumer that is gone.
  const bool due = std::chrono::steady_clock::now() - checked_at_ >= kFeedCheck;
  if (to_end || feed_ == nullptr || gap || (!took && due)) return follow_stream(f);
  return std::nullopt;
}

std::optional<std::string> JetStreamLog::take_over(
    const std::function<void(std::uint64_t, std::string_view)>& f) {
  // A writer that publishes between the follow and the mark fails the mark (the expected
  // last sequence): follow again, a bounded number of times.
  for (int attempt = 0; attempt < 100; ++attempt) {
    if (auto error = follow_fed(f, true)) return error;
    std::string mark(kHeaderBytes, '\0');
    const std::uint64_t first = next_position_;
    const std::uint32_t count = 0;
    std::memcpy(mark.data(), &first, sizeof(first));
    std::memcpy(mark.data() + 8, &count, sizeof(count));
    const std::string id =
        options_.stream + "-" + std::to_string(first) + "-after-" + std::to_string(last_seq_);
    const Published published = publish_raw(mark, id);
    if (published.outcome == Published::ok) {
      leading_ = true;
      stop_feed(false);  // a leader's own messages would only come back
      return std::nullopt;
    }
    if (published.outcome != Published::wrong_last_sequence) return published.error;
  }
  return "jetstream: stream " + options_.stream +
         " kept growing under another writer: gave up taking the log over";
}

std::optional<std::string> JetStreamLog::rejoin() {
  stop_feed(false);  // it starts again from where this node is now (follow())
  leading_ = false;
  failure_.clear();
  next_position_ -= pending_count_;
  pending_.clear();
  pending_count_ = 0;
  auto read = stream_state();
  if (auto* error = std::get_if<std::string>(&read)) return fail(*error);
  const StreamState state = std::get<StreamState>(read);
  const std::uint64_t durable = durable_position();
  first_seq_ = state.msgs == 0 ? 0 : state.first_seq;
  last_seq_ = state.msgs == 0 ? 0 : state.last_seq;
  if (state.msgs == 0 || durable < first_position_) {
    // Nothing of this node's in the stream yet: follow it from its first message.
    last_seq_ = first_seq_ == 0 ? state.last_seq : first_seq_ - 1;
    return std::nullopt;
  }
  // From the message holding the last durable record: follow() skips what this node has.
  auto seq = seq_of(durable);
  if (auto* error = std::get_if<std::string>(&seq)) return fail(*error);
  last_seq_ = std::get<std::uint64_t>(seq) - 1;
  return std::nullopt;
}

std::optional<std::string> JetStreamLog::trim_before(std::uint64_t position) {
  if (!failure_.empty()) return failure_;
  if (last_seq_ == 0 || position <= first_position_) return std::nullopt;
  // The message holding `position` stays, and the last one always does.
  auto seq = seq_of(std::min(position, durable_position()));
  if (auto* error = std::get_if<std::string>(&seq)) return *error;
  const std::uint64_t keep_from = std::get<std::uint64_t>(seq);
  if (keep_from <= first_seq_) return std::nullopt;
  jsOptions purge;
  jsOptions_Init(&purge);
  purge.Wait = options_.wait_ms;
  purge.Stream.Purge.Sequence = keep_from;
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus s = js_PurgeStream(nats_->js, options_.stream.c_str(), &purge, &code);
  if (s != NATS_OK) return nats_status_text("purge", s, code);
  auto read = stream_state();
  if (auto* error = std::get_if<std::string>(&read)) return *error;
  first_seq_ = std::get<StreamState>(read).first_seq;
  bytes_ = std::get<StreamState>(read).bytes;
  auto first = header_at(first_seq_);
  if (auto* error = std::get_if<std::string>(&first)) return *error;
  first_position_ = std::get<Header>(first).first;
  return std::nullopt;
}

}  // namespace bonus::server
