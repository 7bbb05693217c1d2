/* Classifies MNIST test digits with a pyconv model, using only the C API.
 *
 *   embed_c MODEL.pcv IMAGES LABELS
 *
 * IMAGES and LABELS are raw (gunzipped) IDX files, e.g. t10k-images-idx3-ubyte
 * and t10k-labels-idx1-ubyte. Pixels are scaled to [0, 1], as the model saw
 * them in training (pyconv.data.normalize). Prints the accuracy. */
#include <pyconv/pyconv.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define BATCH 100

/* Reads a whole IDX file of unsigned bytes with `rank` dimensions into
 * *data (malloc'd) and dims; returns 0 on success, prints why otherwise. */
static int read_idx_u8(const char *path, int rank, uint32_t dims[3], unsigned char **data) {
  unsigned char head[16];
  size_t count = 1, got;
  int i;
  FILE *f = fopen(path, "rb");
  *data = NULL;
  if (!f) {
    perror(path);
    return -1;
  }
  if (fread(head, 1, 4 + 4 * (size_t)rank, f) != 4 + 4 * (size_t)rank || head[0] != 0 ||
      head[1] != 0 || head[2] != 0x08 || head[3] != rank) {
    fprintf(stderr, "%s: not a uint8 IDX file of rank %d (gzipped? gunzip it first)\n", path, rank);
    fclose(f);
    return -1;
  }
  for (i = 0; i < rank; ++i) {
    const unsigned char *p = head + 4 + 4 * i;
    dims[i] = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    if (dims[i] == 0 || count > SIZE_MAX / dims[i]) {
      fprintf(stderr, "%s: bad dimensions\n", path);
      fclose(f);
      return -1;
    }
    count *= dims[i];
  }
  *data = malloc(count);
  got = *data ? fread(*data, 1, count, f) : 0;
  fclose(f);
  if (got != count) {
    fprintf(stderr, "%s: truncated (expected %lu bytes of data)\n", path, (unsigned long)count);
    free(*data);
    *data = NULL;
    return -1;
  }
  return 0;
}

static int argmax(const float *v, int64_t n) {
  int64_t i, best = 0;
  for (i = 1; i < n; ++i)
    if (v[i] > v[best]) best = i;
  return (int)best;
}

int main(int argc, char **argv) {
  pcv_model *model = NULL;
  pcv_runner *runner = NULL;
  pcv_status s;
  int64_t in_dims[PCV_MAX_RANK], out_dims[PCV_MAX_RANK], in_size = 1, classes = 1, n, i, j;
  int in_rank, out_rank, k, status = 1;
  uint32_t img_dims[3], lab_dims[3];
  unsigned char *images = NULL, *labels = NULL;
  float *x = NULL, *y = NULL;
  long correct = 0;

  if (argc != 4) {
    fprintf(stderr, "usage: %s MODEL.pcv IMAGES-idx3-ubyte LABELS-idx1-ubyte\n", argv[0]);
    return 2;
  }
  if ((s = pcv_model_load(argv[1], &model)) != PCV_OK) {
    fprintf(stderr, "%s: %s (%s)\n", argv[1], pcv_last_error(), pcv_status_string(s));
    return 2;
  }
  pcv_model_input_shape(model, in_dims, &in_rank);
  pcv_model_output_shape(model, out_dims, &out_rank);
  for (k = 0; k < in_rank; ++k) in_size *= in_dims[k];
  for (k = 0; k < out_rank; ++k) classes *= out_dims[k];

  if (read_idx_u8(argv[2], 3, img_dims, &images) || read_idx_u8(argv[3], 1, lab_dims, &labels))
    goto done;
  n = img_dims[0];
  if ((int64_t)img_dims[1] * img_dims[2] != in_size || lab_dims[0] != img_dims[0]) {
    fprintf(stderr, "the images (%ux%u, %u of them) or labels (%u) do not fit the model\n",
            img_dims[1], img_dims[2], img_dims[0], lab_dims[0]);
    goto done;
  }

  /* One runner, reused for every batch: its scratch is allocated once. */
  x = malloc(sizeof(float) * BATCH * (size_t)in_size);
  y = malloc(sizeof(float) * BATCH * (size_t)classes);
  if (!x || !y || (s = pcv_runner_new(model, &runner)) != PCV_OK) {
    fprintf(stderr, "setup failed: %s\n", x && y ? pcv_last_error() : "out of memory");
    goto done;
  }
  for (i = 0; i < n; i += BATCH) {
    const int64_t b = n - i < BATCH ? n - i : BATCH;
    for (j = 0; j < b * in_size; ++j) x[j] = images[i * in_size + j] / 255.0f;
    if ((s = pcv_runner_predict(runner, x, b, y)) != PCV_OK) {
      fprintf(stderr, "predict: %s (%s)\n", pcv_last_error(), pcv_status_string(s));
      goto done;
    }
    for (j = 0; j < b; ++j) correct += argmax(y + j * classes, classes) == labels[i + j];
  }
  printf("pyconv %s: %ld of %ld digits right, accuracy %.4f\n", pcv_version(), correct, (long)n,
         (double)correct / (double)n);
  status = 0;

done:
  pcv_runner_free(runner);
  pcv_model_free(model);
  free(images);
  free(labels);
  free(x);
  free(y);
  return status;
}
