"""int8 post-training quantization (pyconv.quantize): the micro runtime's
integer ops match an independent NumPy oracle bit for bit, quantized models
keep their accuracy on real digits, save and load (also through the C
library and pyconv-run), and bad models, data and files are refused clearly."""

import pickle
import warnings

import numpy as np
import pytest

import pyconv
from pyconv import layers as L

import quant_reference
from native_tools import pyconv_run_outputs
from pcv_bytes import replaced
from threaded_calls import single_samples_from_threads


def _digits(n_train=2000, n_test=500):
    (x, y), (xt, yt) = pyconv.datasets.mnist.load_sample(num_test=n_test)
    norm = lambda a: pyconv.data.normalize(a)[..., None].astype(np.float32)
    return norm(x[:n_train]), y[:n_train], norm(xt), yt


def _trained(model, x, y, epochs=1):
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=epochs, batch_size=64, verbose=0)
    return model


def _oracle(q, x):
    core = q._core
    nodes, tensors = core.nodes(), core.tensors()
    return np.stack([quant_reference.run(nodes, tensors, s) for s in x])


# Each model ends in a linear Dense: the output is a dequantized int8, so the
# runtime and the oracle must agree exactly.
MODELS = {
    "conv_relu_maxpool": lambda: [L.Conv2D(5, 3, padding="same", activation="relu"),
                                  L.MaxPooling2D(), L.Flatten(), L.Dense(7)],
    "strided_dilated_relu6": lambda: [L.Conv2D(6, (3, 2), strides=(2, 1), dilation_rate=(1, 2),
                                                activation="relu6"),
                                      L.AveragePooling2D(3, strides=2, padding="same"),
                                      L.Flatten(), L.Dense(5)],
    "grouped_tanh": lambda: [L.Conv2D(4, 3, activation="tanh"),
                             L.Conv2D(6, 3, groups=2, padding="same", activation="sigmoid"),
                             L.GlobalAveragePooling2D(), L.Dense(3)],
    "depthwise_bn": lambda: [L.Conv2D(4, 3, use_bias=False), L.BatchNormalization(),
                             L.Activation("relu"), L.DepthwiseConv2D(3, depth_multiplier=2,
                                                                     padding="same"),
                             L.BatchNormalization(), L.Activation("swish"),
                             L.Dropout(0.3), L.Flatten(), L.Dense(4, activation="elu"),
                             L.Dense(3)],
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_int8_ops_match_the_numpy_oracle_bit_for_bit(name):
    pyconv.set_seed(1)
    rng = np.random.default_rng(2)
    model = pyconv.Sequential([pyconv.Input((9, 8, 2))] + MODELS[name]())
    x = rng.standard_normal((40, 9, 8, 2)).astype(np.float32)
    _trained(model, x, rng.integers(0, 3, 40))
    q = pyconv.quantize(model, x)  # calibrated on what it is tested on: no clipping
    got = q.predict(x[30:])
    np.testing.assert_array_equal(got, _oracle(q, x[30:]).reshape(got.shape))
    # and it is close to the float model it came from
    scale = np.abs(model.predict(x[30:], verbose=0)).max()
    assert np.abs(got - model.predict(x[30:], verbose=0)).max() < 0.15 * scale + 1e-3


def test_every_int8_kernel_set_gives_the_reference_bytes(tmp_path):
    # A whole model loaded under the reference kernel table (the micro
    # runtime's reference int8 kernels) and under this CPU's best.
    pyconv.set_seed(6)
    x, y, xt, _ = _digits(600, 50)
    model = _trained(pyconv.Sequential([
        pyconv.Input((28, 28, 1)), L.Conv2D(12, 3, activation="relu"), L.MaxPooling2D(),
        L.DepthwiseConv2D(3, padding="same"), L.Conv2D(20, 1, activation="relu6"),
        L.Flatten(), L.Dense(33, activation="tanh"), L.Dense(10)]), x, y)
    pyconv.quantize(model, x[:100]).save(tmp_path / "q.pcv")
    best = pyconv.models.load_model(tmp_path / "q.pcv")
    original = pyconv.kernel_isa()
    try:
        pyconv._core.set_kernel_isa("ref")
        reference = pyconv.models.load_model(tmp_path / "q.pcv")
    finally:
        pyconv._core.set_kernel_isa(original)
    assert reference.int8_kernels == "ref"
    assert best.int8_kernels == pyconv._core.int8_kernel_isa()
    np.testing.assert_array_equal(best.predict(xt), reference.predict(xt))


def test_a_batch_gives_each_samples_own_bytes():
    # A batch runs its dense layers for many samples at once (in groups of
    # 256, each layer's rows padded to a multiple of 4 bytes); one sample at
    # a time takes the per-sample path. Both give the same bytes.
    pyconv.set_seed(8)
    rng = np.random.default_rng(9)
    x = rng.standard_normal((300, 6, 5, 3)).astype(np.float32)
    model = _trained(pyconv.Sequential([
        pyconv.Input((6, 5, 3)), L.Conv2D(7, 3, activation="relu"), L.Flatten(),
        L.Dense(37, activation="relu"), L.Dense(13), L.Dense(10)]), x, rng.integers(0, 10, 300))
    q = pyconv.quantize(model, x)
    one_by_one = np.concatenate([q.predict(x[i:i + 1]) for i in range(len(x))])
    np.testing.assert_array_equal(q.predict(x), one_by_one)
    np.testing.assert_array_equal(q.predict(x[:49]), one_by_one[:49])


@pytest.mark.parametrize("body", [
    # LeNet-5's layers: the first a one-channel kernel's, each fused with its pooling
    lambda: [L.Conv2D(6, 5, padding="same", activation="relu"), L.AveragePooling2D(2),
             L.Conv2D(16, 5, activation="relu"), L.AveragePooling2D(2)],
    # the Keras MNIST CNN's: a max pooling inside the GEMM
    lambda: [L.Conv2D(8, 3, activation="relu"), L.Conv2D(16, 3, activation="relu"),
             L.MaxPooling2D(2)],
    # strides, padding and a pooling that leaves a row over
    lambda: [L.Conv2D(8, 3, strides=2, padding="same", activation="relu"),
             L.Conv2D(48, 3, dilation_rate=2, activation="relu"), L.MaxPooling2D(3, strides=2)],
], ids=["lenet5", "keras_cnn", "strided"])
def test_one_sample_on_any_thread_count_gives_the_same_bytes(body):
    # A sample alone on several threads has its first layers computed in
    # bands of rows, one a thread (rows where the bands' windows meet in
    # both): the same bytes as on one thread and as in a batch.
    pyconv.set_seed(12)
    x, y, _, _ = _digits(300, 10)
    model = _trained(pyconv.Sequential([pyconv.Input((28, 28, 1))] + body() +
                                       [L.Flatten(), L.Dense(10)]), x, y)
    q = pyconv.quantize(model, x[:100])
    batch = q.predict(x[:24])
    try:
        for threads in (1, 2, 3):
            pyconv.set_num_threads(threads)
            np.testing.assert_array_equal(np.concatenate([q.predict(s[None]) for s in x[:24]]), batch)
    finally:
        pyconv.set_num_threads(0)


def test_python_threads_sharing_a_quantized_model_get_its_bytes():
    # Batch-1 calls from 4 Python threads at once on one model (the GIL is
    # released): their bands' buffers are each thread's own, the bands are
    # made once under a lock, and only one call at a time times itself for
    # the team choice (the others take all threads). Each gets the bytes a
    # lone call gives.
    pyconv.set_seed(13)
    x, y, _, _ = _digits(300, 10)
    model = _trained(pyconv.Sequential([
        pyconv.Input((28, 28, 1)), L.Conv2D(6, 5, padding="same", activation="relu"), L.AveragePooling2D(2),
        L.Conv2D(16, 5, activation="relu"), L.AveragePooling2D(2), L.Flatten(), L.Dense(10)]), x, y)
    q = pyconv.quantize(model, x[:100])
    want = q.predict(x[:40])
    try:
        pyconv.set_num_threads(2)
        got = single_samples_from_threads(q.predict, x[:40])
    finally:
        pyconv.set_num_threads(0)
    for t in range(4):
        np.testing.assert_array_equal(got[t], np.tile(want[t::4], (5, 1)))


def test_a_model_left_all_in_float_gives_its_bytes_on_two_threads():
    # Every layer left in float, all of them keeping rows: one sample's bands
    # of rows cover the whole model, and their rows are its output (they
    # were left unwritten: values of 1e24 on two threads).
    pyconv.set_seed(2)
    model = pyconv.Sequential([pyconv.Input((28, 28, 1)), L.Conv2D(8, 3, activation="relu", name="a"),
                               L.Conv2D(16, 3, activation="tanh", name="b")])
    x = np.random.default_rng(3).random((4, 28, 28, 1), dtype=np.float32)
    q = pyconv.quantize(model, x, float_layers=["a", "b"])
    try:
        pyconv.set_num_threads(1)
        one = np.concatenate([q.predict(s[None]) for s in x])
        pyconv.set_num_threads(2)
        two = np.concatenate([q.predict(s[None]) for s in x])
    finally:
        pyconv.set_num_threads(0)
    np.testing.assert_array_equal(two, one)
    np.testing.assert_allclose(one, model.predict(x, verbose=0), atol=1e-6)


def test_predict_takes_any_array_form_to_the_same_bytes():
    # A C-contiguous float32 ndarray goes to the runtime as it is (no copy);
    # float64, Fortran order, a strided view, a read-only array, a subclass
    # and a list are converted first. All give the same bytes, and a wrong
    # shape is refused either way.
    pyconv.set_seed(10)
    rng = np.random.default_rng(11)
    x = rng.standard_normal((5, 6, 5, 1)).astype(np.float32)
    model = pyconv.Sequential([pyconv.Input((6, 5, 1)), L.Conv2D(4, 3, activation="relu"),
                               L.AveragePooling2D(2), L.Flatten(), L.Dense(3)])
    q = pyconv.quantize(model, x)
    want = q.predict(x)
    frozen = x.copy()
    frozen.flags.writeable = False
    doubled = np.repeat(x, 2, axis=0)[::2]

    class Sub(np.ndarray):
        pass

    for form in (x.astype(np.float64), np.asfortranarray(x), doubled, frozen, x.view(Sub), x.tolist()):
        np.testing.assert_array_equal(q.predict(form), want)
    for bad in (x[:, :5], x[0]):
        with pytest.raises(ValueError, match="expected input of shape"):
            q.predict(bad)


def test_lenet5_keeps_its_accuracy_on_real_digits():
    pyconv.set_seed(0)
    x, y, xt, yt = _digits(8000, 1000)
    model = _trained(pyconv.applications.lenet5(input_shape=(28, 28, 1), num_classes=10), x, y, 2)
    float_acc = np.mean(model.predict(xt, verbose=0).argmax(1) == yt)
    q = pyconv.quantize(model, x[:300])
    probs = q.predict(xt)
    assert probs.shape == (len(xt), 10) and np.allclose(probs.sum(1), 1, atol=1e-5)
    assert float_acc > 0.9
    assert np.mean(probs.argmax(1) == yt) >= float_acc - 0.01
    np.testing.assert_allclose(probs[:20], _oracle(q, xt[:20]), atol=1e-6)


def test_percentile_calibration_and_float_layers():
    pyconv.set_seed(0)
    x, y, xt, yt = _digits(1500, 300)
    model = _trained(pyconv.Sequential([
        pyconv.Input((28, 28, 1)), L.Conv2D(8, 3, activation="relu", name="first"),
        L.MaxPooling2D(), L.Conv2D(16, 3, activation="relu"), L.MaxPooling2D(), L.Flatten(),
        L.Dense(10, activation="softmax", name="last")]), x, y)
    float_acc = np.mean(model.predict(xt, verbose=0).argmax(1) == yt)
    q = pyconv.quantize(model, x[:200], method="percentile", percentile=99.9,
                        float_layers=["first", "last"])
    kinds = [n["type"] for n in q.layers()]
    assert kinds[0] == "FConv2D" and kinds[-1] == "FDense" and "QConv2D" in kinds
    assert np.mean(q.predict(xt).argmax(1) == yt) >= float_acc - 0.02
    np.testing.assert_allclose(q.predict(xt[:10]), _oracle(q, xt[:10]), atol=2e-5)


def test_entropy_calibration_clips_a_rare_outlier_but_not_a_smooth_range():
    from pyconv.quantization import _Range
    rng = np.random.default_rng(0)
    bulk = np.abs(rng.standard_normal(100_000)).astype(np.float32)
    with_outlier = _Range()
    with_outlier.add(np.concatenate([bulk, np.full(5, 500.0, np.float32)]), rng)
    lo, hi = with_outlier.limits("entropy", 99.99)
    assert lo == bulk.min() and bulk.max() < hi < 100   # min/max would keep all of [0, 500]
    assert with_outlier.limits("minmax", 99.99)[1] == 500
    uniform = _Range()
    uniform.add(rng.uniform(-1, 1, 100_000).astype(np.float32), rng)
    lo, hi = uniform.limits("entropy", 99.99)
    assert lo < -0.99 and hi > 0.99   # nothing to gain by clipping an even spread


def test_entropy_calibration_of_values_all_near_their_top_divides_nothing_by_zero():
    # Every clip below 5.0 holds no values at all: 0 / 0 in the divergence,
    # numpy's "invalid value encountered in divide" warning.
    from pyconv.quantization import _entropy_threshold
    values = np.concatenate([np.full(100, 5.0), [5.1]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _entropy_threshold(values, 128) == pytest.approx(5.1)


def test_entropy_calibration_quantizes_as_accurately():
    pyconv.set_seed(1)
    x, y, xt, yt = _digits(1500, 300)
    model = _trained(pyconv.Sequential([
        pyconv.Input((28, 28, 1)), L.Conv2D(8, 3, activation="relu"), L.MaxPooling2D(),
        L.Conv2D(16, 3, activation="relu"), L.MaxPooling2D(), L.Flatten(),
        L.Dense(10, activation="softmax")]), x, y)
    float_acc = np.mean(model.predict(xt, verbose=0).argmax(1) == yt)
    q = pyconv.quantize(model, x[:200], method="entropy")
    assert np.mean(q.predict(xt).argmax(1) == yt) >= float_acc - 0.02
    np.testing.assert_allclose(q.predict(xt[:10]), _oracle(q, xt[:10]), atol=2e-5)


def test_save_load_pickle_c_library_and_pyconv_run(tmp_path):
    pyconv.set_seed(3)
    x, y, xt, _ = _digits(600, 64)
    model = _trained(pyconv.Sequential([
        pyconv.Input((28, 28, 1)), L.Conv2D(4, 3, activation="relu"), L.MaxPooling2D(),
        L.Flatten(), L.Dense(10, activation="softmax")]), x, y)
    q = pyconv.quantize(model, x[:100])
    expected = q.predict(xt)
    path = tmp_path / "digits_int8.pcv"
    q.save(path)
    float_path = tmp_path / "digits.pcv"
    model.save(float_path)
    assert path.stat().st_size < 0.5 * float_path.stat().st_size  # int8 weights
    loaded = pyconv.models.load_model(path)
    assert isinstance(loaded, pyconv.QuantizedModel)
    np.testing.assert_array_equal(loaded.predict(xt), expected)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(q)).predict(xt), expected)
    with pytest.raises(FileExistsError):
        q.save(path, overwrite=False)

    np.testing.assert_array_equal(pyconv_run_outputs(path, xt, tmp_path), expected)


def test_c_library_runs_a_quantized_model_and_refuses_to_train_it(tmp_path):
    import ctypes
    from test_native_runtime import _library, c_load, c_predict
    lib = _library()
    lib.pcv_model_compile.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p]
    pyconv.set_seed(4)
    rng = np.random.default_rng(0)
    x = rng.random((16, 6, 6, 1), dtype=np.float32)
    model = _trained(pyconv.Sequential([pyconv.Input((6, 6, 1)), L.Conv2D(3, 3),
                                        L.Flatten(), L.Dense(4)]), x, rng.integers(0, 4, 16))
    q = pyconv.quantize(model, x)
    q.save(tmp_path / "q.pcv")
    status, handle = c_load(lib, tmp_path / "q.pcv")
    assert status == 0, lib.pcv_last_error()
    try:
        np.testing.assert_array_equal(c_predict(lib, handle, x), q.predict(x))
        assert lib.pcv_model_compile(handle, b"adam", b"mean_squared_error") == 6  # PCV_ERR_STATE
        assert b"only predicts" in lib.pcv_last_error()
    finally:
        lib.pcv_model_free(handle)


def test_batch_normalization_without_scale_or_center_folds():
    pyconv.set_seed(8)
    x = np.random.default_rng(3).standard_normal((32, 6, 6, 2)).astype(np.float32)
    for kwargs in ({"scale": False}, {"center": False}, {"scale": False, "center": False}):
        model = _trained(pyconv.Sequential([
            pyconv.Input((6, 6, 2)), L.Conv2D(3, 3), L.BatchNormalization(**kwargs),
            L.Activation("relu"), L.Flatten(), L.Dense(4)]), x, np.arange(32) % 4)
        q = pyconv.quantize(model, x)
        np.testing.assert_array_equal(q.predict(x[:4]), _oracle(q, x[:4]).reshape(4, 4))
        assert np.abs(q.predict(x) - model.predict(x, verbose=0)).max() < 0.1


def test_augmentation_layers_are_left_out_and_preprocessing_is_refused():
    pyconv.set_seed(9)
    x = np.random.default_rng(4).standard_normal((32, 6, 6, 2)).astype(np.float32)
    body = lambda: [L.Conv2D(3, 3, activation="relu"), L.Flatten(), L.Dense(4)]
    augmented = _trained(pyconv.Sequential([
        pyconv.Input((6, 6, 2)), L.RandomFlip(), L.RandomRotation(0.1), L.RandomZoom(0.1),
        L.RandomTranslation(0.1, 0.1), L.RandomContrast(0.1)] + body()), x, np.arange(32) % 4)
    q = pyconv.quantize(augmented, x)
    kinds = [node["type"] for node in q._core.nodes()]
    assert len(kinds) == 5 and not any(k.startswith("Random") for k in kinds), kinds
    np.testing.assert_array_equal(q.predict(x[:4]), _oracle(q, x[:4]).reshape(4, 4))
    for first in (L.Rescaling(0.5), L.Normalization(mean=0.0, variance=1.0), L.Resizing(5, 5),
                  L.RandomCrop(5, 5)):
        model = pyconv.Sequential([pyconv.Input((6, 6, 2)), first] + body())
        with pytest.raises(ValueError, match="without its preprocessing layers"):
            pyconv.quantize(model, x)


def test_models_that_cannot_be_quantized_are_refused_clearly():
    inp = pyconv.Input((6, 6, 2))
    a = L.Conv2D(2, 3, padding="same")(inp)
    branched = pyconv.Model(inp, L.Flatten()(L.Add()([a, inp])))
    x = np.zeros((4, 6, 6, 2), np.float32)
    with pytest.raises(ValueError, match="chain"):
        pyconv.quantize(branched, x)
    norm = pyconv.Sequential([pyconv.Input((6, 6, 2)), L.LayerNormalization(), L.Flatten()])
    with pytest.raises(ValueError, match="cannot be quantized yet"):
        pyconv.quantize(norm, x)
    plain = pyconv.Sequential([pyconv.Input((6, 6, 2)), L.Flatten(), L.Dense(3)])
    with pytest.raises(ValueError, match="representative_data"):
        pyconv.quantize(plain, np.zeros((4, 5, 5, 2), np.float32))
    with pytest.raises(ValueError, match="representative_data"):
        pyconv.quantize(plain, np.zeros((0, 6, 6, 2), np.float32))
    with pytest.raises(ValueError, match="NaN"):
        pyconv.quantize(plain, np.full((4, 6, 6, 2), np.nan, np.float32))
    with pytest.raises(ValueError, match="method"):
        pyconv.quantize(plain, x, method="entropy?")
    with pytest.raises(ValueError, match="float_layers"):
        pyconv.quantize(plain, x, float_layers=["nope"])
    with pytest.raises(pyconv.ShapeError):
        pyconv.quantize(plain, x).predict(np.zeros((2, 5, 6, 2), np.float32))


def test_a_layer_whose_outputs_were_all_zero_in_calibration_is_quantized():
    # A ReLU that never fires: its range is [0, 0]. That used to give a scale
    # of 4e-15 and a requantization factor of 2e10, refused as "too large".
    x = np.random.default_rng(6).standard_normal((32, 6, 6, 2)).astype(np.float32)
    dead = pyconv.Sequential([pyconv.Input((6, 6, 2)), L.Conv2D(3, 3, activation="relu"),
                              L.Flatten(), L.Dense(4)])
    dead.build()
    kernel, bias = dead.layers[0].get_weights()
    dead.layers[0].set_weights([kernel, np.full_like(bias, -100.0)])
    dense_kernel, _ = dead.layers[2].get_weights()
    dead.layers[2].set_weights([dense_kernel, np.array([0.5, -0.25, 1.0, 0.0], np.float32)])
    q = pyconv.quantize(dead, x)
    np.testing.assert_allclose(q.predict(x[:4]), dead.predict(x[:4], verbose=0), atol=0.01)
    np.testing.assert_array_equal(q.predict(x[:4]), _oracle(q, x[:4]).reshape(4, 4))
    # All-zero data through lookup-table activations, and a range far
    # narrower than the products' step.
    zeros = np.zeros((8, 6, 6, 2), np.float32)
    for act in ("tanh", "sigmoid", "relu", None):
        model = pyconv.Sequential([pyconv.Input((6, 6, 2)), L.Conv2D(3, 3, activation=act),
                                   L.Flatten(), L.Dense(4, activation=act)])
        model.build()
        np.testing.assert_allclose(pyconv.quantize(model, zeros).predict(zeros[:2]),
                                   model.predict(zeros[:2], verbose=0), atol=0.01)
    tiny = pyconv.Sequential([pyconv.Input((6, 6, 2)), L.Conv2D(3, 3, activation="relu"),
                              L.Flatten(), L.Dense(4)])
    tiny.build()
    kernel, bias = tiny.layers[0].get_weights()
    tiny.layers[0].set_weights([kernel * 1e-9, np.zeros_like(bias)])
    np.testing.assert_allclose(pyconv.quantize(tiny, x).predict(x[:4]),
                               tiny.predict(x[:4], verbose=0), atol=0.01)


def test_grayscale_batches_without_a_channel_axis_are_taken_as_fit_takes_them():
    # The README's snippet: x_train stays (N, 28, 28), which fit and predict
    # take; quantize and qmodel.predict refused it.
    x = np.random.default_rng(8).random((16, 6, 6), dtype=np.float32)
    model = pyconv.Sequential([pyconv.Input((6, 6, 1)), L.Conv2D(3, 3, activation="relu"),
                               L.Flatten(), L.Dense(4)])
    model.build()
    q = pyconv.quantize(model, x)
    np.testing.assert_array_equal(q.predict(x), q.predict(x[..., None]))
    np.testing.assert_array_equal(q.predict(x, batch_size=5), q.predict(x[..., None]))
    np.testing.assert_array_equal(pyconv.quantize(model, x[..., None]).predict(x), q.predict(x))


def test_batch_sizes_are_checked_and_a_model_with_nothing_to_run_is_refused():
    x = np.zeros((4, 6, 6, 2), np.float32)
    plain = pyconv.Sequential([pyconv.Input((6, 6, 2)), L.Flatten(), L.Dense(3)])
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="batch_size must be a positive integer"):
            pyconv.quantize(plain, x, batch_size=bad)
        with pytest.raises(ValueError, match="batch_size must be a positive integer"):
            pyconv.quantize(plain, x).predict(x, batch_size=bad)
    np.testing.assert_array_equal(pyconv.quantize(plain, x).predict(x, batch_size=3),
                                  pyconv.quantize(plain, x).predict(x))
    dropout_only = pyconv.Sequential([pyconv.Input((6, 6, 2)), L.Dropout(0.5)])
    with pytest.raises(ValueError, match="only layers that are left out"):
        pyconv.quantize(dropout_only, x)


def test_names_that_are_not_utf8_come_out_escaped_not_as_decode_errors():
    x = np.random.default_rng(7).standard_normal((8, 6, 6, 2)).astype(np.float32)
    model = pyconv.Sequential([pyconv.Input((6, 6, 2)),
                               L.Conv2D(3, 3, activation="relu", name="conv2d"), L.Flatten(),
                               L.Dense(4)])
    model.build()
    q = pyconv.quantize(model, x)
    original = q._core.to_bytes()
    patched = lambda old, new: replaced(original, old, new)  # noqa: E731
    renamed = pyconv.QuantizedModel(
        pyconv._core.QuantizedModel.from_bytes(patched(b"conv2d_quantize", b"\xffonv2d_quantize")))
    assert renamed.layers()[0]["name"] == "\\xffonv2d_quantize"
    np.testing.assert_array_equal(renamed.predict(x[:2]), q.predict(x[:2]))
    with pytest.raises(pyconv.ModelFileError, match=r"type 'QDens\\xff'"):
        pyconv._core.QuantizedModel.from_bytes(patched(b"QDense", b"QDens\xff"))


def _parts(q):
    return [(n, [i - 1]) for i, n in enumerate(q._core.nodes())], dict(q._core.tensors())


def test_corrupt_quantized_models_are_refused(tmp_path):
    pyconv.set_seed(5)
    x = np.random.default_rng(1).random((8, 5, 5, 1), dtype=np.float32)
    model = pyconv.Sequential([pyconv.Input((5, 5, 1)), L.Conv2D(2, 3, activation="relu"),
                               L.Flatten(), L.Dense(3)])
    model.build()
    q = pyconv.quantize(model, x)
    build = lambda nodes, tensors: pyconv._core.QuantizedModel.from_parts(
        (5, 5, 1), nodes, tensors, {"pyconv.quantized": 1})
    nodes, tensors = _parts(q)
    conv = next(n for n, _ in nodes if n["type"] == "QConv2D")
    key = f"quant/{conv['name']}"

    bad = dict(tensors, **{f"{key}/shift": np.full(2, 40, np.int32)})
    with pytest.raises(pyconv.ModelFileError, match="inconsistent"):
        build(nodes, bad)
    bad = dict(tensors, **{f"{key}/kernel": tensors[f"{key}/kernel"].astype(np.int32)})
    with pytest.raises(pyconv.ModelFileError, match="wrong type or shape"):
        build(nodes, bad)
    bad = {k: v for k, v in tensors.items() if k != f"{key}/bias"}
    with pytest.raises(pyconv.ModelFileError, match="has no tensor"):
        build(nodes, bad)
    with pytest.raises(pyconv.ModelFileError, match="no layer uses"):
        build(nodes, dict(tensors, **{"quant/ghost/kernel": np.zeros(3, np.int8)}))
    for key_, value in (("input_zero_point", 300), ("kernel_size", [0, 3])):
        broken = [(dict(n, **{key_: value}) if n is conv else n, i) for n, i in nodes]
        with pytest.raises(pyconv.ModelFileError):
            build(broken, tensors)
    all_read_the_input = [(n, [-1]) for n, _ in nodes]
    with pytest.raises(pyconv.ModelFileError, match="chain"):
        build(all_read_the_input, tensors)

    # Found in review: geometry, weights and biases the kernels cannot take.
    dense = next(n for n, _ in nodes if n["type"] == "QDense")
    wide = [(dict(n, output_shape=[9, 9, 2]) if n is conv else n, i) for n, i in nodes]
    with pytest.raises(pyconv.ModelFileError, match="does not fit"):  # windows past the input
        build(wide, tensors)
    minus_128 = tensors[f"{key}/kernel"].copy()
    minus_128.flat[0] = -128
    with pytest.raises(pyconv.ModelFileError, match=r"\[-127, 127\]"):
        build(nodes, dict(tensors, **{f"{key}/kernel": minus_128}))
    huge_bias = dict(tensors, **{f"quant/{dense['name']}/bias": np.full(3, 2**30, np.int32)})
    with pytest.raises(pyconv.ModelFileError, match="inconsistent"):
        build(nodes, huge_bias)
    with pytest.raises(ValueError, match="finite"):
        q.predict(np.full((1, 5, 5, 1), np.nan, np.float32))

    path = tmp_path / "q.pcv"
    q.save(path)
    data = path.read_bytes()
    (tmp_path / "cut.pcv").write_bytes(data[:len(data) // 2])
    with pytest.raises(pyconv.ModelFileError, match="truncated"):
        pyconv.models.load_model(tmp_path / "cut.pcv")
    with pytest.raises(pyconv.ModelFileError, match="quantized model"):
        pyconv._core.load_graph(str(path))  # the float loader says what the file is
