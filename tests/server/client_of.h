// client_of: a C++ client connected to a test's bonusd, for end-to-end tests. The test
// owns both; use ASSERT_TRUE(client) and print `error` when it is null.
#pragma once

#include <memory>
#include <string>

#include "clients/cpp/client.h"
#include "tests/server/bonusd_process.h"

namespace bonus::test {

inline std::unique_ptr<client::Client> client_of(const BonusdProcess& server, std::string& error) {
  client::ClientOptions options;
  options.port = server.port();
  auto connected = client::Client::connect(options);
  if (auto* e = std::get_if<std::string>(&connected)) {
    error = *e;
    return nullptr;
  }
  return std::move(std::get<std::unique_ptr<client::Client>>(connected));
}

}  // namespace bonus::test
