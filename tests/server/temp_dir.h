// TempDir: a fresh directory under /tmp for one test, removed with everything in it when
// the TempDir goes. The test owns it; not thread-safe.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <string>

namespace bonus::test {

class TempDir {
 public:
  // /tmp/<prefix>-XXXXXX.
  explicit TempDir(const std::string& prefix = "bonus-test") {
    std::string pattern = "/tmp/" + prefix + "-XXXXXX";
    path_ = mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace bonus::test
