#include "tests/server/child_process.h"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace bonus::test {

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

int status_of(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  return 128 + WTERMSIG(wait_status);
}

}  // namespace

ChildProcess::ChildProcess() {
  char pattern[] = "/tmp/child-process-XXXXXX";
  const char* dir = mkdtemp(pattern);
  dir_ = dir != nullptr ? dir : "/tmp";
}

ChildProcess::~ChildProcess() {
  if (running()) stop(SIGKILL);
  std::error_code ec;
  if (dir_ != "/tmp") std::filesystem::remove_all(dir_, ec);
}

std::string ChildProcess::out() const {
  return read_file(dir_ + "/out");
}
std::string ChildProcess::err() const {
  return read_file(dir_ + "/err");
}

bool ChildProcess::start(const std::vector<std::string>& argv) {
  const std::string out_path = dir_ + "/out", err_path = dir_ + "/err";
  const pid_t pid = fork();
  if (pid < 0) return false;
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // dies with the test
    dup2(open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644), 1);
    dup2(open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644), 2);
    std::vector<char*> c;
    for (const std::string& a : argv) c.push_back(const_cast<char*>(a.c_str()));
    c.push_back(nullptr);
    execv(c[0], c.data());
    _exit(127);
  }
  pid_ = pid;
  status_ = -1;
  return true;
}

int ChildProcess::wait(int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (running()) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      status_ = status_of(status);
      break;
    }
    if (std::chrono::steady_clock::now() >= deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return status_;
}

bool ChildProcess::wait_for_stderr(const std::string& text, int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    if (err().find(text) != std::string::npos) return true;
    if (wait(0) != -1) return err().find(text) != std::string::npos;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

int ChildProcess::stop(int signal) {
  if (!running()) return status_;
  kill(pid_, signal);
  const int status = wait(60000);
  if (status != -1) return status;
  kill(pid_, SIGKILL);
  return wait(60000);
}

ChildProcess::Finished ChildProcess::run(const std::vector<std::string>& argv, int timeout_ms) {
  ChildProcess child;
  Finished finished;
  if (!child.start(argv)) return finished;
  finished.status = child.wait(timeout_ms);
  if (finished.status == -1) child.stop(SIGKILL);
  finished.out = child.out();
  finished.err = child.err();
  return finished;
}

}  // namespace bonus::test
