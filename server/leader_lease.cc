#include "server/leader_lease.h"

#include <charconv>
#include <chrono>

#include "server/nats_connection.h"

namespace bonus::server {
namespace {

constexpr const char* kKey = "leader";

}  // namespace

struct LeaderLease::Impl {
  std::unique_ptr<NatsConnection> nats;
  kvStore* lease = nullptr;
  kvStore* nodes = nullptr;
  ~Impl() {
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

std::optional<std::string> LeaderLease::read_holder(std::string& holder) {
  auto read = read_entry(impl_->lease, kKey);
  if (auto* error = std::get_if<std::string>(&read)) return *error;
  holder = std::get<Entry>(read).value;
  return std::nullopt;
}

std::variant<bool, std::string> LeaderLease::take(std::string_view value) {
  auto read = read_entry(impl_->lease, kKey);
  if (auto* error = std::get_if<std::string>(&read)) return *error;
  const Entry& entry = std::get<Entry>(read);
  if (!entry.value.empty()) return false;
  const std::string text(value);
  std::uint64_t revision = 0;
  // Revision-checked both ways: create expects no entry, update expects the lapsed one.
  const natsStatus s = entry.revision == 0
                           ? kvStore_Create(&revision, impl_->lease, kKey, text.data(),
                                            static_cast<int>(text.size()))
                           : kvStore_Update(&revision, impl_->lease, kKey, text.data(),
                                            static_cast<int>(text.size()), entry.revision);
  if (s != NATS_OK) {
    // Another node's write came first, or the bucket is out of reach: the entry says.
    auto again = read_entry(impl_->lease, kKey);
    if (std::holds_alternative<Entry>(again) && !std::get<Entry>(again).value.empty()) return false;
    return nats_status_text("take the lease", s);
  }
  value_ = text;
  revision_ = revision;
  return true;
}

std::variant<bool, std::string> LeaderLease::renew() {
  if (revision_ == 0) return false;
  std::uint64_t revision = 0;
  const natsStatus s = kvStore_Update(&revision, impl_->lease, kKey, value_.data(),
                                      static_cast<int>(value_.size()), revision_);
  if (s == NATS_OK) {
    revision_ = revision;
    return true;
  }
  auto read = read_entry(impl_->lease, kKey);
  if (auto* error = std::get_if<std::string>(&read)) return *error;
  if (std::get<Entry>(read).revision != revision_) {
    revision_ = 0;  // lapsed, or taken: not this node's any more
    return false;
  }
  return nats_status_text("renew the lease", s);
}

void LeaderLease::release() {
  if (revision_ == 0) return;
  std::uint64_t revision = 0;
  (void)kvStore_Update(&revision, impl_->lease, kKey, "", 0, revision_);
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
