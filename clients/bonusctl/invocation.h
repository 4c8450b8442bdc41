// Invocation: one bonusctl command line as parsed by main.cc (CLI11), with every value
// still as typed; run() checks the values, talks to the server and prints the answer.
// Keeping CLI11 in main.cc alone keeps it out of every other translation unit.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace bonus::ctl {

// Exit codes (documented in clients/bonusctl/README.md and in --help).
enum Exit : int {
  kExitApplied = 0,      // applied, or an idempotent repeat of an applied write; a read answered
  kExitRejected = 1,     // the ledger answered with a rejection code (or: audit failed, ...)
  kExitUsage = 2,        // bad command line, value or file: nothing was sent
  kExitUnreachable = 3,  // no answer: cannot connect, timeout, disconnected, refused
};

struct Invocation {
  std::string command;  // "credit", ..., "clock advance", "admin status"
  std::string server = "127.0.0.1:7400";
  std::string request_timeout;  // empty: 5s, and 10m for admin checkpoint
  std::string at_least;         // --at-least: a log position the node must reflect; empty: 0
  // TLS: the CA file to verify bonusd with (empty: plain TCP), the name its certificate
  // must carry (empty: the --server host), and a client certificate for mutual TLS.
  std::string tls_ca, tls_server_name, tls_cert, tls_key;
  std::string token;            // --token, else $BONUS_TOKEN (CLI11 reads it); empty: none
  bool json = false;
  bool progress = true;
  // Options as typed, by long name without dashes ("seller", "goods-total"); absent
  // when not given.
  std::map<std::string, std::string, std::less<>> options;
  std::vector<std::string> items;  // cart --item, in order
  std::string argument;            // clock advance DURATION
};

// Runs the command; returns the process exit code.
int run(const Invocation& invocation);

}  // namespace bonus::ctl
