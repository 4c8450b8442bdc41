// Mailing: one seller's campaign credited to a stream of buyers through one Client, in
// batches with a bounded number in flight, retrying failed batches with the same ids.
//
// Ids. The credit to `buyer` has the id mail_id(seller, campaign, buyer): running the
// same mailing again, or again after a crash, sends the same commands with the same ids,
// so the ledger answers the buyers already credited as repeats instead of crediting
// them twice (while it still remembers the ids: the server's --id-window-s, 24 h by
// default). The same (seller, campaign) with another amount or life is id_reused.
//
// Threads. add(), finish() and tally() are called by one thread (the reader); reply
// callbacks run on the Client's I/O thread and only count, under a mutex.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "clients/cpp/client.h"

namespace bonus::ctl {

struct MailSpec {
  SellerId seller = 0;
  CampaignId campaign = 0;  // not 0: it names the mailing in its ids
  Amount amount = 0;
  LotLife life;
  std::uint32_t reason = 1;  // engine/reason.h: mailing
};

// hi = hash_pair(hash_pair(kMailIdTag, seller), campaign) (1 if that is 0), lo = buyer,
// with hash_pair from engine/hash.h (MurmurHash3's fmix64 based, stable).
inline constexpr std::uint64_t kMailIdTag = 0x626f6e7573637431;  // "bonusct1"
Id128 mail_id(SellerId seller, CampaignId campaign, BuyerId buyer);

struct MailOptions {
  std::uint32_t batch = 4096;  // credits per request
  std::uint32_t window = 16;   // requests in flight
  std::uint32_t attempts = 8;  // sends of one batch before the mailing gives up
  double rate_max = 0;         // credits per second at most; 0: as fast as the server goes
  std::uint32_t notes_per_code_max = 5;  // rejections reported by line, per code
};

struct MailTally {
  std::uint64_t sent = 0;      // credits handed to the client (first sends)
  std::uint64_t answered = 0;  // credits answered
  std::uint64_t credited = 0;  // applied by this run
  Amount credited_bonuses = 0;
  std::uint64_t repeats = 0;  // applied before (an earlier run): nothing changed
  Amount repeat_bonuses = 0;
  std::uint64_t capped = 0;   // of credited and repeats: cut by a cap
  Amount capped_bonuses = 0;  // what the caps cut off
  std::uint64_t rejected = 0;
  std::map<std::uint16_t, std::uint64_t> rejected_by_code;
};

class Mailing {
 public:
  Mailing(client::Client& client, const MailSpec& spec, const MailOptions& options);
  // Waits for every request still in flight.
  ~Mailing();
  Mailing(const Mailing&) = delete;
  Mailing& operator=(const Mailing&) = delete;

  // Queues the credit for `buyer` (from line `line` of the file); sends a full batch,
  // waiting while `window` requests are in flight. False once the mailing has failed:
  // stop adding.
  bool add(BuyerId buyer, std::uint64_t line);
  // Sends the rest and waits for every answer. False when the mailing failed.
  bool finish();

  MailTally tally() const;
  // Why it failed (empty while it has not).
  std::string failure() const;
  // Rejections by line ("rejected: line 12: buyer 7: campaign_revoked (22)") and
  // retries, as they came; cleared.
  std::vector<std::string> take_notes();

  // Called on the reader's thread about every 50 ms while it waits (progress display).
  std::function<void()> on_wait;

 private:
  struct Batch {
    std::vector<Credit> credits;
    std::vector<std::uint64_t> lines;
    std::uint32_t attempts = 0;
    std::chrono::steady_clock::time_point due;  // a retry is not sent before
  };

  void send(std::shared_ptr<Batch> batch);
  void on_reply(const std::shared_ptr<Batch>& batch, client::Reply<std::vector<Result>> reply);
  void count(const Batch& batch, const std::vector<Result>& results);
  // Waits until fewer than `window` requests are out (all: none), sending due retries.
  bool pump(bool all);
  void pace();

  client::Client& client_;
  MailSpec spec_;
  MailOptions options_;
  std::shared_ptr<Batch> filling_;
  std::chrono::steady_clock::time_point started_;

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::uint32_t in_flight_ = 0;
  std::deque<std::shared_ptr<Batch>> retries_;
  MailTally tally_;
  std::string failure_;
  std::vector<std::string> notes_;
  std::uint32_t retry_noted_ = 0;
};

}  // namespace bonus::ctl
