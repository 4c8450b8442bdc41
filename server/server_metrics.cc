// Server's part in metrics: the GET /metrics endpoint and what a scrape reads from the
// Server itself (server.h, metrics_endpoint.h, metrics_text.h).
#include "server/metrics.h"
#include "server/metrics_endpoint.h"
#include "server/metrics_text.h"
#include "server/server.h"

namespace bonus::server {

std::optional<std::string> Server::open_metrics() {
  if (config_.metrics_listen.empty()) return std::nullopt;
  // Rendered on the main loop.
  metrics_endpoint_ = std::make_unique<MetricsEndpoint>(io_, [this] {
    ServerGauges gauges;
    gauges.shards = config_.shards;
    gauges.journal_bytes = sequencer_ ? sequencer_->journal_bytes() : 0;
    gauges.requests_in_flight = in_flight_.load(std::memory_order_relaxed);
    return metrics_text(metrics().snapshot(), gauges);
  });
  if (auto error = metrics_endpoint_->open(config_.metrics_listen)) {
    return "--metrics-listen " + config_.metrics_listen + ": " + *error;
  }
  return std::nullopt;
}

}  // namespace bonus::server
