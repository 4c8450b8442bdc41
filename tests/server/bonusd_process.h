// BonusdProcess: a real bonusd, started as a child process on a free loopback port with
// its own data directory, for end-to-end tests. The test owns it; not thread-safe.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace bonus::test {

class BonusdProcess {
 public:
  // A fresh data directory under /tmp; removed by the destructor unless keep_data().
  BonusdProcess();
  ~BonusdProcess();

  // Starts bonusd with `--listen 127.0.0.1:0 --data <dir>` (another --listen when `args`
  // name one: its port should be 0; and 8 MiB journal segments unless `args` name
  // --journal-segment-bytes) plus `args`, and waits for its "listening on" line. Returns false (with the log in `log()`) if it did not start.
  bool start(const std::vector<std::string>& args = {});
  // Sends `signal` and waits for the exit; returns the exit status (or 128 + signal).
  int stop(int signal = SIGTERM);
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  // Starts later run with this RLIMIT_NOFILE (soft and hard), set in the child before exec.
  void set_descriptor_limit(std::uint64_t limit) { descriptor_limit_ = limit; }

  std::uint16_t port() const { return port_; }
  // With --metrics-listen 127.0.0.1:PORT: the port bound, from the start line; else 0.
  std::uint16_t metrics_port() const { return metrics_port_; }
  const std::string& data_dir() const { return data_dir_; }
  std::string log() const;

 private:
  std::string data_dir_;
  std::string log_path_;
  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
  std::uint16_t metrics_port_ = 0;
  int starts_ = 0;
  std::uint64_t descriptor_limit_ = 0;  // 0: inherited
};

// Starts `argv` (argv[0] a path) as a child with stdout and stderr appended to
// `log_path`, and RLIMIT_NOFILE set to `descriptor_limit` when it is not 0; its pid. The
// child is killed if the calling thread ends first.
pid_t spawn_logged(std::vector<std::string> argv, const std::string& log_path,
                   std::uint64_t descriptor_limit = 0);

// A TCP connection to 127.0.0.1:`port` (a receive buffer of `receive_buffer_bytes` when
// not 0, set before connecting); the descriptor, or -1.
int connect_loopback(std::uint16_t port, int receive_buffer_bytes = 0);

// A blocking loopback TCP connection for sending raw bytes in bad-input tests.
class RawConnection {
 public:
  explicit RawConnection(std::uint16_t port);
  ~RawConnection();
  bool connected() const { return fd_ >= 0; }
  bool send(const std::string& bytes);
  // Reads exactly n bytes, or fewer if the peer closes or `timeout_ms` passes.
  std::string receive(std::size_t n, int timeout_ms = 5000);
  // True if the peer closed the connection (read returns 0) within `timeout_ms`.
  bool closed_by_peer(int timeout_ms = 5000);
  void close();

 private:
  int fd_ = -1;
};

}  // namespace bonus::test
