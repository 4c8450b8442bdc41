// Transport: one connection's byte stream, either a plain TCP socket or a TLS stream
// (asio::ssl over OpenSSL) over one; the server's Connection and the C++ client's I/O
// thread read and write through it without knowing which.
//
// It models Asio's AsyncReadStream and AsyncWriteStream, so `asio::async_read(transport,
// ...)`, `asio::async_write(transport, buffers, ...)` and `transport.async_read_some(...)`
// work on both kinds. A TLS transport must complete handshake() before the first read or
// write; on a plain one handshake() completes at once (posted, never inline).
//
// Owned by one connection and used only on the thread that runs its io_context (the
// network thread in bonusd, the client's I/O thread). At most one read and one write
// may be outstanding at a time, as for any Asio stream. The TLS context passed in must
// outlive the transport.
#pragma once

#include <asio.hpp>
#include <asio/ssl.hpp>
#include <cstddef>
#include <functional>
#include <string>
#include <utility>
#include <variant>

namespace bonus::server {

class Transport {
 public:
  using executor_type = asio::any_io_executor;
  using Socket = asio::ip::tcp::socket;
  using TlsStream = asio::ssl::stream<Socket>;
  enum class Side : std::uint8_t { client, server };

  // Plain TCP.
  explicit Transport(Socket socket);
  // TLS over `socket`, as the given side of the handshake.
  Transport(Socket socket, asio::ssl::context& context, Side side);
  // TLS when `tls` is given, else plain.
  static Transport make(Socket socket, asio::ssl::context* tls, Side side);
  Transport(Transport&&) = default;
  Transport& operator=(Transport&&) = default;

  bool is_tls() const { return std::holds_alternative<TlsStream>(stream_); }
  // The TCP socket under it (connect, options, endpoints).
  Socket& tcp_socket();

  // Client side, before handshake(): the server's certificate must name `name` (a DNS
  // name, or an IP address that must be among its IP subject alternative names); a DNS
  // name is also sent as SNI. No-op on a plain transport. False if OpenSSL refused it.
  bool expect_server_name(const std::string& name);

  // Completes with the handshake's error, or none; on a plain transport at once (posted).
  void handshake(std::function<void(const asio::error_code&)> done);
  // After a failed handshake: why, in words, with the certificate verification result
  // when that is what failed ("certificate verify failed: unable to get local issuer
  // certificate"). `ec` is the handshake's error.
  std::string handshake_failure(const asio::error_code& ec) const;

  // Closes the socket at once, never waiting for the peer: a TLS stream does not send
  // close_notify (waiting for the peer's answer could hold a connection forever). Every
  // frame says its own length, so the reader of a truncated stream still knows what it
  // got. Outstanding operations complete with operation_aborted. Idempotent.
  void close();

  // The peer's address, or a default endpoint when the socket is closed.
  asio::ip::tcp::endpoint remote_endpoint() const;
  void set_no_delay();

  executor_type get_executor() { return tcp_socket().get_executor(); }

  template <typename MutableBuffers, typename Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    return asio::async_initiate<Token, void(asio::error_code, std::size_t)>(
        [this](auto handler, const MutableBuffers& b) {
          std::visit([&](auto& s) { s.async_read_some(b, std::move(handler)); }, stream_);
        },
        token, buffers);
  }

  template <typename ConstBuffers, typename Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    return asio::async_initiate<Token, void(asio::error_code, std::size_t)>(
        [this](auto handler, const ConstBuffers& b) {
          std::visit([&](auto& s) { s.async_write_some(b, std::move(handler)); }, stream_);
        },
        token, buffers);
  }

 private:
  std::variant<Socket, TlsStream> stream_;
  Side side_ = Side::server;
};

}  // namespace bonus::server
