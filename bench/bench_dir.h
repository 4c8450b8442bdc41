// BenchDir: a benchmark's scratch directory, made fresh (mkdtemp) under the directory an
// environment variable names (/tmp when unset, so a bench can be pointed at another file
// system) and removed with everything in it when the BenchDir goes. One thread's.
#pragma once

#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>

namespace bonus::bench {

class BenchDir {
 public:
  // `env`: the variable naming the parent directory; `prefix`: the new directory's name
  // before mkdtemp's six characters.
  BenchDir(const char* env, const std::string& prefix) {
    const char* base = std::getenv(env);
    std::string pattern = std::string(base ? base : "/tmp") + "/" + prefix + ".XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) std::abort();
    path_ = pattern;
  }
  ~BenchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  BenchDir(const BenchDir&) = delete;
  BenchDir& operator=(const BenchDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace bonus::bench
