// NatsServer: Debian's nats-server with JetStream, started by a test on a free loopback
// port with its store in a temporary directory, for the tests of the log on JetStream.
// Killed (SIGKILL) by its destructor. The test owns it.
#pragma once

#include <signal.h>

#include <filesystem>
#include <string>

#include "tests/server/child_process.h"
#include "tests/server/temp_dir.h"

namespace bonus::test {

class NatsServer {
 public:
  static constexpr const char* kPath = "/usr/sbin/nats-server";  // Debian's nats-server

  static bool installed() { return std::filesystem::exists(kPath); }

  // Starts it and waits (at most 10 s) until it is ready; false with log() on failure
  // (which says so when it is not installed: then the test fails, it is not skipped).
  bool start() {
    if (!installed()) {
      missing_ = kPath;
      missing_ += " is missing: scripts/setup installs Debian's nats-server";
      return false;
    }
    if (!process_.start({kPath, "-a", "127.0.0.1", "-p", "-1", "-js", "-sd", dir_.path()})) {
      return false;
    }
    if (!process_.wait_for_stderr("Server is ready", 10000)) return false;
    const std::string err = process_.err();
    const std::string listening = "client connections on 127.0.0.1:";
    const std::size_t at = err.find(listening);
    if (at == std::string::npos) return false;
    const std::size_t digits = at + listening.size();
    const std::size_t end = err.find_first_not_of("0123456789", digits);
    if (end == digits) return false;
    url_ = "nats://127.0.0.1:";
    url_ += err.substr(digits, end - digits);
    return true;
  }
  void kill() { process_.stop(SIGKILL); }
  const std::string& url() const { return url_; }
  std::string log() const { return missing_.empty() ? process_.err() : missing_; }

 private:
  TempDir dir_{"bonus-nats"};
  ChildProcess process_;
  std::string url_;
  std::string missing_;
};

}  // namespace bonus::test
