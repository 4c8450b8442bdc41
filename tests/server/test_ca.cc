#include "tests/server/test_ca.h"

#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace bonus::test {
namespace {

constexpr const char* kNewKey = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes";

}  // namespace

TestCa::TestCa() {
  char made[] = "/tmp/bonus-test-ca-XXXXXX";
  if (mkdtemp(made) == nullptr) {
    error_ = "mkdtemp failed";
    return;
  }
  dir_ = made;
  const bool made_all =
      make_ca("ca", "/CN=bonus-test-ca") &&
      make_leaf("server", "/CN=localhost", "ca",
                "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n") &&
      make_leaf("client", "/CN=bonus-test-client", "ca", "extendedKeyUsage=clientAuth\n") &&
      make_ca("other-ca", "/CN=bonus-test-other-ca") &&
      make_leaf("stranger", "/CN=bonus-test-stranger", "other-ca",
                "extendedKeyUsage=clientAuth\n") &&
      make_leaf("expired", "/CN=localhost", "ca", "subjectAltName=IP:127.0.0.1\n", -1);
  if (!made_all && error_.empty()) error_ = "openssl failed";
}

TestCa::~TestCa() {
  std::error_code ec;
  if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
}

bool TestCa::run(const std::string& command) {
  const std::string log = path("openssl.log");
  if (std::system((command + " >" + log + " 2>&1").c_str()) == 0) return true;
  std::ifstream in(log);
  std::stringstream s;
  s << in.rdbuf();
  error_ = command + ":\n" + s.str();
  return false;
}

bool TestCa::make_ca(const std::string& name, const std::string& subject) {
  return run("openssl req -x509 " + std::string(kNewKey) + " -keyout " + path(name + ".key") +
             " -out " + path(name + ".pem") + " -subj " + subject +
             " -days 2 -addext basicConstraints=critical,CA:TRUE"
             " -addext keyUsage=critical,keyCertSign,cRLSign");
}

bool TestCa::make_leaf(const std::string& name, const std::string& subject, const std::string& ca,
                       const std::string& extensions, int days) {
  std::ofstream(path(name + ".ext")) << extensions;
  return run("openssl req " + std::string(kNewKey) + " -keyout " + path(name + ".key") + " -out " +
             path(name + ".csr") + " -subj " + subject) &&
         run("openssl x509 -req -in " + path(name + ".csr") + " -CA " + path(ca + ".pem") +
             " -CAkey " + path(ca + ".key") + " -CAcreateserial -days " + std::to_string(days) +
             " -out " + path(name + ".pem") + " -extfile " + path(name + ".ext"));
}

}  // namespace bonus::test
