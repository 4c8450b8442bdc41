// Files bonusd creates are its owner's alone (server/private_files.h): after a start, a
// write, a checkpoint, a clock advance and a stop, nothing under the data directory has a
// group or other permission bit, whatever the umask; an existing data directory open to
// others is used, with a warning.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "clients/cpp/client.h"
#include "tests/server/bonusd_child.h"
#include "tests/server/temp_dir.h"

namespace bonus::test {
namespace {

// A permissive umask for the test and the bonusd it starts, restored afterwards: without
// explicit modes, files would come out 0644 and directories 0755.
class PermissiveUmask {
 public:
  PermissiveUmask() : old_(::umask(022)) {}
  ~PermissiveUmask() { ::umask(old_); }

 private:
  mode_t old_;
};

unsigned mode_of(const std::string& path) {
  struct stat s {};
  return ::lstat(path.c_str(), &s) == 0 ? s.st_mode & 07777 : 07777;
}

std::unique_ptr<client::Client> connect(std::uint16_t port) {
  client::ClientOptions options;
  options.port = port;
  auto connected = client::Client::connect(options);
  if (!std::holds_alternative<std::unique_ptr<client::Client>>(connected)) return nullptr;
  return std::move(std::get<std::unique_ptr<client::Client>>(connected));
}

// A write, a checkpoint (LMDB files, the journal trimmed) and a clock advance (clock file).
void write_checkpoint_and_advance(client::Client& c) {
  Credit credit;
  credit.id = Id128{0xF11E, 1};
  credit.seller = 1;
  credit.buyer = 2;
  credit.amount = 100;
  credit.life = LotLife::forever();
  const auto wrote = c.write(credit);
  ASSERT_TRUE(wrote.ok() && wrote.value.code == Code::ok) << wrote.message;
  const auto checkpoint = c.admin(protocol::AdminAction::checkpoint);
  ASSERT_TRUE(checkpoint.ok() && checkpoint.value.ok) << checkpoint.value.message;
  const auto advanced = c.admin(protocol::AdminAction::clock_advance, kUsPerSecond);
  ASSERT_TRUE(advanced.ok() && advanced.value.ok) << advanced.value.message;
}

TEST(FileMode, EverythingBonusdCreatesIsTheOwnersAlone) {
  PermissiveUmask umask;
  TempDir top("file-mode-test");
  const std::string data = top.path() + "/nested/data";  // bonusd creates both
  ChildProcess bonusd;
  ASSERT_TRUE(bonusd.start({BONUSD_PATH, "--listen", "127.0.0.1:0", "--data", data, "--test-clock",
                            "--journal-segment-bytes", "8388608"}));
  const std::uint16_t port = wait_listening(bonusd);
  ASSERT_NE(port, 0) << bonusd.err();
  auto client = connect(port);
  ASSERT_TRUE(client);
  write_checkpoint_and_advance(*client);
  client.reset();
  ASSERT_EQ(bonusd.stop(SIGTERM), 0) << bonusd.err();

  std::set<std::string> names;
  EXPECT_EQ(mode_of(top.path() + "/nested"), 0700u);
  EXPECT_EQ(mode_of(data), 0700u);
  for (const auto& entry : std::filesystem::recursive_directory_iterator(data)) {
    const std::string path = entry.path();
    names.insert(entry.path().filename());
    EXPECT_EQ(mode_of(path), entry.is_directory() ? 0700u : 0600u) << path;
  }
  // What the walk must have seen: each kind of file bonusd writes.
  for (const char* name :
       {"lock", "manifest", "clock", "journal.fence", "checkpoint", "data.mdb", "lock.mdb"}) {
    EXPECT_EQ(names.count(name), 1u)
        << name << " is missing; the walk saw " << ::testing::PrintToString(names);
  }
  const bool segment = std::any_of(names.begin(), names.end(), [](const std::string& n) {
    return n.rfind("journal-", 0) == 0 && n != "journal.fence";
  });
  EXPECT_TRUE(segment) << ::testing::PrintToString(names);
}

TEST(FileMode, AnExistingDirectoryOpenToOthersIsUsedWithAWarning) {
  TempDir top("file-mode-test");
  ASSERT_EQ(::chmod(top.path().c_str(), 0755), 0);
  ChildProcess bonusd;
  ASSERT_TRUE(bonusd.start({BONUSD_PATH, "--listen", "127.0.0.1:0", "--data", top.path(),
                            "--journal-segment-bytes", "8388608"}));
  ASSERT_NE(wait_listening(bonusd), 0) << bonusd.err();
  EXPECT_NE(bonusd.err().find(top.path() + " is open to group or others (mode 0755)"),
            std::string::npos)
      << bonusd.err();
  EXPECT_EQ(mode_of(top.path()), 0755u) << "bonusd warns; it does not change the operator's mode";
  EXPECT_EQ(bonusd.stop(SIGTERM), 0) << bonusd.err();
}

}  // namespace
}  // namespace bonus::test
