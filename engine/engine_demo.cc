// engine-demo: a short story through the engine, printed. What `scripts/run` shows
// until the server exists.
#include <cstdio>
#include <string>
#include <vector>

#include "engine/ledger.h"

using namespace bonus;

namespace {

std::uint64_t next_id = 1;
Id128 fresh_id() { return Id128{0, next_id++}; }

void show(const char* what, const Result& r) {
  std::printf("%-44s -> %-22s amount=%llu aux=%llu%s%s\n", what,
              std::string(code_name(r.code)).c_str(), static_cast<unsigned long long>(r.amount),
              static_cast<unsigned long long>(r.aux),
              (r.flags & Result::kCappedBalance) ? " capped(balance)" : "",
              (r.flags & Result::kCappedEarn) ? " capped(earn)" : "");
}

void show_balance(const Ledger& ledger, SellerId seller, BuyerId buyer, TimeUs now) {
  const AccountView v = ledger.balance(seller, buyer, now);
  std::printf("  balance(seller %llu, buyer %llu): available=%llu held=%llu pending=%llu debt=%llu\n",
              static_cast<unsigned long long>(seller), static_cast<unsigned long long>(buyer),
              static_cast<unsigned long long>(v.available), static_cast<unsigned long long>(v.held),
              static_cast<unsigned long long>(v.pending), static_cast<unsigned long long>(v.debt));
}

}  // namespace

int main() {
  Ledger ledger;
  TimeUs now = 1'798'761'600'000'000;  // 2027-01-01T00:00:00Z
  const SellerId seller = 42;
  const BuyerId buyer = 7;

  show("mailing: credit 300, life 24h, campaign 1",
       ledger.apply(Credit{fresh_id(), seller, buyer, 300, 1, LotLife::ttl_of(24 * kUsPerHour)},
                    ++now));
  show("cashback: accrue 95 for order 1001",
       ledger.apply(Accrue{fresh_id(), 1001, seller, buyer, 95, LotLife::policy()}, ++now));
  show_balance(ledger, seller, buyer, now);
  show("order 1001 picked up: confirm", ledger.apply(ConfirmAccrual{fresh_id(), 1001}, ++now));
  show("checkout: hold 250 on 1990.00 roubles",
       ledger.apply(Hold{fresh_id(), 2002, seller, buyer, 250, 199000, 0}, ++now));
  show_balance(ledger, seller, buyer, now);
  show("paid: capture 200 of the hold", ledger.apply(Capture{fresh_id(), 2002, 200}, ++now));
  show_balance(ledger, seller, buyer, now);
  now += 25 * kUsPerHour;
  show("25 hours later: sweep", ledger.apply(Sweep{}, now));
  show_balance(ledger, seller, buyer, now);

  const SellerStats s = ledger.seller_stats(seller);
  std::printf("  seller stats: issued=%llu spent=%llu expired=%llu outstanding=%llu\n",
              static_cast<unsigned long long>(s.issued), static_cast<unsigned long long>(s.spent),
              static_cast<unsigned long long>(s.expired),
              static_cast<unsigned long long>(s.outstanding));
  const auto problem = ledger.audit();
  std::printf("  audit: %s\n", problem ? problem->c_str() : "ok");
  return problem ? 1 : 0;
}
