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

// A tag of its own for every key, with homes in key order: neighbouring keys share
// clusters, so an erase can shift the entries in front of another key's probe.
struct Ordered {
  std::uint64_t k = 0;
  std::uint64_t value = 0;
  std::uint64_t key() const { return k; }
  static std::uint64_t hash(std::uint64_t k) { return (k + 1) << 51 | k; }
};

// The ledger's id path, by index: find_index, insert_hashed (which returns the index
// the id queue keeps) and erase_index (after which a kept index reads a default record),
// with erases of neighbouring keys, whose backward shifts move entries in front of a
// key's probe.
TEST(KeyedTable, ByIndexAgreesWithUnorderedMap) {
  const std::uint64_t seed = std::random_device{}();
  std::printf("seed %llu\n", static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  KeyedTable<Ordered> table;
  std::unordered_map<std::uint64_t, std::uint64_t> model;
  std::unordered_map<std::uint64_t, std::uint32_t> index_of;
  for (int step = 0; step < 200'000; ++step) {
    const std::uint64_t k = rng() % 5'000;
    const std::uint32_t i = table.find_index(k, Ordered::hash(k));
    const auto it = model.find(k);
    ASSERT_EQ(i != HashIndex::kNone, it != model.end()) << "seed " << seed << " step " << step;
    if (i != HashIndex::kNone) {
      ASSERT_EQ(table.at(i).value, it->second) << "seed " << seed << " step " << step;
      ASSERT_EQ(index_of.at(k), i) << "seed " << seed << " step " << step;
      table.erase_index(i);
      ASSERT_EQ(table.at(i).k, 0u) << "an erased plain record reads as a default one";
      model.erase(it);
      index_of.erase(k);
      continue;
    }
    if (rng() % 4 == 0 && !model.empty()) {
      std::uint64_t other = model.begin()->first;
      for (std::uint64_t back = 1; back <= 3 && back <= k; ++back) {
        if (model.count(k - back) != 0) other = k - back;
      }
      table.erase_index(index_of.at(other));
      model.erase(other);
      index_of.erase(other);
    }
    const std::uint64_t v = rng();
    index_of[k] = table.insert_hashed(Ordered::hash(k), [&](Ordered& into) { into = Ordered{k, v}; });
    model.emplace(k, v);
    ASSERT_EQ(table.size(), model.size());
  }
  for (const auto& [k, v] : model) {
    const std::uint32_t i = table.find_index(k, Ordered::hash(k));
    ASSERT_NE(i, HashIndex::kNone) << "seed " << seed << " key " << k;
    EXPECT_EQ(table.at(i).value, v);
  }
}

TEST(HashIndex, FindsNothingInAnEmptyIndex) {
  HashIndex index;
  EXPECT_EQ(index.find(12345, [](std::uint32_t) { return true; }), HashIndex::kNone);
  EXPECT_EQ(index.size(), 0u);
}

}  // namespace
}  // namespace bonus
