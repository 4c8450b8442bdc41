// http_get: a blocking HTTP/1.1 GET over loopback for tests that scrape bonusd's /metrics
// (or query a Prometheus), metric_value to read one sample out of a scrape, and
// scraped_metric to do both.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "tests/server/bonusd_process.h"

namespace bonus::test {

struct HttpReply {
  bool got = false;  // a status line came back
  int status = 0;
  std::string head;  // status line and headers
  std::string body;
};

// Splits a whole response (as read until the server closed).
inline HttpReply parse_http(const std::string& text) {
  HttpReply r;
  const auto end = text.find("\r\n\r\n");
  if (text.rfind("HTTP/1.", 0) != 0 || end == std::string::npos || text.size() < 12) return r;
  r.got = true;
  r.status = std::atoi(text.c_str() + 9);
  r.head = text.substr(0, end);
  r.body = text.substr(end + 4);
  return r;
}

// GET `target` with Connection: close; reads until the server closes (or the timeout).
inline HttpReply http_get(std::uint16_t port, const std::string& target, int timeout_ms = 10'000) {
  RawConnection c(port);
  if (!c.connected()) return {};
  if (!c.send("GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"))
    return {};
  return parse_http(c.receive(64u << 20, timeout_ms));
}

// The value of the sample whose name and labels are exactly `series` (as written:
// bonus_commands_total{kind="credit",code="ok"}); 0 when the scrape has no such line.
inline double metric_value(const std::string& scrape, std::string_view series) {
  std::size_t at = 0;
  while (at < scrape.size()) {
    const auto end = scrape.find('\n', at);
    const std::string_view line(scrape.data() + at,
                                (end == std::string::npos ? scrape.size() : end) - at);
    if (line.size() > series.size() && line.substr(0, series.size()) == series &&
        line[series.size()] == ' ') {
      return std::strtod(std::string(line.substr(series.size() + 1)).c_str(), nullptr);
    }
    if (end == std::string::npos) break;
    at = end + 1;
  }
  return 0;
}

// `series` as the metrics endpoint on 127.0.0.1:`port` serves it now (a failed scrape
// fails the test and reads 0).
inline double scraped_metric(std::uint16_t port, std::string_view series) {
  const HttpReply r = http_get(port, "/metrics");
  EXPECT_TRUE(r.got) << "no answer from the metrics endpoint on port " << port;
  return metric_value(r.body, series);
}

}  // namespace bonus::test
