// NatsCluster: three Debian nats-servers on loopback forming one JetStream cluster (the
// routes between them on ports of their own), for the tests of bonusd's standbys
// (issue 15). Each keeps its store in a temporary directory of its own that outlives a
// kill, so a server killed and started again comes back with its streams. Killed
// (SIGKILL) by the destructor. The test owns it; not thread-safe.
#pragma once

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <ctime>
#include <memory>
#include <random>
#include <string>
#include <thread>

#include "tests/server/child_process.h"
#include "tests/server/nats_server.h"
#include "tests/server/temp_dir.h"

namespace bonus::test {

class NatsCluster {
 public:
  static constexpr int kServers = 3;

  // Starts all three and waits (at most 10 s each) until each is ready; false with log()
  // on failure. JetStream answers once the servers have elected a meta leader, a few
  // seconds later: callers retry their first request (BonusdProcess start, say).
  bool start() {
    for (int n = 0; n < kServers; ++n) {
      client_ports_[n] = free_port();
      cluster_ports_[n] = free_port();
    }
    for (int n = 0; n < kServers; ++n) {
      if (!start_one(n)) return false;
    }
    return true;
  }
  // SIGKILL server n (0..2), or start it again on its ports and store.
  void kill(int n) { servers_[n]->stop(SIGKILL); }
  bool restart(int n) { return start_one(n); }

  // "nats://127.0.0.1:a,nats://127.0.0.1:b,nats://127.0.0.1:c", for bonusd --nats.
  std::string urls() const {
    std::string out;
    for (int n = 0; n < kServers; ++n) {
      out +=
          (n == 0 ? "" : ",") + std::string("nats://127.0.0.1:") + std::to_string(client_ports_[n]);
    }
    return out;
  }
  std::string log() const {
    std::string out;
    for (int n = 0; n < kServers; ++n) {
      if (servers_[n]) out += "--- nats-server " + std::to_string(n) + ":\n" + servers_[n]->err();
    }
    return out.empty() ? missing_ : out;
  }

 private:
  // A port nothing uses now, below the kernel's ephemeral range (32768 up), where an
  // outgoing connection could take it before the server binds it.
  static std::uint16_t free_port() {
    static std::minstd_rand rng(static_cast<unsigned>(getpid()) * 7919u +
                                static_cast<unsigned>(time(nullptr)));
    for (;;) {
      const auto port = static_cast<std::uint16_t>(10000 + rng() % 20000);
      const int fd = socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in address{};
      address.sin_family = AF_INET;
      address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      address.sin_port = htons(port);
      const bool free = bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
      close(fd);
      if (free) return port;
    }
  }

  bool start_one(int n) {
    if (!NatsServer::installed()) {
      missing_ = std::string(NatsServer::kPath) +
                 " is missing: scripts/setup installs Debian's nats-server";
      return false;
    }
    std::string routes;
    for (int m = 0; m < kServers; ++m) {
      if (m == n) continue;
      routes += (routes.empty() ? "" : ",") + std::string("nats://127.0.0.1:") +
                std::to_string(cluster_ports_[m]);
    }
    servers_[n] = std::make_unique<ChildProcess>();
    if (!servers_[n]->start({NatsServer::kPath, "-a", "127.0.0.1", "-p",
                             std::to_string(client_ports_[n]), "-js", "-sd", dirs_[n].path(), "-n",
                             "n" + std::to_string(n), "--cluster_name", "bonus", "--cluster",
                             "nats://127.0.0.1:" + std::to_string(cluster_ports_[n]), "--routes",
                             routes})) {
      return false;
    }
    return servers_[n]->wait_for_stderr("Server is ready", 10000);
  }

  std::array<TempDir, kServers> dirs_{TempDir("bonus-nats"), TempDir("bonus-nats"),
                                      TempDir("bonus-nats")};
  std::array<std::unique_ptr<ChildProcess>, kServers> servers_;
  std::array<std::uint16_t, kServers> client_ports_{};
  std::array<std::uint16_t, kServers> cluster_ports_{};
  std::string missing_;
};

}  // namespace bonus::test
