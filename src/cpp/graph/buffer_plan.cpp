#include "graph/buffer_plan.h"

#include <algorithm>
#include <numeric>

namespace pyconv {

BufferPlan plan_buffers(const std::vector<Lifetime>& lives, const std::vector<int64_t>& values) {
  BufferPlan plan;
  plan.slot.assign(lives.size(), -1);
  std::vector<size_t> order(lives.size());
  std::iota(order.begin(), order.end(), size_t{0});
  // By first step, ties in buffer order.
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return lives[a].first != lives[b].first ? lives[a].first < lives[b].first : a < b;
  });
  std::vector<int> free_slots;
  std::vector<size_t> live;  // buffers holding a slot
  for (size_t b : order) {
    if (!lives[b].used) continue;
    // Slots of buffers whose last step is over are free again.
    for (size_t j = 0; j < live.size();)
      if (lives[live[j]].last < lives[b].first) {
        free_slots.push_back(plan.slot[live[j]]);
        live[j] = live.back();
        live.pop_back();
      } else {
        ++j;
      }
    int slot;
    if (free_slots.empty()) {
      slot = static_cast<int>(plan.slot_values.size());
      plan.slot_values.push_back(0);
    } else {
      slot = free_slots.back();
      free_slots.pop_back();
    }
    plan.slot[b] = slot;
    plan.slot_values[slot] = std::max(plan.slot_values[slot], values[b]);
    live.push_back(b);
  }
  return plan;
}

}  // namespace pyconv
