// Leadership: which bonusd writes a log that several follow (--log jetstream, issue 15).
// Every node keeps its ledger from the same stream; the one holding the lease
// (server/leader_lease.h) leads: its sequencer writes the log and takes writes. The
// others are standbys: their sequencers follow the log into their shards and their own
// checkpoints, and they answer reads; writes get not_leader, naming the leader.
//
// Its thread, every ttl/6, and at once when the lease's watch hears a write to it (a
// standby takes a released lease within milliseconds):
// - leading: renews the lease every ttl/3. A renewal refused (the lease lapsed and
//   another node took it) makes the sequencer step down at once; renewals failing for a
//   whole ttl (the bucket out of reach) too. Either way the log's own fence stops a
//   writer that learns too late (Sequencer: a failed sync follows the log).
// - following: reads who holds the lease (for the hello and not_leader's message); a
//   lapsed lease is taken, and the sequencer told to take the log over (it follows to
//   the end, marks the log as its own, then leads).
// - every second: reports this node's checkpoint position to the nodes' bucket; the
//   leader trims the log below the lowest position of every node there.
//
// Owned by the Server; its thread is its own, the accessors are for any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "server/leader_lease.h"
#include "server/sequencer.h"

namespace bonus::server {

struct LeadershipOptions {
  LeaderLeaseOptions lease;
  std::string node;     // this node's name: its key in the nodes' bucket
  std::string address;  // where clients reach it (host:port): the lease's value
  // Leading: the log is trimmed below the lowest checkpoint position of every node, but
  // never keeps more than this many records behind this node's own checkpoint (0: no
  // bound). A node left behind by that is named in a warning: it cannot catch up from
  // its checkpoint any more.
  std::uint64_t retain_records = 0;
};

class Leadership {
 public:
  using Opened = std::variant<std::unique_ptr<Leadership>, std::string>;
  static Opened open(const LeadershipOptions& options);
  ~Leadership() { stop(); }

  // Start-up, before the replay: takes the lease if it has lapsed. True: this node leads
  // from the start (the server takes the log over before it serves); false: it follows.
  // Either way the thread starts here: it renews a lease taken for as long as the replay
  // takes, which may be longer than a lease lives.
  std::variant<bool, std::string> take_at_start();
  // After the replay: the thread goes on with the sequencer (following, taking over,
  // stepping down, reporting positions); its role changes come back through
  // role_changed(). A renewal that failed during the start makes it step down at once.
  void start(Sequencer& sequencer);
  // Ends the thread and lets the lease go if this node holds it, so a standby takes over
  // at once. After the sequencer has stopped.
  void stop();

  // Any thread: the leader's address as last read ("" when the lease has lapsed or
  // cannot be read), and this node's state in a line for `admin status` and the hello.
  std::string leader() const;
  std::string state() const;
  // The sequencer's thread (Sequencer::set_on_role).
  void role_changed(LogRole role, const std::string& why);
  // Any thread (admin forget_node): node `node`'s checkpoint position stops holding back
  // the log's trimming (LeaderLease::forget). `done` gets nothing, or why not, on the
  // leadership thread (or this one, for this node's own name) within a NATS request or
  // two.
  using Forgotten = std::function<void(std::optional<std::string> error)>;
  void forget(std::string node, Forgotten done);

 private:
  explicit Leadership(LeadershipOptions options) : options_(std::move(options)) {}
  void run();
  void lead(std::chrono::steady_clock::time_point now);
  // Before start(): renews a lease taken at the start, as lead() does, but tells no
  // sequencer (there is none yet).
  void renew_at_start(std::chrono::steady_clock::time_point now);
  void follow();
  void report_position(std::chrono::steady_clock::time_point now);
  // The thread: the forget requests waiting, answered.
  void forget_asked();
  // Any thread (the lease's watch): the thread looks now.
  void poke();

  LeadershipOptions options_;
  // The thread's (and start-up's, before it); stop() ends it, and with it the watch
  // that pokes this object.
  std::unique_ptr<LeaderLease> lease_;
  Sequencer* sequencer_ = nullptr;      // guarded by mutex_ until start(); null before it
  std::thread thread_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;          // guarded by mutex_
  bool poked_ = false;             // guarded by mutex_: look now, not at the next tick
  bool release_ = false;           // guarded by mutex_: the sequencer stopped leading
  bool promoting_ = false;         // guarded by mutex_: the sequencer is taking over
  std::string leader_;             // guarded by mutex_
  std::string state_ = "standby";  // guarded by mutex_
  std::string lease_error_;        // guarded by mutex_: the last failure to read the lease
  std::chrono::steady_clock::time_point renewed_;
  std::chrono::steady_clock::time_point reported_;
  struct Forget {
    std::string node;
    Forgotten done;
  };
  std::vector<Forget> forgets_;  // guarded by mutex_
  std::string trim_note_;  // the last note on who holds trimming back, not repeated
};

}  // namespace bonus::server
