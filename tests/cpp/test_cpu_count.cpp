// The default thread count's core count: the affinity mask, capped by a
// container's CPU quota (cgroup v2 cpu.max, v1 cfs_quota_us / cfs_period_us),
// read from real files laid out as the kernel lays them out.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

#include "check.h"
#include "core/cpu_count.h"

using pyconv::count_cores;

namespace {

// Temporary roots, removed when the test program ends.
struct Roots {
  std::vector<std::string> dirs;
  ~Roots() {
    for (const std::string& d : dirs)
      nftw(d.c_str(), [](const char* path, const struct stat*, int, FTW*) { return ::remove(path); },
           16, FTW_DEPTH | FTW_PHYS);
  }
} g_roots;

std::string temp_root() {
  char tmpl[] = "/tmp/pcv-cgroup-XXXXXX";
  const char* dir = mkdtemp(tmpl);
  if (!dir) return "/nonexistent";
  g_roots.dirs.push_back(dir);
  return dir;
}

void put(const std::string& path, const std::string& text) {
  // Directories along the way, as the cgroup file system has them.
  for (size_t at = 1; (at = path.find('/', at)) != std::string::npos; ++at)
    mkdir(path.substr(0, at).c_str(), 0755);
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return;
  std::fwrite(text.data(), 1, text.size(), f);
  std::fclose(f);
}

// A cgroup directory: cgroup.procs marks it as one.
void group(const std::string& dir) { put(dir + "/cgroup.procs", "1\n"); }

}  // namespace

TEST_CASE(test_v2_quota_caps_the_affinity_mask) {
  const std::string root = temp_root();
  group(root), group(root + "/app");
  put(root + "/app/cpu.max", "150000 100000\n");  // docker --cpus=1.5: 2 threads
  const auto c = count_cores(root, "0::/app\n", 64);
  CHECK(c.cores == 2);
  CHECK(c.source.find("cpu.max") != std::string::npos);
}

TEST_CASE(test_v2_smallest_quota_on_the_way_up_counts) {
  const std::string root = temp_root();
  group(root), group(root + "/outer"), group(root + "/outer/inner");
  put(root + "/outer/cpu.max", "100000 100000\n");
  put(root + "/outer/inner/cpu.max", "max 100000\n");
  CHECK(count_cores(root, "0::/outer/inner\n", 8).cores == 1);
}

TEST_CASE(test_v2_without_a_quota_uses_the_mask) {
  const std::string root = temp_root();
  group(root), group(root + "/a");
  put(root + "/a/cpu.max", "max 100000\n");
  const auto c = count_cores(root, "0::/a\n", 3);
  CHECK(c.cores == 3);
  CHECK(c.source.find("affinity") != std::string::npos);
}

TEST_CASE(test_a_quota_above_the_mask_does_not_raise_it) {
  const std::string root = temp_root();
  group(root);
  put(root + "/cpu.max", "800000 100000\n");
  CHECK(count_cores(root, "0::/\n", 2).cores == 2);
}

TEST_CASE(test_v1_cfs_quota) {
  const std::string root = temp_root();
  group(root + "/cpu,cpuacct"), group(root + "/cpu,cpuacct/docker/abc");
  put(root + "/cpu,cpuacct/cpu.cfs_quota_us", "-1\n");
  put(root + "/cpu,cpuacct/cpu.cfs_period_us", "100000\n");
  put(root + "/cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "50000\n");
  put(root + "/cpu,cpuacct/docker/abc/cpu.cfs_period_us", "100000\n");
  const auto c = count_cores(root, "4:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n", 16);
  CHECK(c.cores == 1);
  CHECK(c.source.find("cfs_quota_us") != std::string::npos);
}

TEST_CASE(test_v1_container_seeing_its_group_at_the_mount_root) {
  // Without a cgroup namespace, /proc/self/cgroup names the host's path,
  // which does not exist inside the container: the mount root is read.
  const std::string root = temp_root();
  group(root + "/cpu");
  put(root + "/cpu/cpu.cfs_quota_us", "200000\n");
  put(root + "/cpu/cpu.cfs_period_us", "100000\n");
  CHECK(count_cores(root, "2:cpu:/docker/0123\n", 32).cores == 2);
}

TEST_CASE(test_unreadable_or_garbage_files_fall_back_to_the_mask) {
  const std::string root = temp_root();
  group(root), group(root + "/g");
  put(root + "/g/cpu.max", "lots of cores\n");
  CHECK(count_cores(root, "0::/g\n", 4).cores == 4);
  CHECK(count_cores("/nonexistent/cgroup", "garbage without colons", 5).cores == 5);
  CHECK(count_cores(root, "", 1).cores == 1);
}

TEST_CASE(test_this_process_has_at_least_one_core) {
  const auto& c = pyconv::usable_cores();
  CHECK(c.cores >= 1);
  CHECK(!c.source.empty());
}
