// ChildProcess: a program a test runs as a child process, with its stdout and its stderr
// each captured in a file of its own, so that a test can tell them apart (BonusdProcess
// merges them). Bounded waits only. The test owns it; not thread-safe.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <string>
#include <vector>

namespace bonus::test {

class ChildProcess {
 public:
  ChildProcess();
  // Kills the child (SIGKILL) if it still runs and removes the captured output.
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Starts argv[0] (a path) with the rest as its arguments. False if it could not fork.
  bool start(const std::vector<std::string>& argv);
  // Waits at most `timeout_ms` for the exit; its status (the exit code, or 128 + signal),
  // or -1 if it still runs.
  int wait(int timeout_ms);
  // Waits at most `timeout_ms` for `text` in its stderr; false if it exited or the time
  // passed first.
  bool wait_for_stderr(const std::string& text, int timeout_ms);
  // Sends `signal` and waits for the exit (at most 60 s, then SIGKILL); the status.
  int stop(int signal = SIGTERM);

  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  std::string out() const;
  std::string err() const;

  struct Finished {
    int status = -1;  // -1: killed after the time limit
    std::string out, err;
  };
  // Runs argv to its end, at most `timeout_ms` (then SIGKILL).
  static Finished run(const std::vector<std::string>& argv, int timeout_ms = 30000);

 private:
  std::string dir_;
  pid_t pid_ = -1;
  int status_ = -1;
};

}  // namespace bonus::test
