// How many cores this process may really use, and what said so: the CPU
// affinity mask (taskset, a cpuset) and a container's CPU quota (cgroup v2
// cpu.max, or v1 cpu.cfs_quota_us / cpu.cfs_period_us), whichever is
// smaller. A `docker --cpus=1` container on a 64-core host gets 1, not 64
// (os.process_cpu_count() reads only the affinity).
#pragma once
#include <string>

namespace pyconv {

struct CoreCount {
  int cores;           // at least 1
  std::string source;  // e.g. "CPU affinity mask (2 CPUs)", "cgroup CPU quota in /sys/.../cpu.max (...)"
};

// Read once per process (it reads files): the result is cached.
const CoreCount& usable_cores();

// The count from the given files, for tests: cgroup_root is where the
// cgroup file systems are mounted ("/sys/fs/cgroup"), proc_cgroup the
// contents of /proc/self/cgroup, affinity the affinity mask's CPU count.
CoreCount count_cores(const std::string& cgroup_root, const std::string& proc_cgroup,
                      int affinity);

}  // namespace pyconv
