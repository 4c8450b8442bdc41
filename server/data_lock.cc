#include "server/data_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include "server/private_files.h"

namespace bonus::server {

namespace {

std::string errno_text(std::string_view what, const std::string& path, int error) {
  return std::string(what) + " " + path + ": " + std::strerror(error);
}

std::string utc_now_text() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

// The lock file's lines as one: "pid 1234, program bonusd, started ...". Empty if the
// holder has not written it yet.
std::string holder_of(int fd) {
  char buffer[256];
  const ssize_t n = ::pread(fd, buffer, sizeof buffer, 0);
  if (n <= 0) return "";
  std::string_view text(buffer, static_cast<std::size_t>(n));
  while (!text.empty() && text.back() == '\n') text.remove_suffix(1);
  std::string out;
  for (char c : text) out += c == '\n' ? std::string(", ") : std::string(1, c);
  return out;
}

std::string held_message(const std::string& dir, int fd) {
  const std::string holder = holder_of(fd);
  return "data directory " + dir + " is in use by another process (" +
         (holder.empty() ? std::string("pid not yet written") : holder) + ", holding " + dir + "/" +
         DataLock::kFileName + "); stop it first, or give this one another --data";
}

// Replaces the file's text by this process's: written over the old one, then cut to its
// length, so that a refused taker reading meanwhile never finds the file empty.
int write_holder(int fd, std::string_view program) {
  const std::string text = "pid " + std::to_string(::getpid()) + "\nprogram " +
                           std::string(program) + "\nstarted " + utc_now_text() + "\n";
  if (::pwrite(fd, text.data(), text.size(), 0) != static_cast<ssize_t>(text.size())) {
    return errno != 0 ? errno : EIO;
  }
  if (::ftruncate(fd, static_cast<off_t>(text.size())) != 0) return errno;
  return 0;
}

}  // namespace

DataLock::Acquired DataLock::acquire(const std::string& dir, std::string_view program) {
  std::string path = dir + "/" + kFileName;
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, kPrivateFileMode);
  if (fd < 0) return errno_text("cannot open", path, errno);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    std::string message =
        error == EWOULDBLOCK ? held_message(dir, fd) : errno_text("cannot lock", path, error);
    ::close(fd);
    return message;
  }
  // A lock file left by an older build may be wider: this one's is private.
  const int error = ::fchmod(fd, kPrivateFileMode) != 0 ? errno : write_holder(fd, program);
  if (error != 0) {
    ::close(fd);
    return errno_text("cannot write", path, error);
  }
  return std::unique_ptr<DataLock>(new DataLock(std::move(path), fd));
}

DataLock::~DataLock() {
  ::close(fd_);
}

}  // namespace bonus::server
