// LeaderLease: the lease that makes one bonusd the writer of a JetStream log (issue 15),
// kept in a JetStream key-value bucket whose entries live `ttl_ms` after their last
// write. The holder's entry is its client address; it renews the entry with a
// revision-checked update, so a renewal after another node took the lease fails and
// tells the holder it was deposed. A lapsed lease is an entry gone (expired) or emptied
// (a clean stop's release); another node takes it with a revision-checked write too, so
// two nodes never both take one lease. The lease decides who tries to write; what keeps
// two writers from interleaving records is the log's own fence (JetStreamLog: the
// expected last sequence), so a holder that missed its renewals (a paused process) is
// stopped by the log even before it learns of its lease.
//
// The same bucket family keeps each node's checkpoint position (a second bucket, entries
// without a life), so the leader trims the log only below what every node has
// checkpointed.
//
// Owned by the Server's Leadership (server/leadership.h), used on its thread alone. Its
// NATS connection has the library's own threads.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace bonus::server {

struct LeaderLeaseOptions {
  std::string urls;             // nats://host:port[,nats://...]
  std::string bucket;           // the lease's; "<bucket>_NODES" holds checkpoint positions
  int replicas = 3;             // for buckets it creates
  std::int64_t ttl_ms = 3000;   // for a bucket it creates: an entry's life after its write
  std::int64_t wait_ms = 2000;  // for each request
};

class LeaderLease {
 public:
  using Opened = std::variant<std::unique_ptr<LeaderLease>, std::string>;
  // Connects and finds the buckets, creating them when missing.
  static Opened open(const LeaderLeaseOptions& options);
  ~LeaderLease();
  LeaderLease(const LeaderLease&) = delete;
  LeaderLease& operator=(const LeaderLease&) = delete;

  // Who holds the lease now: its value (a client address), or "" when it has lapsed; an
  // error when the bucket cannot be reached.
  std::optional<std::string> read_holder(std::string& holder);
  // Takes a lapsed lease with `value`: true when taken, false when another node holds
  // it (or took it first); an error when the bucket cannot be reached.
  std::variant<bool, std::string> take(std::string_view value);
  // Renews the lease this node took: true when renewed, false when it is no longer
  // this node's (lapsed and taken, or gone); an error when the bucket cannot be reached
  // (the holder decides how long it may go on without a renewal).
  std::variant<bool, std::string> renew();
  // Lets the lease go at once (a clean stop), unless another node holds it by now.
  void release();
  bool held() const { return revision_ != 0; }

  // This node's checkpoint position, and every node's as last reported.
  std::optional<std::string> report_position(std::string_view node, std::uint64_t position);
  std::variant<std::map<std::string, std::uint64_t>, std::string> positions();
  // Removes node `node`'s position (a node gone for good), unless it reported within
  // `alive_ms` (a live node reports every second: it would be back, and the log trimmed
  // past it meanwhile). An error says why not: no such node, alive, or the bucket.
  std::optional<std::string> forget(std::string_view node, std::int64_t alive_ms);

 private:
  struct Impl;
  explicit LeaderLease(LeaderLeaseOptions options);
  std::unique_ptr<Impl> impl_;
  LeaderLeaseOptions options_;
  std::string value_;           // what this node wrote when it took the lease
  std::uint64_t revision_ = 0;  // of this node's last write; 0: not held
};

}  // namespace bonus::server
