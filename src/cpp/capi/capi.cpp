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

#include "capi/capi_internal.h"
#include "capi/layer_spec.h"
#include "core/error.h"
#include "core/threads.h"
#include "graph/losses.h"

#include "io/model_file.h"
#include "quant/quantized_model.h"

// A float model's graph, or a quantized model (which only predicts).
struct pcv_model {
  std::unique_ptr<const pyconv::Graph> graph;
  std::unique_ptr<const pyconv::QuantizedModel> quantized;
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

// Maps the exception in flight to a status. Derived types come before their bases.
pcv_status fail_current() noexcept {
  try {
    throw;
  } catch (const pyconv::ShapeError& e) {
    return fail(PCV_ERR_SHAPE, e.what());
  } catch (const std::invalid_argument& e) {  // ValueError, TypeError
    return fail(PCV_ERR_ARGUMENT, e.what());
  } catch (const pyconv::FormatError& e) {
    return fail(PCV_ERR_FORMAT, e.what());
  } catch (const pyconv::IOError& e) {
    return fail(PCV_ERR_IO, e.what());
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
  if (!m->graph)
    throw pyconv::StateError("a quantized model only predicts: it cannot be trained or evaluated");
  return *m->graph;
}

// The model's quantized form; never there when the build has no int8, which
// lets the linker leave the int8 code out.
const pyconv::QuantizedModel* quantized_of(const pcv_model* m) {
  return pyconv::kInt8Built ? m->quantized.get() : nullptr;
}

const pyconv::Shape& input_shape_of(const pcv_model* m) {
  require(m, "model");
  return quantized_of(m) ? quantized_of(m)->input_shape() : m->graph->input_shape();
}

const pyconv::Shape& output_shape_of(const pcv_model* m) {
  require(m, "model");
  return quantized_of(m) ? quantized_of(m)->output_shape() : m->graph->output_shape();
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
void run(const pcv_model* m, const float* input, int64_t batch, float* output,
         pyconv::ExecContext* ctx, pyconv::Shape& x_shape, pyconv::Shape& out_shape,
         pyconv::Tensor& x, pyconv::Tensor& out) {
  require(input, "input");
  require(output, "output");
  set_batch_shape(x_shape, batch, input_shape_of(m));
  set_batch_shape(out_shape, batch, output_shape_of(m));
  if (const pyconv::QuantizedModel* q = quantized_of(m)) {
    q->predict(input, batch, output, pyconv::num_threads());
    return;
  }
  const pyconv::Graph& g = *m->graph;
  // predict() only reads x; the view type just has no const variant.
  x.view_of(const_cast<float*>(input), x_shape);
  out.view_of(output, out_shape);
  if (ctx)
    g.predict(x, out, *ctx);
  else
    g.predict(x, out);
}

pcv_model* new_model(std::unique_ptr<pyconv::Graph> g) {
  if (!g->single_io())
    throw ValueError(pyconv::cat("the model has ", g->input_shapes().size(), " input(s) and ",
                                 g->outputs().size(), " output(s); the C API runs models of one "
                                 "input and one output (run this one from Python)"));
  auto* m = new pcv_model;
  m->graph = std::move(g);
  return m;
}

pcv_model* new_model(pyconv::AnyModel loaded) {
  if (!loaded.quantized) return new_model(std::move(loaded.graph));
  auto* m = new pcv_model;
  m->quantized = std::move(loaded.quantized);
  return m;
}

// ----- building and training ---------------------------------------------------

// Training needs the graph non-const. Every pcv_model's graph is created
// non-const (new_model takes a unique_ptr<Graph>); the member is const so
// that the inference path cannot change it by mistake.
pyconv::Graph& trainable_graph(pcv_model* m) {
  return const_cast<pyconv::Graph&>(graph_of(m));
}

pyconv::Shape target_sample_shape(const pyconv::Graph& g) {
  if (!g.compiled())
    throw pyconv::StateError("the model has no loss yet: call pcv_model_compile first");
  return g.loss().target_shape(g.output_shape());
}

// Checked views of a batch of inputs and targets, for train_step and evaluate.
struct Batch {
  pyconv::Shape x_shape, y_shape;
  pyconv::Tensor x, y;
};

void view_batch(const pyconv::Graph& g, const float* x, const float* y, int64_t batch, Batch& b) {
  require(x, "x");
  require(y, "y");
  set_batch_shape(b.x_shape, batch, g.input_shape());
  set_batch_shape(b.y_shape, batch, target_sample_shape(g));
  // The graph only reads them; the view type just has no const variant.
  b.x = pyconv::Tensor::view(const_cast<float*>(x), b.x_shape);
  b.y = pyconv::Tensor::view(const_cast<float*>(y), b.y_shape);
}

void report(const pyconv::StepResult& r, double* loss, int64_t* correct) {
  if (loss) *loss = r.loss;
  if (correct) *correct = r.correct;
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
    default: return "PCV_ERR_UNKNOWN";
  }
}

const char* pcv_last_error(void) { return last_error; }

pcv_status pcv_model_load(const char* path, pcv_model** out) {
  if (out) *out = nullptr;
  return guarded([&] {
    require(path, "path");
    require(out, "out");
    *out = new_model(pyconv::load_any_model_file(path));
  });
}

pcv_status pcv_model_load_memory(const void* data, size_t size, pcv_model** out) {
  if (out) *out = nullptr;
  return guarded([&] {
    require(data, "data");
    require(out, "out");
    *out = new_model(pyconv::load_any_model_memory(data, size));
  });
}

void pcv_model_free(pcv_model* model) { delete model; }

pcv_status pcv_model_input_shape(const pcv_model* m, int64_t dims[PCV_MAX_RANK], int* rank) {
  return guarded([&] { copy_shape(input_shape_of(m), dims, rank); });
}

pcv_status pcv_model_output_shape(const pcv_model* m, int64_t dims[PCV_MAX_RANK], int* rank) {
  return guarded([&] { copy_shape(output_shape_of(m), dims, rank); });
}

pcv_status pcv_model_predict(const pcv_model* m, const float* input, int64_t batch,
                             float* output) {
  return guarded([&] {
    pyconv::Shape x_shape, out_shape;
    pyconv::Tensor x, out;
    run(m, input, batch, output, nullptr, x_shape, out_shape, x, out);
  });
}

pcv_status pcv_runner_new(const pcv_model* m, pcv_runner** out) {
  if (out) *out = nullptr;
  return guarded([&] {
    require(m, "model");
    require(out, "out");
    auto r = std::make_unique<pcv_runner>();
    r->model = m;
    if (m->graph) r->ctx = m->graph->new_context();
    *out = r.release();
  });
}

pcv_status pcv_runner_predict(pcv_runner* r, const float* input, int64_t batch, float* output) {
  return guarded([&] {
    require(r, "runner");
    run(r->model, input, batch, output, r->ctx.get(), r->x_shape, r->out_shape, r->x, r->out);
  });
}

void pcv_runner_free(pcv_runner* r) { delete r; }

pcv_status pcv_model_create(const char* const* layers, int count, const int64_t* input_shape,
                            int rank, uint64_t seed, pcv_model** out) {
  if (out) *out = nullptr;
  return guarded([&] {
    require(layers, "layers");
    require(input_shape, "input_shape");
    require(out, "out");
    if (count <= 0) throw ValueError(pyconv::cat("expected at least one layer, received ", count));
    if (rank <= 0 || rank > PCV_MAX_RANK)
      throw ValueError(pyconv::cat("input rank must be in 1..", PCV_MAX_RANK, ", received ", rank));
    std::vector<pyconv::Attrs> specs;
    for (int i = 0; i < count; ++i) {
      const std::string what = pyconv::cat("layer ", i);
      if (!layers[i]) throw ValueError(what + " is NULL");
      specs.push_back(pyconv::capi::parse_spec(layers[i], what));
    }
    const pyconv::Shape shape(input_shape, input_shape + rank);
    pyconv::shape_numel(shape, "input_shape");  // a sample must have a countable size
    *out = new_model(std::make_unique<pyconv::Graph>(specs, shape, seed));
  });
}

pcv_status pcv_model_compile(pcv_model* m, const char* optimizer, const char* loss) {
  return guarded([&] {
    pyconv::Graph& g = trainable_graph(m);
    require(optimizer, "optimizer");
    require(loss, "loss");
    pyconv::Attrs opt = pyconv::capi::parse_spec(optimizer, "optimizer");
    pyconv::Attrs lo = pyconv::capi::parse_spec(loss, "loss");
    // Python takes these names in any case ("Adam"); the core uses lower case.
    for (pyconv::Attrs* a : {&opt, &lo}) {
      std::string type = a->type();
      for (char& c : type)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      a->set("type", type);
    }
    g.compile(lo, opt);
  });
}

pcv_status pcv_model_target_shape(const pcv_model* m, int64_t dims[PCV_MAX_RANK], int* rank) {
  return guarded([&] { copy_shape(target_sample_shape(graph_of(m)), dims, rank); });
}

pcv_status pcv_model_train_step(pcv_model* m, const float* x, const float* y, int64_t batch,
                                double* loss, int64_t* correct) {
  return guarded([&] {
    pyconv::Graph& g = trainable_graph(m);
    Batch b;
    view_batch(g, x, y, batch, b);
    report(g.train_step(b.x, b.y), loss, correct);
  });
}

pcv_status pcv_model_evaluate(const pcv_model* m, const float* x, const float* y, int64_t batch,
                              double* loss, int64_t* correct) {
  return guarded([&] {
    const pyconv::Graph& g = graph_of(m);
    Batch b;
    view_batch(g, x, y, batch, b);
    report(g.test_step(b.x, b.y), loss, correct);
  });
}

pcv_status pcv_model_save(const pcv_model* m, const char* path) {
  return guarded([&] {
    require(m, "model");
    require(path, "path");
    if (const pyconv::QuantizedModel* q = quantized_of(m))
      pyconv::io::write_file(path, pyconv::io::encode(q->record()));
    else
      pyconv::save_model_file(*m->graph, path);
  });
}

pcv_status pcv_set_num_threads(int n) {
  return guarded([&] {
    if (n < 0) throw ValueError(pyconv::cat("thread count must be >= 0, received ", n));
    pyconv::set_num_threads(n);
  });
}

}  // extern "C"
