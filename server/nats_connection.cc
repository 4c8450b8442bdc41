#include "server/nats_connection.h"

#include <algorithm>
#include <vector>

namespace bonus::server {

std::string nats_status_text(const char* what, natsStatus s, jsErrCode code) {
  std::string out = std::string("jetstream: ") + what + ": " + natsStatus_GetText(s);
  const char* last = nats_GetLastError(nullptr);
  if (last != nullptr && *last != '\0') {
    out += " (";
    out += last;
    out += ")";
  }
  if (code != 0) out += " [JetStream error " + std::to_string(static_cast<int>(code)) + "]";
  return out;
}

NatsConnection::~NatsConnection() {
  jsCtx_Destroy(js);
  natsConnection_Destroy(connection);
}

NatsConnection::Opened NatsConnection::open(const std::string& urls, std::int64_t wait_ms) {
  std::vector<std::string> list;
  for (std::size_t at = 0; at <= urls.size();) {
    const std::size_t comma = std::min(urls.find(',', at), urls.size());
    if (comma > at) list.push_back(urls.substr(at, comma - at));
    at = comma + 1;
  }
  if (list.empty()) return std::string("jetstream: no NATS server given (--nats)");
  std::vector<const char*> servers;
  for (const std::string& url : list) servers.push_back(url.c_str());
  auto made = std::make_unique<NatsConnection>();
  natsOptions* options = nullptr;
  natsStatus s = natsOptions_Create(&options);
  if (s == NATS_OK) {
    s = natsOptions_SetServers(options, servers.data(), static_cast<int>(servers.size()));
  }
  if (s == NATS_OK) s = natsOptions_SetTimeout(options, wait_ms);
  // Reconnect for as long as it takes: the servers come back, the log and the lease go on.
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(options, -1);
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(options, 100);
  if (s == NATS_OK) s = natsConnection_Connect(&made->connection, options);
  natsOptions_Destroy(options);
  if (s != NATS_OK) return nats_status_text(("connect to " + urls).c_str(), s);
  jsOptions_Init(&made->js_options);
  made->js_options.Wait = wait_ms;
  if ((s = natsConnection_JetStream(&made->js, made->connection, &made->js_options)) != NATS_OK) {
    return nats_status_text("context", s);
  }
  return made;
}

}  // namespace bonus::server
