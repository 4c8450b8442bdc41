// metrics_text: renders a MetricsSnapshot and the server's own gauges as the body of
// GET /metrics (Prometheus text format 0.0.4). The names, types, labels and HELP texts
// of bonusd's metrics are here; server/README.md lists them. Stateless; any thread.
#pragma once

#include <cstdint>
#include <string>

#include "server/metrics.h"

namespace bonus::server {

// What the scrape reads from the Server itself (network thread) rather than the registry.
struct ServerGauges {
  std::uint32_t shards = 0;
  std::uint64_t journal_bytes = 0;
  std::int64_t requests_in_flight = 0;
};

// "credit", "accrue", ... "sweep", "set_limits": a command's kind (its Command index).
std::string_view command_kind_name(std::size_t index);

std::string metrics_text(const MetricsSnapshot& snapshot, const ServerGauges& gauges);

}  // namespace bonus::server
