#include "server/metrics_endpoint.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <vector>

namespace bonus::server {

namespace {
class MetricsSession;
}

struct MetricsEndpoint::State {
  Render render;
  MetricsEndpointLimits limits;
  std::uint32_t sessions = 0;  // open (not closed) sessions
  bool stopped = false;
  std::vector<std::weak_ptr<MetricsSession>> open;  // to close at stop(), or when idle
};

namespace {

using Clock = std::chrono::steady_clock;

// What a request head asks for.
struct Request {
  bool valid = false;
  std::string_view method;
  std::string_view target;
  bool keep_alive = false;
  bool has_body = false;
};

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// True if the comma-separated header value names `token` (case-insensitive).
bool has_token(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    const auto comma = value.find(',');
    if (iequals(trim(value.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

void read_header_line(std::string_view line, Request& r, bool& close, bool& keep) {
  const auto colon = line.find(':');
  if (colon == std::string_view::npos) return;
  const std::string_view name = trim(line.substr(0, colon));
  const std::string_view value = trim(line.substr(colon + 1));
  if (iequals(name, "connection")) {
    close = close || has_token(value, "close");
    keep = keep || has_token(value, "keep-alive");
  } else if (iequals(name, "transfer-encoding") ||
             (iequals(name, "content-length") && value != "0")) {
    r.has_body = true;
  }
}

// `head`: the request line and headers, through the empty line.
Request parse_request(std::string_view head) {
  Request r;
  auto end = head.find("\r\n");
  const std::string_view line = head.substr(0, end);
  const auto sp1 = line.find(' ');
  const auto sp2 = line.rfind(' ');
  if (sp1 == std::string_view::npos || sp2 == sp1) return r;
  r.method = line.substr(0, sp1);
  r.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  if (version != "HTTP/1.1" && version != "HTTP/1.0") return r;
  bool close = false, keep = false;
  while (end != std::string_view::npos && end + 2 < head.size()) {
    const auto next = head.find("\r\n", end + 2);
    read_header_line(head.substr(end + 2, next - end - 2), r, close, keep);
    end = next;
  }
  r.keep_alive = version == "HTTP/1.1" ? !close : keep && !close;
  r.valid = !r.method.empty() && !r.target.empty();
  return r;
}

std::string response(std::string_view status, std::string_view content_type, std::string_view body,
                     bool keep_alive, std::string_view extra = {}) {
  std::string out = "HTTP/1.1 ";
  out += status;
  out += "\r\nContent-Type: ";
  out += content_type;
  out += "\r\nContent-Length: " + std::to_string(body.size());
  out += keep_alive ? "\r\nConnection: keep-alive\r\n" : "\r\nConnection: close\r\n";
  out += extra;
  out += "\r\n";
  out += body;
  return out;
}

// One scrape connection: reads request heads, answers them, until it closes or stalls.
class MetricsSession : public std::enable_shared_from_this<MetricsSession> {
 public:
  MetricsSession(std::shared_ptr<asio::ip::tcp::socket> socket,
                 std::shared_ptr<MetricsEndpoint::State> state)
      : socket_(std::move(socket)),
        state_(std::move(state)),
        timer_(socket_->get_executor()),
        buffer_(state_->limits.request_bytes_max) {
    ++state_->sessions;
  }
  ~MetricsSession() { close(); }

  void start() { read_request(); }
  // Kept alive and waiting for its next request.
  bool idle() const { return idle_ && !closed_; }
  // Closes the connection and gives its place up at once (handlers still pending end it).
  void close() {
    if (closed_) return;
    closed_ = true;
    --state_->sessions;
    asio::error_code ec;
    timer_.cancel();
    socket_->shutdown(asio::ip::tcp::socket::shutdown_both, ec);
    socket_->close(ec);
  }

 private:
  void arm(std::chrono::milliseconds timeout) {
    timer_.expires_after(timeout);
    timer_.async_wait([self = shared_from_this()](const asio::error_code& ec) {
      if (!ec && self->timer_.expiry() <= Clock::now()) self->close();
    });
  }

  // Between requests on a kept-alive connection: up to idle_timeout for the first byte.
  void wait_for_request() {
    if (buffer_.size() > 0) return read_request();  // pipelined
    arm(state_->limits.idle_timeout);
    idle_ = true;
    socket_->async_wait(asio::ip::tcp::socket::wait_read,
                        [self = shared_from_this()](const asio::error_code& ec) {
                          self->idle_ = false;
                          if (ec) return self->close();
                          self->read_request();
                        });
  }

  void read_request() {
    arm(state_->limits.request_timeout);
    asio::async_read_until(*socket_, buffer_, "\r\n\r\n",
                           [self = shared_from_this()](const asio::error_code& ec, std::size_t n) {
                             self->on_request(ec, n);
                           });
  }

  void on_request(const asio::error_code& ec, std::size_t n) {
    if (ec == asio::error::not_found) {  // the head passed request_bytes_max
      return reply(response("431 Request Header Fields Too Large", "text/plain",
                            "request head too large\n", false),
                   false);
    }
    if (ec) return close();
    const std::string head(static_cast<const char*>(buffer_.data().data()), n);
    buffer_.consume(n);
    answer(parse_request(head));
  }

  void answer(const Request& r) {
    const bool keep = r.keep_alive && !r.has_body;
    const std::string_view path = r.target.substr(0, r.target.find('?'));
    if (!r.valid) {
      reply(response("400 Bad Request", "text/plain", "bad request\n", false), false);
    } else if (path != "/metrics") {
      reply(response("404 Not Found", "text/plain", "only /metrics is served here\n", keep), keep);
    } else if (r.method != "GET") {
      reply(response("405 Method Not Allowed", "text/plain", "only GET\n", keep, "Allow: GET\r\n"),
            keep);
    } else {
      reply(response("200 OK", "text/plain; version=0.0.4; charset=utf-8", state_->render(), keep),
            keep);
    }
  }

  void reply(std::string text, bool keep_alive) {
    out_ = std::move(text);
    arm(state_->limits.write_timeout);
    asio::async_write(
        *socket_, asio::buffer(out_),
        [self = shared_from_this(), keep_alive](const asio::error_code& ec, std::size_t) {
          self->out_.clear();
          if (ec || !keep_alive || self->state_->stopped) return self->close();
          self->wait_for_request();
        });
  }

  std::shared_ptr<asio::ip::tcp::socket> socket_;
  std::shared_ptr<MetricsEndpoint::State> state_;
  asio::steady_timer timer_;
  asio::streambuf buffer_;
  std::string out_;
  bool idle_ = false;
  bool closed_ = false;
};

// At the session bound: a kept-alive connection waiting for its next request gives its
// place to a new one (a client that scraped once and idles cannot hold a place against
// others). False when every session is busy.
bool close_an_idle_session(MetricsEndpoint::State& state) {
  for (const auto& weak : state.open) {
    if (auto session = weak.lock(); session && session->idle()) {
      session->close();
      return true;
    }
  }
  return false;
}

// "HOST:PORT" or "[V6]:PORT" into an endpoint; an error message otherwise.
std::optional<std::string> parse_host_port(std::string_view text, asio::ip::tcp::endpoint& out) {
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos) return "expected HOST:PORT, e.g. 127.0.0.1:9400";
  std::string_view host = text.substr(0, colon);
  const std::string_view port_text = text.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  unsigned port = 0;
  const auto [end, error] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || error != std::errc() || end != port_text.data() + port_text.size() ||
      port > 65535) {
    return "bad port '" + std::string(port_text) + "' (0..65535)";
  }
  asio::error_code ec;
  const auto address = asio::ip::make_address(std::string(host), ec);
  if (ec) return "bad address '" + std::string(host) + "' (an IP address)";
  out = asio::ip::tcp::endpoint(address, static_cast<std::uint16_t>(port));
  return std::nullopt;
}

}  // namespace

MetricsEndpoint::MetricsEndpoint(asio::io_context& io, Render render, MetricsEndpointLimits limits)
    : acceptor_(io), state_(std::make_shared<State>()) {
  state_->render = std::move(render);
  state_->limits = limits;
}

MetricsEndpoint::~MetricsEndpoint() {
  stop();
}

std::optional<std::string> MetricsEndpoint::open(std::string_view host_port) {
  asio::ip::tcp::endpoint endpoint;
  if (auto error = parse_host_port(host_port, endpoint)) return error;
  asio::error_code ec;
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return "cannot listen on " + std::string(host_port) + ": " + ec.message();
  return std::nullopt;
}

std::string MetricsEndpoint::address() const {
  asio::error_code ec;
  const auto endpoint = acceptor_.local_endpoint(ec);
  if (ec) return "?";
  const auto address = endpoint.address();
  const std::string host = address.is_v6() ? "[" + address.to_string() + "]" : address.to_string();
  return host + ":" + std::to_string(endpoint.port());
}

void MetricsEndpoint::start() {
  accept();
}

void MetricsEndpoint::stop() {
  state_->stopped = true;
  asio::error_code ec;
  acceptor_.close(ec);
  for (auto& weak : state_->open) {
    if (auto session = weak.lock()) session->close();
  }
  state_->open.clear();
}

void MetricsEndpoint::accept() {
  acceptor_.async_accept(
      [this, state = state_](const asio::error_code& ec, asio::ip::tcp::socket s) {
        if (state->stopped) return;
        if (ec) {
          // Out of descriptors or the like: try again a little later rather than spin.
          if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
          auto timer = std::make_shared<asio::steady_timer>(acceptor_.get_executor(),
                                                            std::chrono::milliseconds(100));
          timer->async_wait([this, state, timer](const asio::error_code&) {
            if (!state->stopped) accept();
          });
          return;
        }
        auto socket = std::make_shared<asio::ip::tcp::socket>(std::move(s));
        std::erase_if(state->open, [](const auto& weak) { return weak.expired(); });
        if (state->sessions >= state->limits.sessions_max && !close_an_idle_session(*state)) {
          auto text = std::make_shared<std::string>(response(
              "503 Service Unavailable", "text/plain", "too many scrape connections\n", false));
          asio::async_write(*socket, asio::buffer(*text),
                            [socket, text](const asio::error_code&, std::size_t) {
                              asio::error_code ignored;
                              socket->close(ignored);
                            });
        } else {
          auto session = std::make_shared<MetricsSession>(socket, state);
          state->open.push_back(session);
          session->start();
        }
        accept();
      });
}

}  // namespace bonus::server
