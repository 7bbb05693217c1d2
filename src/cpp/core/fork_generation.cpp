#include "core/fork_generation.h"

#include <atomic>

#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#endif

namespace pyconv {

namespace {

std::atomic<uint32_t> g_generation{0};

#if defined(__unix__) || defined(__APPLE__)
// Registered when the library loads, before any fork it could miss.
[[maybe_unused]] const int g_registered = pthread_atfork(
    nullptr, nullptr, [] { g_generation.fetch_add(1, std::memory_order_relaxed); });
#endif

}  // namespace

uint32_t fork_generation() { return g_generation.load(std::memory_order_relaxed); }

}  // namespace pyconv
