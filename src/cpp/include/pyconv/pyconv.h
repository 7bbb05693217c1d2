/* pyconv C API: load a .pcv model file and run inference from C (C99);
 * build, train and save models too (see "Building and training" below).
 *
 *   pcv_model *m = NULL;
 *   if (pcv_model_load("digits.pcv", &m) != PCV_OK) {
 *     fprintf(stderr, "%s\n", pcv_last_error());
 *     return 1;
 *   }
 *   pcv_model_predict(m, images, batch, probabilities);
 *   pcv_model_free(m);
 *
 * Errors: every function that can fail returns a pcv_status. On failure the
 * message is kept for the calling thread and pcv_last_error() returns it; no
 * function aborts the process or lets a C++ exception escape, and output
 * arguments are left as documented (handles set to NULL).
 *
 * Ownership: handles (pcv_model, pcv_runner) are created by the library and
 * released with their *_free function, which accepts NULL. A runner borrows
 * its model: free every runner of a model before the model. Strings returned
 * by the library belong to it.
 *
 * Threads: a loaded model is never changed by inference, so
 * pcv_model_predict() may be called on one model from many threads at once.
 * A pcv_runner holds the scratch memory of one inference and is used by one
 * thread at a time (give each thread its own); it reuses that memory between
 * calls, so repeated calls with the same batch size allocate nothing.
 *
 * Tensors are float32, C order, channels-last: an input batch is
 * (batch,) + input shape, e.g. (N, 28, 28, 1) for 28x28 grayscale images.
 */
#ifndef PYCONV_PYCONV_H
#define PYCONV_PYCONV_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32) && !defined(PCV_STATIC)
#  if defined(PCV_BUILDING_LIBRARY)
#    define PCV_API __declspec(dllexport)
#  else
#    define PCV_API __declspec(dllimport)
#  endif
#elif defined(__GNUC__)
#  define PCV_API __attribute__((visibility("default")))
#else
#  define PCV_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Largest rank a shape query reports (the dims arrays have this many slots). */
#define PCV_MAX_RANK 8

typedef struct pcv_model pcv_model;
typedef struct pcv_runner pcv_runner;

typedef enum pcv_status {
  PCV_OK = 0,
  PCV_ERR_ARGUMENT, /* NULL pointer, batch <= 0, size overflow, bad value */
  PCV_ERR_SHAPE,    /* a tensor of the wrong shape */
  PCV_ERR_IO,       /* a file could not be opened, read or written */
  PCV_ERR_FORMAT,   /* a model file or buffer is truncated, corrupt or of another version */
  PCV_ERR_MEMORY,   /* out of memory */
  PCV_ERR_STATE,    /* an object used in the wrong state */
  PCV_ERR_INTERNAL, /* a bug in pyconv: please report it with pcv_last_error() */
  /* Not a status: makes every int a valid pcv_status in C++ too, so a code
     from a newer library (or any int a C caller passes) is safe to handle. */
  PCV_STATUS_MAX_ENUM = 0x7FFFFFFF
} pcv_status;

/* The library version, e.g. "0.1.0". */
PCV_API const char *pcv_version(void);

/* A short constant name for a status, e.g. "PCV_ERR_SHAPE"; never NULL. */
PCV_API const char *pcv_status_string(pcv_status status);

/* The message of this thread's last failed call ("" if none). Valid until
 * this thread's next failing call. Successful calls leave it unchanged. */
PCV_API const char *pcv_last_error(void);

/* Loads a model from a .pcv file or from a buffer holding one (the buffer is
 * copied as needed and may be freed after the call). On success *out is a new
 * model; on failure *out is NULL. */
PCV_API pcv_status pcv_model_load(const char *path, pcv_model **out);
PCV_API pcv_status pcv_model_load_memory(const void *data, size_t size, pcv_model **out);
PCV_API void pcv_model_free(pcv_model *model);

/* The shape of one sample (no batch axis): rank in *rank, dims[0..rank). */
PCV_API pcv_status pcv_model_input_shape(const pcv_model *m, int64_t dims[PCV_MAX_RANK], int *rank);
PCV_API pcv_status pcv_model_output_shape(const pcv_model *m, int64_t dims[PCV_MAX_RANK], int *rank);

/* input: batch x (input shape) floats; output: batch x (output shape) floats,
 * written only on success. Thread-safe on one model; allocates scratch per
 * call (use a pcv_runner to avoid that). */
PCV_API pcv_status pcv_model_predict(const pcv_model *m, const float *input, int64_t batch, float *output);

/* A runner: the reusable scratch of one inference on model m (see Threads). */
PCV_API pcv_status pcv_runner_new(const pcv_model *m, pcv_runner **out);
PCV_API pcv_status pcv_runner_predict(pcv_runner *r, const float *input, int64_t batch, float *output);
PCV_API void pcv_runner_free(pcv_runner *r);

/* ---- Building and training a model without Python ----------------------
 *
 * Layers, the loss and the optimizer are described by one line each: a type,
 * then key=value pairs separated by spaces. The types, keys and defaults are
 * those of the Python API (pyconv.layers.Conv2D(filters=32, kernel_size=3) is
 * "Conv2D filters=32 kernel_size=3"):
 *
 *   const char *layers[] = {"Conv2D filters=32 kernel_size=3 activation=relu",
 *                           "MaxPooling2D pool_size=2", "Flatten", "Dropout rate=0.25",
 *                           "Dense units=10 activation=softmax"};
 *   const int64_t shape[] = {28, 28, 1};
 *   pcv_model_create(layers, 5, shape, 3, 42, &m);
 *   pcv_model_compile(m, "adam learning_rate=0.001", "sparse_categorical_crossentropy");
 *
 * A value is true or false, an integer, a number (0.25, 1e-3), a comma list
 * of integers (kernel_size=3,3 strides=2,2) or a word (relu, same,
 * he_normal). A layer without name=... is named Type_index ("Conv2D_0").
 * A malformed line, an unknown type or key, or a bad value is
 * PCV_ERR_ARGUMENT, and pcv_last_error() names the entry.
 *
 * Training changes the model: run train_step from one thread at a time
 * (another thread gets PCV_ERR_STATE). Predictions and evaluations may run
 * alongside it and see the weights before or after a step, never half of one.
 */

/* A new model: layers[0..count) in a chain, for samples of shape
 * input_shape[0..rank), weights initialised from seed (same seed, same
 * weights). On failure *out is NULL. */
PCV_API pcv_status pcv_model_create(const char *const *layers, int count, const int64_t *input_shape,
                                    int rank, uint64_t seed, pcv_model **out);

/* Sets the optimizer ("sgd", "adam", "rmsprop", "adagrad", "adadelta",
 * "adamax", "nadam", "lion", with their Python arguments,
 * e.g. "sgd learning_rate=0.1 momentum=0.9") and the loss
 * ("sparse_categorical_crossentropy", "categorical_crossentropy", "mse",
 * "hinge"; "categorical_crossentropy from_logits=true"). The order is
 * Keras's compile(optimizer, loss). Compiling again replaces both and starts
 * the optimizer afresh. Compile before sharing the model between threads. */
PCV_API pcv_status pcv_model_compile(pcv_model *m, const char *optimizer, const char *loss);

/* The shape of one sample's target for the compiled loss: rank 0 (one class
 * index per sample, stored as a float) for sparse_categorical_crossentropy,
 * the output shape otherwise. PCV_ERR_STATE before pcv_model_compile. */
PCV_API pcv_status pcv_model_target_shape(const pcv_model *m, int64_t dims[PCV_MAX_RANK], int *rank);

/* One optimizer step on a batch: x is batch x (input shape) floats, y batch x
 * (target shape) floats. *loss gets the batch's mean loss and *correct the
 * samples predicted right (either may be NULL). A bad target (a label out of
 * range, NaN) or a step that would make a weight non-finite is reported
 * before any weight changes. */
PCV_API pcv_status pcv_model_train_step(pcv_model *m, const float *x, const float *y, int64_t batch,
                                        double *loss, int64_t *correct);

/* The mean loss and the count of right predictions on a batch, without
 * training (dropout off). */
PCV_API pcv_status pcv_model_evaluate(const pcv_model *m, const float *x, const float *y,
                                      int64_t batch, double *loss, int64_t *correct);

/* Writes the whole model (layers, weights, optimizer state) to a .pcv file,
 * atomically: a failed save leaves any existing file as it was. Python's
 * pyconv.models.load_model reads it. */
PCV_API pcv_status pcv_model_save(const pcv_model *m, const char *path);

/* Threads used by each inference (one setting for the whole process);
 * 0 restores the default, one per core; n < 0 is PCV_ERR_ARGUMENT. An upper
 * bound: calls under 1 ms run on the calling thread alone while that is
 * faster (each model context or runner times its calls); outputs are the
 * same either way. */
PCV_API pcv_status pcv_set_num_threads(int n);

#ifdef __cplusplus
}
#endif

#endif /* PYCONV_PYCONV_H */
