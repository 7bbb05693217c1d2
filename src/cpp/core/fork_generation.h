// How many forks lie between this process and the first: a forked child's
// count is one more than its parent's was. What other threads held at a fork
// (a model's lock in the middle of a call) is held by no thread in the
// child, which has only the forking thread: the holders of such state reset
// it where the child first uses it, when the count has changed.
#pragma once
#include <cstdint>

namespace pyconv {

uint32_t fork_generation();

}  // namespace pyconv
