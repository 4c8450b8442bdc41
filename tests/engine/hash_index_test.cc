// HashIndex and KeyedTable against std::unordered_map, with inserts and erases mixed
// so that growth and backward-shift deletion are exercised.
#include <gtest/gtest.h>

#include <cstdio>
#include <random>
#include <unordered_map>

#include "engine/keyed_table.h"

namespace bonus {
namespace {

struct Record {
  std::uint64_t k = 0;
  std::uint64_t value = 0;
  std::uint64_t key() const { return k; }
  // A deliberately weak hash, so that clusters form and wrap around.
  static std::uint64_t hash(std::uint64_t k) { return (k % 97) << 57 | (k % 7); }
};

TEST(KeyedTable, AgreesWithUnorderedMapUnderChurn) {
  const std::uint64_t seed = std::random_device{}();
  std::printf("seed %llu\n", static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  KeyedTable<Record> table;
  std::unordered_map<std::uint64_t, std::uint64_t> model;
  for (int step = 0; step < 200'000; ++step) {
    const std::uint64_t k = rng() % 5'000;
    Record* r = table.find(k);
    const auto it = model.find(k);
    ASSERT_EQ(r != nullptr, it != model.end()) << "seed " << seed << " step " << step;
    if (r != nullptr) {
      ASSERT_EQ(r->value, it->second) << "seed " << seed << " step " << step;
      if (rng() % 2) {
        table.erase(*r);
        model.erase(it);
      } else {
        r->value = rng();
        it->second = r->value;
      }
    } else {
      const std::uint64_t v = rng();
      table.insert(k, [&](Record& into) { into = Record{k, v}; });
      model.emplace(k, v);
    }
    ASSERT_EQ(table.size(), model.size());
  }
  std::uint64_t seen = 0;
  table.for_each([&](const Record& r) {
    ++seen;
    EXPECT_EQ(model.at(r.k), r.value);
  });
  EXPECT_EQ(seen, model.size());
}

TEST(HashIndex, FindsNothingInAnEmptyIndex) {
  HashIndex index;
  EXPECT_EQ(index.find(12345, [](std::uint32_t) { return true; }), HashIndex::kNone);
  EXPECT_EQ(index.size(), 0u);
}

}  // namespace
}  // namespace bonus
