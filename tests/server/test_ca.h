// TestCa: a throwaway certificate authority for TLS tests, made by the test itself with
// the `openssl` command-line tool in a fresh directory under /tmp (removed by the
// destructor). P-256 keys, certificates valid for two days:
//   ca        the CA that signs the server and the client
//   server    CN=localhost, subjectAltName DNS:localhost and IP:127.0.0.1 (serverAuth)
//   client    CN=bonus-test-client (clientAuth), for mutual TLS
//   other_ca  an unrelated CA, and `stranger`, a client certificate it signed
//   expired   like server, but its validity ended yesterday
// Owned by one test (or one suite); not thread-safe.
#pragma once

#include <string>

namespace bonus::test {

class TestCa {
 public:
  // Makes every file; ok() is false (with the openssl output in error()) if it could not.
  TestCa();
  ~TestCa();
  TestCa(const TestCa&) = delete;
  TestCa& operator=(const TestCa&) = delete;

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }

  std::string ca_cert() const { return path("ca.pem"); }
  std::string server_cert() const { return path("server.pem"); }
  std::string server_key() const { return path("server.key"); }
  std::string client_cert() const { return path("client.pem"); }
  std::string client_key() const { return path("client.key"); }
  std::string other_ca_cert() const { return path("other-ca.pem"); }
  std::string stranger_cert() const { return path("stranger.pem"); }
  std::string stranger_key() const { return path("stranger.key"); }
  std::string expired_cert() const { return path("expired.pem"); }
  std::string expired_key() const { return path("expired.key"); }
  // A file of this directory, for tests that write broken ones.
  std::string path(const std::string& name) const { return dir_ + "/" + name; }

 private:
  bool run(const std::string& command);
  bool make_ca(const std::string& name, const std::string& subject);
  bool make_leaf(const std::string& name, const std::string& subject, const std::string& ca,
                 const std::string& extensions, int days = 2);

  std::string dir_;
  std::string error_;
};

}  // namespace bonus::test
