// LeaderLease: the lease that makes one bonusd the writer of a JetStream log (issue 15),
// kept in a JetStream key-value bucket whose entries live `ttl_ms` after their last
// write. The holder's entry is its client address; it renews the entry with a
// revision-checked write, so a renewal after another node took the lease fails and
// tells the holder it was deposed. A lapsed lease is an entry gone (expired) or emptied
// (a clean stop's release); another node takes it with a revision-checked write too, so
// two nodes never both take one lease. The revision checked is the bucket stream's last
// sequence (write_after): the key's own, which the key-value API checks, lets two
// concurrent takes both through on nats-server 2.9 (measured: 180 of 200 rounds). The lease decides
// who tries to write; what keeps two writers from interleaving records is the log's own fence
// (JetStreamLog: the expected last sequence), so a holder that missed its renewals (a paused
// process) is stopped by the log even before it learns of its lease.
//
// The same bucket family keeps each node's checkpoint position (a second bucket, entries
// without a life), so the leader trims the log only below what every node has
// checkpointed.
//
// Owned by the Server's Leadership (server/leadership.h), used on its thread alone. Its
// NATS connection has the library's own threads; watch()'s deliveries run there.
#pragma once

#include <cstdint>
#include <functional>
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
  // From now on `on_write` runs, on a thread of the NATS library's, soon after any
  // node's write to the lease (a take, a renewal, a release; this node's too) is stored:
  // a hint to look again, so that a standby takes a released lease at once rather than
  // at its next look. The write itself counts too: read_holder() and take() use it
  // when a read of the bucket is older. An ordered consumer of the bucket's stream; it
  // ends with this object.
  std::optional<std::string> watch(std::function<void()> on_write);
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
  // The entry as read, or as the watch last delivered it if that is newer.
  struct Lease {
    std::string value;
    std::uint64_t revision = 0;  // 0: no entry
  };
  std::variant<Lease, std::string> read_lease();
  // The last sequence of the bucket's stream: the entry's last revision, also once it
  // expired (0: never written).
  std::variant<std::uint64_t, std::string> stream_last();
  // Writes `value` to the entry if the bucket's stream still ends at `last` (0: never
  // written: then once, by a message id), giving its new revision. The check is the
  // stream's, not the key's: nats-server 2.9 lets concurrent writes that expect one
  // revision of a key all through (nats-server#4320); the bucket holds one key, so the
  // stream's last sequence is that key's.
  // Nothing, or why not (another node's write came first: a wrong last sequence).
  std::optional<std::string> write_after(std::uint64_t last, std::string_view value,
                                         std::uint64_t& revision);

  LeaderLeaseOptions options_;
  std::string value_;           // what this node wrote when it took the lease
  std::uint64_t revision_ = 0;  // of this node's last write; 0: not held
};

}  // namespace bonus::server
