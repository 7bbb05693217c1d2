#include "core/cpu_count.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#if defined(__linux__)
#include <sched.h>
#endif

namespace pyconv {

namespace {

// The file's text (at most 64 KB; stdio, not iostreams: this is part of
// the size-budgeted runtime too); empty if it cannot be read.
std::string read_all(const std::string& path) {
  std::string text;
  if (FILE* f = std::fopen(path.c_str(), "rb")) {
    char buf[4096];
    for (size_t got; text.size() < 65536 && (got = std::fread(buf, 1, sizeof buf, f)) > 0;)
      text.append(buf, got);
    std::fclose(f);
  }
  return text;
}

// The whitespace-separated words of a small file.
bool read_words(const std::string& path, std::vector<std::string>& words) {
  const std::string text = read_all(path);
  words.clear();
  for (size_t i = 0; i < text.size();) {
    const size_t end = text.find_first_of(" \t\n", i);
    const size_t stop = end == std::string::npos ? text.size() : end;
    if (stop > i) words.push_back(text.substr(i, stop - i));
    i = stop + 1;
  }
  return !words.empty();
}

bool to_int64(const std::string& s, int64_t& v) {
  if (s.empty() || s.size() > 18) return false;
  char* end = nullptr;
  v = std::strtoll(s.c_str(), &end, 10);
  return end == s.c_str() + s.size();
}

// ceil(quota / period) cores, or 0 for no (or an unreadable) limit.
int quota_cores(int64_t quota, int64_t period) {
  if (quota <= 0 || period <= 0) return 0;
  return static_cast<int>(std::min<int64_t>(1 << 20, (quota + period - 1) / period));
}

bool is_dir(const std::string& path) {
  FILE* f = std::fopen((path + "/cgroup.procs").c_str(), "rb");
  if (f) std::fclose(f);
  return f != nullptr;
}

struct Limit {
  int cores = 0;  // 0: none
  std::string file;
};

// A quota from cgroup v2's cpu.max ("max 100000" or "QUOTA PERIOD").
Limit read_cpu_max(const std::string& dir) {
  std::vector<std::string> words;
  int64_t quota = 0, period = 0;
  if (read_words(dir + "/cpu.max", words) && words.size() == 2 && to_int64(words[0], quota) &&
      to_int64(words[1], period))
    return {quota_cores(quota, period), dir + "/cpu.max"};
  return {};
}

// A quota from cgroup v1's cpu.cfs_quota_us (-1: none) and cpu.cfs_period_us.
Limit read_cfs_quota(const std::string& dir) {
  std::vector<std::string> words;
  int64_t quota = 0, period = 0;
  if (read_words(dir + "/cpu.cfs_quota_us", words) && to_int64(words[0], quota) &&
      read_words(dir + "/cpu.cfs_period_us", words) && to_int64(words[0], period))
    return {quota_cores(quota, period), dir + "/cpu.cfs_quota_us"};
  return {};
}

// The smallest quota on the way from the process's cgroup (`path` under
// `mount`) up to the mount.
Limit smallest_limit(const std::string& mount, const std::string& path,
                     Limit (*read)(const std::string&)) {
  std::string dir = mount + (path == "/" ? "" : path);
  if (!is_dir(dir)) dir = mount;  // a container that sees its own cgroup at the mount root
  Limit best;
  for (;;) {
    const Limit here = read(dir);
    if (here.cores > 0 && (best.cores == 0 || here.cores < best.cores)) best = here;
    if (dir.size() <= mount.size()) return best;
    dir.resize(dir.find_last_of('/'));
  }
}

Limit cgroup_limit(const std::string& root, const std::string& proc_cgroup) {
  Limit v1, v2;
  for (size_t at = 0; at < proc_cgroup.size();) {
    size_t eol = proc_cgroup.find('\n', at);
    if (eol == std::string::npos) eol = proc_cgroup.size();
    const std::string line = proc_cgroup.substr(at, eol - at);
    at = eol + 1;
    // "ID:CONTROLLERS:PATH"; cgroup v2's is "0::PATH".
    const size_t a = line.find(':'), b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    const std::string controllers = "," + line.substr(a + 1, b - a - 1) + ",";
    const std::string path = line.substr(b + 1);
    if (line.compare(0, 3, "0::") == 0) {
      v2 = smallest_limit(root, path, read_cpu_max);
    } else if (controllers.find(",cpu,") != std::string::npos) {
      for (const char* mount : {"/cpu", "/cpu,cpuacct", "/cpuacct,cpu"})
        if (is_dir(root + mount)) {
          v1 = smallest_limit(root + mount, path, read_cfs_quota);
          break;
        }
    }
  }
  if (v2.cores > 0 && (v1.cores == 0 || v2.cores <= v1.cores)) return v2;
  return v1;
}

int affinity_cpus() {
#if defined(__linux__)
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
#endif
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

}  // namespace

CoreCount count_cores(const std::string& cgroup_root, const std::string& proc_cgroup,
                      int affinity) {
  const Limit limit = cgroup_limit(cgroup_root, proc_cgroup);
  const std::string mask = "CPU affinity mask (" + std::to_string(affinity) + " CPUs)";
  if (limit.cores > 0 && limit.cores < affinity)
    return {limit.cores, "cgroup CPU quota in " + limit.file + " (" +
                             std::to_string(limit.cores) + " cores; " + mask + ")"};
  return {affinity, mask};
}

const CoreCount& usable_cores() {
  static const CoreCount count =
      count_cores("/sys/fs/cgroup", read_all("/proc/self/cgroup"), affinity_cpus());
  return count;
}

}  // namespace pyconv
