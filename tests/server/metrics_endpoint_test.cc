// GET /metrics of a real bonusd (--metrics-listen): the counters move by exactly what a
// client did, the scrape passes promtool, and hostile scrape clients (a megabyte of
// headers, a stalled request, more connections than allowed) are cut off while others
// still scrape.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "protocol/frame.h"
#include "protocol/messages.h"
#include "tests/server/http_get.h"
#include "tests/server/wire.h"

namespace bonus::test {
namespace {

using Clock = std::chrono::steady_clock;
using protocol::Opcode;

std::string credit_frame(std::uint64_t request_id, std::vector<Credit> credits) {
  return write_frame(request_id, std::span<const Credit>(credits));
}

Credit credit(std::uint64_t id, Amount amount) {
  return Credit{Id128{7, id}, 1, 42, amount, 0, LotLife::forever()};
}

std::string balance_frame(std::uint64_t request_id) {
  flatbuffers::FlatBufferBuilder fbb;
  const std::vector<protocol::AccountKey> keys = {{1, 42}};
  protocol::encode_balance(protocol::BalanceQuery{keys, false}, fbb);
  return protocol::make_frame(Opcode::balance, 0, request_id,
                              protocol::Body{fbb.GetBufferPointer(), fbb.GetSize()});
}

class MetricsEndpoint : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.start({"--metrics-listen", "127.0.0.1:0"})) << server_.log();
    ASSERT_NE(server_.metrics_port(), 0) << "no 'metrics on' in the start line:\n" << server_.log();
  }

  std::string scrape() {
    const HttpReply r = http_get(server_.metrics_port(), "/metrics");
    EXPECT_TRUE(r.got);
    EXPECT_EQ(r.status, 200) << r.head;
    return r.body;
  }

  // Scrapes until `ok` holds of a scrape, for up to 10 s; the last scrape.
  std::string scrape_until(const std::function<bool(const std::string&)>& ok) {
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    std::string text = scrape();
    while (!ok(text) && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      text = scrape();
    }
    return text;
  }

  BonusdProcess server_;
};

// Sends a frame and reads its reply; counts the bytes both ways.
struct CountingClient {
  explicit CountingClient(std::uint16_t port) : connection(port) {}
  WireReply call(const std::string& frame) {
    sent += frame.size();
    EXPECT_TRUE(connection.send(frame));
    WireReply r = read_reply(connection);
    EXPECT_TRUE(r.got);
    received += protocol::kHeaderBytes + r.body.size();
    return r;
  }
  RawConnection connection;
  std::uint64_t sent = 0;
  std::uint64_t received = 0;
};

double delta(const std::string& before, const std::string& after, std::string_view series) {
  return metric_value(after, series) - metric_value(before, series);
}

TEST_F(MetricsEndpoint, CountersMoveByExactlyWhatWasDone) {
  const std::string before = scrape();
  CountingClient client(server_.port());
  ASSERT_TRUE(client.connection.connected());
  // Three credits in one request, all ok; then one of zero bonuses, rejected.
  EXPECT_EQ(
      client.call(credit_frame(1, {credit(1, 100), credit(2, 200), credit(3, 300)})).header.opcode,
      Opcode::credit);
  EXPECT_EQ(client.call(credit_frame(2, {credit(4, 0)})).header.opcode, Opcode::credit);
  EXPECT_EQ(client.call(balance_frame(3)).header.opcode, Opcode::balance);
  EXPECT_EQ(client.call(protocol::make_frame(static_cast<Opcode>(99), 0, 4, protocol::Body{}))
                .header.opcode,
            Opcode::error);

  const std::string after = scrape_until([&](const std::string& text) {
    return delta(before, text, "bonus_network_sent_bytes_total") >=
               static_cast<double>(client.received) &&
           metric_value(text, "bonus_accounts") == 1;
  });
  EXPECT_EQ(delta(before, after, R"(bonus_commands_total{kind="credit",code="ok"})"), 3);
  EXPECT_EQ(delta(before, after, R"(bonus_commands_total{kind="credit",code="zero_amount"})"), 1);
  EXPECT_EQ(delta(before, after, R"(bonus_requests_total{opcode="credit"})"), 2);
  EXPECT_EQ(delta(before, after, R"(bonus_requests_total{opcode="balance"})"), 1);
  EXPECT_EQ(delta(before, after, R"(bonus_requests_total{opcode="unknown"})"), 1);
  EXPECT_EQ(delta(before, after, R"(bonus_refusals_total{reason="unknown_opcode"})"), 1);
  EXPECT_EQ(delta(before, after, R"(bonus_read_seconds_count{kind="balance"})"), 1);
  EXPECT_EQ(delta(before, after, "bonus_network_received_bytes_total"),
            static_cast<double>(client.sent));
  EXPECT_EQ(delta(before, after, "bonus_network_sent_bytes_total"),
            static_cast<double>(client.received));
  EXPECT_EQ(metric_value(after, R"(bonus_connections{role="admin"})"), 1);
  EXPECT_EQ(metric_value(after, "bonus_accounts"), 1);
  // The three ok credits were journaled (and made durable: two fdatasyncs per group).
  EXPECT_GE(delta(before, after, "bonus_journal_group_commands_sum"), 3);
  EXPECT_GE(delta(before, after, "bonus_journal_fdatasync_seconds_count"), 2);
  EXPECT_GE(metric_value(after, "bonus_journal_durable_position"), 3);
  EXPECT_GE(metric_value(after, "bonus_apply_slice_seconds_count"), 1);
  EXPECT_GT(metric_value(after, "bonus_journal_bytes"), 0);
  EXPECT_EQ(metric_value(after, "bonus_shards"), 2);  // bonusd_process: --shards is not given

  client.connection.close();
  const std::string closed = scrape_until([](const std::string& text) {
    return metric_value(text, R"(bonus_connections{role="admin"})") == 0;
  });
  EXPECT_EQ(metric_value(closed, R"(bonus_connections{role="admin"})"), 0);
}

TEST_F(MetricsEndpoint, ScrapePassesPromtool) {
  if (!std::filesystem::exists("/usr/bin/promtool")) {
    GTEST_SKIP() << "promtool not installed (scripts/setup installs the prometheus package)";
  }
  CountingClient client(server_.port());
  client.call(credit_frame(1, {credit(1, 100), credit(2, 0)}));
  client.call(balance_frame(2));
  const HttpReply r = http_get(server_.metrics_port(), "/metrics");
  ASSERT_EQ(r.status, 200);
  EXPECT_NE(r.head.find("Content-Type: text/plain; version=0.0.4"), std::string::npos) << r.head;
  const std::string path = server_.data_dir() + ".prom";
  std::ofstream(path) << r.body;
  FILE* p = popen(("promtool check metrics < " + path + " 2>&1").c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buffer[4096];
  while (std::size_t n = fread(buffer, 1, sizeof buffer, p)) out.append(buffer, n);
  EXPECT_EQ(pclose(p), 0) << out;
  EXPECT_EQ(out, "") << r.body;
  std::filesystem::remove(path);
}

TEST_F(MetricsEndpoint, OtherPathsAndMethodsAreRefused) {
  EXPECT_EQ(http_get(server_.metrics_port(), "/").status, 404);
  EXPECT_EQ(http_get(server_.metrics_port(), "/metrics?x=1").status, 200);
  RawConnection c(server_.metrics_port());
  ASSERT_TRUE(c.send("POST /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  const HttpReply r = parse_http(c.receive(1 << 20));
  EXPECT_EQ(r.status, 405);
  EXPECT_NE(r.head.find("Allow: GET"), std::string::npos);
  RawConnection garbage(server_.metrics_port());
  ASSERT_TRUE(garbage.send("\x16\x03\x01 not http at all\r\n\r\n"));
  EXPECT_EQ(parse_http(garbage.receive(1 << 20)).status, 400);
}

TEST_F(MetricsEndpoint, KeepAliveServesRequestsOneAfterAnother) {
  RawConnection c(server_.metrics_port());
  // Two requests in one write (pipelined), then a third after the answers.
  ASSERT_TRUE(
      c.send("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\nGET /nothing HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string got;
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  while (got.find("404 Not Found") == std::string::npos && Clock::now() < deadline) {
    got += c.receive(1 << 20, 200);
  }
  EXPECT_EQ(got.rfind("HTTP/1.1 200 OK", 0), 0u);
  EXPECT_NE(got.find("Connection: keep-alive"), std::string::npos);
  EXPECT_NE(got.find("HTTP/1.1 404 Not Found"), std::string::npos);
  ASSERT_TRUE(c.send("GET /metrics HTTP/1.0\r\n\r\n"));  // 1.0: closed after the answer
  const HttpReply third = parse_http(c.receive(64u << 20, 10'000));
  EXPECT_EQ(third.status, 200);
  EXPECT_NE(third.head.find("Connection: close"), std::string::npos);
}

// A megabyte of headers: cut off at 8 KiB (431, then closed), while another client scrapes.
TEST_F(MetricsEndpoint, HugeRequestHeadIsCutOff) {
  RawConnection hostile(server_.metrics_port());
  ASSERT_TRUE(hostile.connected());
  std::string head = "GET /metrics HTTP/1.1\r\n";
  while (head.size() < (1u << 20)) head += "X-Padding: " + std::string(100, 'a') + "\r\n";
  const auto start = Clock::now();
  std::thread sender([&] { hostile.send(head); });  // fails part way once the server closes
  const std::string answer = hostile.receive(1 << 20, 10'000);
  sender.join();
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(9)) << "the connection was not closed";
  // The 431 arrives unless the reset from the unread rest overtook it.
  if (!answer.empty()) {
    EXPECT_EQ(answer.rfind("HTTP/1.1 431", 0), 0u) << answer.substr(0, 200);
  }
  EXPECT_EQ(http_get(server_.metrics_port(), "/metrics").status, 200);
}

// A request that never completes is closed after the request deadline (5 s); meanwhile
// other clients scrape.
TEST_F(MetricsEndpoint, StalledRequestIsClosedAtItsDeadline) {
  RawConnection stalled(server_.metrics_port());
  ASSERT_TRUE(stalled.send("GET /metr"));
  EXPECT_EQ(http_get(server_.metrics_port(), "/metrics").status, 200);
  const auto start = Clock::now();
  EXPECT_EQ(stalled.receive(1, 15'000), "");  // closed, nothing said
  const auto waited = Clock::now() - start;
  EXPECT_GT(waited, std::chrono::seconds(3));
  EXPECT_LT(waited, std::chrono::seconds(12));
}

// Past 8 scrape connections a new one gets 503; once the stalled ones pass their deadline
// scrapes work again.
TEST_F(MetricsEndpoint, ScrapeConnectionsAreBounded) {
  std::vector<std::unique_ptr<RawConnection>> stalled;
  for (int i = 0; i < 8; ++i) {
    stalled.push_back(std::make_unique<RawConnection>(server_.metrics_port()));
    ASSERT_TRUE(stalled.back()->send("G"));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // let the server accept them
  EXPECT_EQ(http_get(server_.metrics_port(), "/metrics").status, 503);
  const auto deadline = Clock::now() + std::chrono::seconds(15);
  int status = 0;
  while (status != 200 && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    status = http_get(server_.metrics_port(), "/metrics").status;
  }
  EXPECT_EQ(status, 200);
}

// A connection past --connections-max is refused with too_many_connections, and counted.
// Clients that scraped once and keep their connections idle do not lock others out: at
// the bound, an idle one gives its place up.
TEST_F(MetricsEndpoint, IdleKeptAliveConnectionsGiveTheirPlaceUp) {
  std::vector<std::unique_ptr<RawConnection>> idle;
  for (int i = 0; i < 8; ++i) {
    idle.push_back(std::make_unique<RawConnection>(server_.metrics_port()));
    ASSERT_TRUE(idle.back()->send("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"));
    const std::string head = idle.back()->receive(12, 10'000);
    ASSERT_EQ(head, "HTTP/1.1 200");  // answered; the rest of the reply stays unread
  }
  // (Polled briefly: the server marks a session idle once its reply's write completed.)
  const auto deadline = Clock::now() + std::chrono::seconds(2);
  HttpReply r = http_get(server_.metrics_port(), "/metrics");
  while (r.status != 200 && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    r = http_get(server_.metrics_port(), "/metrics");
  }
  EXPECT_EQ(r.status, 200) << r.head;  // else 503 for the idle timeout's 60 s
}

TEST(MetricsRefusals, ConnectionLimitRefusalIsCounted) {
  BonusdProcess server;
  ASSERT_TRUE(server.start({"--metrics-listen", "127.0.0.1:0", "--connections-max", "1"}))
      << server.log();
  const std::string before = http_get(server.metrics_port(), "/metrics").body;
  RawConnection first(server.port());
  ASSERT_TRUE(first.send(protocol::make_frame(Opcode::ping, 0, 1, protocol::Body{})));
  ASSERT_TRUE(read_reply(first).got);  // the first is in
  RawConnection second(server.port());
  const WireReply refused = read_reply(second);
  ASSERT_TRUE(refused.got);
  EXPECT_EQ(refused.header.opcode, Opcode::error);
  const std::string after = http_get(server.metrics_port(), "/metrics").body;
  EXPECT_EQ(delta(before, after, R"(bonus_refusals_total{reason="too_many_connections"})"), 1);
}

TEST(MetricsListen, BadAddressIsAUsageError) {
  BonusdProcess server;
  EXPECT_FALSE(server.start({"--metrics-listen", "127.0.0.1:94x"}));
  EXPECT_NE(server.log().find("--metrics-listen: '127.0.0.1:94x': bad port"), std::string::npos)
      << server.log();
}

TEST(MetricsListen, NonLoopbackNeedsInsecure) {
  BonusdProcess server;
  EXPECT_FALSE(server.start({"--metrics-listen", "0.0.0.0:0"}));
  EXPECT_NE(server.log().find("refusing to serve metrics on 0.0.0.0:0"), std::string::npos)
      << server.log();
  ASSERT_TRUE(server.start({"--metrics-listen", "0.0.0.0:0", "--insecure"})) << server.log();
}

}  // namespace
}  // namespace bonus::test
