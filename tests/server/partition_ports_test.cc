// Each partition's own port (--partition-ports, server/listener.h) against a real bonusd,
// with the C++ client: the hello names one port a partition; a connection on any of them
// serves every buyer and sees every acknowledged write; a client that routes by buyer
// reads on the buyer's partition only (bonus_reads_off_partition_total stays put), one
// that does not is counted; `off` names none; a port taken stops the start, naming the
// partition and the flag; and a client whose partition ports went away (a restart with
// them off) goes on through the main port.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <thread>
#include <utility>
#include <string>
#include <vector>

#include "engine/partition.h"
#include "tests/server/bonusd_child.h"
#include "tests/server/client_of.h"
#include "tests/server/http_get.h"
#include "tests/server/temp_dir.h"
#include "tests/server/wire.h"

namespace bonus::test {
namespace {

constexpr SellerId kSeller = 5;

double off_partition(const BonusdProcess& server) {
  return scraped_metric(server.metrics_port(), "bonus_reads_off_partition_total");
}

std::unique_ptr<client::Client> client_on(std::uint16_t port, bool routing, std::string& error) {
  client::ClientOptions options;
  options.port = port;
  options.partition_routing = routing;
  auto connected = client::Client::connect(options);
  if (auto* e = std::get_if<std::string>(&connected)) {
    error = *e;
    return nullptr;
  }
  return std::move(std::get<std::unique_ptr<client::Client>>(connected));
}

Credit credit_of(std::uint64_t id, BuyerId buyer, Amount amount) {
  return Credit{Id128{21, id}, kSeller, buyer, amount, 0, LotLife::forever()};
}

// A port nothing listens on right now (bound, then let go).
std::uint16_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t size = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &size);
  ::close(fd);
  return ntohs(addr.sin_port);
}

TEST(PartitionPorts, EachPortServesEveryBuyerAndSeesEveryAcknowledgedWrite) {
  BonusdProcess server;
  ASSERT_TRUE(server.start({"--shards", "2", "--metrics-listen", "127.0.0.1:0"})) << server.log();
  std::string error;
  auto main = client_on(server.port(), false, error);
  ASSERT_TRUE(main) << error;
  // A routing client asks (hello without a token) on connecting; one that does not route
  // says nothing.
  EXPECT_TRUE(main->session().partition_ports.empty());
  auto asker = client_on(server.port(), true, error);
  ASSERT_TRUE(asker) << error;
  const protocol::HelloAnswer hello = asker->session();
  asker.reset();
  ASSERT_EQ(hello.partition_ports.size(), 2u);
  EXPECT_EQ(hello.partition_hash, protocol::kPartitionHashMix64Mod);
  EXPECT_NE(hello.partition_ports[0], hello.partition_ports[1]);
  EXPECT_NE(server.log().find("partition ports " + std::to_string(hello.partition_ports[0]) +
                              "," + std::to_string(hello.partition_ports[1])),
            std::string::npos)
      << server.log();

  // Written through one partition's port, read through the other's (and the main one),
  // for buyers of both partitions: the connections route nothing themselves.
  auto first = client_on(hello.partition_ports[0], false, error);
  ASSERT_TRUE(first) << error;
  auto second = client_on(hello.partition_ports[1], false, error);
  ASSERT_TRUE(second) << error;
  const double before = off_partition(server);
  std::uint32_t of_partition[2] = {0, 0};
  for (BuyerId buyer = 1; buyer <= 40; ++buyer) {
    ++of_partition[partition_of(buyer, 2)];
    auto& writer = buyer % 2 == 0 ? first : second;
    auto& reader = buyer % 2 == 0 ? second : first;
    const auto w = writer->write(credit_of(buyer, buyer, 100 + buyer));
    ASSERT_TRUE(w.ok()) << w.message;
    ASSERT_EQ(w.value.code, Code::ok);
    for (auto* c : {reader.get(), main.get()}) {
      const auto b = c->balance(kSeller, buyer);
      ASSERT_TRUE(b.ok()) << b.message;
      EXPECT_EQ(b.value.account.available, 100 + buyer) << "buyer " << buyer;
    }
  }
  ASSERT_GT(of_partition[0], 0u);
  ASSERT_GT(of_partition[1], 0u);
  // Reads through a partition's port of the other partition's buyers are counted; the
  // main connection's land on either partition's loop, so some of them too.
  EXPECT_GE(off_partition(server) - before, 20) << "of 80 reads over two loops";
  EXPECT_EQ(server.stop(SIGTERM), 0) << server.log();
}

TEST(PartitionPorts, ARoutingClientReadsEachBuyerOnItsOwnPartition) {
  BonusdProcess server;
  ASSERT_TRUE(server.start({"--shards", "2", "--metrics-listen", "127.0.0.1:0"})) << server.log();
  std::string error;
  auto routed = client_on(server.port(), true, error);
  ASSERT_TRUE(routed) << error;
  auto plain = client_on(server.port(), false, error);
  ASSERT_TRUE(plain) << error;
  for (BuyerId buyer = 1; buyer <= 30; ++buyer) {
    const auto w = routed->write(credit_of(buyer, buyer, 7));
    ASSERT_TRUE(w.ok()) << w.message;
  }
  const std::vector<CartLine> lines = {{kSeller, 10'000}};
  double before = off_partition(server);
  for (BuyerId buyer = 1; buyer <= 30; ++buyer) {
    const auto b = routed->balance(kSeller, buyer);
    ASSERT_TRUE(b.ok()) << b.message;
    EXPECT_EQ(b.value.account.available, 7u);
    const auto c = routed->cart(buyer, lines, 0);
    ASSERT_TRUE(c.ok()) << c.message;
    ASSERT_TRUE(routed->wallet(buyer).ok());
  }
  EXPECT_EQ(off_partition(server) - before, 0) << "90 reads, each on its buyer's partition";

  // The same reads from a client that does not route: its one pooled connection lives
  // on one loop, so about half of them are another partition's.
  before = off_partition(server);
  for (BuyerId buyer = 1; buyer <= 30; ++buyer) {
    ASSERT_TRUE(plain->balance(kSeller, buyer).ok());
    ASSERT_TRUE(plain->cart(buyer, lines, 0).ok());
  }
  EXPECT_GT(off_partition(server) - before, 0);
  EXPECT_EQ(server.stop(SIGTERM), 0) << server.log();
}

// A ping on `c`: the opcode of what came back (ping when served, error when refused),
// and the refusal's code.
std::pair<protocol::Opcode, protocol::FrameError> ping(RawConnection& c) {
  c.send(protocol::make_frame(protocol::Opcode::ping, 0, 1, protocol::Body{}));
  const WireReply r = read_reply(c);
  protocol::ErrorInfo e;
  if (r.got && r.header.opcode == protocol::Opcode::error) {
    EXPECT_EQ(protocol::decode_error_reply(r.view(), e), protocol::FrameError::none);
  }
  return {r.got ? r.header.opcode : protocol::Opcode{}, e.code};
}

// --connections-max counts the connections of every port together: past it a new one is
// refused, whichever port it came to.
TEST(PartitionPorts, ConnectionsMaxCountsEveryPort) {
  BonusdProcess server;
  ASSERT_TRUE(server.start({"--shards", "2", "--connections-max", "2"})) << server.log();
  std::string error;
  auto main = client_on(server.port(), true, error);
  ASSERT_TRUE(main) << error;
  const std::vector<std::uint16_t> ports = main->session().partition_ports;
  ASSERT_EQ(ports.size(), 2u);
  main.reset();
  // A connection to `port` that is served, once the server has counted off the ones that
  // went (the client's, just closed).
  const auto served_on = [](std::uint16_t port) {
    for (int attempt = 0; attempt < 100; ++attempt) {
      auto c = std::make_unique<RawConnection>(port);
      if (ping(*c).first == protocol::Opcode::ping) return c;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return std::unique_ptr<RawConnection>();
  };
  auto first = served_on(ports[0]);
  ASSERT_TRUE(first);
  auto second = served_on(ports[1]);
  ASSERT_TRUE(second);
  for (const std::uint16_t port : {server.port(), ports[0], ports[1]}) {
    RawConnection over(port);
    const auto [opcode, code] = ping(over);
    EXPECT_EQ(opcode, protocol::Opcode::error) << "port " << port;
    EXPECT_EQ(code, protocol::FrameError::too_many_connections) << "port " << port;
  }
  // One of them goes: a new one is served again.
  first.reset();
  EXPECT_TRUE(served_on(server.port()));
  EXPECT_EQ(server.stop(SIGTERM), 0) << server.log();
}

TEST(PartitionPorts, OffNamesNoPortsAndClientsUseTheMainOne) {
  BonusdProcess server;
  ASSERT_TRUE(server.start({"--shards", "2", "--partition-ports", "off"})) << server.log();
  EXPECT_NE(server.log().find("partition ports off"), std::string::npos) << server.log();
  std::string error;
  auto c = client_on(server.port(), true, error);
  ASSERT_TRUE(c) << error;
  EXPECT_TRUE(c->session().partition_ports.empty());
  EXPECT_EQ(c->session().shards, 2u);
  ASSERT_TRUE(c->write(credit_of(1, 9, 50)).ok());
  const auto b = c->balance(kSeller, 9);
  ASSERT_TRUE(b.ok()) << b.message;
  EXPECT_EQ(b.value.account.available, 50u);
  EXPECT_EQ(server.stop(SIGTERM), 0) << server.log();
}

TEST(PartitionPorts, APortTakenStopsTheStartNamingThePartitionAndTheFlag) {
  // Something listens on the port partition 0 is told to take.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  socklen_t size = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &size);
  const std::string taken = std::to_string(ntohs(addr.sin_port));

  TempDir dir("partition-ports-test");
  const auto run = ChildProcess::run({BONUSD_PATH, "--listen", "127.0.0.1:0", "--data",
                                      dir.path() + "/data", "--shards", "2", "--partition-ports",
                                      taken},
                                     30000);
  ::close(fd);
  EXPECT_EQ(run.status, 1) << run.err;
  EXPECT_NE(run.err.find("cannot start: partition 0's listener on 127.0.0.1:" + taken +
                         ": Address already in use (--partition-ports: another first port, or "
                         "off)"),
            std::string::npos)
      << run.err;

  // Past the last port: partition 1 would be 65536.
  const auto past = ChildProcess::run({BONUSD_PATH, "--listen", "127.0.0.1:0", "--data",
                                       dir.path() + "/data2", "--shards", "2",
                                       "--partition-ports", "65535"},
                                      30000);
  EXPECT_EQ(past.status, 1) << past.err;
  EXPECT_NE(past.err.find("partition 1's listener: port 65536 is past 65535"), std::string::npos)
      << past.err;
}

// A client learned the partitions' ports; bonusd comes back on the same main port with
// them off. The client's next reads find its pooled links closed and the old ports
// refusing: it goes on through the main port, and gives the same answers.
TEST(PartitionPorts, WhenThePartitionPortsGoAwayAClientGoesOnThroughTheMainPort) {
  const std::uint16_t port = free_port();
  const std::uint16_t first = free_port();
  BonusdProcess server;
  const std::vector<std::string> fixed = {"--listen", "127.0.0.1:" + std::to_string(port),
                                          "--shards", "2"};
  std::vector<std::string> with_ports = fixed;
  with_ports.insert(with_ports.end(), {"--partition-ports", std::to_string(first)});
  if (!server.start(with_ports)) GTEST_SKIP() << "the ports chosen were taken meanwhile";
  std::string error;
  auto c = client_on(port, true, error);
  ASSERT_TRUE(c) << error;
  ASSERT_EQ(c->session().partition_ports,
            (std::vector<std::uint16_t>{first, static_cast<std::uint16_t>(first + 1)}));
  for (BuyerId buyer = 1; buyer <= 10; ++buyer) {
    ASSERT_TRUE(c->write(credit_of(buyer, buyer, 30)).ok());
    ASSERT_TRUE(c->balance(kSeller, buyer).ok());
  }
  ASSERT_EQ(server.stop(SIGTERM), 0) << server.log();

  std::vector<std::string> without = fixed;
  without.insert(without.end(), {"--partition-ports", "off"});
  ASSERT_TRUE(server.start(without)) << server.log();
  for (BuyerId buyer = 1; buyer <= 10; ++buyer) {
    const auto b = c->balance(kSeller, buyer);
    ASSERT_TRUE(b.ok()) << "buyer " << buyer << ": " << b.message;
    EXPECT_EQ(b.value.account.available, 30u);
  }
  EXPECT_EQ(server.stop(SIGTERM), 0) << server.log();
}

}  // namespace
}  // namespace bonus::test
