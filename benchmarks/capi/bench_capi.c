/* Times pcv_runner_predict on a saved model: the C API's batch-1 latency and
 * batch-N throughput, with nothing but the library in the loop.
 *
 *   bench_capi MODEL.pcv INPUT.f32 BATCH MIN_SECONDS
 *
 * INPUT.f32 holds BATCH samples as raw little-endian float32. Prints one line
 * "median_us <m> calls <n>" (each call timed on its own, after a warm-up),
 * then the first output row, so the caller can check it against Python's. */
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

static int by_value(const void* a, const void* b) {
  const double x = *(const double*)a, y = *(const double*)b;
  return (x > y) - (x < y);
}

static int fail(const char* what) {
  fprintf(stderr, "bench_capi: %s: %s\n", what, pcv_last_error());
  return 1;
}

int main(int argc, char** argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: bench_capi MODEL.pcv INPUT.f32 BATCH MIN_SECONDS\n");
    return 2;
  }
  const long batch = atol(argv[3]);
  const double min_s = atof(argv[4]);
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
  /* Warm-up: at least 3 calls and 0.2 s. */
  double start = now_s();
  long calls = 0;
  while (calls < 3 || now_s() < start + 0.2) {
    if (pcv_runner_predict(r, x, batch, y) != PCV_OK) return fail("predict");
    ++calls;
  }
  const double each = (now_s() - start) / (double)calls;
  long wanted = (long)(min_s / (each > 1e-7 ? each : 1e-7));
  if (wanted < 15) wanted = 15;
  if (wanted > 200000) wanted = 200000;
  double* times = malloc((size_t)wanted * sizeof(double));
  for (long i = 0; i < wanted; ++i) {
    const double t0 = now_s();
    pcv_runner_predict(r, x, batch, y);
    times[i] = now_s() - t0;
  }
  qsort(times, (size_t)wanted, sizeof(double), by_value);
  printf("median_us %.3f calls %ld\n", times[wanted / 2] * 1e6, wanted);
  for (size_t i = 0; i < out_n / (size_t)batch; ++i) printf("%.9g ", y[i]);
  printf("\n");
  pcv_runner_free(r);
  pcv_model_free(m);
  free(times);
  free(x);
  free(y);
  return 0;
}
