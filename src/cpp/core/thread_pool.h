// pyconv's own worker threads, behind parallel_for (core/threads.h).
//
// Why not OpenMP: a parallel region costs about 1 us to enter even while its
// workers spin, and every thread of the team must arrive at its barriers, so
// a region waits out a scheduler time slice whenever one worker's core is
// taken by another process. Here the calling thread claims work itself,
// helpers that are running claim the rest, and nobody waits for a helper
// that has not started: a job no helper joins is done by its caller alone.
// (The caller does wait for a task a helper has already claimed.)
#pragma once
#include <cstdint>

namespace pyconv {

// Calls body(ctx, i) for every i in [0, n), each exactly once, on the calling
// thread and up to `threads - 1` pool threads; returns when every call has
// returned. The first exception a call throws is rethrown here (calls not yet
// started are skipped). Runs on the calling thread alone when called from a
// pool task (no nesting) or while another thread's job holds the pool.
void pool_run(int threads, int64_t n, void (*body)(void* ctx, int64_t i), void* ctx);

// Whether this thread is running a pool task (or is a pool thread).
bool pool_in_task();

// The threads a caller may use: none but its own inside a pool task.
inline int usable_threads(int threads) { return pool_in_task() ? 1 : threads; }

// Helper threads the pool has started so far (0 until the first parallel job).
int pool_size();

}  // namespace pyconv
