// Raising the process's descriptor limit (RLIMIT_NOFILE) at start so that
// --connections-max connections fit beside the server's own files. Called once from
// Server::start, before any connection; main thread.
#pragma once

#include <cstdint>
#include <string>

namespace bonus::server {

// Descriptors the server keeps for itself beyond its connections: the listener, epoll,
// signal and wake-up descriptors, journal segments, LMDB's files, log files, a margin.
inline constexpr std::uint64_t kOwnDescriptorsMax = 64;

struct DescriptorLimit {
  std::uint64_t soft = 0;  // after the call
  std::uint64_t wanted = 0;
  bool enough = false;  // soft >= wanted
  std::string note;     // for the start line; says why when not enough
};

// Raises the soft limit towards connections_max + kOwnDescriptorsMax, up to the hard one.
DescriptorLimit raise_descriptor_limit(std::uint32_t connections_max);

}  // namespace bonus::server
