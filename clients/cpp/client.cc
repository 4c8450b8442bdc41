#include "clients/cpp/client.h"

#include <algorithm>
#include <array>
#include <asio.hpp>
#include <atomic>
#include <charconv>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <utility>

#include "clients/cpp/direct_link.h"
#include "engine/assert.h"
#include "engine/partition.h"
#include "server/tls_context.h"
#include "server/transport.h"

namespace bonus::client {
namespace {

using asio::ip::tcp;
using server::Transport;
using Clock = std::chrono::steady_clock;
using protocol::Body;
using protocol::FrameError;
using protocol::FrameHeader;
using protocol::Opcode;

constexpr std::size_t kReadBufferBytes = 128 * 1024;  // grows for a larger frame
constexpr std::size_t kReadRoomMin = 16 * 1024;       // free space asked of each read
constexpr std::size_t kCoalesceBytes = 64 * 1024;     // small frames share a buffer up to this
constexpr std::size_t kGatherMax = 64;                // buffers per socket write

// What came for one request, handed to its completion on the I/O thread.
struct Arrival {
  Status status = Status::ok;
  FrameError error = FrameError::none;
  std::string message;
  const FrameHeader* header = nullptr;  // set when a frame came
  Body body;                            // the frame's body when one came
};
using Completion = std::function<void(const Arrival&)>;

// An arrival without a frame.
Arrival no_frame(Status status, FrameError error, std::string message) {
  Arrival a;
  a.status = status;
  a.error = error;
  a.message = std::move(message);
  return a;
}

template <typename T>
Reply<T> failed(const Arrival& a) {
  Reply<T> r;
  r.status = a.status;
  r.error = a.error;
  r.message = a.message;
  return r;
}

template <typename T>
Reply<T> undecodable(FrameError e, Opcode opcode) {
  Reply<T> r;
  r.status = Status::bad_reply;
  r.error = e;
  r.message = "undecodable " + std::string(protocol::opcode_name(opcode)) + " reply";
  return r;
}

// Results of a write reply for `count` commands into out[offset, offset + count); with
// errors_only the slots of omitted (ok) results keep what they held (Result{}).
FrameError decode_results(Body body, std::uint32_t count, bool errors_only,
                          std::vector<Result>& out, std::size_t offset) {
  std::vector<protocol::IndexedResult> indexed;
  const FrameError e = protocol::decode_write_reply(body, count, errors_only, indexed);
  if (e != FrameError::none) return e;
  for (const protocol::IndexedResult& r : indexed) out[offset + r.index] = r.result;
  return FrameError::none;
}

// One write() waiting for its result.
struct Waiter {
  std::promise<Reply<Result>> promise;
  Clock::time_point deadline;
};

// Single writes of one kind queued since the I/O thread's last flush.
template <typename C>
struct SingleQueue {
  std::vector<C> commands;
  std::vector<Waiter> waiters;
};
using SingleQueues =
    std::tuple<SingleQueue<Credit>, SingleQueue<Accrue>, SingleQueue<ConfirmAccrual>,
               SingleQueue<CancelAccrual>, SingleQueue<Hold>, SingleQueue<Capture>,
               SingleQueue<Release>, SingleQueue<Spend>, SingleQueue<Refund>,
               SingleQueue<ReverseAccrual>, SingleQueue<RevokeCampaign>, SingleQueue<SetPolicy>,
               SingleQueue<Referral>>;

}  // namespace

std::string_view status_name(Status status) {
  switch (status) {
    case Status::ok:
      return "ok";
    case Status::timeout:
      return "timeout";
    case Status::disconnected:
      return "disconnected";
    case Status::refused:
      return "refused";
    case Status::bad_reply:
      return "bad_reply";
  }
  return "unknown";
}

// The connection and everything in flight on it. Members below "I/O thread" are touched
// only there; callers reach it through post_request and enqueue, which post to it.
struct Client::Impl {
  explicit Impl(const ClientOptions& o) : options(o) {}
  ~Impl();

  // Caller side.
  // Parses options.host:port and options.others into `addresses`; an error for a bad one.
  std::string parse_addresses();
  // Resolves the current address into `endpoints` and `main_endpoints` (the caller's
  // thread before start(), the I/O thread after).
  std::string resolve();
  // host:port of the address the client uses now (any thread).
  std::string current_name() const {
    const auto& [host, port] = addresses[address_at.load(std::memory_order_relaxed)];
    return host + ":" + std::to_string(port);
  }
  std::string make_tls();
  void start();
  std::string connect_now();
  std::uint64_t next_id() { return next_request_id.fetch_add(1, std::memory_order_relaxed); }
  Clock::time_point deadline_from_now() const { return Clock::now() + options.timeout; }
  void post_request(std::uint64_t id, Opcode opcode, bool raw, std::string bytes,
                    Clock::time_point deadline, Completion done);
  std::future<Reply<Result>> enqueue(const Command& command);
  template <typename T, typename Decode>
  std::future<Reply<T>> call_async(Opcode opcode, Body body, Decode decode);
  // A blocking read on the caller's thread over a direct link, or through the I/O thread
  // when there is none to be had.
  // `buyer`: the one buyer the request is about, if it is about one: the direct link
  // then goes to that buyer's partition (see partition_endpoints).
  template <typename T, typename Decode>
  Reply<T> call(Opcode opcode, Body body, Decode decode, std::optional<BuyerId> buyer = {});
  // The same over a direct link only: nullopt when there is none to be had (the caller
  // then goes through the I/O thread).
  template <typename T, typename Decode>
  std::optional<Reply<T>> call_direct(Opcode opcode, std::uint8_t flags, Body body, Decode decode,
                                      std::optional<BuyerId> buyer);
  // A direct link and where it goes: target 0 is the address the client was given,
  // 1 + p partition p's port as of partition layout `layout`.
  struct Taken {
    std::unique_ptr<DirectLink> link;
    std::uint32_t target = 0;
    std::uint64_t layout = 0;
  };
  Taken take_direct(std::optional<BuyerId> buyer, bool fresh, bool& reused,
                    Clock::time_point deadline, std::optional<Arrival>& failure);
  void release_direct(Taken taken);
  // I/O thread, after a hello: the partitions' endpoints it names (none when it names
  // none, or a hash this client does not know, or with partition_routing off).
  void learn_partitions(const protocol::HelloAnswer& answer);

  // I/O thread.
  void submit(std::uint64_t id, Opcode opcode, bool raw, std::string bytes,
              Clock::time_point deadline, Completion done);
  void pump();
  void queue_bytes(std::string bytes);
  void write_more();
  void start_connect();
  void on_connected(std::uint64_t generation_at, const asio::error_code& ec);
  void on_handshake(std::uint64_t generation_at, const asio::error_code& ec);
  void say_hello();
  void ask_partitions();
  void on_hello(std::uint64_t generation_at, const Arrival& a);
  void link_up();
  void notify_connect(const std::string& error);
  void drop_link(Status status, FrameError error, std::string message);
  // With options.others: the next connection (and every pooled one from now on) goes to
  // the next address in turn. I/O thread.
  void next_address();
  // The address the client uses now answered not_leader or shutting_down, or a pooled link to it
  // could not be made: with options.others, the main link is dropped and the next connection,
  // pooled ones too, goes to the next address. Any thread: a caller's waits for the I/O
  // thread to have done it.
  void leave_address(const std::string& why);
  void complete(std::uint64_t id, const Arrival& arrival);
  void fail_all(const Arrival& arrival);
  void arm_timer();
  void on_timer();
  void read_more();
  void reserve_frame(std::size_t frame_bytes);
  void parse_frames();
  void on_frame(const FrameHeader& h, Body body);
  // Any thread: an ErrorReply is a refusal, a reply of another opcode a bad reply; a
  // reply at a log position (flag kPosition) loses its position to seen_position.
  void classify(const FrameHeader& h, Opcode opcode, Arrival& a);
  // A request frame; with a floor (read_your_writes, read_at_least) at a log position.
  std::string frame(Opcode opcode, std::uint8_t flags, std::uint64_t id, Body body) const;
  std::uint64_t floor() const {
    const std::uint64_t floor = at_least.load(std::memory_order_relaxed);
    return options.read_your_writes
               ? std::max(floor, seen_position.load(std::memory_order_relaxed))
               : floor;
  }
  bool deliver_raw(const Arrival& arrival);
  void flush_singles();
  void post_flush();
  template <typename C>
  void take_if_free(SingleQueue<C>& queue, SingleQueues& taken);
  template <typename C>
  void send_singles(SingleQueue<C>& queue);
  std::uint8_t* in_bytes() { return reinterpret_cast<std::uint8_t*>(in_words.data()); }
  std::size_t in_capacity() const { return in_words.size() * sizeof(std::uint64_t); }

  const ClientOptions options;
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
  std::thread thread;
  std::thread::id thread_id;
  std::atomic<std::uint64_t> next_request_id{1};
  // Log positions: the highest any reply carried, and the one read_at_least asked for.
  std::atomic<std::uint64_t> seen_position{0};
  std::atomic<std::uint64_t> at_least{0};

  // Single writes waiting for the next flush; any thread, under singles_mutex.
  std::mutex singles_mutex;
  SingleQueues singles;
  bool flush_posted = false;
  // Frames of single writes in flight, by opcode; I/O thread (read under the mutex there).
  std::array<std::uint32_t, static_cast<std::size_t>(Opcode::referral) + 1> single_frames{};  // 1..13

  // I/O thread.
  struct Pending {
    Opcode opcode = Opcode::ping;
    bool raw = false;   // send_raw: answered by the next frame that matches no request
    bool sent = false;  // written (counts against in_flight_max)
    std::multimap<Clock::time_point, std::uint64_t>::iterator deadline;
    Completion done;
  };
  struct Unsent {
    std::uint64_t id = 0;
    std::string bytes;
  };
  enum class Link : std::uint8_t { down, connecting, up };

  tcp::resolver::results_type endpoints;
  std::vector<tcp::endpoint> main_endpoints;  // the same, for direct links
  std::unique_ptr<asio::ssl::context> tls;  // null: plain TCP
  // Shared with the handlers of its operations, so that a transport replaced on reconnect
  // lives until they have run (a TLS stream's operations use it until then).
  std::shared_ptr<Transport> transport = std::make_shared<Transport>(tcp::socket(io));
  Link link = Link::down;
  std::uint64_t generation = 0;  // bumped on every new or dropped socket: stale handlers return
  bool closing = false;
  std::vector<std::function<void(const std::string&)>> connect_waiters;
  asio::steady_timer connect_timer{io};

  std::unordered_map<std::uint64_t, Pending> pending;
  std::multimap<Clock::time_point, std::uint64_t> deadlines;
  asio::steady_timer deadline_timer{io};
  bool timer_armed = false;
  Clock::time_point timer_at;
  std::deque<Unsent> unsent;     // waiting for the link or for a window slot
  std::uint32_t sent_count = 0;  // written, awaiting a reply
  std::deque<std::uint64_t> raw_waiters;

  std::deque<std::string> out;  // bytes to write; the first `writing` are being written
  std::size_t writing = 0;
  std::vector<asio::const_buffer> gather;

  std::vector<std::uint64_t> in_words = std::vector<std::uint64_t>(kReadBufferBytes / 8);
  std::size_t in_begin = 0;  // unparsed bytes are [in_begin, in_end)
  std::size_t in_end = 0;
  std::vector<std::uint64_t> aligned;  // a misaligned body is copied here
  flatbuffers::FlatBufferBuilder fbb{1024};

  // Direct links for blocking reads (DirectLink): idle ones wait here for the next call.
  // Any thread, under direct_mutex. direct_max starts at options.direct_connections_max
  // (0 with TLS) and drops to what is open when the server refuses one more
  // (too_many_connections): those calls then go through the I/O thread.
  std::vector<std::pair<std::string, std::uint16_t>> addresses;  // options.host:port, then others
  std::atomic<std::size_t> address_at{0};
  std::mutex direct_mutex;
  std::vector<Taken> direct_idle;
  std::uint32_t direct_open = 0;  // idle and in use
  std::uint32_t direct_max = 0;
  // Each partition's endpoints (the hello's partition_ports on the addresses `host`
  // resolved to): a call about one buyer goes to partition mix64(buyer) % size() there,
  // served by the thread that owns the buyer. Empty: every call goes to the address given.
  // Emptied for good (until the next hello) when a partition's port cannot be reached.
  // Under direct_mutex; `layout` goes up with every change, and a link of an older one
  // is closed rather than pooled.
  std::vector<std::vector<tcp::endpoint>> partition_endpoints;
  std::uint64_t layout = 0;

  // The last hello's answer; written on the I/O thread, read by session() from any.
  mutable std::mutex session_mutex;
  protocol::HelloAnswer session;
};

// ---------------------------------------------------------------------------------------
// Caller side.

Client::Impl::~Impl() {
  if (!thread.joinable()) return;
  asio::post(io, [this] {
    closing = true;
    drop_link(Status::disconnected, FrameError::none, "client closed");
    deadline_timer.cancel();
  });
  work.reset();
  thread.join();
}

std::string Client::Impl::parse_addresses() {
  addresses.assign(1, {options.host, options.port});
  for (const std::string& other : options.others) {
    const auto colon = other.rfind(':');
    std::uint32_t port = 0;
    const char* digits = other.data() + (colon == std::string::npos ? 0 : colon + 1);
    const auto [end, ec] = std::from_chars(digits, other.data() + other.size(), port);
    if (colon == std::string::npos || colon == 0 || ec != std::errc() ||
        end != other.data() + other.size() || port == 0 || port > 65535) {
      return "others: '" + other + "' is not HOST:PORT";
    }
    std::string host = other.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']')
      host = host.substr(1, host.size() - 2);
    addresses.emplace_back(std::move(host), static_cast<std::uint16_t>(port));
  }
  return {};
}

std::string Client::Impl::resolve() {
  tcp::resolver resolver(io);
  asio::error_code ec;
  const auto& [host, port] = addresses[address_at.load()];
  endpoints = resolver.resolve(host, std::to_string(port), ec);
  if (ec) return "cannot resolve " + current_name() + ": " + ec.message();
  std::vector<tcp::endpoint> resolved;
  for (const auto& entry : endpoints) resolved.push_back(entry.endpoint());
  std::vector<Taken> idle;  // links to the address before: closed after the lock
  std::lock_guard lock(direct_mutex);
  if (resolved != main_endpoints) {
    main_endpoints = std::move(resolved);
    idle.swap(direct_idle);
    direct_open -= static_cast<std::uint32_t>(idle.size());
    partition_endpoints.clear();
    ++layout;
  }
  return {};
}

void Client::Impl::next_address() {
  if (addresses.size() < 2) return;
  address_at = (address_at.load() + 1) % addresses.size();
  // An address that does not resolve now fails its connect; the one after is next.
  (void)resolve();
}

void Client::Impl::leave_address(const std::string& why) {
  if (addresses.size() < 2) return;
  // Once per address: the other replies of the same node find it moved on already.
  auto leave = [this, at = address_at.load(), why] {
    if (at != address_at.load()) return;
    if (link == Link::down) return next_address();  // the pooled links follow it
    drop_link(Status::disconnected, FrameError::none, current_name() + " " + why);
  };
  if (std::this_thread::get_id() == thread_id) return leave();
  // A caller's thread waits, so that its next call goes to the next address.
  std::promise<void> left;
  asio::post(io, [&] {
    leave();
    left.set_value();
  });
  left.get_future().wait();
}

std::string Client::Impl::make_tls() {
  if (options.tls_ca_file.empty()) {
    if (options.tls_cert_file.empty() && options.tls_key_file.empty()) return {};
    return "a TLS client certificate (tls_cert_file, tls_key_file) needs tls_ca_file";
  }
  auto made = server::make_client_tls_context(
      server::TlsFiles{options.tls_cert_file, options.tls_key_file, options.tls_ca_file});
  if (auto* error = std::get_if<std::string>(&made)) return *error;
  tls = std::move(std::get<std::unique_ptr<asio::ssl::context>>(made));
  return {};
}

void Client::Impl::start() {
  thread = std::thread([this] { io.run(); });
  thread_id = thread.get_id();
}

std::string Client::Impl::connect_now() {
  auto result = std::make_shared<std::promise<std::string>>();
  auto error = result->get_future();
  asio::post(io, [this, result] {
    connect_waiters.push_back([result](const std::string& e) { result->set_value(e); });
    if (link == Link::up) {
      notify_connect({});
    } else if (link == Link::down) {
      start_connect();
    }
  });
  return error.get();
}

void Client::Impl::post_request(std::uint64_t id, Opcode opcode, bool raw, std::string bytes,
                                Clock::time_point deadline, Completion done) {
  asio::post(io, [this, id, opcode, raw, bytes = std::move(bytes), deadline,
                  done = std::move(done)]() mutable {
    submit(id, opcode, raw, std::move(bytes), deadline, std::move(done));
  });
}

std::future<Reply<Result>> Client::Impl::enqueue(const Command& command) {
  Waiter waiter{{}, deadline_from_now()};
  auto result = waiter.promise.get_future();
  {
    std::lock_guard lock(singles_mutex);
    std::visit(
        [&](const auto& c) {
          using C = std::decay_t<decltype(c)>;
          if constexpr (protocol::WriteCommand<C>) {
            auto& queue = std::get<SingleQueue<C>>(singles);
            queue.commands.push_back(c);
            queue.waiters.push_back(std::move(waiter));
          } else {
            BONUS_ASSERT(protocol::WriteCommand<C> && "clients send write commands only");
          }
        },
        command);
  }
  post_flush();
  return result;
}

void Client::Impl::post_flush() {
  bool post = false;
  {
    std::lock_guard lock(singles_mutex);
    post = !flush_posted;
    flush_posted = true;
  }
  if (post) asio::post(io, [this] { flush_singles(); });
}

template <typename T, typename Decode>
std::future<Reply<T>> Client::Impl::call_async(Opcode opcode, Body body, Decode decode) {
  const std::uint64_t id = next_id();
  auto result = std::make_shared<std::promise<Reply<T>>>();
  auto reply = result->get_future();
  post_request(id, opcode, false, frame(opcode, 0, id, body), deadline_from_now(),
               [result, opcode, decode](const Arrival& a) {
                 if (a.status != Status::ok) return result->set_value(failed<T>(a));
                 Reply<T> r;
                 if (const FrameError e = decode(a.body, r.value); e != FrameError::none) {
                   return result->set_value(undecodable<T>(e, opcode));
                 }
                 result->set_value(std::move(r));
               });
  return reply;
}

template <typename T, typename Decode>
Reply<T> Client::Impl::call(Opcode opcode, Body body, Decode decode, std::optional<BuyerId> buyer) {
  if (auto direct = call_direct<T>(opcode, 0, body, decode, buyer)) return std::move(*direct);
  return call_async<T>(opcode, body, decode).get();
}

// A pooled link may have gone stale (the server closed it for idleness, or restarted):
// the request is asked once more on a fresh link, by the same deadline; a write keeps its
// command id, so the server applies it once even if the first one reached it. A new link
// the server refuses as one too many sends this call, and the later ones past what is
// open, through the I/O thread's connection.
template <typename T, typename Decode>
std::optional<Reply<T>> Client::Impl::call_direct(Opcode opcode, std::uint8_t flags, Body body,
                                                  Decode decode, std::optional<BuyerId> buyer) {
  const Clock::time_point deadline = deadline_from_now();
  const std::uint64_t id = next_id();
  std::string frame;
  for (int attempt = 0; attempt < 2; ++attempt) {
    bool reused = false;
    std::optional<Arrival> failure;
    Taken direct = take_direct(buyer, attempt > 0, reused, deadline, failure);
    if (failure) return failed<T>(*failure);
    if (!direct.link) break;
    if (frame.empty()) frame = this->frame(opcode, flags, id, body);
    DirectReply r = direct.link->round_trip(frame, id, deadline);
    if (r.error == FrameError::too_many_connections && !reused) {
      {
        std::lock_guard lock(direct_mutex);
        direct_max = direct_open - 1;
      }
      direct.link.reset();
      release_direct(std::move(direct));
      break;
    }
    const bool again = r.stale && reused;
    release_direct(std::move(direct));
    if (again) continue;
    Arrival a = no_frame(r.status, r.error, std::move(r.message));
    if (r.status == Status::ok) {
      a.header = &r.header;
      a.body = r.body();
      classify(r.header, opcode, a);
    }
    if (a.error == FrameError::not_leader || a.error == FrameError::shutting_down)
      leave_address(a.error == FrameError::not_leader
                        ? "is not the leader: trying the next address"
                        : "is shutting down: trying the next address");
    if (a.status != Status::ok) return failed<T>(a);
    Reply<T> answer;
    if (const FrameError e = decode(a.body, answer.value); e != FrameError::none) {
      return undecodable<T>(e, opcode);
    }
    return answer;
  }
  return std::nullopt;
}

// An idle link to the call's target (unless `fresh`), else a new one while fewer than
// direct_max are open (closing an idle link of another target to make room); none when
// neither (the call goes through the I/O thread), or with `failure` set when a new one
// could not be made (the call fails with it, as the I/O thread's connect would). A
// partition's port that cannot be reached turns partition routing off until the next
// hello, and the call goes to the address given instead.
Client::Impl::Taken Client::Impl::take_direct(std::optional<BuyerId> buyer, bool fresh,
                                              bool& reused, Clock::time_point deadline,
                                              std::optional<Arrival>& failure) {
  Taken taken;
  std::vector<tcp::endpoint> to;
  Taken evicted;  // closed after the lock is let go
  {
    std::lock_guard lock(direct_mutex);
    if (buyer && !partition_endpoints.empty()) {
      taken.target = 1 + partition_of(*buyer, static_cast<std::uint32_t>(partition_endpoints.size()));
    }
    taken.layout = layout;
    const auto usable = [&](const Taken& t) {
      return t.target == taken.target && (t.target == 0 || t.layout == layout);
    };
    if (!fresh) {
      for (auto it = direct_idle.rbegin(); it != direct_idle.rend(); ++it) {
        if (!usable(*it)) continue;
        taken = std::move(*it);
        direct_idle.erase(std::next(it).base());
        reused = true;
        return taken;
      }
    }
    if (direct_open >= direct_max) {
      if (direct_idle.empty()) return taken;
      evicted = std::move(direct_idle.front());
      direct_idle.erase(direct_idle.begin());
      --direct_open;
    }
    ++direct_open;
    to = taken.target == 0 ? main_endpoints : partition_endpoints[taken.target - 1];
  }
  evicted.link.reset();
  std::string error;
  FrameError refused = FrameError::none;
  taken.link = DirectLink::open(to, options.token, options.client_name, options.timeout, deadline,
                                error, refused);
  if (taken.link) return taken;
  bool unreachable = false;
  {
    std::lock_guard lock(direct_mutex);
    --direct_open;
    if (refused == FrameError::too_many_connections) {
      direct_max = direct_open;
    } else if (refused != FrameError::none) {
      failure =
          no_frame(Status::refused, refused, "hello refused by " + current_name() + ": " + error);
    } else if (taken.target != 0) {
      // A partition's port this client cannot reach (a firewall that lets the main port
      // through, say): everything goes to the main address from now on.
      if (taken.layout == layout) {
        partition_endpoints.clear();
        ++layout;
      }
    } else {
      failure = no_frame(Status::disconnected, FrameError::none,
                         "cannot connect to " + current_name() + ": " + error);
      unreachable = true;
    }
  }
  // Not under the lock: the I/O thread takes it to move on.
  if (unreachable) leave_address("cannot be reached: trying the next address");
  return Taken{};
}

// Back to the pool when usable and of the current layout; a null, broken or outdated link
// closes and frees its place.
void Client::Impl::release_direct(Taken taken) {
  std::lock_guard lock(direct_mutex);
  if (taken.link && taken.link->usable() && (taken.target == 0 || taken.layout == layout)) {
    direct_idle.push_back(std::move(taken));
  } else {
    --direct_open;
  }
}

void Client::Impl::learn_partitions(const protocol::HelloAnswer& answer) {
  std::vector<std::vector<tcp::endpoint>> by_partition;
  if (options.partition_routing && answer.partition_hash == protocol::kPartitionHashMix64Mod &&
      answer.partition_ports.size() == answer.shards) {
    for (const std::uint16_t port : answer.partition_ports) {
      std::vector<tcp::endpoint>& at = by_partition.emplace_back();
      for (const tcp::endpoint& e : main_endpoints) at.emplace_back(e.address(), port);
    }
  }
  std::lock_guard lock(direct_mutex);
  if (by_partition == partition_endpoints) return;
  partition_endpoints = std::move(by_partition);
  ++layout;
}

// ---------------------------------------------------------------------------------------
// I/O thread: requests, the send window, writing.

void Client::Impl::submit(std::uint64_t id, Opcode opcode, bool raw, std::string bytes,
                          Clock::time_point deadline, Completion done) {
  if (closing) {
    done(no_frame(Status::disconnected, FrameError::none, "client closed"));
    return;
  }
  const auto at = deadlines.emplace(deadline, id);
  pending.emplace(id, Pending{opcode, raw, false, at, std::move(done)});
  if (raw) raw_waiters.push_back(id);
  unsent.push_back(Unsent{id, std::move(bytes)});
  arm_timer();
  pump();
}

void Client::Impl::pump() {
  if (link == Link::down && !unsent.empty() && !closing) start_connect();
  if (link != Link::up) return;
  while (!unsent.empty() && sent_count < options.in_flight_max) {
    Unsent u = std::move(unsent.front());
    unsent.pop_front();
    const auto it = pending.find(u.id);
    if (it == pending.end()) continue;  // timed out while waiting
    it->second.sent = true;
    ++sent_count;
    queue_bytes(std::move(u.bytes));
  }
  if (writing == 0 && !out.empty()) write_more();
}

void Client::Impl::queue_bytes(std::string bytes) {
  if (out.size() > writing && out.back().size() + bytes.size() <= kCoalesceBytes) {
    out.back() += bytes;
  } else {
    out.push_back(std::move(bytes));
  }
}

void Client::Impl::write_more() {
  gather.clear();
  for (const std::string& s : out) {
    gather.push_back(asio::buffer(s));
    if (gather.size() == kGatherMax) break;
  }
  writing = gather.size();
  asio::async_write(
      *transport, gather,
      [this, g = generation, keep = transport](const asio::error_code& ec, std::size_t) {
        if (g != generation) return;
        for (std::size_t i = 0; i < writing; ++i) out.pop_front();
        writing = 0;
        if (ec) {
          return drop_link(Status::disconnected, FrameError::none, "write failed: " + ec.message());
        }
        if (!out.empty()) write_more();
      });
}

// ---------------------------------------------------------------------------------------
// I/O thread: the link.

void Client::Impl::start_connect() {
  link = Link::connecting;
  ++generation;
  transport = std::make_shared<Transport>(
      Transport::make(tcp::socket(io), tls.get(), Transport::Side::client));
  const std::string& name =
      options.tls_server_name.empty() ? options.host : options.tls_server_name;
  if (!transport->expect_server_name(name)) {
    return drop_link(Status::disconnected, FrameError::none,
                     "cannot connect to " + current_name() + ": bad TLS server name " + name);
  }
  const std::uint64_t g = generation;
  connect_timer.expires_after(options.timeout);  // the connect and the TLS handshake
  connect_timer.async_wait([this, g](const asio::error_code& ec) {
    if (ec || g != generation || link != Link::connecting) return;
    transport->close();  // the connect or handshake completes with operation_aborted
  });
  asio::async_connect(transport->tcp_socket(), endpoints,
                      [this, g, keep = transport](const asio::error_code& ec,
                                                  const tcp::endpoint&) { on_connected(g, ec); });
}

void Client::Impl::on_connected(std::uint64_t generation_at, const asio::error_code& ec) {
  if (generation_at != generation) return;
  if (ec) {
    connect_timer.cancel();
    const std::string why = ec == asio::error::operation_aborted ? "timed out" : ec.message();
    drop_link(Status::disconnected, FrameError::none,
              "cannot connect to " + current_name() + ": " + why);
    return;
  }
  transport->set_no_delay();
  transport->handshake(
      [this, g = generation, keep = transport](const asio::error_code& e) { on_handshake(g, e); });
}

void Client::Impl::on_handshake(std::uint64_t generation_at, const asio::error_code& ec) {
  if (generation_at != generation) return;
  connect_timer.cancel();
  if (ec) {
    const std::string why =
        ec == asio::error::operation_aborted ? "timed out" : transport->handshake_failure(ec);
    drop_link(Status::disconnected, FrameError::none,
              "cannot connect to " + current_name() + ": TLS handshake failed: " + why);
    return;
  }
  read_more();
  if (options.token.empty()) {
    link_up();
    if (options.partition_routing) ask_partitions();
    return;
  }
  say_hello();
}

void Client::Impl::link_up() {
  link = Link::up;
  notify_connect({});
  pump();
}

// The link stays `connecting` until the hello is answered: requests wait in `unsent`,
// so nothing reaches the server before its hello.
void Client::Impl::say_hello() {
  const std::uint64_t id = next_id();
  flatbuffers::FlatBufferBuilder hello_fbb(256);
  protocol::encode_hello(
      protocol::HelloQuery{options.token, protocol::kVersion, options.client_name}, hello_fbb);
  const auto at = deadlines.emplace(deadline_from_now(), id);
  pending.emplace(id, Pending{Opcode::hello, false, false, at,
                              [this, g = generation](const Arrival& a) { on_hello(g, a); }});
  arm_timer();
  queue_bytes(protocol::make_frame(Opcode::hello, 0, id,
                                   Body{hello_fbb.GetBufferPointer(), hello_fbb.GetSize()}));
  if (writing == 0) write_more();
}

// Without a token the link is up at once (as without a hello), and a hello without a token
// goes as an ordinary request, first on the new link: its answer tells the partitions'
// ports (and role none, or admin on a server without --auth-file); its failure changes
// nothing (connect's ping says what is wrong).
void Client::Impl::ask_partitions() {
  const std::uint64_t id = next_id();
  flatbuffers::FlatBufferBuilder hello_fbb(256);
  protocol::encode_hello(protocol::HelloQuery{{}, protocol::kVersion, options.client_name},
                         hello_fbb);
  submit(id, Opcode::hello, false,
         protocol::make_frame(Opcode::hello, 0, id,
                              Body{hello_fbb.GetBufferPointer(), hello_fbb.GetSize()}),
         deadline_from_now(), [this](const Arrival& a) {
           protocol::HelloAnswer answer;
           if (a.status != Status::ok ||
               protocol::decode_hello_reply(a.body, answer) != FrameError::none) {
             return;
           }
           learn_partitions(answer);
           std::lock_guard lock(session_mutex);
           session = std::move(answer);
         });
}

void Client::Impl::on_hello(std::uint64_t generation_at, const Arrival& a) {
  if (generation_at != generation) return;  // the link dropped before the answer
  protocol::HelloAnswer answer;
  if (a.status == Status::ok && protocol::decode_hello_reply(a.body, answer) != FrameError::none) {
    return drop_link(Status::bad_reply, FrameError::none, "undecodable HelloReply");
  }
  if (a.status != Status::ok) {
    const std::string code =
        a.error != FrameError::none ? std::string(protocol::frame_error_name(a.error)) + ": " : "";
    return drop_link(a.status, a.error,
                     "hello refused by " + current_name() + ": " + code + a.message);
  }
  learn_partitions(answer);
  {
    std::lock_guard lock(session_mutex);
    session = std::move(answer);
  }
  link_up();
}

void Client::Impl::notify_connect(const std::string& error) {
  auto waiters = std::move(connect_waiters);
  connect_waiters.clear();
  for (auto& w : waiters) w(error);
}

void Client::Impl::drop_link(Status status, FrameError error, std::string message) {
  ++generation;
  if (!closing) next_address();
  if (link == Link::connecting) notify_connect(message);
  link = Link::down;
  transport->close();
  connect_timer.cancel();
  out.clear();
  writing = 0;
  in_begin = in_end = 0;
  fail_all(no_frame(status, error, std::move(message)));
}

// ---------------------------------------------------------------------------------------
// I/O thread: completion and deadlines.

void Client::Impl::complete(std::uint64_t id, const Arrival& arrival) {
  const auto it = pending.find(id);
  if (it == pending.end()) return;
  Pending p = std::move(it->second);
  pending.erase(it);
  deadlines.erase(p.deadline);
  if (p.sent) --sent_count;
  if (arrival.error == FrameError::not_leader || arrival.error == FrameError::shutting_down)
    leave_address(arrival.error == FrameError::not_leader
                      ? "is not the leader: trying the next address"
                      : "is shutting down: trying the next address");
  p.done(arrival);
}

void Client::Impl::fail_all(const Arrival& arrival) {
  std::vector<std::uint64_t> ids;
  ids.reserve(pending.size());
  for (const auto& [id, p] : pending) ids.push_back(id);
  std::sort(ids.begin(), ids.end());
  for (const std::uint64_t id : ids) complete(id, arrival);
  unsent.clear();
  raw_waiters.clear();
  BONUS_ASSERT(sent_count == 0 && deadlines.empty());
}

void Client::Impl::arm_timer() {
  if (deadlines.empty()) return;
  const Clock::time_point first = deadlines.begin()->first;
  if (timer_armed && first >= timer_at) return;
  timer_armed = true;
  timer_at = first;
  deadline_timer.expires_at(first);  // cancels an earlier wait: its handler sees aborted
  deadline_timer.async_wait([this](const asio::error_code& ec) {
    if (ec != asio::error::operation_aborted) on_timer();
  });
}

void Client::Impl::on_timer() {
  timer_armed = false;
  const Clock::time_point now = Clock::now();
  const Arrival late =
      no_frame(Status::timeout, FrameError::none,
               "no reply within " + std::to_string(options.timeout.count()) + " ms");
  while (!deadlines.empty() && deadlines.begin()->first <= now) {
    complete(deadlines.begin()->second, late);
  }
  arm_timer();
  pump();  // timed-out requests freed window slots
}

// ---------------------------------------------------------------------------------------
// I/O thread: reading replies.

void Client::Impl::read_more() {
  if (in_begin == in_end) {
    in_begin = in_end = 0;
    if (in_capacity() > 4 * kReadBufferBytes)
      in_words = std::vector<std::uint64_t>(kReadBufferBytes / 8);
  }
  if (in_capacity() - in_end < kReadRoomMin) reserve_frame(in_end - in_begin + kReadRoomMin);
  asio::mutable_buffer room(in_bytes() + in_end, in_capacity() - in_end);
  transport->async_read_some(
      room, [this, g = generation, keep = transport](const asio::error_code& ec, std::size_t n) {
        if (g != generation) return;
        if (ec) {
          // A TLS server closes without close_notify (Transport::close): a truncated stream.
          const bool closed = ec == asio::error::eof || ec == asio::ssl::error::stream_truncated;
          return drop_link(
              Status::disconnected, FrameError::none,
              closed ? "the server closed the connection" : "read failed: " + ec.message());
        }
        in_end += n;
        parse_frames();
        if (g == generation) read_more();
      });
}

// Makes room for `frame_bytes` from in_begin: moves the unparsed bytes to the front and
// grows the buffer when the frame is larger than it.
void Client::Impl::reserve_frame(std::size_t frame_bytes) {
  if (in_begin + frame_bytes <= in_capacity()) return;
  std::memmove(in_bytes(), in_bytes() + in_begin, in_end - in_begin);
  in_end -= in_begin;
  in_begin = 0;
  if (frame_bytes > in_capacity()) in_words.resize((frame_bytes + 7) / 8);
}

void Client::Impl::parse_frames() {
  const std::uint64_t g = generation;
  while (in_end - in_begin >= protocol::kHeaderBytes) {
    FrameHeader h;
    const FrameError e = protocol::decode_header(in_bytes() + in_begin, protocol::kBodySizeMax, h);
    if (e != FrameError::none) {
      return drop_link(Status::disconnected, e,
                       "reply stream corrupt (" + std::string(protocol::frame_error_name(e)) +
                           "); connection closed");
    }
    const std::size_t frame_bytes = protocol::kHeaderBytes + h.body_size;
    if (in_end - in_begin < frame_bytes) {
      reserve_frame(frame_bytes);
      break;
    }
    const std::uint8_t* at = in_bytes() + in_begin + protocol::kHeaderBytes;
    Body body{at, h.body_size};
    // An empty body (a ping's reply) needs no alignment, and an empty `aligned` may have
    // no storage to copy into.
    if (h.body_size > 0 && reinterpret_cast<std::uintptr_t>(at) % alignof(std::uint64_t) != 0) {
      aligned.resize((h.body_size + 7) / 8);
      std::memcpy(aligned.data(), at, h.body_size);
      body = Body{reinterpret_cast<const std::uint8_t*>(aligned.data()), h.body_size};
    }
    in_begin += frame_bytes;
    on_frame(h, body);
    if (g != generation) return;
  }
  pump();  // replies freed window slots
}

void Client::Impl::on_frame(const FrameHeader& h, Body body) {
  Arrival a;
  a.header = &h;
  a.body = body;
  if (protocol::body_checksum(body.data(), body.size()) != h.body_crc32c) {
    a.status = Status::bad_reply;
    a.message = "reply body checksum mismatch";
  }
  const auto it = pending.find(h.request_id);
  if (it != pending.end() && !it->second.raw) {
    if (a.status == Status::ok) classify(h, it->second.opcode, a);
    return complete(h.request_id, a);
  }
  // It answers none of our requests: a raw request's reply, a late reply (dropped), or
  // the server's word on the whole connection before it closes it.
  if (deliver_raw(a)) return;
  protocol::ErrorInfo info;
  if (a.status == Status::ok && h.opcode == Opcode::error &&
      protocol::decode_error_reply(body, info) == FrameError::none &&
      (protocol::framing_lost(info.code) || info.code == FrameError::too_many_connections ||
       info.code == FrameError::frame_timeout || info.code == FrameError::idle_timeout)) {
    drop_link(Status::refused, info.code, std::move(info.message));
  }
}

std::string Client::Impl::frame(Opcode opcode, std::uint8_t flags, std::uint64_t id,
                                Body body) const {
  const std::uint64_t position = floor();
  if (position == 0 && !options.read_your_writes) {
    return protocol::make_frame(opcode, flags, id, body);
  }
  return protocol::make_frame_at(opcode, flags, id, position, body);
}

// A frame answering a request of `opcode`: an ErrorReply is a refusal; another opcode
// than the request's is a bad reply.
void Client::Impl::classify(const FrameHeader& h, Opcode opcode, Arrival& a) {
  if ((h.flags & protocol::kPosition) != 0 && h.opcode != Opcode::error) {
    std::uint64_t position = 0;
    if (!protocol::split_position(a.body, position, a.body)) {
      a.status = Status::bad_reply;
      a.message = "a reply at a log position shorter than its position";
      return;
    }
    std::uint64_t seen = seen_position.load(std::memory_order_relaxed);
    while (seen < position && !seen_position.compare_exchange_weak(seen, position)) {
    }
  }
  if (h.opcode == Opcode::error) {
    protocol::ErrorInfo info;
    if (protocol::decode_error_reply(a.body, info) != FrameError::none) {
      a.status = Status::bad_reply;
      a.message = "undecodable ErrorReply";
      return;
    }
    a.status = Status::refused;
    a.error = info.code;
    a.message = std::move(info.message);
  } else if (h.opcode != opcode || (h.flags & protocol::kReply) == 0) {
    a.status = Status::bad_reply;
    a.message = "a " + std::string(protocol::opcode_name(h.opcode)) + " frame answered a " +
                std::string(protocol::opcode_name(opcode)) + " request";
  }
}

bool Client::Impl::deliver_raw(const Arrival& arrival) {
  while (!raw_waiters.empty()) {
    const std::uint64_t id = raw_waiters.front();
    raw_waiters.pop_front();
    if (pending.contains(id)) {
      complete(id, arrival);
      return true;
    }
  }
  return false;
}

// ---------------------------------------------------------------------------------------
// I/O thread: single writes.

// Sends the queued single writes of each kind that has fewer than
// single_frames_in_flight_max frames in flight; the others go when one of those is
// answered, together with whatever queued meanwhile.
void Client::Impl::flush_singles() {
  SingleQueues taken;
  {
    std::lock_guard lock(singles_mutex);
    flush_posted = false;
    std::apply([&](auto&... queue) { (take_if_free(queue, taken), ...); }, singles);
  }
  std::apply([this](auto&... queue) { (send_singles(queue), ...); }, taken);
}

template <typename C>
void Client::Impl::take_if_free(SingleQueue<C>& queue, SingleQueues& taken) {
  const auto kind = static_cast<std::size_t>(protocol::kWriteOpcode<C>);
  if (single_frames[kind] < options.single_frames_in_flight_max) {
    std::swap(queue, std::get<SingleQueue<C>>(taken));
  }
}

template <typename C>
void Client::Impl::send_singles(SingleQueue<C>& queue) {
  const std::span<const C> all(queue.commands);
  const std::uint8_t flags = options.errors_only ? protocol::kErrorsOnly : 0;
  for (std::size_t at = 0; at < all.size(); at += options.batch_commands_max) {
    const auto chunk =
        all.subspan(at, std::min<std::size_t>(options.batch_commands_max, all.size() - at));
    auto waiters = std::make_shared<std::vector<Waiter>>();
    waiters->reserve(chunk.size());
    Clock::time_point deadline = Clock::time_point::max();
    for (std::size_t i = at; i < at + chunk.size(); ++i) {
      deadline = std::min(deadline, queue.waiters[i].deadline);
      waiters->push_back(std::move(queue.waiters[i]));
    }
    protocol::encode_write(chunk, fbb);
    const std::uint64_t id = next_id();
    constexpr Opcode opcode = protocol::kWriteOpcode<C>;
    std::string frame = this->frame(opcode, flags, id, Body{fbb.GetBufferPointer(), fbb.GetSize()});
    const auto count = static_cast<std::uint32_t>(chunk.size());
    ++single_frames[static_cast<std::size_t>(opcode)];
    submit(id, opcode, false, std::move(frame), deadline,
           [this, waiters, count, errors_only = options.errors_only](const Arrival& a) {
             --single_frames[static_cast<std::size_t>(opcode)];
             post_flush();  // what queued behind this frame
             if (a.status != Status::ok) {
               for (Waiter& w : *waiters) w.promise.set_value(failed<Result>(a));
               return;
             }
             std::vector<Result> results(count);
             if (const FrameError e = decode_results(a.body, count, errors_only, results, 0);
                 e != FrameError::none) {
               for (Waiter& w : *waiters) w.promise.set_value(undecodable<Result>(e, opcode));
               return;
             }
             for (std::uint32_t i = 0; i < count; ++i) {
               Reply<Result> r;
               r.value = results[i];
               (*waiters)[i].promise.set_value(std::move(r));
             }
           });
  }
}

// ---------------------------------------------------------------------------------------
// Client.

std::variant<std::unique_ptr<Client>, std::string> Client::connect(const ClientOptions& options) {
  if (options.batch_commands_max < 1 || options.batch_commands_max > protocol::kBatchCommandsMax) {
    return "batch_commands_max must be 1.." + std::to_string(protocol::kBatchCommandsMax);
  }
  if (options.in_flight_max < 1) return std::string("in_flight_max must be at least 1");
  if (options.single_frames_in_flight_max < 1) {
    return std::string("single_frames_in_flight_max must be at least 1");
  }
  if (options.timeout.count() <= 0) return std::string("timeout must be positive");
  if (options.token.size() > protocol::kTokenBytesMax) {
    return "token must be at most " + std::to_string(protocol::kTokenBytesMax) + " bytes";
  }
  if (options.client_name.size() > protocol::kClientNameBytesMax) {
    return "client_name must be at most " + std::to_string(protocol::kClientNameBytesMax) +
           " bytes";
  }
  auto impl = std::make_unique<Impl>(options);
  if (std::string error = impl->parse_addresses(); !error.empty()) return error;
  if (std::string error = impl->make_tls(); !error.empty()) return error;
  if (std::string error = impl->resolve(); !error.empty()) return error;
  impl->direct_max = options.tls_ca_file.empty() ? options.direct_connections_max : 0;
  impl->start();
  // Each address once (a failed connect moves to the next): the first that answers.
  std::string error;
  for (std::size_t tried = 0; tried < impl->addresses.size(); ++tried) {
    error = impl->connect_now();
    if (error.empty()) break;
  }
  if (!error.empty()) return error;
  std::unique_ptr<Client> client(new Client(options, std::move(impl)));
  // A server at its connection limit accepts, answers too_many_connections and closes.
  // The I/O thread's connection is the one to check (ping() may take a direct link).
  const Reply<bool> pong = client->impl_
                               ->call_async<bool>(Opcode::ping, Body{},
                                                  [](Body, bool& out) {
                                                    out = true;
                                                    return FrameError::none;
                                                  })
                               .get();
  if (!pong.ok()) {
    return "no answer to a ping from " + client->impl_->current_name() + ": " +
           std::string(status_name(pong.status)) +
           (pong.error != FrameError::none
                ? " " + std::string(protocol::frame_error_name(pong.error))
                : std::string()) +
           " (" + pong.message + ")" +
           (pong.status == Status::disconnected && options.tls_ca_file.empty()
                ? "; if the server speaks TLS, give the CA of its certificate (bonusctl --tls-ca, "
                  "ClientOptions::tls_ca_file)"
                : "");
  }
  return client;
}

protocol::HelloAnswer Client::session() const {
  std::lock_guard lock(impl_->session_mutex);
  return impl_->session;
}

Client::Client(const ClientOptions& options, std::unique_ptr<Impl> impl)
    : options_(options), impl_(std::move(impl)) {}

Client::~Client() = default;

void Client::require_not_io_thread() const {
  const bool on_io_thread = std::this_thread::get_id() == impl_->thread_id;
  BONUS_ASSERT(!on_io_thread && "a blocking Client method was called on the client's I/O thread");
}

std::future<Reply<Result>> Client::enqueue_write(const Command& command) {
  return impl_->enqueue(command);
}

Reply<Result> Client::write_now(const Command& command) {
  flatbuffers::FlatBufferBuilder fbb(256);
  Opcode opcode = Opcode::error;
  std::optional<BuyerId> buyer;  // a command about one buyer goes to the buyer's partition
  std::visit(
      [&](const auto& c) {
        using C = std::decay_t<decltype(c)>;
        if constexpr (protocol::WriteCommand<C>) {
          protocol::encode_write(std::span<const C>(&c, 1), fbb);
          opcode = protocol::kWriteOpcode<C>;
        }
        if constexpr (requires { c.buyer; }) buyer = c.buyer;
      },
      command);
  BONUS_ASSERT(opcode != Opcode::error && "clients send write commands only");
  const bool errors_only = options_.errors_only;
  auto decode = [errors_only](Body body, Result& out) {
    std::vector<Result> results(1);
    const FrameError e = decode_results(body, 1, errors_only, results, 0);
    out = results[0];
    return e;
  };
  if (auto direct =
          impl_->call_direct<Result>(opcode, errors_only ? protocol::kErrorsOnly : 0,
                                     Body{fbb.GetBufferPointer(), fbb.GetSize()}, decode, buyer)) {
    return std::move(*direct);
  }
  return impl_->enqueue(command).get();
}

Client::Part Client::write_part(Opcode opcode, Body body, std::size_t commands) {
  Part part;
  part.request_id = impl_->next_id();
  part.commands = static_cast<std::uint32_t>(commands);
  part.frame = impl_->frame(opcode, options_.errors_only ? protocol::kErrorsOnly : 0,
                            part.request_id, body);
  return part;
}

void Client::submit_batch(Opcode opcode, std::vector<Part> parts, BatchCallback done) {
  struct State {
    std::vector<Result> results;
    std::size_t parts_left = 0;
    std::size_t failed_part = SIZE_MAX;  // the first failed part by position
    Reply<std::vector<Result>> failure;
    BatchCallback done;
  };
  if (parts.empty()) {
    asio::post(impl_->io, [done = std::move(done)] { done(Reply<std::vector<Result>>{}); });
    return;
  }
  auto state = std::make_shared<State>();
  std::size_t total = 0;
  for (const Part& p : parts) total += p.commands;
  state->results.resize(total);
  state->parts_left = parts.size();
  state->done = std::move(done);
  const Clock::time_point deadline = impl_->deadline_from_now();
  std::vector<Completion> completions;
  completions.reserve(parts.size());
  std::size_t offset = 0;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const std::uint32_t count = parts[i].commands;
    auto on_part = [state, i, offset, count, opcode,
                    errors_only = options_.errors_only](const Arrival& a) {
      Reply<std::vector<Result>> failure;
      if (a.status != Status::ok) {
        failure = failed<std::vector<Result>>(a);
      } else if (const FrameError e =
                     decode_results(a.body, count, errors_only, state->results, offset);
                 e != FrameError::none) {
        failure = undecodable<std::vector<Result>>(e, opcode);
      }
      if (!failure.ok() && i < state->failed_part) {
        state->failed_part = i;
        state->failure = std::move(failure);
      }
      if (--state->parts_left > 0) return;
      if (state->failed_part != SIZE_MAX) return state->done(std::move(state->failure));
      Reply<std::vector<Result>> r;
      r.value = std::move(state->results);
      state->done(std::move(r));
    };
    completions.push_back(std::move(on_part));
    offset += count;
  }
  // One handler submits every part, so a batch is never split across two connections.
  asio::post(impl_->io, [impl = impl_.get(), opcode, deadline, parts = std::move(parts),
                         completions = std::move(completions)]() mutable {
    for (std::size_t i = 0; i < parts.size(); ++i) {
      impl->submit(parts[i].request_id, opcode, false, std::move(parts[i].frame), deadline,
                   std::move(completions[i]));
    }
  });
}

Reply<std::vector<protocol::BalanceEntry>> Client::balances(
    std::span<const protocol::AccountKey> accounts, bool with_lots) {
  require_not_io_thread();
  // The server refuses a key asked twice (duplicate_key): ask each once, answer each.
  std::vector<protocol::AccountKey> distinct;
  std::vector<std::size_t> slot(accounts.size());
  std::map<std::pair<SellerId, BuyerId>, std::size_t> seen;
  for (std::size_t i = 0; i < accounts.size(); ++i) {
    const auto [it, fresh] =
        seen.try_emplace({accounts[i].seller, accounts[i].buyer}, distinct.size());
    if (fresh) distinct.push_back(accounts[i]);
    slot[i] = it->second;
  }
  if (distinct.size() == accounts.size()) return distinct_balances(accounts, with_lots);
  Reply<std::vector<protocol::BalanceEntry>> answered = distinct_balances(distinct, with_lots);
  if (!answered.ok()) return answered;
  Reply<std::vector<protocol::BalanceEntry>> all;
  for (const std::size_t i : slot) all.value.push_back(answered.value[i]);
  return all;
}

Reply<std::vector<protocol::BalanceEntry>> Client::distinct_balances(
    std::span<const protocol::AccountKey> accounts, bool with_lots) {
  Reply<std::vector<protocol::BalanceEntry>> r = balances_in_frames(accounts, with_lots);
  if (r.ok() || r.error != FrameError::batch_too_large || accounts.size() < 2) return r;
  const std::size_t half = accounts.size() / 2;
  r = distinct_balances(accounts.first(half), with_lots);
  if (!r.ok()) return r;
  Reply<std::vector<protocol::BalanceEntry>> rest = distinct_balances(accounts.subspan(half), with_lots);
  if (!rest.ok()) return rest;
  r.value.insert(r.value.end(), std::make_move_iterator(rest.value.begin()),
                 std::make_move_iterator(rest.value.end()));
  return r;
}

Reply<std::vector<protocol::BalanceEntry>> Client::balances_in_frames(
    std::span<const protocol::AccountKey> accounts, bool with_lots) {
  std::vector<std::future<Reply<std::vector<protocol::BalanceEntry>>>> parts;
  flatbuffers::FlatBufferBuilder fbb(1024);
  const auto decode_for = [](std::size_t expected) {
    return [expected](Body body, std::vector<protocol::BalanceEntry>& out) {
      const FrameError e = protocol::decode_balance_reply(body, out);
      if (e == FrameError::none && out.size() != expected) return FrameError::malformed_body;
      return e;
    };
  };
  if (accounts.size() <= options_.batch_commands_max) {  // one frame: on this thread
    protocol::encode_balance(protocol::BalanceQuery{{accounts.begin(), accounts.end()}, with_lots},
                             fbb);
    // One buyer's accounts (a cart screen's): to that buyer's partition.
    std::optional<BuyerId> buyer;
    if (!accounts.empty() &&
        std::all_of(accounts.begin(), accounts.end(),
                    [&](const protocol::AccountKey& k) { return k.buyer == accounts[0].buyer; })) {
      buyer = accounts[0].buyer;
    }
    return impl_->call<std::vector<protocol::BalanceEntry>>(
        Opcode::balance, Body{fbb.GetBufferPointer(), fbb.GetSize()}, decode_for(accounts.size()),
        buyer);
  }
  for (std::size_t at = 0; at < accounts.size(); at += options_.batch_commands_max) {
    const auto chunk = accounts.subspan(
        at, std::min<std::size_t>(options_.batch_commands_max, accounts.size() - at));
    protocol::encode_balance(protocol::BalanceQuery{{chunk.begin(), chunk.end()}, with_lots}, fbb);
    parts.push_back(impl_->call_async<std::vector<protocol::BalanceEntry>>(
        Opcode::balance, Body{fbb.GetBufferPointer(), fbb.GetSize()}, decode_for(chunk.size())));
  }
  Reply<std::vector<protocol::BalanceEntry>> all;
  for (auto& part : parts) {
    Reply<std::vector<protocol::BalanceEntry>> r = part.get();
    if (!all.ok()) continue;  // keep the first failure; still wait for every part
    if (!r.ok()) {
      all = std::move(r);
      continue;
    }
    all.value.insert(all.value.end(), std::make_move_iterator(r.value.begin()),
                     std::make_move_iterator(r.value.end()));
  }
  return all;
}

Reply<protocol::BalanceEntry> Client::balance(SellerId seller, BuyerId buyer, bool with_lots) {
  const protocol::AccountKey key{seller, buyer};
  Reply<std::vector<protocol::BalanceEntry>> r = balances(std::span(&key, 1), with_lots);
  Reply<protocol::BalanceEntry> one;
  one.status = r.status;
  one.error = r.error;
  one.message = std::move(r.message);
  if (r.ok()) one.value = std::move(r.value.front());
  return one;
}

Reply<std::vector<CartEntry>> Client::cart(BuyerId buyer, std::span<const CartLine> lines,
                                           TimeUs soon_us) {
  require_not_io_thread();
  flatbuffers::FlatBufferBuilder fbb(256 + lines.size() * 16);
  protocol::encode_cart(protocol::CartQuery{buyer, {lines.begin(), lines.end()}, soon_us}, fbb);
  return impl_->call<std::vector<CartEntry>>(
      Opcode::cart, Body{fbb.GetBufferPointer(), fbb.GetSize()},
      [](Body body, std::vector<CartEntry>& out) { return protocol::decode_cart_reply(body, out); },
      buyer);
}

Reply<std::vector<AccountView>> Client::wallet(BuyerId buyer) {
  require_not_io_thread();
  flatbuffers::FlatBufferBuilder fbb(64);
  protocol::encode_wallet(protocol::WalletQuery{buyer}, fbb);
  return impl_->call<std::vector<AccountView>>(
      Opcode::wallet, Body{fbb.GetBufferPointer(), fbb.GetSize()},
      [](Body body, std::vector<AccountView>& out) {
        return protocol::decode_wallet_reply(body, out);
      },
      buyer);
}

Reply<protocol::ExpiringAnswer> Client::expiring(SellerId seller, TimeUs within_us,
                                                 std::uint32_t limit,
                                                 const protocol::ExpiringPosition& from) {
  require_not_io_thread();
  flatbuffers::FlatBufferBuilder fbb(128);
  protocol::encode_expiring(protocol::ExpiringQuery{seller, within_us, limit, from}, fbb);
  return impl_->call<protocol::ExpiringAnswer>(Opcode::expiring,
                                               Body{fbb.GetBufferPointer(), fbb.GetSize()},
                                               [](Body body, protocol::ExpiringAnswer& out) {
                                                 return protocol::decode_expiring_reply(body, out);
                                               });
}

Reply<protocol::SegmentAnswer> Client::segment(const SegmentQuery& query, std::uint32_t limit,
                                               const protocol::SegmentPosition& from) {
  require_not_io_thread();
  flatbuffers::FlatBufferBuilder fbb(128);
  protocol::encode_segment(protocol::SegmentRequestQuery{query, limit, from}, fbb);
  return impl_->call<protocol::SegmentAnswer>(Opcode::segment,
                                              Body{fbb.GetBufferPointer(), fbb.GetSize()},
                                              [](Body body, protocol::SegmentAnswer& out) {
                                                return protocol::decode_segment_reply(body, out);
                                              });
}

Reply<std::uint64_t> Client::for_each_in_segment(const SegmentQuery& query,
                                                 const std::function<void(BuyerId)>& each,
                                                 std::uint32_t page_limit) {
  Reply<std::uint64_t> total{Status::ok, protocol::FrameError::none, {}, 0};
  protocol::SegmentPosition from;
  for (;;) {
    auto page = segment(query, page_limit, from);
    if (!page.ok()) return {page.status, page.error, page.message, total.value};
    for (BuyerId b : page.value.buyers) each(b);
    total.value += page.value.buyers.size();
    if (page.value.done) return total;
    from = page.value.next;
  }
}

Reply<protocol::HistoryAnswer> Client::history(SellerId seller, BuyerId buyer,
                                               std::uint32_t limit, const HistoryCursor& from) {
  require_not_io_thread();
  flatbuffers::FlatBufferBuilder fbb(128);
  protocol::encode_history(protocol::HistoryQuery{seller, buyer, 0, limit, from}, fbb);
  return impl_->call<protocol::HistoryAnswer>(Opcode::history,
                                              Body{fbb.GetBufferPointer(), fbb.GetSize()},
                                              [](Body body, protocol::HistoryAnswer& out) {
                                                return protocol::decode_history_reply(body, out);
                                              });
}

Reply<protocol::HistoryAnswer> Client::order(OrderId order, std::uint32_t limit,
                                             const HistoryCursor& from) {
  require_not_io_thread();
  flatbuffers::FlatBufferBuilder fbb(128);
  protocol::encode_order(protocol::HistoryQuery{0, 0, order, limit, from}, fbb);
  return impl_->call<protocol::HistoryAnswer>(Opcode::order,
                                              Body{fbb.GetBufferPointer(), fbb.GetSize()},
                                              [](Body body, protocol::HistoryAnswer& out) {
                                                return protocol::decode_history_reply(body, out);
                                              });
}

Reply<SellerStats> Client::seller_stats(SellerId seller) {
  require_not_io_thread();
  flatbuffers::FlatBufferBuilder fbb(64);
  protocol::encode_stats(protocol::StatsQuery{seller, 0}, fbb);
  return impl_->call<SellerStats>(
      Opcode::stats, Body{fbb.GetBufferPointer(), fbb.GetSize()},
      [](Body body, SellerStats& out) { return protocol::decode_stats_reply(body, out); });
}

Reply<CampaignStats> Client::campaign_stats(SellerId seller, CampaignId campaign) {
  require_not_io_thread();
  flatbuffers::FlatBufferBuilder fbb(64);
  protocol::encode_stats(protocol::StatsQuery{seller, campaign}, fbb);
  return impl_->call<CampaignStats>(
      Opcode::stats, Body{fbb.GetBufferPointer(), fbb.GetSize()},
      [](Body body, CampaignStats& out) { return protocol::decode_stats_reply(body, out); });
}

Reply<Policy> Client::policy(SellerId seller) {
  require_not_io_thread();
  flatbuffers::FlatBufferBuilder fbb(64);
  protocol::encode_policy(protocol::PolicyQuery{seller}, fbb);
  return impl_->call<Policy>(Opcode::policy, Body{fbb.GetBufferPointer(), fbb.GetSize()},
                             [](Body body, Policy& out) {
                               protocol::PolicyAnswer answer;
                               const auto e = protocol::decode_policy_reply(body, answer);
                               out = answer.policy;
                               return e;
                             });
}

Reply<MonthReport> Client::month_report(SellerId seller, std::uint16_t month) {
  require_not_io_thread();
  flatbuffers::FlatBufferBuilder fbb(64);
  protocol::encode_report(protocol::ReportQuery{seller, month}, fbb);
  return impl_->call<MonthReport>(
      Opcode::report, Body{fbb.GetBufferPointer(), fbb.GetSize()},
      [](Body body, MonthReport& out) { return protocol::decode_report_reply(body, out); });
}

Reply<protocol::AdminStatus> Client::admin(protocol::AdminAction action, TimeUs clock_advance_us) {
  return admin_query(protocol::AdminQuery{action, clock_advance_us, {}, {}});
}

Reply<protocol::AdminStatus> Client::set_limits(const SetLimits& command) {
  return admin_query(protocol::AdminQuery{protocol::AdminAction::set_limits, 0, command, {}});
}

Reply<protocol::AdminStatus> Client::forget_node(std::string node) {
  return admin_query(
      protocol::AdminQuery{protocol::AdminAction::forget_node, 0, {}, std::move(node)});
}

Reply<protocol::AdminStatus> Client::admin_query(const protocol::AdminQuery& query) {
  require_not_io_thread();
  flatbuffers::FlatBufferBuilder fbb(128);
  protocol::encode_admin(query, fbb);
  return impl_
      ->call_async<protocol::AdminStatus>(Opcode::admin,
                                          Body{fbb.GetBufferPointer(), fbb.GetSize()},
                                          [](Body body, protocol::AdminStatus& out) {
                                            return protocol::decode_admin_reply(body, out);
                                          })
      .get();
}

Reply<bool> Client::ping() {
  require_not_io_thread();
  return impl_->call<bool>(Opcode::ping, Body{}, [](Body, bool& out) {
    out = true;
    return FrameError::none;
  });
}

std::uint64_t Client::position() const {
  return impl_->seen_position.load(std::memory_order_relaxed);
}

void Client::read_at_least(std::uint64_t position) {
  std::uint64_t floor = impl_->at_least.load(std::memory_order_relaxed);
  while (floor < position && !impl_->at_least.compare_exchange_weak(floor, position)) {
  }
}

Reply<RawReply> Client::send_raw(std::string bytes) {
  require_not_io_thread();
  auto result = std::make_shared<std::promise<Reply<RawReply>>>();
  auto reply = result->get_future();
  impl_->post_request(impl_->next_id(), Opcode::error, true, std::move(bytes),
                      impl_->deadline_from_now(), [result](const Arrival& a) {
                        if (a.header == nullptr) return result->set_value(failed<RawReply>(a));
                        Reply<RawReply> r;
                        r.value.header = *a.header;
                        r.value.body.assign(a.body.begin(), a.body.end());
                        if (a.header->opcode == Opcode::error) {
                          (void)protocol::decode_error_reply(a.body, r.value.error);
                        }
                        result->set_value(std::move(r));
                      });
  return reply.get();
}

}  // namespace bonus::client
