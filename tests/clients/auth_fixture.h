// AuthFixture: a temporary auth file (mode 0600) and a real bonusd started with it, for
// the clients' authentication tests. The test owns it; not thread-safe.
#pragma once

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "server/auth_file.h"
#include "tests/server/bonusd_process.h"

namespace bonus::test {

inline std::string auth_line(const std::string& token, const std::string& role,
                             const std::string& name) {
  return server::auth_file_line(token, role, name) + "\n";
}

class AuthFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/client-auth-test-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
    auth_path_ = dir_ + "/tokens";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void write_auth(const std::string& text) {
    std::ofstream(auth_path_) << text;
    ASSERT_EQ(chmod(auth_path_.c_str(), 0600), 0);
  }
  void start_with(const std::string& auth_text) {
    write_auth(auth_text);
    ASSERT_TRUE(server_.start({"--auth-file", auth_path_})) << server_.log();
  }

  std::string dir_, auth_path_;
  BonusdProcess server_;
};

}  // namespace bonus::test
