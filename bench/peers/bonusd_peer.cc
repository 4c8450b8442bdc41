// bonusd behind the peers' interface, so that the scenario check runs against the ledger
// itself too (its expected figures are bonusd's). The workload against bonusd is
// bonus-bench's own (bench/peers/run).
#include <string>
#include <vector>

#include "bench/bonus_bench/workload.h"
#include "bench/peers/backend.h"
#include "clients/cpp/client.h"
#include "engine/code.h"

namespace bonus::peers {
namespace {

Id128 id_of(const std::string& text) {
  std::uint64_t h = 1469598103934665603ull;
  for (const char ch : text) h = (h ^ static_cast<unsigned char>(ch)) * 1099511628211ull;
  return Id128{bench::mix64(h) | 1, bench::mix64(h ^ 0x9E3779B97F4A7C15ull)};
}

Res res_of(const client::Reply<Result>& r) {
  if (!r.ok()) return Res{"error: " + std::string(client::status_name(r.status)), 0, 0, false};
  return Res{std::string(code_name(r.value.code)), static_cast<std::int64_t>(r.value.amount),
             static_cast<std::int64_t>(r.value.aux), (r.value.flags & Result::kRepeat) != 0};
}

class BonusdBackend final : public Backend {
 public:
  explicit BonusdBackend(std::unique_ptr<client::Client> c) : c_(std::move(c)) {}

  std::vector<Res> credit_batch(const std::vector<CreditArgs>& batch) override {
    std::vector<Res> out;
    for (const CreditArgs& x : batch) {
      out.push_back(res_of(c_->write(Credit{id_of(x.id), x.seller, x.buyer, static_cast<Amount>(x.amount),
                                            x.campaign, LotLife::ttl_of(x.ttl_us), 0, 0})));
    }
    return out;
  }
  Res hold(const std::string& id, std::uint64_t order, std::uint64_t seller, std::uint64_t buyer,
           std::int64_t amount, std::int64_t goods_total, std::int64_t timeout_us) override {
    return res_of(c_->write(Hold{id_of(id), order, seller, buyer, static_cast<Amount>(amount),
                                 static_cast<Kopecks>(goods_total), timeout_us}));
  }
  Res capture(const std::string& id, std::uint64_t order, std::int64_t amount) override {
    const Amount a = amount == 0 ? kAmountAll : static_cast<Amount>(amount);
    return res_of(c_->write(Capture{id_of(id), order, a}));
  }
  Res release(const std::string& id, std::uint64_t order) override {
    return res_of(c_->write(Release{id_of(id), order}));
  }
  std::vector<CartRow> cart(std::uint64_t buyer, const std::vector<CartLineArgs>& lines,
                            std::int64_t soon_us) override {
    std::vector<CartLine> in;
    for (const CartLineArgs& l : lines) in.push_back(CartLine{l.seller, static_cast<Kopecks>(l.goods_total)});
    const auto r = c_->cart(buyer, std::span<const CartLine>(in), soon_us);
    std::vector<CartRow> out;
    if (!r.ok()) return out;
    for (const CartEntry& e : r.value) {
      out.push_back(CartRow{static_cast<std::int64_t>(e.spendable), static_cast<std::int64_t>(e.expiring_soon)});
    }
    return out;
  }
  Balance balance(std::uint64_t seller, std::uint64_t buyer) override {
    const auto r = c_->balance(seller, buyer);
    if (!r.ok()) return Balance{-1, -1};
    return Balance{static_cast<std::int64_t>(r.value.account.available), static_cast<std::int64_t>(r.value.account.held)};
  }
  std::int64_t sweep(std::int64_t) override { return 0; }  // bonusd sweeps by itself

 private:
  std::unique_ptr<client::Client> c_;
};

}  // namespace

bool setup_bonusd(const std::string&, std::string&) { return true; }

std::unique_ptr<Backend> connect_bonusd(const std::string& target, std::string& error) {
  client::ClientOptions options;
  const auto colon = target.rfind(':');
  options.host = target.substr(0, colon);
  options.port = static_cast<std::uint16_t>(std::stoi(target.substr(colon + 1)));
  auto c = client::Client::connect(options);
  if (auto* e = std::get_if<std::string>(&c)) {
    error = *e;
    return nullptr;
  }
  return std::make_unique<BonusdBackend>(std::move(std::get<std::unique_ptr<client::Client>>(c)));
}

}  // namespace bonus::peers
