// Context: what every bonusctl command needs: its invocation's values read with
// checks, the connection to bonusd (made on first use) and the output. One thread
// (the main one); a command runs once per process.
#pragma once

#include <cstdio>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "clients/bonusctl/invocation.h"
#include "clients/cpp/client.h"

namespace bonus::ctl {

// A value on the command line that cannot be used; exit code 2. Thrown by the option
// readers and caught once, in run().
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Context {
 public:
  explicit Context(const Invocation& invocation);
  ~Context();

  const Invocation& invocation() const { return invocation_; }
  const std::string& command() const { return invocation_.command; }
  bool json() const { return invocation_.json; }

  // Option readers: each throws UsageError naming the option when the value is bad, or
  // when a required one is missing.
  bool has(std::string_view name) const;
  const std::string& text(std::string_view name) const;
  std::uint64_t number(std::string_view name) const;  // ids and counts: decimal u64
  std::optional<std::uint64_t> maybe_number(std::string_view name) const;
  Amount amount(std::string_view name) const;  // whole bonuses
  TimeUs duration(std::string_view name) const;
  Kopecks money(std::string_view name) const;
  TimeUs time(std::string_view name) const;
  // --ttl as a duration, or "never" when `never_ok` (kTimeNever).
  TimeUs ttl(std::string_view name, bool never_ok) const;
  // --reason: a reason's name (engine/reason.h) or a seller's own code 16..255;
  // `absent` when the option is not given.
  std::uint32_t reason(std::string_view name, std::uint32_t absent) const;
  // The write id: --id, or a fresh random one.
  Id128 write_id() const;

  // The connection; on failure prints why to stderr and returns nullptr (exit 3).
  client::Client* client();
  // Checks --server and --request-timeout (UsageError) without connecting.
  client::ClientOptions client_options() const;

  // Prints a whole line (adds '\n') to stdout.
  void print(std::string_view line) const;

 private:
  const Invocation& invocation_;
  std::unique_ptr<client::Client> client_;
};

// Commands; each returns the exit code.
int run_write(Context& context);
int run_balance(Context& context);
int run_wallet(Context& context);
int run_cart(Context& context);
int run_expiring(Context& context);
int run_stats(Context& context);
// policy: with change flags a write (run_write), without them a read.
int run_policy(Context& context);
int run_segment(Context& context);
int run_history(Context& context);  // history_command.cc
int run_order(Context& context);
int run_admin(Context& context);
int run_limits(Context& context);  // admin limits, admin limits set
int run_clock_advance(Context& context);
int run_token_new(Context& context);  // admin token new: no server needed
int run_mail(Context& context);

// For a reply that is not ok: prints to stderr what happened; returns kExitUnreachable.
int report_unanswered(const Context& context, client::Status status, protocol::FrameError error,
                      const std::string& message);

template <typename T>
int report_unanswered(const Context& context, const client::Reply<T>& reply) {
  return report_unanswered(context, reply.status, reply.error, reply.message);
}

}  // namespace bonus::ctl
