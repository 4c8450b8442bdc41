#include "bench/bonus_bench/workload.h"

#include <cassert>
#include <charconv>
#include <cmath>

namespace bonus::bench {

std::string_view op_name(Op op) {
  static constexpr std::array<std::string_view, kOpCount> kNames = {
      "cart", "hold", "capture", "release", "accrue", "confirm", "cancel", "credit"};
  return kNames[static_cast<std::size_t>(op)];
}

std::uint64_t mix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

namespace {

bool parse_number(std::string_view text, double& out) {
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc{} && end == text.data() + text.size() && std::isfinite(out) && out >= 0;
}

double* field_of(Mix& mix, std::string_view key) {
  if (key == "cart") return &mix.cart;
  if (key == "checkout") return &mix.checkout;
  if (key == "accrual") return &mix.accrual;
  if (key == "capture") return &mix.capture_share;
  if (key == "release") return &mix.release_share;
  if (key == "confirm") return &mix.confirm_share;
  return nullptr;
}

}  // namespace

std::optional<Mix> Mix::parse(std::string_view text, std::string& error) {
  Mix mix;
  while (!text.empty()) {
    const std::size_t comma = text.find(',');
    const std::string_view item = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
    const std::size_t eq = item.find('=');
    double* field = eq == std::string_view::npos ? nullptr : field_of(mix, item.substr(0, eq));
    if (field == nullptr || !parse_number(item.substr(eq + 1), *field)) {
      error = "bad mix item '" + std::string(item) +
              "' (want cart=, checkout=, accrual= weights; capture=, release=, confirm= shares)";
      return std::nullopt;
    }
  }
  if (mix.cart + mix.checkout + mix.accrual <= 0) {
    error = "the mix weights add up to zero";
    return std::nullopt;
  }
  if (mix.capture_share + mix.release_share > 1 || mix.confirm_share > 1) {
    error = "capture + release and confirm are shares of 1 at most";
    return std::nullopt;
  }
  return mix;
}

Flow Mix::flow_at(double u) const {
  const double x = u * (cart + checkout + accrual);
  if (x < cart) return Flow::cart;
  if (x < cart + checkout || accrual == 0) return Flow::checkout;
  return Flow::accrual;
}

CheckoutEnd Mix::checkout_end_at(double u) const {
  if (u < capture_share) return CheckoutEnd::capture;
  if (u < capture_share + release_share) return CheckoutEnd::release;
  return CheckoutEnd::time_out;
}

AccrualEnd Mix::accrual_end_at(double u) const {
  return u < confirm_share ? AccrualEnd::confirm : AccrualEnd::cancel;
}

Workload::Workload(const WorkloadShape& shape) : shape_(shape), zipf_(shape.buyers, shape.zipf_s) {
  assert(shape.sellers_per_buyer_max >= 1 && shape.sellers_per_buyer_max <= kSellersPerBuyerMax &&
         shape.sellers_per_buyer_max <= shape.sellers);
}

std::uint32_t Workload::sellers_of(BuyerId buyer,
                                   std::span<SellerId, kSellersPerBuyerMax> out) const {
  const std::uint64_t h = mix64(buyer);
  const auto count = static_cast<std::uint32_t>(1 + h % shape_.sellers_per_buyer_max);
  // Consecutive seller numbers from a scattered start: distinct while count <= sellers.
  const std::uint64_t first = (h >> 20) % shape_.sellers;
  for (std::uint32_t j = 0; j < count; ++j) out[j] = 1 + (first + j) % shape_.sellers;
  return count;
}

std::uint64_t Workload::account_count() const {
  std::uint64_t n = 0;
  for (std::uint64_t rank = 0; rank < shape_.buyers; ++rank) {
    n += 1 + mix64(buyer_of_rank(rank)) % shape_.sellers_per_buyer_max;
  }
  return n;
}

}  // namespace bonus::bench
