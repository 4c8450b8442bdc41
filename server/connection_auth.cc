// Connection's authentication: the hello request and the role check before dispatch
// (protocol/README.md, Hello and authentication). Network thread, like the rest of
// Connection.
#include <sstream>
#include <string>

#include "server/connection.h"
#include "server/metrics.h"
#include "server/server.h"

namespace bonus::server {
namespace {

using protocol::Body;
using protocol::FrameError;
using protocol::FrameHeader;
using protocol::Opcode;

std::string peer_name(const Transport& transport) {
  const asio::ip::tcp::endpoint endpoint = transport.remote_endpoint();
  if (endpoint == asio::ip::tcp::endpoint{}) return "unknown";
  std::ostringstream out;
  out << endpoint;  // "10.0.0.7:51234", "[::1]:51234"
  return out.str();
}

// Client-chosen text for a log line: printable ASCII only, so no line breaks or
// terminal escapes reach the log.
std::string printable(std::string_view text) {
  std::string out;
  for (const char c : text) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  return out;
}

}  // namespace

void Connection::change_role(Role to) {
  metrics().connection_role_changed(role_, to);
  role_ = to;
}

void Connection::init_auth() {
  peer_ = peer_name(transport_);
  // The generation before the tokens: a reload between the two is followed at the next
  // request.
  auth_generation_ = server_.auth_generation();
  role_ = server_.auth() == nullptr ? Role::admin : Role::none;
}

// After a SIGHUP reload the connection's token is looked up again: its new role
// applies, and a token no longer in the file leaves the connection with none.
void Connection::follow_auth_reload() {
  const std::uint64_t generation = server_.auth_generation();
  if (auth_generation_ == generation) return;
  auth_generation_ = generation;
  const std::shared_ptr<const AuthFile> auth = server_.auth();
  if (!token_hash_ || auth == nullptr) return;
  const AuthEntry* entry = auth->find_hash(*token_hash_);
  change_role(entry != nullptr ? entry->role : Role::none);
  if (entry == nullptr) token_hash_.reset();
}

FrameError Connection::gate(const FrameHeader& h) {
  follow_auth_reload();
  if (allows(role_, h.opcode)) return FrameError::none;
  const std::string op(protocol::opcode_name(h.opcode));
  const bool unauthenticated = role_ == Role::none;
  const FrameError e = unauthenticated ? FrameError::unauthenticated : FrameError::forbidden;
  const std::string message = unauthenticated
                                  ? op + ": not authenticated; send hello with a token first"
                                  : op + ": forbidden for role " + std::string(role_name(role_)) +
                                        " (token " + token_name_ + ")";
  server_.access_log().refused(peer_, role_, token_name_, h.opcode, e, message);
  reply_error(h.request_id, e, message, false);
  return e;
}

void Connection::handle_hello(const FrameHeader& h, Body body) {
  protocol::HelloQuery query;
  if (FrameError e = protocol::decode_hello(body, query); e != FrameError::none) {
    return reply_error(h.request_id, e, "hello refused: malformed body", true);
  }
  if (query.protocol_version != 0 && query.protocol_version != protocol::kVersion) {
    return reply_error(h.request_id, FrameError::malformed_body,
                       "hello: protocol version " + std::to_string(query.protocol_version) +
                           " is not spoken here; this server speaks " +
                           std::to_string(protocol::kVersion),
                       true);
  }
  protocol::HelloAnswer answer;
  const std::uint64_t generation = server_.auth_generation();  // before the tokens
  const std::shared_ptr<const AuthFile> auth = server_.auth();
  if (auth != nullptr && query.token.empty()) {
    // No token is not a guess: a client asking what the server is (its partitions, its
    // limits) before or without authenticating. The connection is left with role none
    // (and forgets a token it had), open.
    change_role(Role::none);
    token_hash_.reset();
    token_name_.clear();
    auth_generation_ = generation;
  } else if (auth != nullptr) {
    const TokenHash hash = hash_token(query.token);
    const AuthEntry* entry = auth->find_hash(hash);
    if (entry == nullptr) {
      // A wrong token ends the connection: guessing costs a connection per guess.
      server_.access_log().refused(peer_, role_, "", Opcode::hello, FrameError::unauthenticated,
                                   "unknown token (client name \"" +
                                       printable(query.client_name) + "\")");
      close_after_write_ = true;
      return reply_error(h.request_id, FrameError::unauthenticated,
                         "hello: unknown token; closing the connection", true);
    }
    change_role(entry->role);
    token_hash_ = hash;
    token_name_ = entry->name;
    auth_generation_ = generation;
    answer.authenticated = true;
    answer.name = entry->name;
    server_.access_log().hello(peer_, role_, token_name_, printable(query.client_name));
  }
  answer.role = std::string(role_name(role_));
  answer.protocol_version = protocol::kVersion;
  answer.shards = static_cast<std::uint32_t>(server_.shards().size());
  answer.partition_ports = server_.partition_ports();
  if (!answer.partition_ports.empty()) answer.partition_hash = protocol::kPartitionHashMix64Mod;
  if (const Leadership* leadership = server_.leadership()) {
    answer.node_state = leadership->state();
    answer.leader = leadership->leader();
    answer.log_position = server_.sequencer().handed_position();
  }
  answer.body_size_max = server_.config().body_size_max;
  answer.batch_commands_max = server_.config().batch_commands_max;
  answer.in_flight_max = server_.config().in_flight_max;
  flatbuffers::FlatBufferBuilder fbb(256);
  protocol::encode_hello_reply(answer, fbb);
  send(protocol::make_frame(Opcode::hello, protocol::kReply, h.request_id,
                            Body{fbb.GetBufferPointer(), fbb.GetSize()}),
       true);
}

}  // namespace bonus::server
