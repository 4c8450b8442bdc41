// Metrics: the registry counts exactly from many threads at once, reuses the cells of
// ended threads, puts observations in the right buckets, and renders text that
// promtool accepts.
#include "server/metrics.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "server/metrics_text.h"

namespace bonus::server {
namespace {

constexpr std::size_t kCredit = 0;  // Command's index of Credit

std::uint64_t credits(const MetricsSnapshot& s, Code code) {
  return s.commands[kCredit][static_cast<std::size_t>(code)];
}

TEST(Metrics, ResultsFromManyThreadsAddUpExactly) {
  const MetricsSnapshot before = metrics().snapshot();
  constexpr int kThreads = 8, kBatches = 1000;
  const std::vector<Command> commands(3, Credit{});
  const std::vector<Result> results = {Result{Code::ok}, Result{Code::zero_amount},
                                       Result{Code::ok}};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kBatches; ++i) metrics().count_results(commands, results);
    });
  }
  for (auto& t : threads) t.join();
  const MetricsSnapshot after = metrics().snapshot();
  EXPECT_EQ(credits(after, Code::ok) - credits(before, Code::ok), 2u * kThreads * kBatches);
  EXPECT_EQ(credits(after, Code::zero_amount) - credits(before, Code::zero_amount),
            1u * kThreads * kBatches);
}

TEST(Metrics, CellsOfEndedThreadsAreReused) {
  metrics().count_bytes_in(1);  // this thread's cell exists
  const MetricsSnapshot before = metrics().snapshot();
  std::thread([] { metrics().count_bytes_in(5); }).join();
  const std::size_t cells = metrics().cell_count();
  for (int i = 0; i < 50; ++i) std::thread([] { metrics().count_bytes_in(5); }).join();
  EXPECT_EQ(metrics().cell_count(), cells);  // one at a time: one cell, handed on
  EXPECT_EQ(metrics().snapshot().bytes_in - before.bytes_in, 51u * 5);  // nothing lost
}

TEST(Metrics, ObservationsLandInTheFirstBucketTheyFit) {
  const auto h = Histogram::journal_group_commands;  // bounds 1, 2, 4, ... 16384
  const auto i = static_cast<std::size_t>(h);
  const auto bounds = histogram_bounds(h);
  ASSERT_EQ(bounds[0], 1u);
  ASSERT_EQ(bounds[2], 4u);
  const MetricsSnapshot before = metrics().snapshot();
  metrics().observe(h, 1);                  // le=1
  metrics().observe(h, 4);                  // le=4: a bound is inclusive
  metrics().observe(h, 5);                  // le=8
  metrics().observe(h, bounds.back() + 1);  // +Inf
  const MetricsSnapshot after = metrics().snapshot();
  auto delta = [&](std::size_t b) { return after.buckets[i][b] - before.buckets[i][b]; };
  EXPECT_EQ(delta(0), 1u);
  EXPECT_EQ(delta(1), 0u);
  EXPECT_EQ(delta(2), 1u);
  EXPECT_EQ(delta(3), 1u);
  EXPECT_EQ(delta(bounds.size()), 1u);
  EXPECT_EQ(after.sums[i] - before.sums[i], 1 + 4 + 5 + bounds.back() + 1);
}

TEST(Metrics, ConnectionsFollowTheirRole) {
  const MetricsSnapshot before = metrics().snapshot();
  metrics().connection_opened(Role::none);
  metrics().connection_opened(Role::none);
  metrics().connection_role_changed(Role::none, Role::checkout);
  MetricsSnapshot s = metrics().snapshot();
  EXPECT_EQ(s.connections[0] - before.connections[0], 1);
  EXPECT_EQ(s.connections[2] - before.connections[2], 1);
  metrics().connection_closed(Role::checkout);
  metrics().connection_closed(Role::none);
  s = metrics().snapshot();
  EXPECT_EQ(s.connections[0], before.connections[0]);
  EXPECT_EQ(s.connections[2], before.connections[2]);
}

TEST(Metrics, ReadOpcodesHaveTheirHistogram) {
  Histogram h;
  ASSERT_TRUE(read_histogram(protocol::Opcode::balance, h));
  EXPECT_EQ(h, Histogram::read_balance);
  ASSERT_TRUE(read_histogram(protocol::Opcode::stats, h));
  EXPECT_EQ(h, Histogram::read_stats);
  EXPECT_FALSE(read_histogram(protocol::Opcode::credit, h));
  EXPECT_FALSE(read_histogram(protocol::Opcode::ping, h));
}

TEST(Metrics, ReplicaLagIsTheDurablePositionMinusTheReplicas) {
  metrics().checkpoints_started(10);
  metrics().journal_group_durable(5, 15);
  metrics().replicas_applied(12);
  const std::string text = metrics_text(metrics().snapshot(), ServerGauges{});
  EXPECT_NE(text.find("\nbonus_replica_lag_records 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\nbonus_checkpoint_position 10\n"), std::string::npos) << text;
}

// Every label value the text can hold, checked by promtool (Debian package prometheus).
TEST(Metrics, TextPassesPromtool) {
  if (!std::filesystem::exists("/usr/bin/promtool")) {
    GTEST_SKIP() << "promtool not installed (scripts/setup installs the prometheus package)";
  }
  metrics().count_refusal(protocol::FrameError::frame_too_large);
  metrics().count_refusal(static_cast<protocol::FrameError>(31));  // a code this build lacks
  metrics().count_request(static_cast<protocol::Opcode>(99));
  metrics().count_request(static_cast<protocol::Opcode>(300));
  metrics().observe(Histogram::read_cart, 123'456);
  const std::string path = std::filesystem::temp_directory_path() / "bonus-metrics-test.prom";
  std::ofstream(path) << metrics_text(metrics().snapshot(), ServerGauges{2, 4096, 1});
  FILE* p = popen(("promtool check metrics < " + path + " 2>&1").c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buffer[4096];
  while (std::size_t n = fread(buffer, 1, sizeof buffer, p)) out.append(buffer, n);
  EXPECT_EQ(pclose(p), 0) << out;
  EXPECT_EQ(out, "");  // not even a lint warning
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace bonus::server
