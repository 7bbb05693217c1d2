// Builds a small CNN with the C++ API (pyconv/pyconv.hpp), trains it on MNIST
// digits without Python, reports its test accuracy and saves it as a .pcv file
// that Python (pyconv.models.load_model), pyconv-run and embed_c load.
//
//   embed_cpp IMAGES LABELS OUT.pcv [OUTPUTS.npy]
//
// IMAGES and LABELS are raw (gunzipped) IDX files, e.g. t10k-images-idx3-ubyte
// and t10k-labels-idx1-ubyte. The first 80% of the digits train the model, the
// last 20% test it (8000 and 2000 of the 10,000 test digits). OUTPUTS.npy, if
// given, receives the model's outputs on the test digits (float32, (n, 10)),
// so another program can check that it predicts the same.
#include <pyconv/pyconv.hpp>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

// A uint8 IDX file: its dimensions and data.
struct Idx {
  std::vector<int64_t> dims;
  std::vector<unsigned char> data;
};

// Reads a whole uint8 IDX file of the given rank; throws std::runtime_error
// saying what is wrong with it.
Idx read_idx(const std::string& path, int rank) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error(path + ": cannot open");
  unsigned char head[4 + 4 * 3] = {};
  const auto head_size = static_cast<std::streamsize>(4 + 4 * rank);
  if (!f.read(reinterpret_cast<char*>(head), head_size) || head[0] != 0 || head[1] != 0 ||
      head[2] != 0x08 || head[3] != rank)
    throw std::runtime_error(path + ": not a uint8 IDX file of rank " + std::to_string(rank) +
                             " (gzipped? gunzip it first)");
  Idx idx;
  uint64_t count = 1;
  for (int i = 0; i < rank; ++i) {
    const unsigned char* p = head + 4 + 4 * i;
    const uint64_t d = uint64_t{p[0]} << 24 | uint64_t{p[1]} << 16 | uint64_t{p[2]} << 8 | p[3];
    if (d == 0 || count > (uint64_t{1} << 40) / d)  // 1 TiB is not a digit file
      throw std::runtime_error(path + ": bad dimensions");
    count *= d;
    idx.dims.push_back(static_cast<int64_t>(d));
  }
  idx.data.resize(static_cast<size_t>(count));
  if (!f.read(reinterpret_cast<char*>(idx.data.data()), static_cast<std::streamsize>(count)))
    throw std::runtime_error(path + ": truncated (expected " + std::to_string(count) +
                             " bytes of data)");
  return idx;
}

// A float32 .npy file of shape (rows, cols), in this machine's byte order.
void write_npy(const std::string& path, const std::vector<float>& v, int64_t rows, int64_t cols) {
  const uint16_t one = 1;
  unsigned char first_byte;
  std::memcpy(&first_byte, &one, 1);
  std::string header = std::string("{'descr': '") + (first_byte ? "<" : ">") +
                       "f4', 'fortran_order': False, 'shape': (" + std::to_string(rows) + ", " +
                       std::to_string(cols) + "), }";
  header.append(63 - (10 + header.size()) % 64, ' ');  // pads the preamble to 64 bytes
  header += '\n';
  const auto len = static_cast<uint16_t>(header.size());
  const unsigned char preamble[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0,
                                      static_cast<unsigned char>(len & 0xff),
                                      static_cast<unsigned char>(len >> 8)};
  // Written beside the target and renamed into place: never half a file.
  const std::string tmp = path + ".tmp";
  std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(preamble), sizeof preamble);
  f << header;
  f.write(reinterpret_cast<const char*>(v.data()),
          static_cast<std::streamsize>(v.size() * sizeof(float)));
  f.close();
  if (!f || std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw std::runtime_error(path + ": cannot write");
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4 && argc != 5) {
    std::fprintf(stderr, "usage: %s IMAGES-idx3-ubyte LABELS-idx1-ubyte OUT.pcv [OUTPUTS.npy]\n",
                 argv[0]);
    return 2;
  }
  Idx images, labels;
  try {
    images = read_idx(argv[1], 3);
    labels = read_idx(argv[2], 1);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 2;
  }
  const int64_t n = images.dims[0], rows = images.dims[1], cols = images.dims[2];
  if (labels.dims[0] != n || n < 10) {
    std::fprintf(stderr, "expected as many labels as images (at least 10), found %lld and %lld\n",
                 static_cast<long long>(labels.dims[0]), static_cast<long long>(n));
    return 2;
  }
  // Pixels scaled to [0, 1] (as pyconv.data.normalize does); labels as floats.
  std::vector<float> x(images.data.size()), y(labels.data.size());
  for (size_t i = 0; i < x.size(); ++i) x[i] = images.data[i] / 255.0f;
  for (size_t i = 0; i < y.size(); ++i) y[i] = labels.data[i];
  const int64_t n_train = n * 4 / 5, n_test = n - n_train, pixels = rows * cols;
  const float* x_test = x.data() + n_train * pixels;
  const float* y_test = y.data() + n_train;

  try {
    pyconv::Model model = pyconv::Model::create(
        {"Conv2D filters=16 kernel_size=3 activation=relu", "MaxPooling2D pool_size=2",
         "Conv2D filters=32 kernel_size=3 activation=relu", "MaxPooling2D pool_size=2",
         "Flatten", "Dropout rate=0.25", "Dense units=10 activation=softmax"},
        {rows, cols, 1}, /*seed=*/42);
    model.compile("adam learning_rate=0.002", "sparse_categorical_crossentropy");
    std::printf("training on %lld digits, testing on %lld\n", static_cast<long long>(n_train),
                static_cast<long long>(n_test));
    model.fit(x.data(), y.data(), n_train, /*batch_size=*/32, /*epochs=*/4, /*seed=*/1,
              [](int epoch, const pyconv::Metrics& m) {
                std::printf("epoch %d: loss %.4f, accuracy %.4f\n", epoch + 1, m.loss,
                            m.accuracy);
              });
    const pyconv::Metrics test = model.evaluate(x_test, y_test, n_test);
    std::printf("test loss %.4f\n", test.loss);
    model.save(argv[3]);
    std::printf("saved %s\n", argv[3]);

    // The saved file predicts exactly what the model in memory does.
    const std::vector<float> outputs = model.predict(x_test, n_test);
    const pyconv::Model loaded = pyconv::Model::load(argv[3]);
    pyconv::Runner runner(loaded);
    if (runner.predict(x_test, n_test) != outputs) {
      std::fprintf(stderr, "the model loaded from %s predicts differently\n", argv[3]);
      return 1;
    }
    if (argc == 5) write_npy(argv[4], outputs, n_test, model.output_size());
    // Last, in the form .ci/cpp_package.sh reads.
    std::printf("test accuracy %.4f\n", test.accuracy);
  } catch (const pyconv::Error& e) {
    std::fprintf(stderr, "pyconv: %s (%s)\n", e.what(), pcv_status_string(e.status()));
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  return 0;
}
