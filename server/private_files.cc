#include "server/private_files.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

namespace bonus::server {

std::optional<std::string> create_private_directories(const std::string& path) {
  if (path.empty()) return std::string("no directory given");
  std::filesystem::path made;
  for (const auto& part : std::filesystem::path(path)) {
    made /= part;
    if (part.empty() || made == made.root_path()) continue;
    if (::mkdir(made.c_str(), kPrivateDirectoryMode) != 0 && errno != EEXIST) {
      return "cannot create " + made.string() + ": " + std::strerror(errno);
    }
  }
  std::error_code ec;
  if (!std::filesystem::is_directory(path, ec)) return path + " is not a directory";
  return std::nullopt;
}

std::optional<std::string> wide_directory_warning(const std::string& path) {
  struct stat s {};
  if (::stat(path.c_str(), &s) != 0 || (s.st_mode & 077) == 0) return std::nullopt;
  char mode[8];
  std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(s.st_mode & 07777));
  return path + " is open to group or others (mode " + mode +
         "): they can list its file names (its files are 0600); `chmod 700 " + path +
         "` makes it private";
}

}  // namespace bonus::server
