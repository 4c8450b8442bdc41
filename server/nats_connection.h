// NatsConnection: one connection to a NATS server list and its JetStream context, as the
// log (server/jetstream_log.h) and the lease (server/leader_lease.h) each hold one; and
// the text of a NATS failure. The connection has the library's own threads; its owner
// uses it from one thread at a time.
#pragma once

#include <nats/nats.h>

#include <cstdint>
#include <memory>
#include <string>
#include <variant>

namespace bonus::server {

struct NatsConnection {
  natsConnection* connection = nullptr;
  jsCtx* js = nullptr;
  jsOptions js_options;
  ~NatsConnection();

  using Opened = std::variant<std::unique_ptr<NatsConnection>, std::string>;
  // `urls`: "nats://a:4222,nats://b:4222"; the client tries them all and reconnects to
  // any. `wait_ms`: for the connect and for every JetStream request.
  static Opened open(const std::string& urls, std::int64_t wait_ms);
};

// "jetstream: <what>: <status> (<the library's last error>) [JetStream error <code>]".
std::string nats_status_text(const char* what, natsStatus s,
                             jsErrCode code = static_cast<jsErrCode>(0));

}  // namespace bonus::server
