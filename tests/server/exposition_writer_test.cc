// ExpositionWriter: the Prometheus text format 0.0.4 as promtool and Prometheus read it.
#include "server/exposition_writer.h"

#include <gtest/gtest.h>

#include <array>
#include <limits>

namespace bonus::server {
namespace {

TEST(ExpositionWriter, FamilyHasHelpThenTypeThenSamples) {
  ExpositionWriter w;
  w.family("bonus_things_total", "counter", "Things counted");
  w.sample("bonus_things_total", {{"kind", "a"}, {"code", "ok"}}, std::uint64_t{7});
  w.sample("bonus_things_total", {}, std::uint64_t{1});
  EXPECT_EQ(w.text(),
            "# HELP bonus_things_total Things counted\n"
            "# TYPE bonus_things_total counter\n"
            "bonus_things_total{kind=\"a\",code=\"ok\"} 7\n"
            "bonus_things_total 1\n");
}

TEST(ExpositionWriter, LabelValuesEscapeBackslashQuoteAndNewline) {
  EXPECT_EQ(ExpositionWriter::escape_label_value("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
  ExpositionWriter w;
  w.sample("m", {{"l", "x\"y"}}, std::int64_t{-2});
  EXPECT_EQ(w.text(), "m{l=\"x\\\"y\"} -2\n");
}

TEST(ExpositionWriter, HelpEscapesBackslashAndNewlineOnly) {
  EXPECT_EQ(ExpositionWriter::escape_help("a\\b\n\"c\""), "a\\\\b\\n\"c\"");
}

TEST(ExpositionWriter, FloatsInTheFormatsSpelling) {
  EXPECT_EQ(ExpositionWriter::format_value(0.25), "0.25");
  EXPECT_EQ(ExpositionWriter::format_value(3), "3");
  EXPECT_EQ(ExpositionWriter::format_value(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(ExpositionWriter::format_value(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(ExpositionWriter::format_value(std::numeric_limits<double>::quiet_NaN()), "NaN");
  EXPECT_EQ(ExpositionWriter::format_bound(0.0001), "0.0001");
  EXPECT_EQ(ExpositionWriter::format_bound(2500 / 1e9), "0.0000025");
}

TEST(ExpositionWriter, HistogramBucketsAreCumulativeWithInfSumAndCount) {
  const std::array<std::uint64_t, 3> bounds = {1'000, 10'000, 100'000};  // ns
  const std::array<std::uint64_t, 4> counts = {2, 0, 3, 1};              // the last: +Inf
  ExpositionWriter w;
  w.histogram("lat_seconds", {{"kind", "x"}}, bounds, counts, 2'500'000, 1e9);
  EXPECT_EQ(w.text(),
            "lat_seconds_bucket{kind=\"x\",le=\"0.000001\"} 2\n"
            "lat_seconds_bucket{kind=\"x\",le=\"0.00001\"} 2\n"
            "lat_seconds_bucket{kind=\"x\",le=\"0.0001\"} 5\n"
            "lat_seconds_bucket{kind=\"x\",le=\"+Inf\"} 6\n"
            "lat_seconds_sum{kind=\"x\"} 0.0025\n"
            "lat_seconds_count{kind=\"x\"} 6\n");
}

TEST(ExpositionWriter, HistogramWithoutLabelsHasOnlyLe) {
  const std::array<std::uint64_t, 1> bounds = {4};
  const std::array<std::uint64_t, 2> counts = {1, 1};
  ExpositionWriter w;
  w.histogram("g", {}, bounds, counts, 9, 1);
  EXPECT_EQ(w.text(),
            "g_bucket{le=\"4\"} 1\n"
            "g_bucket{le=\"+Inf\"} 2\n"
            "g_sum 9\n"
            "g_count 2\n");
}

}  // namespace
}  // namespace bonus::server
