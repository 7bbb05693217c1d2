"""Whole models in .pcv files: save/load, resuming training exactly, pickle
and deepcopy, weights alone, corrupt files, and a file from this version
that every later version must keep loading."""

import copy
import multiprocessing
import os
import pickle
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import pyconv
from pyconv import layers
from pcv_bytes import replaced

DATA = Path(__file__).parent.parent / "data"


def cnn(dropout=True):
    stack = [pyconv.Input((10, 10, 1)),
             layers.Conv2D(16, 3, activation="relu"),
             layers.Conv2D(16, 3, activation="relu"),
             layers.MaxPooling2D(2),
             layers.Flatten()]
    if dropout:
        stack.append(layers.Dropout(0.25))
    stack.append(layers.Dense(10, activation="softmax"))
    model = pyconv.Sequential(stack)
    model.compile(pyconv.optimizers.Adam(learning_rate=3e-3), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def digits(n=96, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 10, 10, 1), dtype=np.float32), rng.integers(0, 10, n)


@pytest.fixture
def one_thread():
    before = pyconv.get_num_threads()
    pyconv.set_num_threads(1)
    yield
    pyconv.set_num_threads(0 if before == os.cpu_count() else before)


def assert_same_weights(a, b):
    wa, wb = a.get_weights(), b.get_weights()
    assert len(wa) == len(wb)
    for x, y in zip(wa, wb):
        np.testing.assert_array_equal(x, y)


def test_save_and_load_round_trip(tmp_path):
    pyconv.set_seed(1)
    model = cnn()
    x, y = digits()
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    model.layers[0].trainable = False
    model.optimizer.learning_rate = 1e-3
    path = tmp_path / "model.pcv"
    model.save(path)
    loaded = pyconv.models.load_model(path)
    assert isinstance(loaded, pyconv.Sequential)
    assert loaded.name == model.name
    assert [type(l) for l in loaded.layers] == [type(l) for l in model.layers]
    assert [l.name for l in loaded.layers] == [l.name for l in model.layers]
    assert not loaded.layers[0].trainable and loaded.layers[1].trainable
    assert_same_weights(model, loaded)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert isinstance(loaded.optimizer, pyconv.optimizers.Adam)
    assert loaded.optimizer.learning_rate == pytest.approx(1e-3)
    assert loaded.optimizer.iterations == model.optimizer.iterations == 3
    assert loaded.evaluate(x, y, verbose=0) == model.evaluate(x, y, verbose=0)
    lines_a, lines_b = [], []
    model.summary(print_fn=lines_a.append)
    loaded.summary(print_fn=lines_b.append)
    assert lines_a == lines_b


@pytest.mark.usefixtures("one_thread")
def test_training_resumed_from_a_file_matches_uninterrupted_training(tmp_path):
    x, y = digits(128)
    pyconv.set_seed(7)
    straight = cnn()
    straight.fit(x, y, batch_size=16, epochs=3, verbose=0)

    pyconv.set_seed(7)
    first = cnn()
    first.fit(x, y, batch_size=16, epochs=1, verbose=0)
    first.save(tmp_path / "half.pcv")
    resumed = pyconv.models.load_model(tmp_path / "half.pcv")
    resumed.fit(x, y, batch_size=16, epochs=2, verbose=0)
    assert_same_weights(straight, resumed)  # dropout masks and shuffling included


def test_pickle_and_deepcopy_go_through_the_model_bytes():
    pyconv.set_seed(2)
    model = cnn()
    x, y = digits()
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    expected = model.predict(x, verbose=0)
    for clone in (pickle.loads(pickle.dumps(model)), copy.deepcopy(model)):
        assert clone._graph is not model._graph
        np.testing.assert_array_equal(clone.predict(x, verbose=0), expected)
        clone.fit(x, y, batch_size=32, epochs=1, verbose=0)  # trains on its own copy
        np.testing.assert_array_equal(model.predict(x, verbose=0), expected)
    unbuilt = pyconv.Sequential([layers.Dense(3)])
    assert len(pickle.loads(pickle.dumps(unbuilt)).layers) == 1


def _predict_in_worker(model, x):
    return model.predict(x, verbose=0)


def test_a_model_reaches_worker_processes():
    pyconv.set_seed(3)
    model = cnn()
    x, _ = digits(16)
    ctx = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=2, mp_context=ctx) as pool:
        results = list(pool.map(_predict_in_worker, [model, model], [x, x[:4]]))
    np.testing.assert_array_equal(results[0], model.predict(x, verbose=0))
    np.testing.assert_array_equal(results[1], model.predict(x[:4], verbose=0))


def test_load_weights_matches_layers_by_position(tmp_path):
    pyconv.set_seed(4)
    source = cnn()
    source.save_weights(tmp_path / "w.pcv")
    target = cnn()  # other names (conv2d_2, ...) and other initial weights
    assert [l.name for l in target.layers] != [l.name for l in source.layers]
    target.load_weights(tmp_path / "w.pcv")
    assert_same_weights(source, target)
    other = pyconv.Sequential([pyconv.Input((10, 10, 1)), layers.Conv2D(8, 3), layers.Flatten(),
                               layers.Dense(10)])
    before = other.get_weights()
    with pytest.raises(pyconv.ModelFileError, match="do not fit this model"):
        other.load_weights(tmp_path / "w.pcv")
    assert_same_weights_list(other.get_weights(), before)


def assert_same_weights_list(a, b):
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def test_save_refuses_to_overwrite_when_asked(tmp_path):
    model = cnn()
    path = tmp_path / "m.pcv"
    path.write_bytes(b"keep me")
    with pytest.raises(FileExistsError):
        model.save(path, overwrite=False)
    assert path.read_bytes() == b"keep me"
    model.save(path)
    assert pyconv.models.load_model(path).count_params() == model.count_params()
    assert sorted(os.listdir(tmp_path)) == ["m.pcv"]  # no temporary file left behind


def test_save_into_a_missing_folder_raises_oserror(tmp_path):
    with pytest.raises(OSError):
        cnn().save(tmp_path / "missing" / "m.pcv")


def test_corrupt_and_truncated_files_raise_model_file_error(tmp_path):
    pyconv.set_seed(5)
    good = tmp_path / "good.pcv"
    cnn().save(good)
    data = good.read_bytes()
    bad = tmp_path / "bad.pcv"
    rng = np.random.default_rng(0)
    cases = [data[:n] for n in (0, 1, 7, 8, 63, 64, 100, len(data) // 2, len(data) - 1)]
    for _ in range(150):  # single flipped bytes anywhere, checksum included
        mutated = bytearray(data)
        mutated[rng.integers(len(data))] ^= 1 << int(rng.integers(8))
        cases.append(bytes(mutated))
    cases.append(b"not a model file at all" * 10)
    for case in cases:
        bad.write_bytes(case)
        with pytest.raises(pyconv.ModelFileError):
            pyconv.models.load_model(bad)
        with pytest.raises(pyconv.ModelFileError):
            pyconv.saving.restore(pyconv.Sequential.__new__(pyconv.Sequential),
                                  pyconv._core.load_graph_bytes(case))


def test_a_damaged_python_description_with_a_right_checksum_is_a_model_file_error(tmp_path):
    # A tool that edits the metadata and fixes the checksum: KeyError and
    # JSONDecodeError escaped from load_model.
    pyconv.set_seed(5)
    cnn().save(tmp_path / "good.pcv")
    data = (tmp_path / "good.pcv").read_bytes()
    for old, new in ((b'"layers"', b'"lxyers"'), (b'"shuffle_rng"', b'"shuffle_rnX"'),
                     (b'{"class_name": "Sequential"', b'["class_name": "Sequential"')):
        (tmp_path / "bad.pcv").write_bytes(replaced(data, old, new))
        with pytest.raises(pyconv.ModelFileError, match="python.model"):
            pyconv.models.load_model(tmp_path / "bad.pcv")


def test_files_the_fuzzer_found_raise_model_file_error():
    # Found: a "pyconv.quantized" marker that was a float escaped as TypeError.
    folder = Path(__file__).parents[1] / "fuzz" / "regressions"
    files = sorted(folder.glob("*.pcv"))
    assert files
    for path in files:
        with pytest.raises(pyconv.ModelFileError):
            pyconv.models.load_model(path)


def test_a_missing_file_is_an_oserror_naming_it(tmp_path):
    with pytest.raises(OSError, match="nothing.pcv"):
        pyconv.models.load_model(tmp_path / "nothing.pcv")


def test_model_saved_without_python_loads_from_its_layer_attributes(tmp_path):
    graph = pyconv._core.Graph([{"type": "Conv2D", "filters": 4, "kernel_size": 3},
                                {"type": "Flatten"},
                                {"type": "Dense", "units": 3, "activation": "softmax"}],
                               (6, 6, 2), 0)
    graph.save(str(tmp_path / "native.pcv"))
    model = pyconv.models.load_model(tmp_path / "native.pcv")
    assert [type(l).__name__ for l in model.layers] == ["Conv2D", "Flatten", "Dense"]
    x = np.random.default_rng(0).random((3, 6, 6, 2), dtype=np.float32)
    np.testing.assert_array_equal(model.predict(x, verbose=0), graph.predict(x))


def test_a_chain_that_calls_one_layer_twice_loads_as_a_functional_model(tmp_path):
    # A C program names two chain entries alike: one layer, called twice. It
    # loaded as a Sequential of the layer once, whose clone and JSON lost a call.
    graph = pyconv._core.Graph([{"type": "Dense", "units": 4, "name": "a"},
                                {"type": "Dense", "units": 4, "name": "a"},
                                {"type": "Dense", "units": 1, "name": "out"}], (4,), 0)
    graph.save(str(tmp_path / "native.pcv"))
    model = pyconv.models.load_model(tmp_path / "native.pcv")
    x = np.random.default_rng(0).random((3, 4), dtype=np.float32)
    expected = graph.predict(x)
    np.testing.assert_array_equal(model.predict(x, verbose=0), expected)
    for rebuilt in (pyconv.models.clone_model(model),
                    pyconv.models.model_from_json(model.to_json())):
        rebuilt.set_weights(model.get_weights())
        np.testing.assert_array_equal(rebuilt.predict(x, verbose=0), expected)


class _SumOfOutputs(pyconv.metrics.Metric):
    """A metric of the user's own, as docs/keras-compatibility.md allows."""

    def __init__(self, name="sum_of_outputs", **kwargs):
        super().__init__(name=name, **kwargs)
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")

    def update_state(self, y_true, y_pred, sample_weight=None):
        self.total.assign(self.total.numpy() + float(np.sum(y_pred)))

    def result(self):
        return self.total.numpy()


def test_a_model_compiled_with_a_metric_of_the_users_own_saves_loads_and_pickles(tmp_path):
    # The file was written, then refused by load_model, pickle and deepcopy
    # ("unknown metric").
    model = pyconv.Sequential([pyconv.Input((4,)), layers.Dense(2)])
    model.compile("sgd", "mse", metrics=[_SumOfOutputs(), "mae"])
    x, y = np.ones((4, 4), np.float32), np.zeros((4, 2), np.float32)
    model.fit(x, y, verbose=0)
    model.save(tmp_path / "m.pcv")
    for other in (pyconv.models.load_model(tmp_path / "m.pcv"), copy.deepcopy(model),
                  pickle.loads(pickle.dumps(model)),
                  pyconv.models.load_model(tmp_path / "m.pcv",
                                           custom_objects={"_SumOfOutputs": _SumOfOutputs})):
        assert other.evaluate(x, y, verbose=0, return_dict=True).keys() == \
            {"loss", "sum_of_outputs", "mae"}
    # Where no class of that name exists: loaded without it, and a warning says so.
    script = ("import warnings, pyconv\n"
              "with warnings.catch_warnings(record=True) as w:\n"
              "    warnings.simplefilter('always')\n"
              f"    m = pyconv.models.load_model({str(tmp_path / 'm.pcv')!r})\n"
              "print(m.metrics_names, [str(x.message) for x in w])\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    assert "'mae'" in out and "'sum_of_outputs'" not in out and "custom_objects" in out, out


def test_file_written_by_version_0_1_still_loads():
    # tests/data/mnist_cnn_v1.pcv was written by pyconv 0.1.0 (format version 1)
    # with tests/data/make_golden_model.py; every later version must load it.
    model = pyconv.models.load_model(DATA / "mnist_cnn_v1.pcv")
    expected = np.load(DATA / "mnist_cnn_v1_outputs.npy")
    x = np.load(DATA / "mnist_cnn_v1_inputs.npy")
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)
    assert model.optimizer.iterations > 0


def test_a_dag_survives_the_file(tmp_path):
    # A residual block: the file keeps each node's inputs, not just a chain.
    nodes = [({"type": "Conv2D", "name": "c1", "filters": 4, "kernel_size": 3,
               "padding": "same", "activation": "relu"}, [-1]),
             ({"type": "Conv2D", "name": "c2", "filters": 4, "kernel_size": 3,
               "padding": "same"}, [0]),
             ({"type": "Add", "name": "add"}, [1, 0]),
             ({"type": "Flatten", "name": "flat"}, [2]),
             ({"type": "Dense", "name": "out", "units": 3}, [3])]
    graph = pyconv._core.Graph.dag(nodes, (5, 5, 2), 11)
    graph.compile({"type": "mse"}, {"type": "adam"})
    x = np.random.default_rng(0).random((4, 5, 5, 2), dtype=np.float32)
    graph.train_step(x, np.ones((4, 3), np.float32))
    graph.save(str(tmp_path / "dag.pcv"))
    loaded = pyconv._core.load_graph(str(tmp_path / "dag.pcv"))
    assert [list(loaded.node_inputs(i)) for i in range(5)] == [[-1], [0], [1, 0], [2], [3]]
    np.testing.assert_array_equal(loaded.predict(x), graph.predict(x))
    y = np.zeros((4, 3), np.float32)
    graph.train_step(x, y)
    loaded.train_step(x, y)  # optimizer state came along: the same next step
    np.testing.assert_array_equal(loaded.predict(x), graph.predict(x))
    # Python loads it as a functional Model (the file came without Python's metadata).
    model = pyconv.models.load_model(tmp_path / "dag.pcv")
    assert type(model) is pyconv.Model
    assert [t._layer.name for t in model.get_layer("add").input] == ["c2", "c1"]
    np.testing.assert_array_equal(model.predict(x),
                                  pyconv._core.load_graph(str(tmp_path / "dag.pcv")).predict(x))
