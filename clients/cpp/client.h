// Client: the C++ client of bonusd: one main TCP connection with many requests in flight,
// and a small pool of connections for blocking reads on the caller's thread.
//
// Threads. A Client owns one I/O thread (an asio::io_context) that does the reading,
// writing, reconnecting and timing of its main connection; every public method may be
// called from any thread, concurrently. Blocking reads, ping and write() run on the
// caller's thread instead, each over a connection of a small pool
// (direct_connections_max).
// Blocking methods (write, write_batch and every read) wait for their reply; they must
// not be called on the I/O thread, that is from a write_batch_async callback (doing so is
// a bug and aborts). Callbacks run on the I/O thread: keep them short, never block in
// them and never throw from them; they may start more async requests. The Client must
// outlive every call into it; destroying it completes what is still in flight with
// Status::disconnected ("client closed") and joins the thread.
//
// Pipelining. Each request is one frame with its own request id; replies are matched by
// id and may arrive in any order. At most `in_flight_max` frames are awaiting replies;
// more wait in the client (their timeout runs while they wait). Requests in flight are
// not ordered relative to each other (write_async of two kinds may go out in either
// order): wait for a hold's reply before sending its capture.
//
// Batching. write_async() of one command (and write() when no pooled connection is free)
// queues it; the I/O thread sends whatever queued since its last flush as one frame per
// command kind, so many threads writing at once share frames and each caller still gets
// its own Result. While
// `single_frames_in_flight_max` such frames of a kind await replies, new singles of that
// kind wait for one of them (as a group commit does): an idle client sends a write at
// once, a busy one sends fewer, larger frames.
//
// Failures. Every business rejection of the engine is a Result with a non-ok code
// inside an ok Reply: the request was served. A Reply's status says whether it was:
//   timeout       no reply within `timeout` of the call; a late reply is dropped
//   disconnected  the connection broke (or could not be made) before the reply came;
//                 the next call reconnects
//   refused       the server answered with an ErrorReply: `error` and `message` say why
//   bad_reply     a reply came but could not be decoded
// A write that ended in timeout or disconnected may or may not have been applied.
// Retrying it with the same id is safe: the server applies an id once and answers a
// repeat with the stored result (flag Result::kRepeat); a repeat with another body is
// rejected with Code::id_reused. So on any failure retry the same commands, ids kept.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "engine/command.h"
#include "engine/result.h"
#include "engine/views.h"
#include "protocol/frame.h"
#include "protocol/messages.h"

namespace bonus::client {

struct ClientOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 7400;
  // The other nodes of the same ledger (bonusd --log jetstream: a leader and its
  // standbys), as HOST:PORT. When the connection to the current address cannot be made or
  // breaks, or a request is answered not_leader (a standby takes no writes) or
  // shutting_down (a node stopping: its standbys take over), the client's
  // next connection, and every pooled one after it, goes to the next address in turn
  // (host:port, then these, then host:port again); connect() tries each once. The failed
  // request itself is not sent again: the caller retries it, with the same ids, as after
  // any failure (see Failures below), and reaches the leader within a few tries once one
  // leads. Empty: host:port alone.
  std::vector<std::string> others;
  std::chrono::milliseconds timeout{5000};  // per request, from the call to its reply
  // Larger write batches (and balance reads) are split into frames of at most this many
  // commands; keep it at or below the server's --batch-commands-max. 1..kBatchCommandsMax.
  std::uint32_t batch_commands_max = protocol::kBatchCommandsDefault;
  // Frames awaiting a reply on the connection; keep it below the server's in-flight limit.
  std::uint32_t in_flight_max = 1024;
  // Frames of single writes (write, write_async) of one kind awaiting a reply; singles
  // that come meanwhile wait and go out together when one is answered. 1 gives the
  // largest frames; more gives lower latency under moderate load.
  std::uint32_t single_frames_in_flight_max = 1;
  // Blocking reads (balance and balances of up to batch_commands_max keys, cart, wallet,
  // expiring, segment, history, order, stats, policy, month_report), ping and write() of
  // one command write their request and read its reply on the caller's own thread, over a
  // connection of their own taken from a pool of at most this many: no hand-off to the
  // I/O thread and back. A caller that finds every one busy, and every other call
  // (write_async, batches, admin, async calls), goes through the I/O thread's connection.
  // A pooled connection the server closed meanwhile (idle timeout, restart) is replaced
  // and the request asked again, within the same timeout (a write with the same id: the
  // server applies it once). With TLS, and with 0, every call goes through the I/O
  // thread.
  std::uint32_t direct_connections_max = 4;
  // When the server's hello names a port for each of its partitions, a blocking call
  // about one buyer (balance of one buyer's accounts, cart, wallet, write() of a command
  // naming a buyer) takes its pooled connection to that buyer's partition: the thread
  // that owns the buyer reads the frame and answers it, with no hand-off between the
  // server's threads. The rest go to host:port. A partition port that cannot be reached
  // turns this off until the next hello (reconnect). Plain TCP only: with TLS every call
  // goes through the I/O thread's connection to host:port. With it on, the client says hello on
  // every connect to learn the ports: with a token before anything else (as always),
  // without one as the first request. Off by default: on a 2-core machine it measured no
  // faster idle and slower while a mailing goes in (docs/performance.md, issue 14,
  // fourth part).
  bool partition_routing = false;
  // Reads at a log position (a leader and its standbys: bonusd --log jetstream). With it
  // on, every request asks the node for at least the highest log position this client
  // has seen in a reply, its own acknowledged writes' included, and a node not there yet
  // waits for it (bonusd --position-wait-ms) before it answers: whichever node serves
  // it, a read sees this client's acknowledged writes and nothing older than what it has
  // already read. A node that does not get there in time answers position_unreached
  // (refused): ask again, or ask the leader. Statements (history, order) come from the
  // history store, which trails the ledger by up to a checkpoint interval: their pages
  // say the position they reflect, which may be lower.
  bool read_your_writes = false;
  // Writes ask for the non-ok results only: ok results then come back as Result{} with
  // code ok and zero amounts (less to send for bulk jobs that only need the failures).
  bool errors_only = false;
  // TLS. With tls_ca_file (PEM CA certificates) the client speaks TLS (1.2 or 1.3) and
  // trusts a server only if its certificate chains to one of these CAs and names
  // tls_server_name (empty: `host`): a DNS name is matched against the certificate's DNS
  // names (and sent as SNI), an IP address against its IP addresses. Every reconnect
  // handshakes and verifies again. Empty: plain TCP.
  std::string tls_ca_file;
  std::string tls_server_name;
  // Mutual TLS: the client's PEM certificate chain and its private key (both or neither;
  // they need tls_ca_file).
  std::string tls_cert_file;
  std::string tls_key_file;
  // The bearer token of a server started with --auth-file (bonusctl --token, BONUS_TOKEN).
  // When set, the client says hello with it right after every connect, before any
  // request; a refused hello fails connect() (or, on a reconnect, the requests waiting)
  // with the server's message. Empty: no hello (a server without --auth-file serves
  // everyone as admin; one with it answers unauthenticated).
  std::string token;
  // Sent in the hello, for the server's logs. At most protocol::kClientNameBytesMax bytes.
  std::string client_name = "bonus-cpp";
};

enum class Status : std::uint8_t { ok, timeout, disconnected, refused, bad_reply };
std::string_view status_name(Status status);

template <typename T>
struct Reply {
  Status status = Status::ok;
  protocol::FrameError error = protocol::FrameError::none;  // refused: the server's code
  std::string message;                                      // not ok: what happened
  T value{};                                                // ok: the answer

  bool ok() const { return status == Status::ok; }
};

// A reply frame as it came, for tests of bad input (Client::send_raw).
struct RawReply {
  protocol::FrameHeader header;
  std::vector<std::uint8_t> body;
  protocol::ErrorInfo error;  // decoded when header.opcode is Opcode::error
};

// Request ids at or above this are never used by the client: hand-made frames for
// send_raw should carry one of them.
inline constexpr std::uint64_t kRawRequestIdMin = std::uint64_t{1} << 63;

class Client {
 public:
  using BatchCallback = std::function<void(Reply<std::vector<Result>>)>;

  // Resolves the host, connects (with TLS: handshakes and verifies the server), says
  // hello when options.token is set, and pings (a server at its connection limit refuses
  // here), each step waiting at most options.timeout; or says why not (also for options
  // out of range, TLS files that cannot be loaded, and with the server's message for a
  // refused token).
  static std::variant<std::unique_ptr<Client>, std::string> connect(const ClientOptions& options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  const ClientOptions& options() const { return options_; }
  // The server's answer to the last hello (role, shards, limits, partition ports); empty
  // when no token was given and partition_routing is off (no hello is said then; with it
  // on, a hello without a token gets role none on a server with --auth-file, admin on one
  // without). Any thread.
  protocol::HelloAnswer session() const;

  // One write, on the caller's thread over a pooled connection (a frame of its own), as
  // blocking reads are; when every pooled connection is busy, batched with concurrent
  // writes of its kind through the I/O thread (see Batching above).
  template <protocol::WriteCommand C>
  Reply<Result> write(const C& command) {
    require_not_io_thread();
    return write_now(Command{command});
  }
  template <protocol::WriteCommand C>
  std::future<Reply<Result>> write_async(const C& command) {
    return enqueue_write(Command{command});
  }

  // A batch of one kind as one or more pipelined frames (split at batch_commands_max);
  // results in batch order. Not ok when any frame failed: then `value` is empty and the
  // whole batch should be retried with the same ids. An empty batch is ok at once.
  template <protocol::WriteCommand C>
  Reply<std::vector<Result>> write_batch(std::span<const C> commands) {
    require_not_io_thread();
    auto done = std::make_shared<std::promise<Reply<std::vector<Result>>>>();
    auto reply = done->get_future();
    write_batch_async(commands,
                      [done](Reply<std::vector<Result>> r) { done->set_value(std::move(r)); });
    return reply.get();
  }
  // The same, returning at once (the commands are encoded before it returns); `done`
  // runs on the I/O thread. REQUIRES: `done` is callable.
  template <protocol::WriteCommand C>
  void write_batch_async(std::span<const C> commands, BatchCallback done) {
    std::vector<Part> parts;
    flatbuffers::FlatBufferBuilder fbb(1024);
    for (std::size_t at = 0; at < commands.size(); at += options_.batch_commands_max) {
      const auto chunk = commands.subspan(
          at, std::min<std::size_t>(options_.batch_commands_max, commands.size() - at));
      protocol::encode_write(chunk, fbb);
      parts.push_back(write_part(protocol::kWriteOpcode<C>,
                                 protocol::Body{fbb.GetBufferPointer(), fbb.GetSize()},
                                 chunk.size()));
    }
    submit_batch(protocol::kWriteOpcode<C>, std::move(parts), std::move(done));
  }

  // Reads. Every one is a single round trip (balances: one per batch_commands_max keys;
  // a key given twice is asked for once, as the server refuses duplicate_key; with lots,
  // a request the server refuses batch_too_large, past its --lots-per-reply-max, is asked
  // again in halves).
  Reply<protocol::BalanceEntry> balance(SellerId seller, BuyerId buyer, bool with_lots = false);
  Reply<std::vector<protocol::BalanceEntry>> balances(
      std::span<const protocol::AccountKey> accounts, bool with_lots = false);
  // The cart screen: per line, what the buyer can spend with that seller now.
  Reply<std::vector<CartEntry>> cart(BuyerId buyer, std::span<const CartLine> lines,
                                     TimeUs soon_us);
  Reply<std::vector<AccountView>> wallet(BuyerId buyer);
  // One page; pass the answer's `next` as `from` until `done`.
  Reply<protocol::ExpiringAnswer> expiring(SellerId seller, TimeUs within_us, std::uint32_t limit,
                                           const protocol::ExpiringPosition& from = {});
  // A seller's buyers in a segment (SegmentKind): one page; pass the answer's `next` as
  // `from` until `done`. A page may be short (or empty) and not done: the server bounds
  // each page's scan.
  Reply<protocol::SegmentAnswer> segment(const SegmentQuery& query, std::uint32_t limit,
                                         const protocol::SegmentPosition& from = {});
  // Every buyer of the segment, page after page: each(buyer) in page order; the value is
  // how many. Not a snapshot (writes between pages may show). Stops at the first failed page.
  Reply<std::uint64_t> for_each_in_segment(const SegmentQuery& query,
                                           const std::function<void(BuyerId)>& each,
                                           std::uint32_t page_limit = 0);
  // Statements (served from the server's history store, behind the ledger by up to a
  // second; the answer names the log position it reflects). An account's events newest
  // first, an order's oldest first; a page of `limit` (0 or past 1000: 1000); resume
  // with the answer's `next` until `done`. history_unavailable when the server keeps none.
  Reply<protocol::HistoryAnswer> history(SellerId seller, BuyerId buyer, std::uint32_t limit,
                                         const HistoryCursor& from = {});
  Reply<protocol::HistoryAnswer> order(OrderId order, std::uint32_t limit,
                                       const HistoryCursor& from = {});
  Reply<SellerStats> seller_stats(SellerId seller);
  // REQUIRES: campaign != 0 (campaign 0 names the seller's own figures).
  Reply<CampaignStats> campaign_stats(SellerId seller, CampaignId campaign);
  // The seller's policy as it is: caps, lot life, rate and tiers (the defaults for a
  // seller that never set one).
  Reply<Policy> policy(SellerId seller);
  // The seller's calendar month `month` (months since 1970-01, marketplace calendar;
  // engine/calendar.h): its flows summed over the shards.
  Reply<MonthReport> month_report(SellerId seller, std::uint16_t month);
  Reply<protocol::AdminStatus> admin(protocol::AdminAction action, TimeUs clock_advance_us = 0);
  // Journals `command` and has every shard apply it (admin set_limits); the reply's
  // limits_code is the command's result, `limits` the limits after it.
  Reply<protocol::AdminStatus> set_limits(const SetLimits& command);
  // A ledger on a log several nodes follow (bonusd --log jetstream): node `node` (its
  // --node name), gone for good, stops holding back the log's trimming. Not ok in the
  // value (ok false, the message says why) for an unknown node, a running one, or this
  // node's own name.
  Reply<protocol::AdminStatus> forget_node(std::string node);
  // ok (value true) when the server answered.
  Reply<bool> ping();

  // Log positions (protocol/README.md, flag position). The highest log position any reply
  // reflected (0 until a request at a position is answered: with read_your_writes on, or
  // after read_at_least). Hand it to another client's read_at_least to have its reads
  // see what this one wrote. Any thread.
  std::uint64_t position() const;
  // From now on every request asks for at least `position` (the highest given counts).
  void read_at_least(std::uint64_t position);

  // For tests of bad input: writes `bytes` as they are and returns the next reply frame
  // that answers none of this client's requests (use request ids >= kRawRequestIdMin).
  // ok whenever a frame came, ErrorReply included (see RawReply::error).
  Reply<RawReply> send_raw(std::string bytes);

 private:
  struct Impl;
  Reply<protocol::AdminStatus> admin_query(const protocol::AdminQuery& query);
  // balances() of distinct keys: in frames of batch_commands_max, halved on batch_too_large.
  Reply<std::vector<protocol::BalanceEntry>> distinct_balances(
      std::span<const protocol::AccountKey> accounts, bool with_lots);
  Reply<std::vector<protocol::BalanceEntry>> balances_in_frames(
      std::span<const protocol::AccountKey> accounts, bool with_lots);
  // One frame of a write batch, framed with its request id.
  struct Part {
    std::uint64_t request_id = 0;
    std::uint32_t commands = 0;
    std::string frame;
  };

  Client(const ClientOptions& options, std::unique_ptr<Impl> impl);
  void require_not_io_thread() const;
  std::future<Reply<Result>> enqueue_write(const Command& command);
  Reply<Result> write_now(const Command& command);
  Part write_part(protocol::Opcode opcode, protocol::Body body, std::size_t commands);
  void submit_batch(protocol::Opcode opcode, std::vector<Part> parts, BatchCallback done);

  ClientOptions options_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace bonus::client
