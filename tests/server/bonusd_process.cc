#include "tests/server/bonusd_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#ifndef BONUSD_PATH
#error "BONUSD_PATH must name the bonusd binary"
#endif

namespace bonus::test {

BonusdProcess::BonusdProcess() {
  char pattern[] = "/tmp/bonusd-test-XXXXXX";
  const char* dir = mkdtemp(pattern);
  data_dir_ = dir != nullptr ? dir : "/tmp/bonusd-test";
  log_path_ = data_dir_ + ".log";
}

BonusdProcess::~BonusdProcess() {
  if (running()) stop(SIGKILL);
  std::error_code ec;
  std::filesystem::remove_all(data_dir_, ec);
  std::filesystem::remove(log_path_, ec);
}

std::string BonusdProcess::log() const {
  std::ifstream in(log_path_);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

namespace {

int count_of(const std::string& text, const std::string& marker) {
  int n = 0;
  for (auto at = text.find(marker); at != std::string::npos; at = text.find(marker, at + 1)) ++n;
  return n;
}

// The port of "metrics on http://127.0.0.1:PORT/metrics" in a start line; 0 if none.
std::uint16_t metrics_port_in(const std::string& line) {
  const std::string marker = "metrics on http://127.0.0.1:";
  const auto at = line.find(marker);
  return at == std::string::npos ? 0 : static_cast<std::uint16_t>(std::stoi(line.substr(at + marker.size())));
}

}  // namespace

bool BonusdProcess::start(const std::vector<std::string>& args) {
  // --listen 127.0.0.1:0 unless `args` name another address (its port should be 0 too).
  std::string listen = "127.0.0.1:0";
  if (auto it = std::find(args.begin(), args.end(), "--listen"); it != args.end() && it + 1 != args.end()) {
    listen = *(it + 1);
  }
  const std::string marker = "listening on " + listen.substr(0, listen.rfind(':') + 1);
  // Starts that failed printed no "listening" line: wait for one more than there are.
  starts_ = count_of(log(), marker) + 1;
  // Small journal segments: tests run several servers at once, each preallocating one.
  std::vector<std::string> argv = {BONUSD_PATH, "--data", data_dir_};
  if (std::find(args.begin(), args.end(), "--listen") == args.end()) {
    argv.insert(argv.end(), {"--listen", listen});
  }
  if (std::find(args.begin(), args.end(), "--journal-segment-bytes") == args.end()) {
    argv.insert(argv.end(), {"--journal-segment-bytes", "8388608"});
  }
  argv.insert(argv.end(), args.begin(), args.end());
  pid_ = spawn_logged(std::move(argv), log_path_, descriptor_limit_);
  // Wait for this start's "listening on HOST:PORT" line.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    const std::string text = log();
    int seen = 0;
    for (auto at = text.find(marker); at != std::string::npos; at = text.find(marker, at + 1)) {
      if (++seen == starts_) {
        port_ = static_cast<std::uint16_t>(std::stoi(text.substr(at + marker.size())));
        metrics_port_ = metrics_port_in(text.substr(at, text.find('\n', at) - at));
        return true;
      }
    }
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

int BonusdProcess::stop(int signal) {
  if (!running()) return -1;
  kill(pid_, signal);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + WTERMSIG(status);
}

pid_t spawn_logged(std::vector<std::string> argv, const std::string& log_path,
                   std::uint64_t descriptor_limit) {
  const pid_t pid = fork();
  if (pid == 0) {
    // A test that dies (an assertion abort, a sanitizer report) takes its children along
    // instead of leaving them running.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    const int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    dup2(fd, 1);
    dup2(fd, 2);
    if (descriptor_limit > 0) {
      const rlimit limit{descriptor_limit, descriptor_limit};
      setrlimit(RLIMIT_NOFILE, &limit);
    }
    std::vector<char*> c;
    for (std::string& a : argv) c.push_back(a.data());
    c.push_back(nullptr);
    execv(c[0], c.data());
    _exit(127);
  }
  return pid;
}

int connect_loopback(std::uint16_t port, int receive_buffer_bytes) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (receive_buffer_bytes > 0) {
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receive_buffer_bytes, sizeof(receive_buffer_bytes));
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

RawConnection::RawConnection(std::uint16_t port) {
  fd_ = connect_loopback(port);
  if (fd_ < 0) return;
  int one = 1;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

RawConnection::~RawConnection() { close(); }

void RawConnection::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool RawConnection::send(const std::string& bytes) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

std::string RawConnection::receive(std::size_t n, int timeout_ms) {
  std::string out;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (out.size() < n) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                          deadline - std::chrono::steady_clock::now())
                          .count();
    if (left <= 0) break;
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left)) <= 0) break;
    char buffer[65536];
    const ssize_t got = ::recv(fd_, buffer, std::min(sizeof(buffer), n - out.size()), 0);
    if (got <= 0) break;
    out.append(buffer, static_cast<std::size_t>(got));
  }
  return out;
}

bool RawConnection::closed_by_peer(int timeout_ms) {
  pollfd p{fd_, POLLIN, 0};
  if (poll(&p, 1, timeout_ms) <= 0) return false;
  char c;
  return ::recv(fd_, &c, 1, 0) == 0;
}

}  // namespace bonus::test
