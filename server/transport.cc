#include "server/transport.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

namespace bonus::server {

Transport::Transport(Socket socket) : stream_(std::in_place_type<Socket>, std::move(socket)) {}

Transport::Transport(Socket socket, asio::ssl::context& context, Side side)
    : stream_(std::in_place_type<TlsStream>, std::move(socket), context), side_(side) {}

Transport Transport::make(Socket socket, asio::ssl::context* tls, Side side) {
  if (tls == nullptr) return Transport(std::move(socket));
  return Transport(std::move(socket), *tls, side);
}

Transport::Socket& Transport::tcp_socket() {
  if (auto* tls = std::get_if<TlsStream>(&stream_)) return tls->next_layer();
  return std::get<Socket>(stream_);
}

bool Transport::expect_server_name(const std::string& name) {
  auto* tls = std::get_if<TlsStream>(&stream_);
  if (tls == nullptr) return true;
  SSL* ssl = tls->native_handle();
  asio::error_code ec;
  asio::ip::make_address(name, ec);
  if (!ec) {
    // An IP address: no SNI (RFC 6066 forbids it); matched against the IP SANs.
    return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name.c_str()) == 1;
  }
  return SSL_set_tlsext_host_name(ssl, name.c_str()) == 1 && SSL_set1_host(ssl, name.c_str()) == 1;
}

void Transport::handshake(std::function<void(const asio::error_code&)> done) {
  auto* tls = std::get_if<TlsStream>(&stream_);
  if (tls == nullptr) {
    asio::post(tcp_socket().get_executor(), [done = std::move(done)] { done({}); });
    return;
  }
  tls->async_handshake(
      side_ == Side::server ? asio::ssl::stream_base::server : asio::ssl::stream_base::client,
      [done = std::move(done)](const asio::error_code& ec) { done(ec); });
}

std::string Transport::handshake_failure(const asio::error_code& ec) const {
  std::string why = ec.message();
  const auto* tls = std::get_if<TlsStream>(&stream_);
  if (tls == nullptr) return why;
  const long verify = SSL_get_verify_result(const_cast<TlsStream*>(tls)->native_handle());
  if (verify != X509_V_OK) return why + ": " + X509_verify_cert_error_string(verify);
  const bool not_tls =
      ec == asio::error::eof || ec == asio::ssl::error::stream_truncated ||
      (ec.category() == asio::error::get_ssl_category() &&
       ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == SSL_R_WRONG_VERSION_NUMBER);
  if (not_tls) why += " (does the peer speak TLS?)";
  return why;
}

void Transport::close() {
  Socket& socket = tcp_socket();
  if (!socket.is_open()) return;
  asio::error_code ignored;
  socket.shutdown(Socket::shutdown_both, ignored);
  socket.close(ignored);
}

asio::ip::tcp::endpoint Transport::remote_endpoint() const {
  asio::error_code ec;
  const Socket& socket = std::visit(
      [](const auto& s) -> const Socket& {
        if constexpr (std::is_same_v<std::decay_t<decltype(s)>, TlsStream>) {
          return s.next_layer();
        } else {
          return s;
        }
      },
      stream_);
  auto endpoint = socket.remote_endpoint(ec);
  return ec ? asio::ip::tcp::endpoint{} : endpoint;
}

void Transport::set_no_delay() {
  asio::error_code ignored;
  tcp_socket().set_option(asio::ip::tcp::no_delay(true), ignored);
}

}  // namespace bonus::server
