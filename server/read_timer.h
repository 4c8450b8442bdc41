// ReadTimer: times one connection's reads (balance, cart, wallet, expiring, stats) from
// their frame being read to their reply being back on the network thread, ready to write,
// into the bonus_read_seconds histogram (metrics.h). A request id a client reuses while
// the first is in flight times only the later one.
//
// Owned by its Connection; network thread. It holds one entry per read in flight, so no
// more than the connection's in-flight bound: every accepted request is answered once.
#pragma once

#include <chrono>
#include <cstdint>
#include <string_view>
#include <unordered_map>

#include "protocol/frame.h"
#include "server/metrics.h"

namespace bonus::server {

class ReadTimer {
 public:
  // A request was accepted (any opcode; only reads are timed).
  void arrived(const protocol::FrameHeader& header);
  // A frame that completes a request is about to be sent (its header is read again).
  void replied(std::string_view frame);
  // Reads being timed (tests).
  std::size_t pending() const { return reads_.size(); }

 private:
  struct Read {
    Histogram histogram;
    std::chrono::steady_clock::time_point arrived;
  };
  std::unordered_map<std::uint64_t, Read> reads_;  // by request id
};

}  // namespace bonus::server
