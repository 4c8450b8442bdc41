// Server's authentication: where it may listen, the auth file at start, and its reload
// on SIGHUP (main loop); connections read it from their partitions' threads.
#include <spdlog/spdlog.h>

#include "server/listen_exposure.h"
#include "server/server.h"

namespace bonus::server {

std::optional<std::string> Server::start_auth() {
  const bool tls = !config_.tls_cert_file.empty();
  if (auto problem = listen_exposure_problem(config_.listen_host, !config_.auth_file.empty(), tls,
                                             config_.insecure)) {
    return problem;
  }
  if (auto problem = metrics_exposure_problem(config_.metrics_listen, config_.insecure)) {
    return problem;
  }
  if (config_.auth_file.empty()) return std::nullopt;
  auto loaded = AuthFile::load(config_.auth_file);
  if (auto* error = std::get_if<std::string>(&loaded)) return *error;
  auth_ = std::get<std::shared_ptr<const AuthFile>>(std::move(loaded));
  auth_generation_ = 1;
  if (auth_->entries().empty()) {
    spdlog::warn("auth file {} lists no token: every request but ping will be refused until "
                 "one is added (then SIGHUP)",
                 config_.auth_file);
  }
  return std::nullopt;
}

void Server::watch_hangup() {
  hangup_.async_wait([this](const asio::error_code& ec, int) {
    if (ec) return;
    reload_auth();
    watch_hangup();
  });
}

// A bad file keeps the table in force: a typo must not lock every client out (or in).
// Connections look their token up again before their next request (Connection::gate).
void Server::reload_auth() {
  if (config_.auth_file.empty()) {
    spdlog::info("SIGHUP: no --auth-file to re-read; nothing changed");
    return;
  }
  auto loaded = AuthFile::load(config_.auth_file);
  if (auto* error = std::get_if<std::string>(&loaded)) {
    spdlog::error("SIGHUP: {}; keeping the {} tokens loaded before", *error,
                  auth_->entries().size());
    return;
  }
  {
    std::lock_guard lock(auth_mutex_);
    auth_ = std::get<std::shared_ptr<const AuthFile>>(std::move(loaded));
  }
  auth_generation_.fetch_add(1, std::memory_order_acq_rel);
  spdlog::info("SIGHUP: auth file {} reloaded: {} tokens", config_.auth_file,
               auth_->entries().size());
}

// The main loop replaces auth_ (the only writer, so its own reads need no lock).
std::shared_ptr<const AuthFile> Server::auth() const {
  std::lock_guard lock(auth_mutex_);
  return auth_;
}

}  // namespace bonus::server
