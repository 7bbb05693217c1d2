/* Times pcv_runner_predict on a saved model: the C API's batch-1 latency and
 * batch-N throughput, with nothing but the library in the loop.
 *
 *   bench_capi MODEL.pcv INPUT.f32 BATCH SECONDS ROUNDS THREADS
 *
 * INPUT.f32 holds BATCH samples as raw little-endian float32; THREADS goes
 * to pcv_set_num_threads (0: all cores). Each of ROUNDS rounds waits for a
 * line on stdin (the caller's go-ahead: it times other runtimes in between,
 * taking turns as benchmarks/timing.py does), then times calls one by one
 * for about SECONDS and prints "times_us t1 t2 ...". The first round warms
 * up first (at least 3 calls and 0.2 s). At the end it prints the first
 * sample's outputs, which the caller checks against Python's. */
#include <pyconv/pyconv.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int fail(const char* what) {
  fprintf(stderr, "bench_capi: %s: %s\n", what, pcv_last_error());
  return 1;
}

int main(int argc, char** argv) {
  if (argc != 7) {
    fprintf(stderr, "usage: bench_capi MODEL.pcv INPUT.f32 BATCH SECONDS ROUNDS THREADS\n");
    return 2;
  }
  const long batch = atol(argv[3]), rounds = atol(argv[5]);
  const double seconds = atof(argv[4]);
  if (pcv_set_num_threads(atoi(argv[6])) != PCV_OK) return fail("threads");
  pcv_model* m = NULL;
  if (pcv_model_load(argv[1], &m) != PCV_OK) return fail("load");
  int64_t in_dims[PCV_MAX_RANK], out_dims[PCV_MAX_RANK];
  int in_rank = 0, out_rank = 0;
  pcv_model_input_shape(m, in_dims, &in_rank);
  pcv_model_output_shape(m, out_dims, &out_rank);
  size_t in_n = (size_t)batch, out_n = (size_t)batch;
  for (int i = 0; i < in_rank; ++i) in_n *= (size_t)in_dims[i];
  for (int i = 0; i < out_rank; ++i) out_n *= (size_t)out_dims[i];
  float* x = malloc(in_n * sizeof(float));
  float* y = malloc(out_n * sizeof(float));
  FILE* f = fopen(argv[2], "rb");
  if (!x || !y || !f || fread(x, sizeof(float), in_n, f) != in_n) {
    fprintf(stderr, "bench_capi: cannot read %zu floats from %s\n", in_n, argv[2]);
    return 1;
  }
  fclose(f);
  pcv_runner* r = NULL;
  if (pcv_runner_new(m, &r) != PCV_OK) return fail("runner");
  long wanted = 0;
  double* times = NULL;
  for (long round = 0; round < rounds; ++round) {
    char line[16];
    if (!fgets(line, sizeof line, stdin)) break;
    if (round == 0) {  /* warm up, then size the rounds like timing.py */
      const double start = now_s();
      long calls = 0;
      while (calls < 3 || now_s() < start + 0.2) {
        if (pcv_runner_predict(r, x, batch, y) != PCV_OK) return fail("predict");
        ++calls;
      }
      const double each = (now_s() - start) / (double)calls;
      wanted = (long)(seconds / (each > 1e-7 ? each : 1e-7));
      if (wanted < 3) wanted = 3;
      if (wanted > 20000) wanted = 20000;
      times = malloc((size_t)wanted * sizeof(double));
      if (!times) return 1;
    }
    for (long i = 0; i < wanted; ++i) {
      const double t0 = now_s();
      pcv_runner_predict(r, x, batch, y);
      times[i] = now_s() - t0;
    }
    printf("times_us");
    for (long i = 0; i < wanted; ++i) printf(" %.3f", times[i] * 1e6);
    printf("\n");
    fflush(stdout);
  }
  for (size_t i = 0; i < out_n / (size_t)batch; ++i) printf("%.9g ", y[i]);
  printf("\n");
  fflush(stdout);
  pcv_runner_free(r);
  pcv_model_free(m);
  free(times);
  free(x);
  free(y);
  return 0;
}
