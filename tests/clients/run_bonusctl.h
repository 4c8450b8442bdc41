// Running bonusctl from a test: the real binary as a child process, its output through
// files (nothing blocks on a pipe), its exit code. Header-only: BONUSCTL_PATH is each test
// target's definition. Any thread; each call waits for its child.
#pragma once

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#ifndef BONUSCTL_PATH
#error "BONUSCTL_PATH must name the bonusctl binary"
#endif

namespace bonus::test {

struct Ran {
  int code = -1;  // the exit code, or 128 + the signal that ended it
  std::string out;
  std::string err;
};

inline std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// bonusctl `args`, with each of `env` set in its environment (an empty value: unset);
// stdout and stderr go to files in `dir`.
inline Ran run_bonusctl(const std::string& dir, std::vector<std::string> args,
                        const std::vector<std::pair<std::string, std::string>>& env = {}) {
  static int serial = 0;
  const std::string out_path = dir + "/bonusctl" + std::to_string(++serial) + ".out";
  const std::string err_path = out_path + ".err";
  args.insert(args.begin(), BONUSCTL_PATH);
  const pid_t pid = fork();
  if (pid == 0) {
    for (const auto& [name, value] : env) {
      if (value.empty()) {
        unsetenv(name.c_str());
      } else {
        setenv(name.c_str(), value.c_str(), 1);
      }
    }
    dup2(open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600), 1);
    dup2(open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600), 2);
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return Ran{WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), slurp(out_path),
             slurp(err_path)};
}

}  // namespace bonus::test
