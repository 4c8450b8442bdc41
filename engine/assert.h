// BONUS_ASSERT: an invariant that is always checked, in every build. A broken one is a
// bug: print where and abort, loudly, rather than carry on with a corrupt ledger.
#pragma once

#include <cstdio>
#include <cstdlib>

#define BONUS_ASSERT(cond)                                                         \
  do {                                                                             \
    if (!(cond)) [[unlikely]] {                                                    \
      std::fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                \
    }                                                                              \
  } while (0)
