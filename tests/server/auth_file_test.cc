// AuthFile: the format's every rule, the mode check, and lookups by token.
#include "server/auth_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

namespace bonus::server {
namespace {

const std::string kHashOfAbc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

std::shared_ptr<const AuthFile> parsed(std::string_view text) {
  auto r = AuthFile::parse(text);
  if (auto* error = std::get_if<std::string>(&r)) ADD_FAILURE() << *error;
  return std::get_if<std::shared_ptr<const AuthFile>>(&r) ? std::get<0>(r) : nullptr;
}

std::string error_of(std::string_view text) {
  auto r = AuthFile::parse(text);
  auto* error = std::get_if<std::string>(&r);
  return error != nullptr ? *error : "(parsed)";
}

TEST(TokenHash, IsSha256) {
  EXPECT_EQ(to_hex(hash_token("abc")), kHashOfAbc);  // FIPS 180-2's example
  EXPECT_EQ(to_hex(hash_token("")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(AuthFile, ParsesEntriesCommentsAndBlankLines) {
  const std::string other = to_hex(hash_token("other"));
  const auto file = parsed("# tokens\n\n" + kHashOfAbc + " checkout till-1  # the first till\n" +
                           "  \t" + other + "\tseller-admin\tseller.42@shop\r\n");
  ASSERT_NE(file, nullptr);
  ASSERT_EQ(file->entries().size(), 2u);
  const AuthEntry* e = file->find("abc");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->role, Role::checkout);
  EXPECT_EQ(e->name, "till-1");
  ASSERT_NE(file->find("other"), nullptr);
  EXPECT_EQ(file->find("other")->role, Role::seller_admin);
  EXPECT_EQ(file->find("abd"), nullptr);
  EXPECT_EQ(file->find(""), nullptr);
  EXPECT_EQ(file->find(kHashOfAbc), nullptr);  // the hash is not the token
}

TEST(AuthFile, UpperCaseHexIsTheSameHash) {
  std::string upper = kHashOfAbc;
  for (char& c : upper) c = static_cast<char>(std::toupper(c));
  const auto file = parsed(upper + " reader r\n");
  ASSERT_NE(file, nullptr);
  EXPECT_NE(file->find("abc"), nullptr);
}

TEST(AuthFile, EmptyFileHasNoTokens) {
  const auto file = parsed("# nobody yet\n");
  ASSERT_NE(file, nullptr);
  EXPECT_TRUE(file->entries().empty());
  EXPECT_EQ(file->find("abc"), nullptr);
}

TEST(AuthFile, EveryBadLineIsNamed) {
  const std::string ok = kHashOfAbc + " reader a\n";
  EXPECT_EQ(error_of(ok + kHashOfAbc + " reader\n"),
            "line 2: expected `<sha256-hex> <role> <name>`, got 2 fields");
  EXPECT_EQ(error_of(ok + "\n" + kHashOfAbc + " reader b extra\n"),
            "line 3: expected `<sha256-hex> <role> <name>`, got 4 fields");
  EXPECT_NE(error_of("abc reader a\n").find("line 1: the first field must be 64 hex digits"),
            std::string::npos);
  std::string bad_digit = kHashOfAbc;
  bad_digit[10] = 'g';
  EXPECT_NE(error_of(bad_digit + " reader a\n").find("line 1: the first field"), std::string::npos);
  EXPECT_NE(error_of(kHashOfAbc + " root a\n").find("line 1: unknown role `root`"),
            std::string::npos);
  EXPECT_NE(error_of(kHashOfAbc + " none a\n").find("line 1: unknown role `none`"),
            std::string::npos);
  EXPECT_NE(error_of(kHashOfAbc + " reader bad/name\n").find("line 1: bad name"),
            std::string::npos);
  EXPECT_NE(
      error_of(kHashOfAbc + " reader " + std::string(65, 'n') + "\n").find("line 1: bad name"),
      std::string::npos);
}

TEST(AuthFile, RepeatedHashOrNameIsRefused) {
  const std::string a = kHashOfAbc + " reader a\n";
  EXPECT_EQ(error_of(a + "# x\n" + kHashOfAbc + " admin b\n"),
            "line 3: this token's hash is already listed");
  EXPECT_EQ(error_of(a + to_hex(hash_token("x")) + " admin a\n"),
            "line 2: the name a is already used");
}

TEST(AuthFile, AtMostTokensMax) {
  std::string text;
  for (std::size_t i = 0; i < AuthFile::kTokensMax; ++i) {
    text += to_hex(hash_token(std::to_string(i))) + " reader r" + std::to_string(i) + "\n";
  }
  const auto full = parsed(text);
  ASSERT_NE(full, nullptr);
  EXPECT_NE(full->find("9999"), nullptr);
  EXPECT_EQ(full->find("10000"), nullptr);
  EXPECT_EQ(error_of(text + to_hex(hash_token("one more")) + " reader extra\n"),
            "line 10001: more than 10000 tokens");
}

class AuthFileOnDisk : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/auth-file-test-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
    path_ = dir_ + "/tokens";
    std::ofstream(path_) << kHashOfAbc << " admin ops\n";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_, path_;
};

TEST_F(AuthFileOnDisk, OwnerOnlyFileLoads) {
  ASSERT_EQ(chmod(path_.c_str(), 0600), 0);
  auto r = AuthFile::load(path_);
  ASSERT_TRUE(std::holds_alternative<std::shared_ptr<const AuthFile>>(r))
      << std::get<std::string>(r);
  EXPECT_NE(std::get<0>(r)->find("abc"), nullptr);
  ASSERT_EQ(chmod(path_.c_str(), 0400), 0);
  EXPECT_TRUE(std::holds_alternative<std::shared_ptr<const AuthFile>>(AuthFile::load(path_)));
}

TEST_F(AuthFileOnDisk, FileOpenToGroupOrOthersIsRefused) {
  for (const mode_t mode : {0644, 0640, 0604, 0620, 0602, 0610}) {
    ASSERT_EQ(chmod(path_.c_str(), mode), 0);
    auto r = AuthFile::load(path_);
    ASSERT_TRUE(std::holds_alternative<std::string>(r)) << std::oct << mode;
    EXPECT_NE(std::get<std::string>(r).find("is open to its group or to others"), std::string::npos)
        << std::get<std::string>(r);
    EXPECT_NE(std::get<std::string>(r).find("chmod 600 " + path_), std::string::npos);
  }
}

TEST_F(AuthFileOnDisk, MissingFileOrDirectoryIsRefused) {
  auto missing = AuthFile::load(dir_ + "/nope");
  ASSERT_TRUE(std::holds_alternative<std::string>(missing));
  EXPECT_NE(std::get<std::string>(missing).find("cannot stat"), std::string::npos);
  ASSERT_EQ(chmod(dir_.c_str(), 0700), 0);
  auto directory = AuthFile::load(dir_);
  ASSERT_TRUE(std::holds_alternative<std::string>(directory));
  EXPECT_NE(std::get<std::string>(directory).find("not a regular file"), std::string::npos);
}

TEST_F(AuthFileOnDisk, FileLargerThanTheBoundIsRefusedUnread) {
  ASSERT_EQ(chmod(path_.c_str(), 0600), 0);
  std::filesystem::resize_file(path_, AuthFile::kFileBytesMax + 1);  // sparse: no disk used
  auto r = AuthFile::load(path_);
  ASSERT_TRUE(std::holds_alternative<std::string>(r));
  EXPECT_NE(std::get<std::string>(r).find("more than an auth file may hold"), std::string::npos)
      << std::get<std::string>(r);
}

TEST_F(AuthFileOnDisk, ParseErrorNamesThePathAndLine) {
  ASSERT_EQ(chmod(path_.c_str(), 0600), 0);
  std::ofstream(path_, std::ios::app) << "junk\n";
  auto r = AuthFile::load(path_);
  ASSERT_TRUE(std::holds_alternative<std::string>(r));
  EXPECT_EQ(std::get<std::string>(r).rfind("auth file " + path_ + ": line 2: ", 0), 0u)
      << std::get<std::string>(r);
}

}  // namespace
}  // namespace bonus::server
