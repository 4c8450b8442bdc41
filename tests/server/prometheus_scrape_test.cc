// A real Prometheus (Debian's prometheus package) scrapes a real bonusd every second, and
// one counter comes back through its query API with the value the client caused.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "tests/server/http_get.h"
#include "tests/server/wire.h"

namespace bonus::test {
namespace {

constexpr const char* kPrometheus = "/usr/bin/prometheus";

// A free loopback port (bound, read, released: another process may take it first, which
// only makes the test fail to start Prometheus, not pass wrongly).
std::uint16_t free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t size = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &size);
  close(fd);
  return ntohs(addr.sin_port);
}

// A Prometheus child process with its own config and storage under `dir`.
class PrometheusProcess {
 public:
  PrometheusProcess(const std::string& dir, std::uint16_t target_port) : dir_(dir) {
    std::filesystem::create_directories(dir_ + "/data");
    std::ofstream(dir_ + "/prometheus.yml")
        << "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
        << "scrape_configs:\n  - job_name: bonusd\n    static_configs:\n"
        << "      - targets: ['127.0.0.1:" << target_port << "']\n";
  }
  ~PrometheusProcess() { stop(); }

  void start() {
    port_ = free_port();
    std::vector<std::string> argv = {kPrometheus, "--config.file=" + dir_ + "/prometheus.yml",
                                     "--storage.tsdb.path=" + dir_ + "/data",
                                     "--web.listen-address=127.0.0.1:" + std::to_string(port_)};
    pid_ = spawn_logged(argv, dir_ + "/log");
  }
  void stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }
  std::uint16_t port() const { return port_; }
  std::string log() const {
    std::ifstream in(dir_ + "/log");
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

 private:
  std::string dir_;
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
};

TEST(PrometheusScrape, ACounterComesBackThroughTheQueryApi) {
  if (!std::filesystem::exists(kPrometheus)) {
    GTEST_SKIP() << kPrometheus
                 << " is missing: scripts/setup installs Debian's prometheus package";
  }
  BonusdProcess server;
  ASSERT_TRUE(server.start({"--metrics-listen", "127.0.0.1:0"})) << server.log();
  RawConnection client(server.port());
  const std::vector<Credit> credits = {Credit{Id128{5, 1}, 1, 42, 100, 0, LotLife::forever()},
                                       Credit{Id128{5, 2}, 1, 43, 100, 0, LotLife::forever()}};
  const auto results = write_batch(client, 1, std::span<const Credit>(credits));
  ASSERT_TRUE(results.has_value());

  PrometheusProcess prometheus(server.data_dir() + ".prometheus", server.metrics_port());
  prometheus.start();
  // Prometheus starts, scrapes within a second or two, and the query sees the sample.
  const std::string query =
      "/api/v1/query?query=bonus_commands_total%7Bkind%3D%22credit%22%2Ccode%3D%22ok%22%7D";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  HttpReply reply;
  while (std::chrono::steady_clock::now() < deadline) {
    reply = http_get(prometheus.port(), query, 2'000);
    if (reply.status == 200 && reply.body.find("\"job\":\"bonusd\"") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  ASSERT_EQ(reply.status, 200) << prometheus.log();
  EXPECT_NE(reply.body.find("\"__name__\":\"bonus_commands_total\""), std::string::npos)
      << reply.body;
  EXPECT_NE(reply.body.find("\"job\":\"bonusd\""), std::string::npos) << reply.body;
  // The value: [<time>,"2"], the two credits.
  EXPECT_NE(reply.body.find(",\"2\"]"), std::string::npos) << reply.body;
  // And Prometheus saw the target as up.
  const HttpReply up = http_get(prometheus.port(), "/api/v1/query?query=up", 2'000);
  EXPECT_NE(up.body.find(",\"1\"]"), std::string::npos) << up.body;
  prometheus.stop();
  std::filesystem::remove_all(server.data_dir() + ".prometheus");
}

}  // namespace
}  // namespace bonus::test
