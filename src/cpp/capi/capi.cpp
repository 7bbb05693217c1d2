// The C API (include/pyconv/pyconv.h) over the C++ graph. Every pcv_* body
// runs inside guarded(), the only place exceptions are caught for C: it turns
// the exception type into a pcv_status and keeps the message for
// pcv_last_error(), so no exception crosses extern "C".
#include "pyconv/pyconv.h"

#include <cstdio>
#include <cstring>
#include <limits>
#include <new>
#include <stdexcept>
#include <type_traits>

#include "capi/capi_internal.h"
#include "core/error.h"
#include "core/threads.h"

#if __has_include("io/model_file.h")
#include "io/model_file.h"
#define PCV_HAVE_MODEL_FILE 1
#else
// TODO(pcv file): io/model_file.h (load_model_file/load_model_memory) is
// being merged; until it is on main, loading reports PCV_ERR_STATE.
#define PCV_HAVE_MODEL_FILE 0
#endif

namespace pyconv {
// FormatError (a corrupt model file) derives from IOError in core/error.h.
// Declared here too so this file also builds against an error.h without it;
// then io_status() below maps every IOError to PCV_ERR_IO.
struct FormatError;
}  // namespace pyconv

struct pcv_model {
  std::unique_ptr<const pyconv::Graph> graph;
};

struct pcv_runner {
  const pcv_model* model = nullptr;
  std::unique_ptr<pyconv::ExecContext> ctx;  // kept between calls: the scratch
  pyconv::Shape x_shape, out_shape;          // (batch,) + sample shape, reused
  pyconv::Tensor x, out;                     // views of the caller's buffers, reused
};

namespace {

using pyconv::ValueError;

// A fixed buffer: storing a message must not allocate (it may report bad_alloc).
thread_local char last_error[1024] = "";

pcv_status fail(pcv_status status, const char* message) noexcept {
  std::snprintf(last_error, sizeof last_error, "%s", message);
  return status;
}

template <class T, class = void>
struct is_complete : std::false_type {};
template <class T>
struct is_complete<T, std::void_t<decltype(sizeof(T))>> : std::true_type {};

// FORMAT for a FormatError, IO for any other IOError (see FormatError above).
template <class Format = pyconv::FormatError>
pcv_status io_status(const pyconv::IOError& e) {
  if constexpr (is_complete<Format>::value) {
    if (dynamic_cast<const Format*>(&e)) return PCV_ERR_FORMAT;
  }
  return PCV_ERR_IO;
}

// Maps the exception in flight to a status. Derived types come before their bases.
pcv_status fail_current() noexcept {
  try {
    throw;
  } catch (const pyconv::ShapeError& e) {
    return fail(PCV_ERR_SHAPE, e.what());
  } catch (const std::invalid_argument& e) {  // ValueError, TypeError
    return fail(PCV_ERR_ARGUMENT, e.what());
  } catch (const pyconv::IOError& e) {
    return fail(io_status(e), e.what());
  } catch (const pyconv::StateError& e) {
    return fail(PCV_ERR_STATE, e.what());
  } catch (const std::bad_alloc&) {
    return fail(PCV_ERR_MEMORY, "out of memory");
  } catch (const std::length_error& e) {  // a container asked for more than can exist
    return fail(PCV_ERR_MEMORY, e.what());
  } catch (const std::exception& e) {
    char message[sizeof last_error];
    std::snprintf(message, sizeof message, "internal error: %s", e.what());
    return fail(PCV_ERR_INTERNAL, message);
  } catch (...) {
    return fail(PCV_ERR_INTERNAL, "internal error: unknown exception");
  }
}

template <class Body>
pcv_status guarded(Body&& body) noexcept {
  try {
    body();
    return PCV_OK;
  } catch (...) {
    return fail_current();
  }
}

void require(const void* p, const char* what) {
  if (!p) throw ValueError(pyconv::cat(what, " must not be NULL"));
}

const pyconv::Graph& graph_of(const pcv_model* m) {
  require(m, "model");
  return *m->graph;
}

// shape = (batch,) + sample, checking that batch * numel(sample) fits.
void set_batch_shape(pyconv::Shape& shape, int64_t batch, const pyconv::Shape& sample) {
  if (batch <= 0) throw ValueError(pyconv::cat("batch must be positive, received ", batch));
  const int64_t per_sample = pyconv::shape_numel(sample);
  if (per_sample > 0 && batch > std::numeric_limits<int64_t>::max() / per_sample)
    throw ValueError(pyconv::cat("batch ", batch, " times ", per_sample,
                                 " values per sample overflows"));
  shape.assign(1, batch);
  shape.insert(shape.end(), sample.begin(), sample.end());
}

void copy_shape(const pyconv::Shape& s, int64_t* dims, int* rank) {
  require(dims, "dims");
  require(rank, "rank");
  if (s.size() > PCV_MAX_RANK)
    throw pyconv::ShapeError(pyconv::cat("shape ", pyconv::shape_str(s), " has more than ",
                                         PCV_MAX_RANK, " dimensions"));
  for (size_t i = 0; i < s.size(); ++i) dims[i] = s[i];
  *rank = static_cast<int>(s.size());
}

// Runs one batch; the graph reads the input and writes straight into output.
// The shapes and views are the caller's, reused, so that a runner's warm
// call allocates nothing.
void run(const pyconv::Graph& g, const float* input, int64_t batch, float* output,
         pyconv::ExecContext* ctx, pyconv::Shape& x_shape, pyconv::Shape& out_shape,
         pyconv::Tensor& x, pyconv::Tensor& out) {
  require(input, "input");
  require(output, "output");
  set_batch_shape(x_shape, batch, g.input_shape());
  set_batch_shape(out_shape, batch, g.output_shape());
  // predict() only reads x; the view type just has no const variant.
  x.view_of(const_cast<float*>(input), x_shape);
  out.view_of(output, out_shape);
  if (ctx)
    g.predict(x, out, *ctx);
  else
    g.predict(x, out);
}

pcv_model* new_model(std::unique_ptr<pyconv::Graph> g) {
  auto* m = new pcv_model;
  m->graph = std::move(g);
  return m;
}

}  // namespace

pcv_model* pyconv::capi::wrap_graph(std::unique_ptr<Graph> graph) {
  return new_model(std::move(graph));
}

extern "C" {

const char* pcv_version(void) { return PYCONV_VERSION; }

const char* pcv_status_string(pcv_status status) {
  switch (status) {
    case PCV_OK: return "PCV_OK";
    case PCV_ERR_ARGUMENT: return "PCV_ERR_ARGUMENT";
    case PCV_ERR_SHAPE: return "PCV_ERR_SHAPE";
    case PCV_ERR_IO: return "PCV_ERR_IO";
    case PCV_ERR_FORMAT: return "PCV_ERR_FORMAT";
    case PCV_ERR_MEMORY: return "PCV_ERR_MEMORY";
    case PCV_ERR_STATE: return "PCV_ERR_STATE";
    case PCV_ERR_INTERNAL: return "PCV_ERR_INTERNAL";
  }
  return "PCV_ERR_UNKNOWN";
}

const char* pcv_last_error(void) { return last_error; }

pcv_status pcv_model_load(const char* path, pcv_model** out) {
  if (out) *out = nullptr;
  return guarded([&] {
    require(path, "path");
    require(out, "out");
#if PCV_HAVE_MODEL_FILE
    *out = new_model(pyconv::load_model_file(path));
#else
    throw pyconv::StateError("this build of pyconv cannot read .pcv files yet");
#endif
  });
}

pcv_status pcv_model_load_memory(const void* data, size_t size, pcv_model** out) {
  if (out) *out = nullptr;
  return guarded([&] {
    require(data, "data");
    require(out, "out");
#if PCV_HAVE_MODEL_FILE
    *out = new_model(pyconv::load_model_memory(data, size));
#else
    throw pyconv::StateError("this build of pyconv cannot read .pcv files yet");
#endif
  });
}

void pcv_model_free(pcv_model* model) { delete model; }

pcv_status pcv_model_input_shape(const pcv_model* m, int64_t dims[PCV_MAX_RANK], int* rank) {
  return guarded([&] { copy_shape(graph_of(m).input_shape(), dims, rank); });
}

pcv_status pcv_model_output_shape(const pcv_model* m, int64_t dims[PCV_MAX_RANK], int* rank) {
  return guarded([&] { copy_shape(graph_of(m).output_shape(), dims, rank); });
}

pcv_status pcv_model_predict(const pcv_model* m, const float* input, int64_t batch,
                             float* output) {
  return guarded([&] {
    pyconv::Shape x_shape, out_shape;
    pyconv::Tensor x, out;
    run(graph_of(m), input, batch, output, nullptr, x_shape, out_shape, x, out);
  });
}

pcv_status pcv_runner_new(const pcv_model* m, pcv_runner** out) {
  if (out) *out = nullptr;
  return guarded([&] {
    const pyconv::Graph& g = graph_of(m);
    require(out, "out");
    auto r = std::make_unique<pcv_runner>();
    r->model = m;
    r->ctx = g.new_context();
    *out = r.release();
  });
}

pcv_status pcv_runner_predict(pcv_runner* r, const float* input, int64_t batch, float* output) {
  return guarded([&] {
    require(r, "runner");
    run(*r->model->graph, input, batch, output, r->ctx.get(), r->x_shape, r->out_shape, r->x,
        r->out);
  });
}

void pcv_runner_free(pcv_runner* r) { delete r; }

pcv_status pcv_set_num_threads(int n) {
  return guarded([&] {
    if (n < 0) throw ValueError(pyconv::cat("thread count must be >= 0, received ", n));
    pyconv::set_num_threads(n);
  });
}

}  // extern "C"
