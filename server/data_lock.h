// DataLock: the exclusive lock on a data directory. One process at a time writes a data
// directory: bonusd for its whole life, or an offline tool that changes it (journal-repair).
// The lock is flock(LOCK_EX | LOCK_NB) on <data>/lock, held through the open descriptor,
// so the kernel releases it when the holder dies in any way (SIGKILL included) and a
// stale file never blocks the next start. The file (0600) says who holds it, as text:
//   pid 1234\nprogram bonusd\nstarted 2026-12-01T19:15:00Z\n
// Owned by main() of the program that took it, for as long as it writes the directory;
// the lock is not inherited by programs it executes (O_CLOEXEC). Not thread-safe (not needed).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <variant>

namespace bonus::server {

class DataLock {
 public:
  static constexpr const char* kFileName = "lock";

  using Acquired = std::variant<std::unique_ptr<DataLock>, std::string>;
  // Takes the lock of the directory `dir` without waiting and writes this process's pid,
  // `program` and the time into the lock file (created 0600). If another process holds
  // it: an error text naming that process's pid (and program and start time) as its lock
  // file says. REQUIRES: `dir` exists (bonusd creates it first, create_private_directories).
  [[nodiscard]] static Acquired acquire(const std::string& dir, std::string_view program);

  // Releases the lock (the file stays, for the next holder to overwrite).
  ~DataLock();
  DataLock(const DataLock&) = delete;
  DataLock& operator=(const DataLock&) = delete;

  const std::string& path() const { return path_; }

 private:
  DataLock(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}

  std::string path_;
  int fd_;
};

}  // namespace bonus::server
