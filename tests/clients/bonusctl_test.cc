// bonusctl end to end: the real binary run as a child process against a real bonusd,
// every subcommand in both output forms, every exit code, and mail (bad lines, run twice,
// killed with SIGKILL and resumed). Also the parsers behind the command line.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "clients/bonusctl/buyer_file.h"
#include "clients/bonusctl/mailing.h"
#include "clients/bonusctl/units.h"
#include "clients/cpp/client.h"
#include "engine/partition.h"
#include "tests/clients/run_bonusctl.h"
#include "tests/server/bonusd_process.h"

namespace bonus::test {
namespace {

using namespace std::chrono_literals;
using namespace bonus::ctl;

// ---------------------------------------------------------------------------------------
// Running bonusctl.

std::string temp_dir() {
  // A plain array, so the exit handler never sees a destroyed string.
  static char made[] = "/tmp/bonusctl-test-XXXXXX";
  static const std::string dir = [] {
    mkdtemp(made);
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(made, ec);
    });
    return std::string(made);
  }();
  return dir;
}

std::string write_file(const std::string& name, const std::string& text) {
  const std::string path = temp_dir() + "/" + name;
  std::ofstream(path) << text;
  return path;
}

// bonusctl as a child process; output goes to files so nothing blocks on a pipe.
class Ctl {
 public:
  // `stdin_path`: a file for standard input (default /dev/null).
  Ctl(std::vector<std::string> args, const std::string& stdin_path = "/dev/null") {
    static int serial = 0;
    const std::string base = temp_dir() + "/run" + std::to_string(++serial);
    out_path_ = base + ".out";
    err_path_ = base + ".err";
    args.insert(args.begin(), BONUSCTL_PATH);
    pid_ = fork();
    if (pid_ == 0) {
      const int in = open(stdin_path.c_str(), O_RDONLY);
      const int out = open(out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      const int err = open(err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(in, 0);
      dup2(out, 1);
      dup2(err, 2);
      std::vector<char*> argv;
      for (std::string& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
  }
  ~Ctl() {
    if (pid_ > 0) finish();
  }

  void kill(int signal) { ::kill(pid_, signal); }
  std::string err_so_far() const { return slurp(err_path_); }

  Ran finish() {
    Ran ran;
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    ran.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    ran.out = slurp(out_path_);
    ran.err = slurp(err_path_);
    return ran;
  }

 private:
  pid_t pid_ = -1;
  std::string out_path_;
  std::string err_path_;
};

// A tiny reader of the JSON bonusctl prints: the raw value of the first `"key": `
// (a number, true/false/null, a string without its quotes, or a whole {...} / [...]).
std::string json(const std::string& text, const std::string& key) {
  const std::string needle = "\"" + key + "\": ";
  const auto at = text.find(needle);
  if (at == std::string::npos) return "<missing " + key + ">";
  std::size_t i = at + needle.size();
  if (text[i] == '"') return text.substr(i + 1, text.find('"', i + 1) - i - 1);
  if (text[i] == '{' || text[i] == '[') {
    int depth = 0;
    std::size_t j = i;
    for (; j < text.size(); ++j) {
      if (text[j] == '{' || text[j] == '[') ++depth;
      if (text[j] == '}' || text[j] == ']') --depth;
      if (depth == 0) break;
    }
    return text.substr(i, j - i + 1);
  }
  std::size_t j = i;
  while (j < text.size() && text[j] != ',' && text[j] != '}' && text[j] != ']' && text[j] != '\n') {
    ++j;
  }
  return text.substr(i, j - i);
}

std::uint64_t json_u64(const std::string& text, const std::string& key) {
  return std::stoull(json(text, key));
}

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// ---------------------------------------------------------------------------------------
// The parsers.

TEST(BonusctlUnits, DurationsAreANumberAndOneUnit) {
  EXPECT_EQ(parse_duration("30s"), 30 * kUsPerSecond);
  EXPECT_EQ(parse_duration("15m"), 15 * kUsPerMinute);
  EXPECT_EQ(parse_duration("24h"), 24 * kUsPerHour);
  EXPECT_EQ(parse_duration("7d"), 7 * kUsPerDay);
  for (const char* bad :
       {"", "s", "0s", "24", "1h30m", "-1h", "1.5h", "24H", " 1h", "1w", "99999999999999999d"}) {
    EXPECT_FALSE(parse_duration(bad)) << bad;
  }
  EXPECT_EQ(format_duration(25 * kUsPerHour), "25h");
  EXPECT_EQ(format_duration(3 * kUsPerDay), "3d");
  EXPECT_EQ(format_duration(90 * kUsPerSecond), "90s");
}

TEST(BonusctlUnits, MoneyIsRoublesWithAtMostTwoDecimals) {
  EXPECT_EQ(parse_money("1990"), 199'000u);
  EXPECT_EQ(parse_money("1990.00"), 199'000u);
  EXPECT_EQ(parse_money("1990.5"), 199'050u);
  EXPECT_EQ(parse_money("0.01"), 1u);
  for (const char* bad :
       {"", "1990.001", "-1", "1,990", "1990.", ".5", "12a", "1e3", "999999999999999999999"}) {
    EXPECT_FALSE(parse_money(bad)) << bad;
  }
  EXPECT_EQ(format_money(199'050), "1990.50");
}

TEST(BonusctlUnits, SharesArePercentInBasisPoints) {
  EXPECT_EQ(parse_share_bp("99%"), 9900u);
  EXPECT_EQ(parse_share_bp("99.5%"), 9950u);
  EXPECT_EQ(parse_share_bp("99"), 9900u);
  EXPECT_EQ(parse_share_bp("100%"), 10'000u);
  for (const char* bad : {"", "%", "101%", "99.555%", "-1%", "99%%", "half"}) {
    EXPECT_FALSE(parse_share_bp(bad)) << bad;
  }
}

TEST(BonusctlUnits, RatesArePercentOrBasisPoints) {
  EXPECT_EQ(parse_rate_bp("5%"), 500u);
  EXPECT_EQ(parse_rate_bp("7.5%"), 750u);
  EXPECT_EQ(parse_rate_bp("7"), 700u);
  EXPECT_EQ(parse_rate_bp("750bp"), 750u);
  EXPECT_EQ(parse_rate_bp("100%"), 10'000u);
  for (const char* bad : {"0%", "0bp", "100.01%", "10001bp", "bp", "5%%", "-5%", "7.555%", ""}) {
    EXPECT_FALSE(parse_rate_bp(bad)) << bad;
  }
  EXPECT_EQ(format_rate(500), "5%");
  EXPECT_EQ(format_rate(750), "7.5%");
  EXPECT_EQ(format_rate(1'005), "10.05%");
  EXPECT_EQ(format_rate(1), "0.01%");
}

TEST(BonusctlUnits, TimesAreIso8601Utc) {
  EXPECT_EQ(parse_time("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(parse_time("2026-12-01T00:00:00Z"), 1'796'083'200 * kUsPerSecond);
  EXPECT_EQ(parse_time("2026-12-01T00:00:00.5Z"), 1'796'083'200 * kUsPerSecond + 500'000);
  EXPECT_EQ(parse_time("2026-12-01T00:00:00.000001+00:00"), 1'796'083'200 * kUsPerSecond + 1);
  for (const char* bad :
       {"", "2026-12-01", "2026-12-01T00:00:00", "2026-02-30T00:00:00Z", "2026-12-01T24:00:00Z",
        "2026-12-01T00:00:00.1234567Z", "2026-12-01T00:00:00+03:00", "2026-12-01 00:00:00Z",
        "1969-12-31T23:59:59Z", "2026-12-01T00:00:00.Z"}) {
    EXPECT_FALSE(parse_time(bad)) << bad;
  }
  for (const TimeUs t : {TimeUs{0}, 1'796'083'200 * kUsPerSecond + 123'456,
                         TimeUs{951'782'400} * kUsPerSecond /* 2000-02-29 */}) {
    EXPECT_EQ(parse_time(format_time(t)), t) << format_time(t);
  }
  EXPECT_EQ(format_time(1'796'083'200 * kUsPerSecond), "2026-12-01T00:00:00Z");
}

TEST(BonusctlUnits, IdsAreHexPaddedOnTheLeft) {
  EXPECT_EQ(parse_id("1f"), (Id128{0, 0x1f}));
  EXPECT_EQ(parse_id("0x1F"), (Id128{0, 0x1f}));
  EXPECT_EQ(parse_id("0123456789abcdef0123456789ABCDEF"),
            (Id128{0x0123456789abcdef, 0x0123456789abcdef}));
  for (const char* bad : {"", "0", "00000", "xyz", "0123456789abcdef0123456789abcdef0", "1g"}) {
    EXPECT_FALSE(parse_id(bad)) << bad;
  }
  EXPECT_EQ(format_id(Id128{1, 0x1f}), "0000000000000001000000000000001f");
}

TEST(BonusctlUnits, NumbersAreDecimalAndSayWhyNot) {
  NumberError why = NumberError::none;
  EXPECT_EQ(parse_u64("007", &why), 7u);  // never octal
  EXPECT_EQ(parse_u64("18446744073709551615"), UINT64_MAX);
  EXPECT_FALSE(parse_u64("18446744073709551616", &why));
  EXPECT_EQ(why, NumberError::overflow);
  EXPECT_FALSE(parse_u64("-3", &why));
  EXPECT_EQ(why, NumberError::negative);
  EXPECT_FALSE(parse_u64("", &why));
  EXPECT_EQ(why, NumberError::empty);
  EXPECT_FALSE(parse_u64("0x10", &why));
  EXPECT_EQ(why, NumberError::not_a_number);
}

TEST(BonusctlMailId, IsStableAndNamesTheBuyer) {
  const Id128 a = mail_id(42, 9, 7);
  EXPECT_EQ(a, mail_id(42, 9, 7));
  EXPECT_EQ(a.lo, 7u);
  EXPECT_NE(a.hi, 0u);
  EXPECT_NE(a, mail_id(42, 10, 7));
  EXPECT_NE(a, mail_id(43, 9, 7));
  EXPECT_NE(mail_id(9, 42, 7), a);
}

// ---------------------------------------------------------------------------------------
// The buyer file.

std::vector<BuyerFile::Line> read_all(const std::string& text) {
  auto opened = BuyerFile::open(write_file("buyers.txt", text));
  EXPECT_TRUE(std::holds_alternative<std::unique_ptr<BuyerFile>>(opened));
  std::vector<BuyerFile::Line> lines;
  auto& file = *std::get<std::unique_ptr<BuyerFile>>(opened);
  for (auto line = file.next(); line.kind != BuyerFile::Line::Kind::end; line = file.next()) {
    lines.push_back(line);
  }
  return lines;
}

TEST(BonusctlBuyerFile, PlainLinesWithBadOnesByNumber) {
  const auto lines = read_all(
      "\xEF\xBB\xBF"
      "5\r\n 6 \n\nx\n-3\n99999999999999999999\n7");
  ASSERT_EQ(lines.size(), 7u);
  EXPECT_EQ(lines[0].buyer, 5u);
  EXPECT_EQ(lines[1].buyer, 6u);
  EXPECT_EQ(lines[2].reason, "empty line");
  EXPECT_EQ(lines[3].reason, "not a number");
  EXPECT_EQ(lines[4].reason, "negative");
  EXPECT_EQ(lines[5].reason.substr(0, 8), "overflow");
  EXPECT_EQ(lines[6].kind, BuyerFile::Line::Kind::buyer);
  EXPECT_EQ(lines[6].buyer, 7u);
  for (std::size_t i = 0; i < lines.size(); ++i) EXPECT_EQ(lines[i].number, i + 1);
}

TEST(BonusctlBuyerFile, CsvHeaderSelectsTheBuyerIdColumn) {
  const auto lines =
      read_all("name,\"buyer_id\",city\nann,5,Kazan\n\"Smith, Bob\",6,\"x\"\"y\"\nz\n");
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0].buyer, 5u);
  EXPECT_EQ(lines[0].number, 2u);
  EXPECT_EQ(lines[1].buyer, 6u);
  EXPECT_EQ(lines[2].reason, "no buyer_id field");
  EXPECT_EQ(split_csv_line("a,\"b,c\",\"d\"\"e\""), (std::vector<std::string>{"a", "b,c", "d\"e"}));
}

TEST(BonusctlBuyerFile, CsvWithoutBuyerIdColumnIsRefusedWhole) {
  auto opened = BuyerFile::open(write_file("nocol.csv", "name,id\nann,5\n"));
  ASSERT_TRUE(std::holds_alternative<std::string>(opened));
  EXPECT_NE(std::get<std::string>(opened).find("no buyer_id column"), std::string::npos);
  EXPECT_TRUE(std::holds_alternative<std::string>(BuyerFile::open("/nonexistent/buyers")));
}

// ---------------------------------------------------------------------------------------
// Against a real bonusd.

class Bonusctl : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new BonusdProcess();
    ASSERT_TRUE(server_->start({"--shards", "2"})) << server_->log();
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }

  static std::string address() { return "127.0.0.1:" + std::to_string(server_->port()); }

  // bonusctl --server <this server> args...
  static Ran ctl(std::vector<std::string> args, const std::string& stdin_path = "/dev/null") {
    args.insert(args.begin(), {"--server", address()});
    return Ctl(args, stdin_path).finish();
  }

  static std::unique_ptr<client::Client> connect() {
    client::ClientOptions options;
    options.port = server_->port();
    auto connected = client::Client::connect(options);
    EXPECT_TRUE(std::holds_alternative<std::unique_ptr<client::Client>>(connected));
    return std::move(std::get<std::unique_ptr<client::Client>>(connected));
  }

  static BonusdProcess* server_;
};

BonusdProcess* Bonusctl::server_ = nullptr;

#define EXPECT_RAN(ran, expected_code) \
  EXPECT_EQ((ran).code, expected_code) << "stdout:\n" << (ran).out << "stderr:\n" << (ran).err

TEST_F(Bonusctl, CreditPrintsALineOrJsonWithAFreshId) {
  Ran r = ctl({"credit", "--seller", "100", "--buyer", "7", "--amount", "300", "--ttl", "24h",
               "--campaign", "9"});
  EXPECT_RAN(r, 0);
  EXPECT_EQ(r.out.substr(0, 28), "credit ok: credited 300; id ");
  EXPECT_EQ(r.out.substr(28 + 32, 15), "; log position ") << r.out;

  r = ctl({"--json", "credit", "--seller", "100", "--buyer", "7", "--amount", "200"});
  EXPECT_RAN(r, 0);
  EXPECT_EQ(json(r.out, "result"), "ok");
  EXPECT_EQ(json(r.out, "code"), "0");
  EXPECT_EQ(json(r.out, "credited"), "200");
  EXPECT_EQ(json(r.out, "capped"), "false");
  EXPECT_EQ(json(r.out, "repeat"), "false");
  EXPECT_EQ(json(r.out, "id").size(), 32u);
  EXPECT_GT(json_u64(r.out, "position"), 0u) << "a write's answer names its log position";
  // Global options may also follow the subcommand.
  const Ran again = ctl({"credit", "--seller", "100", "--buyer", "7", "--amount", "1", "--json"});
  EXPECT_RAN(again, 0);
  EXPECT_NE(json(again.out, "id"), json(r.out, "id"));
}

// --at-least: a read served once the node reflects a write's position; one the log never
// reaches is position_unreached (no answer: exit 3); a bad one is a usage error.
TEST_F(Bonusctl, AtLeastAWritesPositionTheReadSeesIt) {
  Ran r = ctl({"--json", "credit", "--seller", "150", "--buyer", "7", "--amount", "40"});
  EXPECT_RAN(r, 0);
  const std::string position = std::to_string(json_u64(r.out, "position"));
  r = ctl({"--json", "--at-least", position, "balance", "--seller", "150", "--buyer", "7"});
  EXPECT_RAN(r, 0);
  EXPECT_EQ(json(r.out, "available"), "40");
  r = ctl({"--at-least", "1000000000000", "--request-timeout", "10s", "balance", "--seller", "150",
           "--buyer", "7"});
  EXPECT_RAN(r, 3);
  EXPECT_NE(r.err.find("position_unreached"), std::string::npos) << r.err;
  r = ctl({"--at-least", "-3", "balance", "--seller", "150", "--buyer", "7"});
  EXPECT_RAN(r, 2);
  EXPECT_NE(r.err.find("--at-least -3: want a log position"), std::string::npos) << r.err;
}

// forget-node: a bad name is a usage error; a bonusd with its own journal has no nodes
// (refused; the JetStream side is in jetstream_end_to_end_test).
TEST_F(Bonusctl, ForgetNodeWantsANameAndALogOfSeveralNodes) {
  Ran r = ctl({"admin", "forget-node", "--node", "two words"});
  EXPECT_RAN(r, 2);
  EXPECT_NE(r.err.find("--node two words: want 1..64 of [A-Za-z0-9_-]"), std::string::npos)
      << r.err;
  r = ctl({"admin", "forget-node"});
  EXPECT_RAN(r, 2);
  r = ctl({"admin", "forget-node", "--node", "b"});
  EXPECT_RAN(r, 3);
  EXPECT_NE(r.err.find("keeps its own journal"), std::string::npos) << r.err;
}

TEST_F(Bonusctl, RetryWithTheSameIdIsARepeatAndAnotherBodyIsRejected) {
  const std::vector<std::string> credit = {"credit",   "--seller", "101",  "--buyer", "7",
                                           "--amount", "300",      "--id", "1f",      "--json"};
  Ran r = ctl(credit);
  EXPECT_RAN(r, 0);
  EXPECT_EQ(json(r.out, "id"), "0000000000000000000000000000001f");
  r = ctl(credit);
  EXPECT_RAN(r, 0);
  EXPECT_EQ(json(r.out, "repeat"), "true");
  EXPECT_EQ(json(r.out, "credited"), "300");
  r = ctl({"credit", "--seller", "101", "--buyer", "7", "--amount", "300", "--id", "1f"});
  EXPECT_RAN(r, 0);
  EXPECT_NE(r.out.find("a repeat"), std::string::npos) << r.out;

  r = ctl({"credit", "--seller", "101", "--buyer", "7", "--amount", "301", "--id", "1f"});
  EXPECT_RAN(r, 1);
  EXPECT_NE(r.out.find("credit rejected: id_reused (code 2)"), std::string::npos) << r.out;
  r = ctl({"--json", "credit", "--seller", "101", "--buyer", "7", "--amount", "301", "--id", "1f"});
  EXPECT_RAN(r, 1);
  EXPECT_EQ(json(r.out, "result"), "id_reused");
  EXPECT_EQ(json(r.out, "code"), "2");
  EXPECT_EQ(
      json_u64(ctl({"--json", "balance", "--seller", "101", "--buyer", "7"}).out, "available"),
      300u);
}

TEST_F(Bonusctl, PolicyAndCappedCredits) {
  Ran r = ctl({"policy", "--seller", "102", "--balance-max", "100", "--spend-share", "50%",
               "--earn-month-max", "30000", "--ttl", "30d"});
  EXPECT_RAN(r, 0);
  EXPECT_EQ(r.out.substr(0, 10), "policy ok;");
  r = ctl({"--json", "policy", "--seller", "102", "--spend-share", "101"});
  EXPECT_RAN(r, 2);  // above 100 %: refused before sending
  r = ctl({"--json", "policy", "--seller", "102", "--spend-share", "0"});
  EXPECT_RAN(r, 1);  // the engine's range is 1..10000 basis points
  EXPECT_EQ(json(r.out, "result"), "invalid_policy");

  r = ctl({"--json", "credit", "--seller", "102", "--buyer", "7", "--amount", "300"});
  EXPECT_RAN(r, 0);
  EXPECT_EQ(json(r.out, "credited"), "100");
  EXPECT_EQ(json(r.out, "capped"), "true");
  EXPECT_EQ(json(r.out, "capped_by"), "[\"balance_max\"]");
  r = ctl({"credit", "--seller", "102", "--buyer", "8", "--amount", "300"});
  EXPECT_RAN(r, 0);
  EXPECT_NE(r.out.find("credited 100, cut by the balance cap"), std::string::npos) << r.out;
}

// Rates and tiers end to end: a policy with tiers set and printed back (both forms),
// accruals by price at the buyer's tier, the tier in balance and the earn in the cart.
TEST_F(Bonusctl, RatesTiersAccrueByPriceAndTheCartsEarn) {
  Ran r = ctl({"--json", "policy", "--seller", "140"});
  EXPECT_RAN(r, 0);
  EXPECT_EQ(json(r.out, "rate_bp"), "0");  // no rate until the seller sets one
  EXPECT_EQ(json(r.out, "tiers"), "[]");
  r = ctl({"--json", "accrue", "--order", "14001", "--seller", "140", "--buyer", "7", "--price",
           "1990"});
  EXPECT_RAN(r, 1);
  EXPECT_EQ(json(r.out, "result"), "invalid_price");

  r = ctl({"policy", "--seller", "140", "--rate", "5%", "--tiers", "10000:7%,50000:10.5%",
           "--tier-window", "365d"});
  EXPECT_RAN(r, 0);
  r = ctl({"--json", "policy", "--seller", "140"});
  EXPECT_RAN(r, 0);
  EXPECT_EQ(json(r.out, "rate_bp"), "500");
  EXPECT_EQ(json(r.out, "tier_window_days"), "365");
  EXPECT_EQ(json(r.out, "tiers"),
            "[{\"threshold_kopecks\": 1000000, \"rate_bp\": 700}, "
            "{\"threshold_kopecks\": 5000000, \"rate_bp\": 1050}]");
  r = ctl({"policy", "--seller", "140"});
  EXPECT_RAN(r, 0);
  EXPECT_NE(r.out.find("rate            5%"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("from       50000.00  10.5%"), std::string::npos) << r.out;
  EXPECT_RAN(ctl({"policy", "--seller", "140", "--tiers", "10000:7%,5000:9%"}), 1);  // descending
  EXPECT_RAN(ctl({"policy", "--seller", "140", "--rate", "0%"}), 2);
  EXPECT_RAN(ctl({"policy", "--seller", "140", "--tier-window", "36h"}), 2);
  EXPECT_RAN(ctl({"accrue", "--order", "14009", "--seller", "140", "--buyer", "7"}), 2);

  // 1990.50 roubles at 5 %: 99.5 -> 99.
  r = ctl({"--json", "accrue", "--order", "14001", "--seller", "140", "--buyer", "7", "--price",
           "1990.50"});
  EXPECT_RAN(r, 0);
  EXPECT_EQ(json(r.out, "accrued"), "99");
  EXPECT_EQ(json(r.out, "rate_bp"), "500");
  EXPECT_RAN(ctl({"confirm", "--order", "14001"}), 0);
  // A 9000-rouble purchase with an explicit amount: its price counts too; tier 1 reached.
  EXPECT_RAN(ctl({"accrue", "--order", "14002", "--seller", "140", "--buyer", "7", "--amount",
                  "1", "--price", "9000"}),
             0);
  EXPECT_RAN(ctl({"confirm", "--order", "14002"}), 0);
  r = ctl({"--json", "balance", "--seller", "140", "--buyer", "7"});
  EXPECT_RAN(r, 0);
  const std::string tier = json(r.out, "tier");
  EXPECT_EQ(json(tier, "tier"), "1") << tier;
  EXPECT_EQ(json(tier, "rate_bp"), "700") << tier;
  EXPECT_EQ(json(tier, "purchases_kopecks"), "1099050") << tier;
  EXPECT_EQ(json(tier, "next_tier_kopecks"), "3900950") << tier;
  EXPECT_NE(json(tier, "last_purchase"), "null") << tier;
  r = ctl({"balance", "--seller", "140", "--buyer", "7"});
  EXPECT_NE(r.out.find("tier 1 at 7%, purchases 10990.50 in the window, 39009.50 more for the next"),
            std::string::npos)
      << r.out;
  r = ctl({"--json", "accrue", "--order", "14003", "--seller", "140", "--buyer", "7", "--price",
           "1000"});
  EXPECT_EQ(json(r.out, "accrued"), "70");

  r = ctl({"--json", "cart", "--buyer", "7", "--item", "140:2000", "--item", "141:2000"});
  EXPECT_RAN(r, 0);
  EXPECT_EQ(json(r.out, "earn"), "140");  // 2000 at 7 %
  EXPECT_EQ(json(r.out, "earn_rate_bp"), "700");
  EXPECT_EQ(json(r.out, "earn_tier"), "1");
  EXPECT_EQ(json(r.out, "earn_month_room"), "29900");  // 30,000 less 99 + 1 confirmed
  r = ctl({"cart", "--buyer", "7", "--item", "140:2000"});
  EXPECT_RAN(r, 0);
  EXPECT_NE(r.out.find("     140      7%"), std::string::npos) << r.out;
}

TEST_F(Bonusctl, AccrualLifecycle) {
  Ran r = ctl({"accrue", "--order", "5001", "--seller", "103", "--buyer", "7", "--amount", "95",
               "--ttl", "365d"});
  EXPECT_RAN(r, 0);
  EXPECT_EQ(r.out.substr(0, 22), "accrue ok: accrued 95;");
  EXPECT_EQ(json_u64(ctl({"--json", "balance", "--seller", "103", "--buyer", "7"}).out, "pending"),
            95u);
  r = ctl({"--json", "confirm", "--order", "5001"});
  EXPECT_RAN(r, 0);
  EXPECT_EQ(json(r.out, "credited"), "95");
  EXPECT_EQ(json(r.out, "capped"), "false");
  r = ctl({"confirm", "--order", "5001"});
  EXPECT_RAN(r, 1);
  EXPECT_NE(r.out.find("accrual_already_confirmed (code 16)"), std::string::npos) << r.out;

  // Spend some, then reverse: what was spent becomes debt.
  r = ctl({"spend", "--order", "5002", "--seller", "103", "--buyer", "7", "--amount", "50",
           "--goods-total", "1000"});
  EXPECT_RAN(r, 0);
  r = ctl({"--json", "reverse-accrual", "--order", "5001"});
  EXPECT_RAN(r, 0);
  EXPECT_EQ(json(r.out, "reversed"), "95");
  EXPECT_EQ(json(r.out, "debt"), "50");
  r = ctl({"reverse-accrual", "--order", "5001"});
  EXPECT_RAN(r, 1);
  EXPECT_NE(r.out.find("accrual_already_reversed"), std::string::npos);
  // A later credit repays the debt first.
  r = ctl({"--json", "credit", "--seller", "103", "--buyer", "7", "--amount", "80"});
  EXPECT_EQ(json(r.out, "credited"), "80");
  EXPECT_EQ(json(r.out, "debt_repaid"), "50");

  EXPECT_RAN(
      ctl({"accrue", "--order", "5003", "--seller", "103", "--buyer", "7", "--amount", "10"}), 0);
  r = ctl({"--json", "cancel-accrual", "--order", "5003"});
  EXPECT_RAN(r, 0);
  EXPECT_EQ(json(r.out, "cancelled"), "10");
  r = ctl({"cancel-accrual", "--order", "5003"});
  EXPECT_RAN(r, 1);
  EXPECT_NE(r.out.find("accrual_cancelled"), std::string::npos);
}

TEST_F(Bonusctl, CheckoutHoldCaptureRefundReleaseSpend) {
  ASSERT_EQ(ctl({"credit", "--seller", "104", "--buyer", "7", "--amount", "1000"}).code, 0);
  Ran r = ctl({"--json", "hold", "--order", "6001", "--seller", "104", "--buyer", "7", "--amount",
               "250", "--goods-total", "1990.00", "--timeout", "15m"});
  EXPECT_RAN(r, 0);
  EXPECT_EQ(json(r.out, "held"), "250");
  r = ctl({"--json", "capture", "--order", "6001", "--amount", "200"});
  EXPECT_RAN(r, 0);
  EXPECT_EQ(json(r.out, "spent"), "200");
  EXPECT_EQ(json(r.out, "released"), "50");
  r = ctl({"capture", "--order", "6001"});
  EXPECT_RAN(r, 1);
  EXPECT_NE(r.out.find("order_already_captured (code 6)"), std::string::npos);
  r = ctl({"--json", "refund", "--order", "6001", "--amount", "120"});
  EXPECT_RAN(r, 0);
  EXPECT_EQ(json(r.out, "refunded"), "120");
  EXPECT_EQ(json(r.out, "debt_repaid"), "0");
  r = ctl({"refund", "--order", "6001"});
  EXPECT_RAN(r, 0);
  EXPECT_EQ(r.out.substr(0, 23), "refund ok: refunded 80;");

  r = ctl({"hold", "--order", "6002", "--seller", "104", "--buyer", "7", "--amount", "100",
           "--goods-total", "500"});
  EXPECT_RAN(r, 0);
  EXPECT_EQ(r.out.substr(0, 17), "hold ok: held 100");
  r = ctl({"--json", "release", "--order", "6002"});
  EXPECT_RAN(r, 0);
  EXPECT_EQ(json(r.out, "released"), "100");

  r = ctl({"--json", "spend", "--order", "6003", "--seller", "104", "--buyer", "7", "--amount",
           "300", "--goods-total", "400"});
  EXPECT_RAN(r, 0);
  EXPECT_EQ(json(r.out, "spent"), "300");
  r = ctl({"spend", "--order", "6004", "--seller", "104", "--buyer", "7", "--amount", "300",
           "--goods-total", "300.99"});  // at least 1 rouble is paid in money
  EXPECT_RAN(r, 1);
  EXPECT_NE(r.out.find("spend rejected: over_spend_cap (code 4)"), std::string::npos) << r.out;
  r = ctl({"--json", "spend", "--order", "6005", "--seller", "104", "--buyer", "7", "--amount",
           "5000", "--goods-total", "100000"});
  EXPECT_RAN(r, 1);
  EXPECT_EQ(json(r.out, "result"), "insufficient_bonuses");
  EXPECT_EQ(
      json_u64(ctl({"--json", "balance", "--seller", "104", "--buyer", "7"}).out, "available"),
      700u);
}

TEST_F(Bonusctl, BalanceWalletAndCartInBothForms) {
  ASSERT_EQ(ctl({"credit", "--seller", "105", "--buyer", "70", "--amount", "300", "--ttl", "24h",
                 "--campaign", "9"})
                .code,
            0);
  ASSERT_EQ(
      ctl({"credit", "--seller", "105", "--buyer", "70", "--amount", "50", "--ttl", "never"}).code,
      0);
  ASSERT_EQ(ctl({"credit", "--seller", "106", "--buyer", "70", "--amount", "40", "--expires-at",
                 "2200-01-01T00:00:00Z"})
                .code,
            0);
  ASSERT_EQ(
      ctl({"accrue", "--order", "7001", "--seller", "105", "--buyer", "70", "--amount", "20"}).code,
      0);

  Ran r = ctl({"--json", "balance", "--seller", "105", "--buyer", "70"});
  EXPECT_RAN(r, 0);
  EXPECT_EQ(json(r.out, "available"), "350");
  EXPECT_EQ(json(r.out, "pending"), "20");
  EXPECT_EQ(json(r.out, "held"), "0");
  EXPECT_EQ(json(r.out, "debt"), "0");
  EXPECT_EQ(json_u64(json(r.out, "next_expiry"), "amount"), 300u);
  const std::string lots = json(r.out, "lots");
  EXPECT_EQ(count(lots, "\"amount\""), 2u) << lots;
  EXPECT_NE(lots.find("\"campaign\": 9"), std::string::npos) << lots;
  EXPECT_NE(lots.find("\"amount\": 50, \"expires_at\": null"), std::string::npos) << lots;

  r = ctl({"balance", "--seller", "105", "--buyer", "70"});
  EXPECT_RAN(r, 0);
  EXPECT_NE(r.out.find("available           350"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("campaign 9"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("never"), std::string::npos) << r.out;

  r = ctl({"--json", "balance", "--seller", "105", "--buyer", "71"});
  EXPECT_RAN(r, 0);
  EXPECT_EQ(json(r.out, "exists"), "false");
  EXPECT_EQ(json(r.out, "next_expiry"), "null");

  r = ctl({"--json", "wallet", "--buyer", "70"});
  EXPECT_RAN(r, 0);
  EXPECT_EQ(count(r.out, "\"seller\""), 2u) << r.out;
  EXPECT_EQ(json(r.out, "seller"), "105");
  EXPECT_EQ(json(r.out.substr(r.out.find("\"seller\": 106")), "available"), "40");
  EXPECT_NE(r.out.find("\"at\": \"2200-01-01T00:00:00Z\""), std::string::npos) << r.out;
  r = ctl({"wallet", "--buyer", "70"});
  EXPECT_RAN(r, 0);
  EXPECT_EQ(count(r.out, "\n"), 3u) << r.out;
  r = ctl({"wallet", "--buyer", "72"});
  EXPECT_RAN(r, 0);
  EXPECT_NE(r.out.find("no bonuses"), std::string::npos);

  r = ctl({"--json", "cart", "--buyer", "70", "--item", "105:1990.00", "--item", "106:10", "--soon",
           "48h"});
  EXPECT_RAN(r, 0);
  EXPECT_EQ(json(r.out, "seller"), "105");
  EXPECT_EQ(json(r.out, "goods_total_kopecks"), "199000");
  EXPECT_EQ(json(r.out, "spendable"), "350");
  EXPECT_EQ(json(r.out, "expiring_soon"), "300");
  EXPECT_EQ(json(r.out, "pending"), "20");
  const std::string second = r.out.substr(r.out.find("\"seller\": 106"));
  EXPECT_EQ(json(second, "spendable"), "9");  // 10 roubles: 99 %, at least 1 rouble paid
  r = ctl({"cart", "--buyer", "70", "--item", "105:1990"});
  EXPECT_RAN(r, 0);
  EXPECT_NE(r.out.find("1990.00"), std::string::npos) << r.out;
  EXPECT_RAN(ctl({"cart", "--buyer", "70", "--item", "105"}), 2);
  EXPECT_RAN(ctl({"cart", "--buyer", "70", "--item", "105:1.001"}), 2);
  // One line per seller (the server refuses a seller twice: duplicate_key).
  r = ctl({"cart", "--buyer", "70", "--item", "105:10", "--item", "105:20"});
  EXPECT_RAN(r, 2);
  EXPECT_NE(r.err.find("one --item per seller"), std::string::npos) << r.err;
}

TEST_F(Bonusctl, ExpiringFollowsTheCursorPageByPage) {
  for (int buyer = 1; buyer <= 7; ++buyer) {
    ASSERT_EQ(ctl({"credit", "--seller", "107", "--buyer", std::to_string(buyer), "--amount",
                   std::to_string(100 * buyer), "--ttl", buyer <= 5 ? "20h" : "10d"})
                  .code,
              0);
  }
  Ran r = ctl({"--json", "expiring", "--seller", "107", "--within", "24h", "--limit", "2"});
  EXPECT_RAN(r, 0);
  EXPECT_EQ(r.out.front(), '[');
  EXPECT_EQ(r.out.substr(r.out.size() - 2), "]\n");
  EXPECT_EQ(count(r.out, "\n{\"buyer\": "), 5u) << r.out;
  EXPECT_EQ(count(r.out, "\"amount\": 300,"), 1u) << r.out;
  EXPECT_EQ(count(r.out, "\"first_expiry\": \"20"), 5u) << r.out;

  r = ctl({"expiring", "--seller", "107", "--within", "24h", "--limit", "2"});
  EXPECT_RAN(r, 0);
  EXPECT_NE(r.out.find("buyers 5, bonuses 1500, expiring within 1d"), std::string::npos) << r.out;
  r = ctl({"--json", "expiring", "--seller", "108", "--within", "24h"});
  EXPECT_RAN(r, 0);
  EXPECT_EQ(r.out, "[\n]\n");
  EXPECT_RAN(ctl({"expiring", "--seller", "107", "--within", "24h", "--limit", "0"}), 2);
}

TEST_F(Bonusctl, StatsOfASellerAndOfACampaign) {
  ASSERT_EQ(
      ctl({"credit", "--seller", "109", "--buyer", "1", "--amount", "300", "--campaign", "4"}).code,
      0);
  ASSERT_EQ(
      ctl({"credit", "--seller", "109", "--buyer", "2", "--amount", "300", "--campaign", "4"}).code,
      0);
  ASSERT_EQ(ctl({"spend", "--order", "1", "--seller", "109", "--buyer", "1", "--amount", "100",
                 "--goods-total", "1000"})
                .code,
            0);
  Ran r = ctl({"--json", "stats", "--seller", "109"});
  EXPECT_RAN(r, 0);
  EXPECT_EQ(json(r.out, "issued"), "600");
  EXPECT_EQ(json(r.out, "spent"), "100");
  EXPECT_EQ(json(r.out, "outstanding"), "500");
  r = ctl({"--json", "stats", "--seller", "109", "--campaign", "4"});
  EXPECT_RAN(r, 0);
  EXPECT_EQ(json(r.out, "recipients"), "2");
  EXPECT_EQ(json(r.out, "spenders"), "1");
  EXPECT_EQ(json(r.out, "revoked"), "false");
  r = ctl({"stats", "--seller", "109", "--campaign", "4"});
  EXPECT_RAN(r, 0);
  EXPECT_NE(r.out.find("50.00% of recipients"), std::string::npos) << r.out;

  r = ctl({"--json", "revoke-campaign", "--seller", "109", "--campaign", "4"});
  EXPECT_RAN(r, 0);
  EXPECT_EQ(json(r.out, "expired"), "500");
  r = ctl({"revoke-campaign", "--seller", "109", "--campaign", "0"});
  EXPECT_RAN(r, 1);
  EXPECT_NE(r.out.find("invalid_campaign"), std::string::npos);
  r = ctl({"stats", "--seller", "109", "--campaign", "4"});
  EXPECT_NE(r.out.find("(revoked)"), std::string::npos) << r.out;
  r = ctl({"stats", "--seller", "109"});
  EXPECT_NE(r.out.find("expired                   500"), std::string::npos) << r.out;
}

// Campaign results: what the revoke took apart from what lapsed, the sales the campaign
// brought (each spending order's goods total once) and the cost as a share of them.
TEST_F(Bonusctl, CampaignResultsCountSalesAndTellRevokedFromLapsed) {
  for (const char* buyer : {"1", "2", "3", "4"}) {
    ASSERT_EQ(ctl({"credit", "--seller", "131", "--buyer", buyer, "--amount", "100",
                   "--campaign", "6", "--reason", "mailing"})
                  .code,
              0);
  }
  // Two orders spend from the campaign: 1990 and 510 roubles of goods.
  ASSERT_EQ(ctl({"spend", "--order", "31", "--seller", "131", "--buyer", "1", "--amount", "100",
                 "--goods-total", "1990"})
                .code,
            0);
  ASSERT_EQ(ctl({"hold", "--order", "32", "--seller", "131", "--buyer", "2", "--amount", "50",
                 "--goods-total", "510"})
                .code,
            0);
  ASSERT_EQ(ctl({"capture", "--order", "32", "--amount", "25"}).code, 0);
  ASSERT_EQ(ctl({"refund", "--order", "31", "--amount", "40"}).code, 0);  // does not subtract
  Ran r = ctl({"--json", "revoke-campaign", "--seller", "131", "--campaign", "6"});
  EXPECT_RAN(r, 0);
  r = ctl({"--json", "stats", "--seller", "131", "--campaign", "6"});
  EXPECT_RAN(r, 0);
  EXPECT_EQ(json(r.out, "issued"), "400");
  EXPECT_EQ(json(r.out, "spent"), "125");
  EXPECT_EQ(json(r.out, "refunded"), "40");
  EXPECT_EQ(json(r.out, "expired"), "0");
  EXPECT_EQ(json(r.out, "revoked_amount"), "315");
  EXPECT_EQ(json(r.out, "recipients"), "4");
  EXPECT_EQ(json(r.out, "spenders"), "2");
  EXPECT_EQ(json(r.out, "spender_share_bp"), "5000");
  EXPECT_EQ(json(r.out, "sales_orders"), "2");
  EXPECT_EQ(json(r.out, "sales_kopecks"), "250000");
  EXPECT_EQ(json(r.out, "cost_bp"), "500");  // 125 of 2500 roubles
  r = ctl({"stats", "--seller", "131", "--campaign", "6"});
  EXPECT_NE(r.out.find("5.00% of the sales"), std::string::npos) << r.out;
  r = ctl({"--json", "stats", "--seller", "131", "--campaign", "7"});  // nothing yet
  EXPECT_EQ(json(r.out, "cost_bp"), "null");
  EXPECT_EQ(json(r.out, "spender_share_bp"), "null");
}

// A seller's month, through the shards and through a restart from the checkpoint (the
// reports and the lots' reasons are state): credited by reason, accrued and confirmed,
// spent with its orders' goods, refunded, and the cost as a share of those goods.
TEST(BonusctlMonthReport, SumsTheShardsAndSurvivesARestart) {
  BonusdProcess server;
  ASSERT_TRUE(server.start({"--shards", "2"})) << server.log();
  auto at = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"--server", "127.0.0.1:" + std::to_string(server.port())});
    return Ctl(args, "/dev/null").finish();
  };
  for (int b = 1; b <= 6; ++b) {  // buyers on both shards
    ASSERT_EQ(at({"credit", "--seller", "141", "--buyer", std::to_string(b), "--amount", "100",
                  "--reason", b % 2 == 0 ? "gift" : "apology"})
                  .code,
              0);
  }
  ASSERT_EQ(at({"credit", "--seller", "141", "--buyer", "7", "--amount", "25", "--reason", "99"})
                .code,
            0);
  ASSERT_EQ(at({"accrue", "--order", "41", "--seller", "141", "--buyer", "8", "--amount", "60"})
                .code,
            0);
  ASSERT_EQ(at({"confirm", "--order", "41"}).code, 0);
  ASSERT_EQ(at({"accrue", "--order", "42", "--seller", "141", "--buyer", "9", "--amount", "15"})
                .code,
            0);
  ASSERT_EQ(at({"spend", "--order", "43", "--seller", "141", "--buyer", "1", "--amount", "50",
                "--goods-total", "1000"})
                .code,
            0);
  ASSERT_EQ(at({"spend", "--order", "44", "--seller", "141", "--buyer", "2", "--amount", "50",
                "--goods-total", "1500"})
                .code,
            0);
  ASSERT_EQ(at({"refund", "--order", "44", "--amount", "10"}).code, 0);
  ASSERT_EQ(at({"admin", "checkpoint"}).code, 0);
  ASSERT_EQ(server.stop(), 0);
  ASSERT_TRUE(server.start({"--shards", "2"})) << server.log();

  // The ledger's month (Moscow time) of a write made now.
  const std::time_t moscow = std::time(nullptr) + 3 * 3600;
  std::tm tm{};
  gmtime_r(&moscow, &tm);
  char month[16];
  std::strftime(month, sizeof(month), "%Y-%m", &tm);
  const Ran r = at({"--json", "stats", "--seller", "141", "--month", month});
  EXPECT_RAN(r, 0);
  EXPECT_EQ(json(r.out, "month"), month);
  EXPECT_EQ(json(r.out, "credited"), "625");
  EXPECT_NE(r.out.find("\"credited_by_reason\": {\"none\": 0, \"mailing\": 0, \"gift\": 300, "
                       "\"apology\": 300, \"referral\": 0, \"manual\": 0, \"own\": 25}"),
            std::string::npos)
      << r.out;
  EXPECT_EQ(json(r.out, "accrued"), "75");
  EXPECT_EQ(json(r.out, "confirmed"), "60");
  EXPECT_EQ(json(r.out, "spent"), "100");
  EXPECT_EQ(json(r.out, "refunded"), "10");
  EXPECT_EQ(json(r.out, "orders"), "2");
  EXPECT_EQ(json(r.out, "orders_goods_kopecks"), "250000");
  EXPECT_EQ(json(r.out, "cost_bp"), "400");  // 100 of 2500 roubles
  const Ran lots = at({"--json", "balance", "--seller", "141", "--buyer", "7"});
  EXPECT_NE(lots.out.find("\"reason\": 99"), std::string::npos) << lots.out;
  const Ran empty = at({"--json", "stats", "--seller", "141", "--month", "2001-01"});
  EXPECT_EQ(json(empty.out, "credited"), "0");
  EXPECT_EQ(json(empty.out, "cost_bp"), "null");
  EXPECT_RAN(at({"stats", "--seller", "141", "--month", "2026-1"}), 2);
  EXPECT_RAN(at({"stats", "--seller", "141", "--month", "2026-11", "--campaign", "3"}), 2);
}

// A referral credits the referrer and the friend (on two shards here) under one id; a
// retry with the id is a repeat for both; referrer == friend is invalid_referral.
TEST_F(Bonusctl, ReferralCreditsBothOnceAcrossShards) {
  // Two buyers of the two shards (the router's partition_of).
  BuyerId friend_buyer = 2;
  while (partition_of(friend_buyer, 2) == partition_of(1, 2)) ++friend_buyer;
  const std::vector<std::string> referral = {
      "--json", "referral", "--seller", "151", "--referrer", "1", "--friend",
      std::to_string(friend_buyer), "--amount", "300", "--friend-amount", "100", "--ttl", "30d",
      "--id", "5151"};
  Ran r = ctl(referral);
  EXPECT_RAN(r, 0);
  EXPECT_EQ(json(r.out, "referrer_credited"), "300");
  EXPECT_EQ(json(r.out, "friend_credited"), "100");
  EXPECT_EQ(json(r.out, "repeat"), "false");
  r = ctl(referral);
  EXPECT_RAN(r, 0);
  EXPECT_EQ(json(r.out, "repeat"), "true");
  EXPECT_EQ(json(r.out, "friend_credited"), "100");
  r = ctl({"--json", "balance", "--seller", "151", "--buyer", std::to_string(friend_buyer)});
  EXPECT_EQ(json(r.out, "available"), "100");
  EXPECT_NE(r.out.find("\"reason_name\": \"referral\""), std::string::npos) << r.out;
  r = ctl({"--json", "balance", "--seller", "151", "--buyer", "1"});
  EXPECT_EQ(json(r.out, "available"), "300");
  r = ctl({"--json", "referral", "--seller", "151", "--referrer", "3", "--friend", "3",
           "--amount", "300"});
  EXPECT_RAN(r, 1);
  EXPECT_EQ(json(r.out, "result"), "invalid_referral");
  EXPECT_RAN(ctl({"referral", "--seller", "151", "--referrer", "3", "--amount", "300"}), 2);
}

// A credit's reason is kept on its lot and shown by balance; a reserved or unknown
// reason is a usage error before anything is sent.
TEST_F(Bonusctl, CreditReasonIsShownByBalance) {
  ASSERT_EQ(ctl({"credit", "--seller", "132", "--buyer", "1", "--amount", "10", "--ttl", "1d",
                 "--reason", "apology"})
                .code,
            0);
  ASSERT_EQ(ctl({"credit", "--seller", "132", "--buyer", "1", "--amount", "20", "--ttl", "2d",
                 "--reason", "200"})
                .code,
            0);
  ASSERT_EQ(ctl({"credit", "--seller", "132", "--buyer", "1", "--amount", "30", "--ttl", "3d"})
                .code,
            0);
  Ran r = ctl({"--json", "balance", "--seller", "132", "--buyer", "1"});
  EXPECT_RAN(r, 0);
  EXPECT_NE(r.out.find("\"amount\": 10, \"expires_at\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"reason\": 3, \"reason_name\": \"apology\""), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("\"reason\": 200, \"reason_name\": \"own\""), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("\"reason\": 0, \"reason_name\": \"none\""), std::string::npos)
      << r.out;
  r = ctl({"balance", "--seller", "132", "--buyer", "1"});
  EXPECT_NE(r.out.find("apology"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("own 200"), std::string::npos) << r.out;
  for (const char* bad : {"7", "256", "thanks"}) {
    r = ctl({"credit", "--seller", "132", "--buyer", "1", "--amount", "5", "--reason", bad});
    EXPECT_RAN(r, 2);
    EXPECT_NE(r.err.find("--reason"), std::string::npos) << r.err;
  }
}

TEST_F(Bonusctl, HistoryAndOrderInBothForms) {
  ASSERT_EQ(
      ctl({"credit", "--seller", "500", "--buyer", "7", "--amount", "100", "--campaign", "3"}).code,
      0);
  ASSERT_EQ(ctl({"spend", "--order", "5901", "--seller", "500", "--buyer", "7", "--amount", "40",
                 "--goods-total", "1000"})
                .code,
            0);
  ASSERT_EQ(ctl({"refund", "--order", "5901", "--amount", "15"}).code, 0);
  ASSERT_EQ(ctl({"admin", "checkpoint"}).code, 0);  // history is written before it

  Ran r = ctl({"--json", "history", "--seller", "500", "--buyer", "7", "--limit", "2"});
  EXPECT_RAN(r, 0);
  EXPECT_EQ(count(r.out, "\"kind\""), 2u) << r.out;
  EXPECT_EQ(json(r.out, "kind"), "refunded");
  EXPECT_EQ(json(r.out, "order"), "5901");
  EXPECT_EQ(json(r.out, "balance_after"), "75");
  EXPECT_EQ(json(r.out, "complete_from"), "0");
  const std::string next = json(r.out, "next");
  ASSERT_NE(next, "null");
  r = ctl({"--json", "history", "--seller", "500", "--buyer", "7", "--cursor", next});
  EXPECT_RAN(r, 0);
  EXPECT_EQ(json(r.out, "kind"), "held");
  EXPECT_EQ(json(r.out, "next"), "null");
  EXPECT_NE(r.out.find("\"kind\": \"credited\", \"amount\": 100, \"campaign\": 3, \"reason\": 0"),
            std::string::npos)
      << r.out;

  r = ctl({"history", "--seller", "500", "--buyer", "7", "--limit", "1"});
  EXPECT_RAN(r, 0);
  EXPECT_NE(r.out.find("refunded"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("more: --cursor "), std::string::npos) << r.out;

  r = ctl({"--json", "order", "--order", "5901"});
  EXPECT_RAN(r, 0);
  EXPECT_EQ(count(r.out, "\"kind\""), 3u) << r.out;
  EXPECT_EQ(json(r.out, "kind"), "held");
  EXPECT_EQ(json(r.out, "buyer"), "7");
  r = ctl({"order", "--order", "5901"});
  EXPECT_RAN(r, 0);
  EXPECT_NE(r.out.find("spent"), std::string::npos) << r.out;

  EXPECT_RAN(ctl({"history", "--seller", "500", "--buyer", "7", "--limit", "1001"}), 2);
  EXPECT_RAN(ctl({"history", "--seller", "500", "--buyer", "7", "--cursor", "x"}), 2);

  // A credit's reason is in its statement line, both forms; a referral's is "referral".
  ASSERT_EQ(ctl({"credit", "--seller", "500", "--buyer", "8", "--amount", "20", "--reason",
                 "apology"})
                .code,
            0);
  ASSERT_EQ(ctl({"referral", "--seller", "500", "--referrer", "8", "--friend", "9", "--amount",
                 "30"})
                .code,
            0);
  ASSERT_EQ(ctl({"admin", "checkpoint"}).code, 0);
  r = ctl({"--json", "history", "--seller", "500", "--buyer", "8"});
  EXPECT_RAN(r, 0);
  EXPECT_EQ(json(r.out, "reason_name"), "referral") << r.out;
  EXPECT_NE(r.out.find("\"reason\": 3, \"reason_name\": \"apology\""), std::string::npos) << r.out;
  r = ctl({"history", "--seller", "500", "--buyer", "8"});
  EXPECT_RAN(r, 0);
  EXPECT_NE(r.out.find("apology"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("referral"), std::string::npos) << r.out;
}

TEST_F(Bonusctl, AdminStatusAuditAndCheckpoint) {
  Ran r = ctl({"--json", "admin", "status"});
  EXPECT_RAN(r, 0);
  EXPECT_EQ(json(r.out, "shards"), "2");
  EXPECT_EQ(json(r.out, "test_clock"), "false");
  EXPECT_EQ(json(r.out, "durability"), "fsync");
  EXPECT_EQ(json(r.out, "ledger_time").size(), 27u) << r.out;
  r = ctl({"admin", "status"});
  EXPECT_RAN(r, 0);
  EXPECT_NE(r.out.find("test clock    off"), std::string::npos) << r.out;
  r = ctl({"admin", "audit"});
  EXPECT_RAN(r, 0);
  EXPECT_NE(r.out.find("audit ok"), std::string::npos) << r.out;
  r = ctl({"--json", "admin", "audit"});
  EXPECT_EQ(json(r.out, "ok"), "true");
  r = ctl({"credit", "--seller", "1", "--buyer", "2", "--amount", "5"});
  EXPECT_RAN(r, 0);
  r = ctl({"admin", "checkpoint"});
  EXPECT_RAN(r, 0);
  EXPECT_NE(r.out.find("checkpoint at position "), std::string::npos) << r.out;
  r = ctl({"--json", "admin", "checkpoint"});
  EXPECT_RAN(r, 0);
  EXPECT_EQ(json(r.out, "ok"), "true");
  EXPECT_NE(json(r.out, "checkpoint_position"), "0") << r.out;
  r = ctl({"admin", "status"});
  EXPECT_NE(r.out.find("checkpoint    at log position "), std::string::npos) << r.out;
}

TEST_F(Bonusctl, ClockAdvanceWithoutTheTestClockExitsOne) {
  Ran r = ctl({"clock", "advance", "25h"});
  EXPECT_RAN(r, 1);
  EXPECT_NE(r.err.find("--test-clock"), std::string::npos) << r.err;
  r = ctl({"--json", "clock", "advance", "25h"});
  EXPECT_RAN(r, 1);
  EXPECT_EQ(json(r.out, "error"), "test_clock_disabled");
  EXPECT_RAN(ctl({"clock", "advance", "soon"}), 2);
}

// Its own server: the change of limits would reach the other tests' shared one.
TEST(BonusctlLimits, PrintsTheLimitsAndChangesThemOnPurpose) {
  BonusdProcess server;
  ASSERT_TRUE(server.start({"--shards", "2", "--ids-max", "1000"})) << server.log();
  const std::string at = "127.0.0.1:" + std::to_string(server.port());
  const auto run = [&at](std::vector<std::string> args) {
    args.insert(args.begin(), {"--server", at});
    return Ctl(args).finish();
  };
  Ran r = run({"admin", "limits"});
  EXPECT_RAN(r, 0);
  EXPECT_NE(r.out.find("ids-max                 1000"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("id-window-s             86400"), std::string::npos) << r.out;
  r = run({"--json", "admin", "limits"});
  EXPECT_EQ(json(r.out, "ids_max"), "1000") << r.out;
  EXPECT_EQ(json(r.out, "changes"), "0") << r.out;

  r = run({"admin", "limits", "set", "--ids-max", "2000", "--id-window-s", "3600", "--id", "5e7"});
  EXPECT_RAN(r, 0);
  EXPECT_NE(r.out.find("limits set (id " + std::string(29, '0') + "5e7)"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("ids-max                 2000"), std::string::npos) << r.out;
  r = run({"--json", "admin", "limits", "set", "--ids-max", "2000", "--id-window-s", "3600",
           "--id", "5e7"});
  EXPECT_RAN(r, 0);  // a retry: a repeat, no second change
  EXPECT_EQ(json(r.out, "changes"), "1") << r.out;
  EXPECT_EQ(json(r.out, "id_window_us"), "3600000000") << r.out;

  EXPECT_RAN(run({"admin", "limits", "set"}), 2);  // nothing named
  EXPECT_RAN(run({"admin", "limits", "set", "--ids-max", "0"}), 2);
  EXPECT_RAN(run({"admin", "limits", "set", "--id-window-s", "x"}), 2);

  // The new value is the stored one now: the old flag is refused at a restart.
  ASSERT_EQ(server.stop(SIGTERM), 0) << server.log();
  EXPECT_FALSE(server.start({"--ids-max", "1000"}));
  EXPECT_NE(server.log().find("--ids-max 1000 differs from the data directory's 2000"),
            std::string::npos)
      << server.log();
}

TEST(BonusctlClock, AdvanceExpiresLotsOnATestClockServer) {
  BonusdProcess server;
  ASSERT_TRUE(server.start({"--test-clock", "--sweep-interval-ms", "10"})) << server.log();
  const std::string at = "127.0.0.1:" + std::to_string(server.port());
  const auto run = [&at](std::vector<std::string> args) {
    args.insert(args.begin(), {"--server", at});
    return Ctl(args).finish();
  };
  ASSERT_EQ(run({"credit", "--seller", "1", "--buyer", "2", "--amount", "300", "--ttl", "24h",
                 "--campaign", "5"})
                .code,
            0);
  ASSERT_EQ(run({"hold", "--order", "9", "--seller", "1", "--buyer", "2", "--amount", "100",
                 "--goods-total", "1000", "--timeout", "1h"})
                .code,
            0);
  Ran r = run({"clock", "advance", "25h"});
  EXPECT_RAN(r, 0);
  EXPECT_NE(r.out.find("ledger time advanced by 25h, now "), std::string::npos) << r.out;
  r = run({"--json", "clock", "advance", "30s"});
  EXPECT_RAN(r, 0);
  EXPECT_EQ(json(r.out, "test_clock"), "true");
  r = run({"--json", "balance", "--seller", "1", "--buyer", "2"});
  EXPECT_EQ(json(r.out, "available"), "0");
  EXPECT_EQ(json(r.out, "held"), "0");
  EXPECT_EQ(json(r.out, "lots"), "[]");
  r = run({"capture", "--order", "9"});
  EXPECT_RAN(r, 1);
  EXPECT_NE(r.out.find("hold_timed_out"), std::string::npos) << r.out;
  r = run({"--json", "stats", "--seller", "1", "--campaign", "5"});
  EXPECT_EQ(json(r.out, "expired"), "300");
}

// Segments end to end on a test-clock server (2 shards): each kind, page by page (one buyer a
// page), both output forms, and the plain output fed to `mail --buyers` as it is.
TEST(BonusctlSegment, KindsPagesAndTheOutputFeedsMail) {
  BonusdProcess server;
  ASSERT_TRUE(server.start({"--test-clock", "--shards", "2"})) << server.log();
  const std::string at = "127.0.0.1:" + std::to_string(server.port());
  const auto run = [&at](std::vector<std::string> args) {
    args.insert(args.begin(), {"--server", at});
    return Ctl(args).finish();
  };
  ASSERT_EQ(run({"policy", "--seller", "1", "--rate", "5%"}).code, 0);
  std::uint64_t order = 100;
  const auto buy = [&](const std::string& buyer) {
    const std::string o = std::to_string(++order);
    ASSERT_EQ(run({"accrue", "--order", o, "--seller", "1", "--buyer", buyer, "--price", "1000"}).code, 0);
    ASSERT_EQ(run({"confirm", "--order", o}).code, 0);
  };
  buy("11");
  buy("12");
  buy("13");
  ASSERT_EQ(run({"clock", "advance", "61d"}).code, 0);
  buy("12");  // 12 bought again: not sleeping
  for (const char* b : {"21", "22", "23"}) {
    ASSERT_EQ(run({"credit", "--seller", "1", "--buyer", b, "--amount", "100", "--campaign", "5"}).code, 0);
  }
  ASSERT_EQ(run({"spend", "--order", "900", "--seller", "1", "--buyer", "22", "--amount", "10",
                 "--goods-total", "1000"}).code,
            0);
  const auto sorted_lines = [](const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    std::sort(lines.begin(), lines.end());
    return lines;
  };
  Ran r = run({"segment", "--seller", "1", "--inactive", "60d", "--limit", "1"});
  EXPECT_RAN(r, 0);
  EXPECT_EQ(sorted_lines(r.out), (std::vector<std::string>{"11", "13"})) << r.out;
  r = run({"segment", "--seller", "1", "--bought-within", "30d"});
  EXPECT_RAN(r, 0);
  EXPECT_EQ(sorted_lines(r.out), (std::vector<std::string>{"12"})) << r.out;
  r = run({"--json", "segment", "--seller", "1", "--campaign", "5", "--unspent", "--limit", "1"});
  EXPECT_RAN(r, 0);
  EXPECT_EQ(sorted_lines(r.out),
            (std::vector<std::string>{"{\"buyer\": 21}", "{\"buyer\": 23}"})) << r.out;
  EXPECT_RAN(run({"segment", "--seller", "1", "--unspent"}), 2);  // no campaign
  EXPECT_RAN(run({"segment", "--seller", "1", "--inactive", "60d", "--unspent", "--campaign", "5"}), 2);
  EXPECT_RAN(run({"segment", "--seller", "1"}), 2);

  // The plain output is a buyer file as it is.
  r = run({"segment", "--seller", "1", "--inactive", "60d"});
  const std::string file = write_file("sleeping.txt", r.out);
  r = run({"--json", "mail", "--seller", "1", "--campaign", "6", "--amount", "50", "--ttl", "30d", "--buyers", file,
           "--no-progress"});
  EXPECT_RAN(r, 0);
  r = run({"--json", "stats", "--seller", "1", "--campaign", "6"});
  EXPECT_EQ(json(r.out, "recipients"), "2") << r.out;  // 11 and 13
  r = run({"--json", "balance", "--seller", "1", "--buyer", "13"});
  EXPECT_EQ(json(r.out, "available"), "100") << r.out;  // 50 cashback + 50 mailed
}

// Regression: `capture --amount 0` used to capture the whole hold (and `refund --amount 0`
// to refund everything). Now 0 is zero_amount and changes nothing; "all" is the default
// without --amount, or --all.
TEST_F(Bonusctl, AmountZeroIsRejectedAndAllIsTheDefaultOrAll) {
  const auto balance = [](const char* what) {
    return json_u64(ctl({"--json", "balance", "--seller", "123", "--buyer", "7"}).out, what);
  };
  ASSERT_EQ(ctl({"credit", "--seller", "123", "--buyer", "7", "--amount", "1000"}).code, 0);
  ASSERT_EQ(ctl({"hold", "--order", "6101", "--seller", "123", "--buyer", "7", "--amount", "250",
                 "--goods-total", "1990"})
                .code,
            0);
  Ran r = ctl({"capture", "--order", "6101", "--amount", "0"});
  EXPECT_RAN(r, 1);
  EXPECT_NE(r.out.find("zero_amount (code 8)"), std::string::npos) << r.out;
  EXPECT_EQ(balance("held"), 250u);
  EXPECT_EQ(balance("available"), 750u);
  r = ctl({"capture", "--order", "6101", "--amount", "5", "--all"});
  EXPECT_RAN(r, 2);
  EXPECT_NE(r.err.find("excludes"), std::string::npos) << r.err;
  r = ctl({"--json", "capture", "--order", "6101", "--all"});
  EXPECT_RAN(r, 0);
  EXPECT_EQ(json(r.out, "spent"), "250");
  EXPECT_EQ(json(r.out, "released"), "0");

  r = ctl({"refund", "--order", "6101", "--amount", "0"});
  EXPECT_RAN(r, 1);
  EXPECT_NE(r.out.find("zero_amount (code 8)"), std::string::npos) << r.out;
  EXPECT_EQ(balance("available"), 750u);
  r = ctl({"--json", "refund", "--order", "6101", "--amount", "50"});
  EXPECT_RAN(r, 0);
  EXPECT_EQ(json(r.out, "refunded"), "50");
  r = ctl({"--json", "refund", "--order", "6101", "--all"});
  EXPECT_RAN(r, 0);
  EXPECT_EQ(json(r.out, "refunded"), "200");
  EXPECT_EQ(balance("available"), 1000u);

  // Without --amount: all.
  ASSERT_EQ(ctl({"hold", "--order", "6102", "--seller", "123", "--buyer", "7", "--amount", "40",
                 "--goods-total", "1990"})
                .code,
            0);
  r = ctl({"--json", "capture", "--order", "6102"});
  EXPECT_RAN(r, 0);
  EXPECT_EQ(json(r.out, "spent"), "40");
  r = ctl({"--json", "refund", "--order", "6102"});
  EXPECT_RAN(r, 0);
  EXPECT_EQ(json(r.out, "refunded"), "40");
  EXPECT_EQ(balance("available"), 1000u);

  for (const char* command : {"capture", "refund"}) {
    const Ran help = Ctl({command, "--help"}).finish();
    EXPECT_RAN(help, 0);
    EXPECT_NE(help.out.find("--all"), std::string::npos) << command;
    EXPECT_NE(help.out.find("0 is rejected (zero_amount)"), std::string::npos) << command;
  }
}

// A refund or release of bonuses whose lot's life is over says how much expired at once.
TEST(BonusctlClock, RefundAndReleaseReportWhatExpiredAtOnce) {
  BonusdProcess server;
  ASSERT_TRUE(server.start({"--test-clock", "--sweep-interval-ms", "10"})) << server.log();
  const std::string at = "127.0.0.1:" + std::to_string(server.port());
  const auto run = [&at](std::vector<std::string> args) {
    args.insert(args.begin(), {"--server", at});
    return Ctl(args).finish();
  };
  for (const auto& [amount, ttl] : {std::pair<const char*, const char*>{"300", "1h"},
                                    {"100", "90m"},
                                    {"200", "30d"}}) {
    ASSERT_EQ(run({"credit", "--seller", "1", "--buyer", "2", "--amount", amount, "--ttl", ttl})
                  .code,
              0);
  }
  ASSERT_EQ(run({"hold", "--order", "10", "--seller", "1", "--buyer", "2", "--amount", "300",
                 "--goods-total", "1000", "--timeout", "3h"})
                .code,
            0);  // the 1 h lot
  ASSERT_EQ(run({"spend", "--order", "11", "--seller", "1", "--buyer", "2", "--amount", "150",
                 "--goods-total", "1000"})
                .code,
            0);  // the 90 min lot's 100 and 50 of the 30-day lot
  ASSERT_EQ(run({"clock", "advance", "2h"}).code, 0);

  Ran r = run({"release", "--order", "10"});
  EXPECT_RAN(r, 0);
  EXPECT_NE(r.out.find("release ok: released 300, of which expired at once 300"),
            std::string::npos)
      << r.out;
  r = run({"--json", "refund", "--order", "11"});
  EXPECT_RAN(r, 0);
  EXPECT_EQ(json(r.out, "refunded"), "150");
  EXPECT_EQ(json(r.out, "debt_repaid"), "0");
  EXPECT_EQ(json(r.out, "expired"), "100");
  r = run({"--json", "balance", "--seller", "1", "--buyer", "2"});
  EXPECT_EQ(json(r.out, "available"), "200");
}

TEST_F(Bonusctl, UsageErrorsExitTwoAndSendNothing) {
  const std::vector<std::vector<std::string>> bad = {
      {"credit", "--seller", "110", "--buyer", "1", "--amount", "5", "--ttl", "5x"},
      {"credit", "--seller", "110", "--buyer", "1", "--amount", "5", "--ttl", "1h30m"},
      {"credit", "--seller", "110", "--buyer", "1", "--amount", "1.5"},
      {"credit", "--seller", "110", "--buyer", "-1", "--amount", "5"},
      {"credit", "--seller", "0x6e", "--buyer", "1", "--amount", "5"},
      {"credit", "--seller", "110", "--buyer", "1", "--amount", "5", "--id", "xyz"},
      {"credit", "--seller", "110", "--buyer", "1", "--amount", "5", "--id",
       "0123456789abcdef0123456789abcdef0"},
      {"credit", "--seller", "110", "--buyer", "1", "--amount", "5", "--id", "0"},
      {"credit", "--seller", "110", "--buyer", "1", "--amount", "5", "--ttl", "1d", "--expires-at",
       "2030-01-01T00:00:00Z"},
      {"credit", "--seller", "110", "--buyer", "1", "--amount", "5", "--expires-at", "2030-01-01"},
      {"credit", "--seller", "110", "--buyer", "1"},
      {"hold", "--order", "1", "--seller", "110", "--buyer", "1", "--amount", "5", "--goods-total",
       "19.999"},
      {"hold", "--order", "1", "--seller", "110", "--buyer", "1", "--amount", "5", "--goods-total",
       "100", "--timeout", "never"},
      {"accrue", "--order", "1", "--seller", "110", "--buyer", "1", "--amount", "5", "--ttl",
       "tomorrow"},
      {"policy", "--seller", "110", "--id", "1f"},  // without a change, policy prints: no id
      {"frobnicate"},
      {"credit", "--seller", "110", "--buyer", "1", "--amount", "5", "--bogus", "1"},
      {"admin"},
      {"mail", "--seller", "110", "--campaign", "1", "--amount", "5", "--ttl", "1d", "--buyers",
       "/nonexistent/file"},
      {"mail", "--seller", "110", "--campaign", "0", "--amount", "5", "--ttl", "1d", "--buyers",
       "-"},
      {"mail", "--seller", "110", "--campaign", "1", "--amount", "5", "--buyers", "-"},
      {"mail", "--seller", "110", "--campaign", "1", "--amount", "5", "--ttl", "1d", "--buyers",
       write_file("nocolumn.csv", "name,id\nann,5\n")},
  };
  for (const auto& args : bad) {
    const Ran r = ctl(args);
    std::string line;
    for (const auto& a : args) line += a + " ";
    EXPECT_EQ(r.code, 2) << line << "\n" << r.out << r.err;
    EXPECT_FALSE(r.err.empty()) << line;
  }
  EXPECT_RAN(Ctl({"--server", "localhost", "admin", "status"}).finish(), 2);
  EXPECT_RAN(Ctl({"--server", address(), "--request-timeout", "0s", "admin", "status"}).finish(),
             2);
  EXPECT_EQ(json(ctl({"--json", "stats", "--seller", "110"}).out, "issued"), "0");
  EXPECT_RAN(Ctl({"--help"}).finish(), 0);
  const Ran help = Ctl({"mail", "--help"}).finish();
  EXPECT_RAN(help, 0);
  EXPECT_NE(help.out.find("--id-window-s"), std::string::npos);
}

TEST(BonusctlUnreachable, NoServerExitsThreeAndAWriteTellsItsId) {
  BonusdProcess server;  // started and stopped: its port is now closed
  ASSERT_TRUE(server.start()) << server.log();
  const std::string at = "127.0.0.1:" + std::to_string(server.port());
  server.stop();
  Ran r = Ctl({"--server", at, "balance", "--seller", "1", "--buyer", "2"}).finish();
  EXPECT_RAN(r, 3);
  EXPECT_NE(r.err.find("cannot reach bonusd"), std::string::npos) << r.err;
  r = Ctl({"--server", at, "--json", "credit", "--seller", "1", "--buyer", "2", "--amount", "5",
           "--id", "abc"})
          .finish();
  EXPECT_RAN(r, 3);
  EXPECT_EQ(json(r.out, "error"), "unreachable");
  EXPECT_EQ(json(r.out, "id"), "00000000000000000000000000000abc");
  r = Ctl({"--server", at, "mail", "--seller", "1", "--campaign", "1", "--amount", "5", "--ttl",
           "1d", "--buyers", write_file("one.txt", "1\n")})
          .finish();
  EXPECT_RAN(r, 3);
}

// ---------------------------------------------------------------------------------------
// mail.

std::string buyers_file(const std::string& name, std::uint64_t first, std::uint64_t count) {
  std::string text;
  for (std::uint64_t b = first; b < first + count; ++b) text += std::to_string(b) + "\n";
  return write_file(name, text);
}

TEST_F(Bonusctl, MailReportsBadLinesByNumberAndSkipsThem) {
  const std::string file = write_file("bad-lines.txt",
                                      "11\n12\nabc\n\n-5\n13\n"
                                      "99999999999999999999\n14 \n");
  Ran r = ctl({"--json", "mail", "--seller", "120", "--campaign", "1", "--amount", "300", "--ttl",
               "3d", "--buyers", file});
  EXPECT_RAN(r, 1);  // not everything applied: bad lines
  EXPECT_EQ(json(r.out, "status"), "done");
  EXPECT_EQ(json(r.out, "credited"), "4");
  EXPECT_EQ(json(r.out, "credited_bonuses"), "1200");
  EXPECT_EQ(json(r.out, "bad_lines"), "4");
  EXPECT_EQ(json(r.out, "rejected"), "0");
  EXPECT_NE(r.err.find("line 3: not a number"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("line 4: empty line"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("line 5: negative"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("line 7: overflow"), std::string::npos) << r.err;
  for (const char* buyer : {"11", "12", "13", "14"}) {
    EXPECT_EQ(
        json(ctl({"--json", "balance", "--seller", "120", "--buyer", buyer}).out, "available"),
        "300");
  }
  // The same people from a CSV on stdin: all repeats, and the human summary.
  const std::string csv = write_file("bad-lines.csv", "name,buyer_id\na,11\nb,12\n\"c, d\",13\n");
  r = ctl({"mail", "--seller", "120", "--campaign", "1", "--amount", "300", "--ttl", "3d",
           "--buyers", "-"},
          csv);
  EXPECT_RAN(r, 0);
  EXPECT_NE(r.out.find("credited   0 buyers"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("repeats    3 buyers, 900 bonuses"), std::string::npos) << r.out;
}

TEST_F(Bonusctl, MailTwiceCreditsOnce) {
  constexpr std::uint64_t kBuyers = 20'000;
  const std::string file = buyers_file("twice.txt", 1'000'000, kBuyers);
  const std::vector<std::string> mail = {"--json",   "mail", "--seller", "121", "--campaign", "3",
                                         "--amount", "150",  "--ttl",    "7d",  "--buyers",   file,
                                         "--batch",  "1000", "--window", "4"};
  Ran r = ctl(mail);
  EXPECT_RAN(r, 0);
  EXPECT_EQ(json_u64(r.out, "credited"), kBuyers);
  EXPECT_EQ(json_u64(r.out, "credited_bonuses"), kBuyers * 150);
  EXPECT_EQ(json_u64(r.out, "repeats"), 0u);
  // Every credit of the mail is at or before its log position: a read at it sees the last.
  EXPECT_GE(json_u64(r.out, "position"), kBuyers);
  const std::string position = std::to_string(json_u64(r.out, "position"));
  Ran read = ctl({"--json", "--at-least", position, "balance", "--seller", "121", "--buyer",
                  std::to_string(1'000'000 + kBuyers - 1)});
  EXPECT_RAN(read, 0);
  EXPECT_EQ(json_u64(read.out, "available"), 150u);
  r = ctl(mail);
  EXPECT_RAN(r, 0);
  EXPECT_EQ(json_u64(r.out, "credited"), 0u);
  EXPECT_EQ(json_u64(r.out, "repeats"), kBuyers);
  r = ctl({"--json", "stats", "--seller", "121", "--campaign", "3"});
  EXPECT_EQ(json_u64(r.out, "issued"), kBuyers * 150);
  EXPECT_EQ(json_u64(r.out, "recipients"), kBuyers);

  // Another amount under the same campaign is another body for the same ids.
  r = ctl({"--json", "mail", "--seller", "121", "--campaign", "3", "--amount", "151", "--ttl", "7d",
           "--buyers", buyers_file("twice-head.txt", 1'000'000, 10)});
  EXPECT_RAN(r, 1);
  EXPECT_EQ(json(r.out, "rejected_by_code"), "{\"id_reused\": 10}");
  EXPECT_NE(r.err.find("line 1: buyer 1000000: id_reused (2)"), std::string::npos) << r.err;
}

TEST_F(Bonusctl, MailSummarisesCapsAndRejectionsByReason) {
  ASSERT_EQ(ctl({"policy", "--seller", "122", "--balance-max", "200"}).code, 0);
  ASSERT_EQ(ctl({"revoke-campaign", "--seller", "122", "--campaign", "8"}).code, 0);
  Ran r = ctl({"mail", "--seller", "122", "--campaign", "7", "--amount", "300", "--ttl", "1d",
               "--buyers", buyers_file("caps.txt", 1, 10)});
  EXPECT_RAN(r, 0);
  EXPECT_NE(r.out.find("capped     10 buyers, 1000 bonuses cut"), std::string::npos) << r.out;
  r = ctl({"--json", "mail", "--seller", "122", "--campaign", "8", "--amount", "300", "--ttl", "1d",
           "--buyers", buyers_file("revoked.txt", 1, 10)});
  EXPECT_RAN(r, 1);
  EXPECT_EQ(json(r.out, "rejected_by_code"), "{\"campaign_revoked\": 10}");
  r = ctl({"mail", "--seller", "122", "--campaign", "8", "--amount", "300", "--ttl", "1d",
           "--buyers", buyers_file("revoked.txt", 1, 10)});
  EXPECT_RAN(r, 1);
  EXPECT_NE(r.out.find("campaign_revoked (22): 10"), std::string::npos) << r.out;
}

TEST_F(Bonusctl, MailKilledMidRunAndResumedCreditsEachBuyerExactlyOnce) {
  constexpr std::uint64_t kBuyers = 60'000;
  constexpr SellerId kSeller = 123;
  const std::string file = buyers_file("killed.txt", 5'000'000, kBuyers);
  const std::vector<std::string> head = {
      "--server",   address(), "--json",   "mail", "--seller", std::to_string(kSeller),
      "--campaign", "77",      "--amount", "25",   "--ttl",    "30d",
      "--buyers",   file,      "--batch",  "500"};
  auto client = connect();
  std::vector<std::string> slow = head;
  slow.insert(slow.end(), {"--rate-max", "20000"});
  std::uint64_t at_kill = 0;
  {
    Ctl first(slow);
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (std::chrono::steady_clock::now() < deadline) {
      const auto stats = client->campaign_stats(kSeller, 77);
      ASSERT_TRUE(stats.ok()) << stats.message;
      if (stats.value.recipients >= kBuyers / 4) break;
      std::this_thread::sleep_for(5ms);
    }
    first.kill(SIGKILL);
    const Ran killed = first.finish();
    EXPECT_EQ(killed.code, 128 + SIGKILL) << killed.out << killed.err;
    // Whatever was in flight when it died is applied (or not) by now.
    std::this_thread::sleep_for(200ms);
    at_kill = client->campaign_stats(kSeller, 77).value.recipients;
  }
  ASSERT_GT(at_kill, 0u);
  ASSERT_LT(at_kill, kBuyers) << "the first run finished before it was killed";

  const Ran resumed = Ctl(head).finish();
  EXPECT_RAN(resumed, 0);
  EXPECT_EQ(json_u64(resumed.out, "repeats"), at_kill);
  EXPECT_EQ(json_u64(resumed.out, "credited"), kBuyers - at_kill);

  const auto stats = client->campaign_stats(kSeller, 77);
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats.value.recipients, kBuyers);
  EXPECT_EQ(stats.value.issued, kBuyers * 25);
  std::vector<protocol::AccountKey> keys;
  for (BuyerId b = 5'000'000; b < 5'000'000 + kBuyers; ++b) keys.push_back({kSeller, b});
  const auto balances = client->balances(keys);
  ASSERT_TRUE(balances.ok()) << balances.message;
  ASSERT_EQ(balances.value.size(), kBuyers);
  std::uint64_t wrong = 0;
  for (const auto& e : balances.value) wrong += e.account.available != 25 ? 1 : 0;
  EXPECT_EQ(wrong, 0u);
  EXPECT_EQ(json(ctl({"--json", "admin", "audit"}).out, "ok"), "true");
}

TEST(BonusctlMailLost, ServerKilledMidRunStopsWithThreeAndARerunFinishesTheJob) {
  constexpr std::uint64_t kBuyers = 40'000;
  BonusdProcess server;
  ASSERT_TRUE(server.start()) << server.log();
  const std::string file = buyers_file("lost.txt", 1, kBuyers);
  const auto mail = [&file](std::uint16_t port, std::vector<std::string> extra) {
    std::vector<std::string> args = {"--server",   "127.0.0.1:" + std::to_string(port),
                                     "--json",     "mail",
                                     "--seller",   "5",
                                     "--campaign", "6",
                                     "--amount",   "10",
                                     "--ttl",      "1d",
                                     "--buyers",   file,
                                     "--batch",    "500"};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  };
  Ctl first(mail(server.port(), {"--rate-max", "10000", "--tries", "2"}));
  {
    client::ClientOptions options;
    options.port = server.port();
    auto connected = client::Client::connect(options);
    ASSERT_TRUE(std::holds_alternative<std::unique_ptr<client::Client>>(connected));
    auto& client = *std::get<std::unique_ptr<client::Client>>(connected);
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (std::chrono::steady_clock::now() < deadline &&
           client.campaign_stats(5, 6).value.recipients < kBuyers / 4) {
      std::this_thread::sleep_for(5ms);
    }
  }
  server.stop(SIGKILL);
  const Ran stopped = first.finish();
  EXPECT_RAN(stopped, 3);
  EXPECT_EQ(json(stopped.out, "status"), "stopped");
  EXPECT_LT(json_u64(stopped.out, "credited"), kBuyers);
  EXPECT_NE(stopped.err.find("run the same command again"), std::string::npos) << stopped.err;

  // The journal has every acknowledged credit; the rerun credits the rest, once.
  ASSERT_TRUE(server.start()) << server.log();
  const Ran resumed = Ctl(mail(server.port(), {})).finish();
  EXPECT_RAN(resumed, 0);
  EXPECT_GE(json_u64(resumed.out, "repeats"), json_u64(stopped.out, "credited"));
  EXPECT_EQ(json_u64(resumed.out, "repeats") + json_u64(resumed.out, "credited"), kBuyers);
  const Ran stats = Ctl({"--server", "127.0.0.1:" + std::to_string(server.port()), "--json",
                         "stats", "--seller", "5", "--campaign", "6"})
                        .finish();
  EXPECT_EQ(json_u64(stats.out, "recipients"), kBuyers);
  EXPECT_EQ(json_u64(stats.out, "issued"), kBuyers * 10);
}

}  // namespace
}  // namespace bonus::test
