// Buffers that share memory when their lifetimes do not overlap: node
// outputs at inference, output gradients in training's backward pass.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace pyconv {

// The steps over which a buffer is in use, both ends included.
struct Lifetime {
  bool used = false;
  size_t first = 0, last = 0;
};

struct BufferPlan {
  std::vector<int> slot;             // per buffer: its slot (-1: unused)
  std::vector<int64_t> slot_values;  // per slot: the largest buffer it holds (values per sample)
};

// Gives each used buffer a slot that no buffer alive at the same time holds;
// `values` is each buffer's size.
BufferPlan plan_buffers(const std::vector<Lifetime>& lives, const std::vector<int64_t>& values);

}  // namespace pyconv
