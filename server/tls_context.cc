#include "server/tls_context.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <optional>

namespace bonus::server {
namespace {

using asio::ssl::context;

// ECDHE with AEAD only, for TLS 1.2; TLS 1.3's suites are all AEAD (OpenSSL's default).
constexpr const char* kTls12Ciphers = "ECDHE+AESGCM:ECDHE+CHACHA20";
// Resumed sessions of mutual TLS need a context id (OpenSSL refuses them without one).
constexpr unsigned char kSessionIdContext[] = "bonusd";

std::string failure(const std::string& what, const std::string& file, const asio::error_code& ec) {
  ERR_clear_error();
  return "cannot load the " + what + " from " + file + ": " + ec.message();
}

std::unique_ptr<context> with_policy(context::method method) {
  auto ctx = std::make_unique<context>(method);
  ctx->set_options(context::default_workarounds | context::no_compression | context::no_sslv2 |
                   context::no_sslv3 | context::no_tlsv1 | context::no_tlsv1_1);
  SSL_CTX* native = ctx->native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  SSL_CTX_set_options(native, SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_cipher_list(native, kTls12Ciphers);
  // An idle connection gives its record buffers back to the allocator.
  SSL_CTX_set_mode(native, SSL_MODE_RELEASE_BUFFERS);
  return ctx;
}

std::string time_text(const ASN1_TIME* time) {
  BIO* out = BIO_new(BIO_s_mem());
  ASN1_TIME_print(out, time);
  char* text = nullptr;
  const long size = BIO_get_mem_data(out, &text);
  std::string result(text, static_cast<std::size_t>(size));
  BIO_free(out);
  return result;
}

// A certificate out of its validity period would fail every peer's verification.
std::optional<std::string> check_validity(context& ctx, const std::string& file) {
  const X509* leaf = SSL_CTX_get0_certificate(ctx.native_handle());
  if (leaf == nullptr) return "no certificate in " + file;
  const ASN1_TIME* not_after = X509_get0_notAfter(leaf);
  const ASN1_TIME* not_before = X509_get0_notBefore(leaf);
  if (X509_cmp_current_time(not_after) < 0) {
    return "the TLS certificate " + file + " expired on " + time_text(not_after);
  }
  if (X509_cmp_current_time(not_before) > 0) {
    return "the TLS certificate " + file + " is not valid before " + time_text(not_before);
  }
  return std::nullopt;
}

// The certificate chain and its key, checked to belong together.
std::optional<std::string> load_identity(context& ctx, const TlsFiles& files) {
  asio::error_code ec;
  ctx.use_certificate_chain_file(files.cert_file, ec);
  if (ec) return failure("TLS certificate chain", files.cert_file, ec);
  ctx.use_private_key_file(files.key_file, context::pem, ec);
  if (ec) {
    return failure("TLS private key", files.key_file, ec) +
           " (it must be the PEM private key of the first certificate in " + files.cert_file + ")";
  }
  if (SSL_CTX_check_private_key(ctx.native_handle()) != 1) {
    ERR_clear_error();
    return "the TLS private key " + files.key_file + " does not match the certificate " +
           files.cert_file;
  }
  return check_validity(ctx, files.cert_file);
}

std::optional<std::string> load_ca(context& ctx, const std::string& ca_file) {
  asio::error_code ec;
  ctx.load_verify_file(ca_file, ec);
  if (ec) return failure("TLS CA certificates", ca_file, ec);
  return std::nullopt;
}

}  // namespace

TlsContextOrError make_server_tls_context(const TlsFiles& files) {
  auto ctx = with_policy(context::tls_server);
  SSL_CTX* native = ctx->native_handle();
  SSL_CTX_set_options(native, SSL_OP_CIPHER_SERVER_PREFERENCE);
  if (auto error = load_identity(*ctx, files)) return *error;
  if (files.ca_file.empty()) return ctx;
  if (auto error = load_ca(*ctx, files.ca_file)) return *error;
  // Tell clients which CAs are accepted, and refuse one without a certificate from them.
  STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(files.ca_file.c_str());
  if (names == nullptr) {
    ERR_clear_error();
    return "no CA certificate in " + files.ca_file;
  }
  SSL_CTX_set_client_CA_list(native, names);
  SSL_CTX_set_session_id_context(native, kSessionIdContext, sizeof kSessionIdContext - 1);
  ctx->set_verify_mode(asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert);
  return ctx;
}

TlsContextOrError make_client_tls_context(const TlsFiles& files) {
  auto ctx = with_policy(context::tls_client);
  if (auto error = load_ca(*ctx, files.ca_file)) return *error;
  ctx->set_verify_mode(asio::ssl::verify_peer);
  if (files.cert_file.empty() != files.key_file.empty()) {
    return std::string("a TLS client certificate needs both its certificate and its key file");
  }
  if (!files.cert_file.empty()) {
    if (auto error = load_identity(*ctx, files)) return *error;
  }
  return ctx;
}

}  // namespace bonus::server
