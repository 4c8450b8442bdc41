// name_this_thread: gives the calling thread a name that `top -H`, `ps -L` and
// /proc/<pid>/task/<tid>/comm show, so an operator (and bench/mail-checkpoint-cost)
// can tell bonusd's threads apart. Linux keeps at most 15 characters; longer names are
// cut. Called first thing on each thread bonusd starts; the network thread keeps the
// process's name.
#pragma once

#include <pthread.h>

#include <string>

namespace bonus::server {

inline void name_this_thread(std::string name) {
  if (name.size() > 15) name.resize(15);
  pthread_setname_np(pthread_self(), name.c_str());
}

}  // namespace bonus::server
