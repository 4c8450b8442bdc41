// FlowLoop: one bonus-bench thread's event loop. It owns a few non-blocking connections to
// bonusd, each with `depth` flow slots, and runs the workload's flows (cart, checkout,
// accrual; bench/README.md) on them: a slot sends one request of its flow at a time and
// starts its next step, or its next flow, when the reply comes. Every request made in one
// turn of the loop goes out in one write per connection, and every reply that has come is
// read in a few large reads: no thread per request in flight, so a small machine can offer
// the load. Closed loop: a slot starts its next flow as soon as its last one ends. Open
// loop (rate > 0): flow i is due at start + i / rate (this thread takes i = index,
// index + threads, ...), goes out on the first free slot, and its first request's latency
// is counted from when it was due, also while it waited for a slot.
//
// Owned by main(); run() runs on its own thread. It writes only its Recorder and the
// Run's atomics.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "bench/bonus_bench/recorder.h"
#include "bench/bonus_bench/workload.h"
#include "engine/types.h"
#include "protocol/messages.h"

namespace bonus::bench {

using Clock = std::chrono::steady_clock;

// What every loop of a run shares; the settings are fixed before the loops start.
struct FlowRun {
  std::string host;
  std::uint16_t port = 0;
  // Not empty (--route): connection g goes to partition g % size()'s port and carries
  // only flows of that partition's buyers (mix64(buyer) % size()), as a partition-aware
  // client sends them.
  std::vector<std::uint16_t> partition_ports;
  const Workload* workload = nullptr;
  Mix mix;
  double rate = 0;           // flows per second over every loop; 0: closed loop
  std::uint64_t count = 0;   // flows over every loop; 0: until `stop`
  std::uint32_t depth = 16;  // flow slots a connection
  TimeUs hold_timeout_us = 2'000'000;
  std::uint32_t accrual_lag = 32;
  std::uint64_t seed = 1;
  std::uint64_t nonce = 1;  // makes ids unique to the run
  Clock::time_point start{};
  // After `stop`, replies still awaited this long count as timeouts.
  std::chrono::milliseconds drain{30'000};

  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> next_flow{0};  // closed loop with `count`
  std::atomic<std::uint64_t> holds_left_to_time_out{0};
};

// Slot numbers go into 12 bits of an order id (IdSource); 0xFFF is the bursts'.
inline constexpr std::uint32_t kSlotsMax = 4'000;

class FlowLoop {
 public:
  // Loop `index` of `loops`: its connections are numbered from `first_connection`, its
  // slots from first_connection * run.depth. Connects at once; exits the process with
  // status 3 when it cannot.
  FlowLoop(FlowRun& run, std::uint32_t index, std::uint32_t loops, std::uint32_t connections,
           std::uint32_t first_connection, Recorder& recorder);
  ~FlowLoop();
  FlowLoop(const FlowLoop&) = delete;
  FlowLoop& operator=(const FlowLoop&) = delete;

  // Runs flows until the run stops (or its count is reached), then waits up to run.drain
  // for the replies still awaited.
  void run();

 private:
  struct Connection;
  struct Slot;
  enum class Step : std::uint8_t;
  static Op op_of(Step step);  // the report's row of a step that awaits a reply

  // Starts a flow on every idle slot (closed loop), or every flow due by `now` that finds
  // an idle slot (open loop).
  void start_flows(Clock::time_point now);
  void start_flow(Slot& slot, Clock::time_point intended);
  void cart(Slot& slot, BuyerId buyer, std::uint32_t own_sellers);
  void checkout(Slot& slot, BuyerId buyer, SellerId seller);
  void accrual(Slot& slot, BuyerId buyer, SellerId seller);
  void end_accrual(Slot& slot);
  // Appends the request (fbb_'s body) to the slot's connection; it waits for its reply.
  template <typename C>
  void send_write(Slot& slot, Step step, const C& command);
  void send(Slot& slot, Step step, protocol::Opcode opcode);
  // The reply `slot` waited for: recorded, then the flow's next step, or the slot idle.
  void answered(Slot& slot, protocol::Opcode opcode, protocol::Body body);
  void flush(std::size_t connection);
  void receive(std::size_t connection);
  bool parse(std::size_t connection);
  void lose(std::size_t connection, std::string_view why, std::string_view status);
  std::uint64_t uniform_between(Slot& slot, std::uint64_t low, std::uint64_t high);

  FlowRun& run_;
  std::uint32_t index_;
  std::uint32_t loops_;
  Recorder& recorder_;
  std::vector<Connection> connections_;
  std::vector<Slot> slots_;
  std::vector<std::uint32_t> idle_;  // slots with no flow, on live connections
  std::uint64_t in_flight_ = 0;
  std::uint64_t next_due_;  // open loop: the next flow number of this loop
  int epoll_ = -1;
  bool refusal_printed_ = false;
  flatbuffers::FlatBufferBuilder fbb_{512};  // the request being made
  protocol::CartQuery cart_;
  std::vector<CartEntry> cart_reply_;
  std::vector<protocol::IndexedResult> write_reply_;
};

}  // namespace bonus::bench
