// bonusd_child: helpers for tests that run bonusd as a ChildProcess (stdout and stderr
// apart), where BonusdProcess's fixed --listen and --data do not fit.
#pragma once

#include <cstdint>
#include <string>

#include "tests/server/child_process.h"

namespace bonus::test {

// The port of the "listening on HOST:PORT" line in bonusd's log; 0 if there is none.
inline std::uint16_t listening_port(const std::string& log) {
  const std::string marker = "listening on ";
  const auto at = log.find(marker);
  if (at == std::string::npos) return 0;
  const auto end = log.find_first_of(" ,", at + marker.size());  // "HOST:PORT (plain TCP), ..."
  const auto colon = log.rfind(':', end);
  if (end == std::string::npos || colon == std::string::npos || colon < at) return 0;
  return static_cast<std::uint16_t>(std::stoi(log.substr(colon + 1, end - colon - 1)));
}

// Waits (at most 60 s) for bonusd's start line; its port, or 0 if it exited or never said.
inline std::uint16_t wait_listening(ChildProcess& bonusd) {
  if (!bonusd.wait_for_stderr("listening on ", 60000)) return 0;
  return listening_port(bonusd.err());
}

}  // namespace bonus::test
