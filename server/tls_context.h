// TlsContext: makes the asio::ssl::context of a TLS endpoint from PEM files, for bonusd
// (one, owned by the Server, shared by every connection) and for the C++ client (one per
// Client). Either a context or an error that names the file and OpenSSL's reason.
//
// The policy, the same on both sides: TLS 1.2 or 1.3 (1.3 when both speak it); for 1.2
// only ECDHE key exchange with AEAD ciphers (AES-GCM, ChaCha20-Poly1305); no compression,
// no renegotiation. A context is built once at start and is read-only afterwards (OpenSSL
// contexts may be shared by connections on any thread).
#pragma once

#include <asio/ssl/context.hpp>
#include <memory>
#include <string>
#include <variant>

namespace bonus::server {

struct TlsFiles {
  std::string cert_file;  // PEM certificate chain, leaf first
  std::string key_file;   // PEM private key of the leaf certificate
  std::string ca_file;    // PEM CA certificates to verify the peer with
};

using TlsContextOrError = std::variant<std::unique_ptr<asio::ssl::context>, std::string>;

// The certificate must match its key and be within its validity period (else an error
// naming the file and the date).
//
// bonusd's context. REQUIRES: cert_file and key_file set. With ca_file (mutual TLS),
// a client must present a certificate signed by one of its CAs or the handshake fails.
TlsContextOrError make_server_tls_context(const TlsFiles& files);

// A client's context: verifies the server's chain against ca_file (REQUIRES: set); with
// cert_file and key_file (both or neither) presents that certificate to the server. The
// server's name is checked per connection (Transport::expect_server_name).
TlsContextOrError make_client_tls_context(const TlsFiles& files);

}  // namespace bonus::server
