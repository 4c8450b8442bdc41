#include "server/leader_lease.h"

#include <charconv>
#include <chrono>
#include <mutex>

#include "server/nats_connection.h"

namespace bonus::server {
namespace {

constexpr const char* kKey = "leader";

}  // namespace

struct LeaderLease::Impl {
  std::unique_ptr<NatsConnection> nats;
  kvStore* lease = nullptr;
  kvStore* nodes = nullptr;
  natsSubscription* watch = nullptr;
  std::function<void()> on_write;  // set before the subscription, read by its deliveries
  // The newest write the watch delivered: a read of the bucket may lag it (served by a
  // replica that has not applied it yet).
  std::mutex seen_mutex;
  std::string seen_value;           // guarded by seen_mutex
  std::uint64_t seen_revision = 0;  // guarded by seen_mutex; 0: none yet
  ~Impl() {
    if (watch != nullptr) {
      // Drained, no delivery is under way (on_write may go).
      if (natsSubscription_Drain(watch) == NATS_OK) {
        (void)natsSubscription_WaitForDrainCompletion(watch, 2000);
      }
      natsSubscription_Destroy(watch);
    }
    kvStore_Destroy(nodes);
    kvStore_Destroy(lease);
  }
};

LeaderLease::LeaderLease(LeaderLeaseOptions options)
    : impl_(std::make_unique<Impl>()), options_(std::move(options)) {}

LeaderLease::~LeaderLease() = default;

namespace {

// The bucket `name`, created (with `ttl_ms`, 0: entries live on) when missing.
std::variant<kvStore*, std::string> bucket(jsCtx* js, const std::string& name, int replicas,
                                           std::int64_t ttl_ms) {
  kvStore* kv = nullptr;
  natsStatus s = js_KeyValue(&kv, js, name.c_str());
  if (s == NATS_OK) return kv;
  if (s != NATS_NOT_FOUND) return nats_status_text(("bucket " + name).c_str(), s);
  kvConfig config;
  kvConfig_Init(&config);
  config.Bucket = name.c_str();
  config.History = 1;
  config.TTL = ttl_ms * 1'000'000;  // ns, as the stream's MaxAge
  config.StorageType = js_FileStorage;
  config.Replicas = replicas;
  s = js_CreateKeyValue(&kv, js, &config);
  if (s != NATS_OK) return nats_status_text(("create bucket " + name).c_str(), s);
  return kv;
}

}  // namespace

LeaderLease::Opened LeaderLease::open(const LeaderLeaseOptions& options) {
  std::unique_ptr<LeaderLease> lease(new LeaderLease(options));
  auto connected = NatsConnection::open(options.urls, options.wait_ms);
  if (auto* error = std::get_if<std::string>(&connected)) return *error;
  Impl& impl = *lease->impl_;
  impl.nats = std::move(std::get<std::unique_ptr<NatsConnection>>(connected));
  auto made = bucket(impl.nats->js, options.bucket, options.replicas, options.ttl_ms);
  if (auto* error = std::get_if<std::string>(&made)) return *error;
  impl.lease = std::get<kvStore*>(made);
  made = bucket(impl.nats->js, options.bucket + "_NODES", options.replicas, 0);
  if (auto* error = std::get_if<std::string>(&made)) return *error;
  impl.nodes = std::get<kvStore*>(made);
  return lease;
}

namespace {

struct Entry {
  std::string value;
  std::uint64_t revision = 0;  // 0: no entry (never written, expired or deleted)
  std::int64_t created_ns = 0;  // when it was written (UTC, ns since the epoch)
};

std::variant<Entry, std::string> read_entry(kvStore* kv, const char* key) {
  kvEntry* e = nullptr;
  natsStatus s = kvStore_Get(&e, kv, key);
  if (s == NATS_NOT_FOUND) return Entry{};
  if (s != NATS_OK) return nats_status_text((std::string("read ") + key).c_str(), s);
  Entry entry{kvEntry_ValueString(e), kvEntry_Revision(e), kvEntry_Created(e)};
  kvEntry_Destroy(e);
  return entry;
}

}  // namespace

std::variant<LeaderLease::Lease, std::string> LeaderLease::read_lease() {
  auto read = read_entry(impl_->lease, kKey);
  if (auto* error = std::get_if<std::string>(&read)) return *error;
  const Entry& entry = std::get<Entry>(read);
  Lease lease{entry.value, entry.revision};
  // A newer write the watch delivered wins; no entry at all is the truth (expired: an
  // expiry is no write, the watch never hears it).
  std::lock_guard lock(impl_->seen_mutex);
  if (entry.revision != 0 && impl_->seen_revision > entry.revision) {
    lease = Lease{impl_->seen_value, impl_->seen_revision};
  }
  return lease;
}

std::optional<std::string> LeaderLease::read_holder(std::string& holder) {
  auto read = read_lease();
  if (auto* error = std::get_if<std::string>(&read)) return *error;
  holder = std::get<Lease>(read).value;
  return std::nullopt;
}

std::variant<bool, std::string> LeaderLease::take(std::string_view value) {
  auto read = read_lease();
  if (auto* error = std::get_if<std::string>(&read)) return *error;
  const Lease& entry = std::get<Lease>(read);
  if (!entry.value.empty()) return false;
  std::uint64_t last = entry.revision;
  if (last == 0) {
    // Expired (or never written): the bucket's stream still ends at its last write. A
    // take may have come between the read and this: read again, after it, so that
    // expecting `last` refuses anything written since the entry was seen absent.
    auto ended = stream_last();
    if (auto* error = std::get_if<std::string>(&ended)) return *error;
    last = std::get<std::uint64_t>(ended);
    auto again = read_lease();
    if (auto* error = std::get_if<std::string>(&again)) return *error;
    if (!std::get<Lease>(again).value.empty()) return false;
    if (std::get<Lease>(again).revision != 0) last = std::get<Lease>(again).revision;
  }
  const std::string text(value);
  std::uint64_t revision = 0;
  if (auto error = write_after(last, text, revision)) {
    // Another node's write came first, or the bucket is out of reach: the entry says.
    auto again = read_lease();
    if (std::holds_alternative<Lease>(again) && !std::get<Lease>(again).value.empty()) return false;
    return "take the lease: " + *error;
  }
  value_ = text;
  revision_ = revision;
  return true;
}

std::variant<std::uint64_t, std::string> LeaderLease::stream_last() {
  jsStreamInfo* info = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  const std::string stream = "KV_" + options_.bucket;
  const natsStatus s = js_GetStreamInfo(&info, impl_->nats->js, stream.c_str(), nullptr, &code);
  if (s != NATS_OK) return nats_status_text(("stream " + stream).c_str(), s, code);
  const std::uint64_t last = info->State.LastSeq;
  jsStreamInfo_Destroy(info);
  return last;
}

std::optional<std::string> LeaderLease::write_after(std::uint64_t last, std::string_view value,
                                                    std::uint64_t& revision) {
  const std::string subject = "$KV." + options_.bucket + "." + kKey;
  const std::string id = options_.bucket + "-first";
  jsPubOptions o;
  jsPubOptions_Init(&o);
  o.MaxWait = options_.wait_ms;
  if (last > 0) {
    o.ExpectLastSeq = last;
  } else {
    o.MsgId = id.c_str();  // the client cannot expect 0; the first write is made once
  }
  jsPubAck* ack = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  const natsStatus s = js_Publish(&ack, impl_->nats->js, subject.c_str(), value.data(),
                                  static_cast<int>(value.size()), &o, &code);
  if (s != NATS_OK) return nats_status_text("write the lease", s, code);
  const bool duplicate = ack->Duplicate;
  revision = ack->Sequence;
  jsPubAck_Destroy(ack);
  if (duplicate) return std::string("jetstream: another node wrote the lease first");
  return std::nullopt;
}

std::variant<bool, std::string> LeaderLease::renew() {
  if (revision_ == 0) return false;
  std::uint64_t revision = 0;
  const auto failed = write_after(revision_, value_, revision);
  if (!failed) {
    revision_ = revision;
    return true;
  }
  auto read = read_entry(impl_->lease, kKey);
  if (auto* error = std::get_if<std::string>(&read)) return *error;
  if (std::get<Entry>(read).revision != revision_) {
    revision_ = 0;  // lapsed, or taken: not this node's any more
    return false;
  }
  return "renew the lease: " + *failed;
}

std::optional<std::string> LeaderLease::watch(std::function<void()> on_write) {
  if (impl_->watch != nullptr) return std::string("jetstream: already watching the lease");
  impl_->on_write = std::move(on_write);
  // An ordered consumer of the bucket's stream: it delivers each write once the stream
  // has stored it (a plain subscription would hear it before, and a read then could
  // still find the old value), starting with the entry as it is.
  const std::string stream = "KV_" + options_.bucket;
  const std::string subject = "$KV." + options_.bucket + "." + kKey;
  jsSubOptions sub;
  jsSubOptions_Init(&sub);
  sub.Stream = stream.c_str();
  sub.Ordered = true;
  sub.Config.DeliverPolicy = js_DeliverLastPerSubject;
  jsErrCode code = static_cast<jsErrCode>(0);
  const natsStatus s = js_Subscribe(
      &impl_->watch, impl_->nats->js, subject.c_str(),
      [](natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
        auto* impl = static_cast<Impl*>(closure);
        jsMsgMetaData* meta = nullptr;
        if (natsMsg_GetMetaData(&meta, msg) == NATS_OK) {
          const char* operation = nullptr;
          // A delete or a purge (KV-Operation) is a lease gone, as an empty value is.
          const bool gone = natsMsgHeader_Get(msg, "KV-Operation", &operation) == NATS_OK;
          std::lock_guard lock(impl->seen_mutex);
          if (meta->Sequence.Stream > impl->seen_revision) {
            impl->seen_revision = meta->Sequence.Stream;
            impl->seen_value.assign(
                gone ? "" : natsMsg_GetData(msg),
                gone ? 0 : static_cast<std::size_t>(natsMsg_GetDataLength(msg)));
          }
          jsMsgMetaData_Destroy(meta);
        }
        natsMsg_Destroy(msg);
        impl->on_write();
      },
      impl_.get(), nullptr, &sub, &code);
  if (s != NATS_OK) {
    impl_->watch = nullptr;
    return nats_status_text("watch the lease", s, code);
  }
  return std::nullopt;
}

void LeaderLease::release() {
  if (revision_ == 0) return;
  std::uint64_t revision = 0;
  (void)write_after(revision_, "", revision);
  revision_ = 0;
}

std::optional<std::string> LeaderLease::report_position(std::string_view node,
                                                        std::uint64_t position) {
  std::uint64_t revision = 0;
  const std::string key(node);
  const natsStatus s =
      kvStore_PutString(&revision, impl_->nodes, key.c_str(), std::to_string(position).c_str());
  if (s != NATS_OK) return nats_status_text(("report node " + key).c_str(), s);
  return std::nullopt;
}

std::optional<std::string> LeaderLease::forget(std::string_view node, std::int64_t alive_ms) {
  const std::string key(node);
  auto read = read_entry(impl_->nodes, key.c_str());
  if (auto* error = std::get_if<std::string>(&read)) return *error;
  const Entry& entry = std::get<Entry>(read);
  if (entry.revision == 0) {
    std::string known;
    if (auto listed = positions(); auto* nodes = std::get_if<0>(&listed)) {
      for (const auto& [name, at] : *nodes) known += (known.empty() ? "" : ", ") + name;
    }
    return "no node " + key + " in " + options_.bucket +
           "_NODES (there: " + (known.empty() ? "none" : known) + ")";
  }
  const std::int64_t now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count();
  const std::int64_t age_ms = (now_ns - entry.created_ns) / 1'000'000;
  if (age_ms < alive_ms) {
    return "node " + key + " reported its checkpoint position " + std::to_string(age_ms) +
           " ms ago: it is running (stop it first; a running node reports every second)";
  }
  const natsStatus s = kvStore_Purge(impl_->nodes, key.c_str(), nullptr);
  if (s != NATS_OK) return nats_status_text(("forget node " + key).c_str(), s);
  return std::nullopt;
}

std::variant<std::map<std::string, std::uint64_t>, std::string> LeaderLease::positions() {
  std::map<std::string, std::uint64_t> out;
  kvKeysList keys{};
  natsStatus s = kvStore_Keys(&keys, impl_->nodes, nullptr);
  if (s == NATS_NOT_FOUND) return out;
  if (s != NATS_OK) return nats_status_text("list nodes", s);
  std::optional<std::string> error;
  for (int i = 0; i < keys.Count && !error; ++i) {
    auto read = read_entry(impl_->nodes, keys.Keys[i]);
    if (auto* e = std::get_if<std::string>(&read)) {
      error = *e;
      break;
    }
    const std::string& text = std::get<Entry>(read).value;
    std::uint64_t position = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), position);
    if (ec != std::errc() || end != text.data() + text.size()) {
      error = "jetstream: node " + std::string(keys.Keys[i]) + "'s checkpoint position '" + text +
              "' is not a number";
      break;
    }
    out[keys.Keys[i]] = position;
  }
  kvKeysList_Destroy(&keys);
  if (error) return *error;
  return out;
}

}  // namespace bonus::server
