// The clock file (format in ledger_clock.h).
#include "server/ledger_clock.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "protocol/crc32c.h"
#include "server/private_files.h"

namespace bonus::server {
namespace {

constexpr std::uint64_t kClockMagic = 0x6b6c63'73756e6f62ull;  // "bonusclk", little-endian

std::string path_of(const std::string& data_dir) {
  return data_dir + "/clock";
}

std::string errno_text(const char* what, const std::string& path, int error) {
  return std::string(what) + " " + path + ": " + std::strerror(error);
}

// write(2) all of it and fdatasync, or an errno.
int write_synced(int fd, const char* bytes, std::size_t size) {
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = ::write(fd, bytes + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return n < 0 ? errno : EIO;
    done += static_cast<std::size_t>(n);
  }
  return ::fdatasync(fd) == 0 ? 0 : errno;
}

}  // namespace

ClockFileRead read_clock_file(const std::string& data_dir) {
  ClockFileRead out;
  const std::string path = path_of(data_dir);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno != ENOENT) out.error = errno_text("cannot open", path, errno);
    return out;
  }
  char bytes[kClockFileBytes + 1];
  const ssize_t n = ::read(fd, bytes, sizeof bytes);
  ::close(fd);
  std::uint64_t magic = 0;
  std::uint32_t crc = 0;
  if (n == static_cast<ssize_t>(kClockFileBytes)) {
    std::memcpy(&magic, bytes, 8);
    std::memcpy(&out.offset_us, bytes + 8, 8);
    std::memcpy(&crc, bytes + 16, 4);
  }
  if (magic != kClockMagic || crc != crc32c(bytes, 16) || out.offset_us < 0) {
    out.error = path + " is damaged (expected " + std::to_string(kClockFileBytes) +
                " bytes with a valid checksum): the test clock's offset is unknown, so the "
                "ledger time could go back; restore the file or remove it knowingly";
    out.offset_us = 0;
  }
  return out;
}

std::optional<std::string> write_clock_file(const std::string& data_dir, TimeUs offset_us) {
  char bytes[kClockFileBytes] = {};
  std::memcpy(bytes, &kClockMagic, 8);
  std::memcpy(bytes + 8, &offset_us, 8);
  const std::uint32_t crc = crc32c(bytes, 16);
  std::memcpy(bytes + 16, &crc, 4);

  const std::string path = path_of(data_dir), tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, kPrivateFileMode);
  if (fd < 0) return errno_text("cannot create", tmp, errno);
  const int error = write_synced(fd, bytes, sizeof bytes);
  ::close(fd);
  if (error != 0) return errno_text("cannot write", tmp, error);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return errno_text("cannot rename", tmp, errno);
  const int dir = ::open(data_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return errno_text("cannot open", data_dir, errno);
  const int synced = ::fsync(dir) == 0 ? 0 : errno;
  ::close(dir);
  if (synced != 0) return errno_text("cannot sync", data_dir, synced);
  return std::nullopt;
}

}  // namespace bonus::server
