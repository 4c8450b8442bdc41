// name_thread: gives a thread bonusd starts a name that `top -H`, `ps -L` and
// /proc/<pid>/task/<tid>/comm show, so an operator (and bench/mail-checkpoint-cost) can
// tell bonusd's threads apart. Called by the thread that starts it, right after, so the
// name is there once start() returns (set from inside, a thread not yet scheduled kept
// the process's name a while: Operations.ThreadsAreNamed failed so under ASan). Linux
// keeps at most 15 characters; longer names are cut. The network thread keeps the
// process's name.
#pragma once

#include <pthread.h>

#include <string>
#include <thread>

namespace bonus::server {

inline void name_thread(std::thread& thread, std::string name) {
  if (name.size() > 15) name.resize(15);
  pthread_setname_np(thread.native_handle(), name.c_str());
}

}  // namespace bonus::server
