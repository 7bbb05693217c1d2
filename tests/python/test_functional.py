"""The functional API: layers called on symbolic tensors, pyconv.Model, the
merge layers (forward against NumPy, gradients against finite differences)
and the errors a bad graph gets when it is built."""

import pickle

import numpy as np
import pytest

import pyconv
from pyconv import layers as L

from gradcheck import check_model_grads

RNG = np.random.default_rng(0)


def _branches(shape=(4, 4, 3), channels=3):
    """An input and two 1x1 linear convolutions of it (the merge operands),
    each with its NumPy twin."""
    inp = pyconv.Input(shape=shape)
    conv_a, conv_b = L.Conv2D(channels, 1), L.Conv2D(channels, 1)
    return inp, conv_a, conv_b, conv_a(inp), conv_b(inp)


def _numpy_conv1x1(layer, x):
    kernel, bias = layer.get_weights()
    return x.astype(np.float64) @ kernel[0, 0] + bias


MERGES = {
    "Add": lambda a, b: a + b,
    "Subtract": lambda a, b: a - b,
    "Multiply": lambda a, b: a * b,
    "Average": lambda a, b: (a + b) / 2,
    "Maximum": np.maximum,
}


@pytest.mark.parametrize("name", sorted(MERGES))
def test_merge_forward_matches_numpy(name):
    inp, conv_a, conv_b, a, b = _branches()
    model = pyconv.Model(inp, getattr(L, name)()([a, b]))
    x = RNG.standard_normal((5, 4, 4, 3)).astype(np.float32)
    expected = MERGES[name](_numpy_conv1x1(conv_a, x), _numpy_conv1x1(conv_b, x))
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["Add", "Multiply", "Maximum"])
def test_a_size_one_gate_broadcasts_over_the_map(name):
    # Squeeze-and-excitation: a (1, 1, C) gate scales every pixel of an (H, W, C) map.
    inp, conv_a, conv_b, a, b = _branches()
    gate = L.AveragePooling2D(pool_size=4)(b)
    model = pyconv.Model(inp, getattr(L, name)()([a, gate]))
    assert model.output_shape == (None, 4, 4, 3)
    x = RNG.standard_normal((3, 4, 4, 3)).astype(np.float32)
    g = _numpy_conv1x1(conv_b, x).mean(axis=(1, 2), keepdims=True)
    expected = MERGES[name](_numpy_conv1x1(conv_a, x), g)
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("pool", ["GlobalAveragePooling2D", "GlobalMaxPooling2D"])
def test_a_keepdims_global_pool_makes_a_gate(pool):
    inp, conv_a, conv_b, a, b = _branches()
    gate = getattr(L, pool)(keepdims=True)(b)
    assert gate.shape == (None, 1, 1, 3)
    model = pyconv.Model(inp, L.Multiply()([a, gate]))
    x = RNG.standard_normal((3, 4, 4, 3)).astype(np.float32)
    reduce = np.mean if pool == "GlobalAveragePooling2D" else np.max
    g = reduce(_numpy_conv1x1(conv_b, x), axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(model.predict(x, verbose=0), _numpy_conv1x1(conv_a, x) * g,
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("axis", [-1, 3, 1, 2])
def test_concatenate_joins_along_its_axis(axis):
    inp, conv_a, conv_b, a, b = _branches()
    model = pyconv.Model(inp, L.Concatenate(axis=axis)([a, b]))
    x = RNG.standard_normal((2, 4, 4, 3)).astype(np.float32)
    expected = np.concatenate([_numpy_conv1x1(conv_a, x), _numpy_conv1x1(conv_b, x)], axis=axis)
    out = model.predict(x, verbose=0)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("axis", [-1, 1])
def test_concatenate_of_many_rows_is_split_among_threads(axis):
    # Joining channels makes one short row a pixel: threads take runs of
    # rows, so a large batch crosses many runs and both threads.
    inp, conv_a, conv_b, a, b = _branches(shape=(48, 40, 3))
    model = pyconv.Model(inp, L.Concatenate(axis=axis)([a, b]))
    x = RNG.standard_normal((16, 48, 40, 3)).astype(np.float32)
    expected = np.concatenate([_numpy_conv1x1(conv_a, x), _numpy_conv1x1(conv_b, x)], axis=axis)
    out = model.predict_on_batch(x)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", sorted(MERGES) + ["Concatenate", "gate"])
def test_merge_gradients_match_finite_differences(name):
    inp, _, conv_b, a, b = _branches(shape=(3, 3, 2), channels=2)
    if name == "gate":
        merged = L.Multiply()([a, L.AveragePooling2D(pool_size=3)(b)])
    else:
        merged = getattr(L, name)()([a, b])
    out = L.Dense(3)(L.Flatten()(merged))
    model = pyconv.Model(inp, out)
    model.compile("sgd", "mse")
    if name == "Maximum":
        # Away from ties, where the maximum has no derivative: b's channel 0
        # is always the larger, its channel 1 always the smaller.
        kernel, _ = conv_b.get_weights()
        conv_b.set_weights([kernel, np.array([8.0, -8.0], np.float32)])
    x = RNG.standard_normal((4, 3, 3, 2)).astype(np.float32)
    y = RNG.standard_normal((4, 3)).astype(np.float32)
    check_model_grads(model._graph, x, y)


def test_a_gate_gradient_is_the_same_on_any_thread_count():
    # The gate's gradient is summed over each sample's pixels in a fixed
    # number of blocks of rows, whatever the thread count: one step from the
    # same weights on one thread and on two gives the same bits.
    weights = None
    for threads in (1, 2):
        pyconv.set_num_threads(threads)
        pyconv.set_seed(5)
        inp = pyconv.Input((8, 8, 4))
        a = L.Conv2D(6, 1)(inp)
        gate = L.GlobalAveragePooling2D(keepdims=True)(L.Conv2D(6, 1)(inp))
        model = pyconv.Model(inp, L.Dense(3)(L.Flatten()(L.Multiply()([a, gate]))))
        model.compile("sgd", "mse")
        x = np.random.default_rng(0).standard_normal((16, 8, 8, 4)).astype(np.float32)
        y = np.random.default_rng(1).standard_normal((16, 3)).astype(np.float32)
        model.train_on_batch(x, y)
        got = model.get_weights()
        if weights is not None:
            for w, v in zip(weights, got):
                np.testing.assert_array_equal(w, v)
        weights = got
    pyconv.set_num_threads(0)


def test_a_residual_model_trains_saves_loads_and_pickles(tmp_path):
    inp = pyconv.Input(shape=(12, 12, 1))
    x = L.Conv2D(4, 3, padding="same", activation="relu")(inp)
    y = L.Conv2D(4, 3, padding="same")(x)
    x = L.add([x, y])
    out = L.Dense(3, activation="softmax")(L.Flatten()(x))
    model = pyconv.Model(inp, out, name="residual")
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    xs = RNG.random((96, 12, 12, 1), dtype=np.float32)
    ys = (xs[:, :6].mean(axis=(1, 2, 3)) * 3 > xs[:, 6:].mean(axis=(1, 2, 3)) * 3).astype(int)
    history = model.fit(xs, ys, epochs=6, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    expected = model.predict(xs[:7], verbose=0)

    model.save(tmp_path / "residual.pcv")
    loaded = pyconv.models.load_model(tmp_path / "residual.pcv")
    assert type(loaded) is pyconv.Model and loaded.name == "residual"
    np.testing.assert_array_equal(loaded.predict(xs[:7], verbose=0), expected)
    assert [l.name for l in loaded.layers] == [l.name for l in model.layers]
    assert loaded.get_layer(model.layers[2].name).output.shape == (None, 12, 12, 4)
    # It continues training exactly where it stopped.
    model.train_on_batch(xs[:16], ys[:16])
    loaded.train_on_batch(xs[:16], ys[:16])
    np.testing.assert_array_equal(loaded.predict(xs[:7], verbose=0),
                                  model.predict(xs[:7], verbose=0))

    copy = pickle.loads(pickle.dumps(model))
    assert type(copy) is pyconv.Model
    np.testing.assert_array_equal(copy.predict(xs[:7], verbose=0),
                                  model.predict(xs[:7], verbose=0))


def test_summary_lists_what_each_layer_is_connected_to():
    inp, conv_a, conv_b, a, b = _branches()
    merged = L.Add(name="sum")([a, b])
    model = pyconv.Model(inp, merged)
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "Connected to" in text
    row = next(line for line in lines if line.startswith("sum (Add)"))
    assert f"{conv_a.name}, {conv_b.name}" in row
    assert "Total params: 24" in text  # two 1x1 convolutions of 3 -> 3 channels


def test_layers_and_get_layer():
    inp, conv_a, conv_b, a, b = _branches()
    model = pyconv.Model(inp, L.Add()([a, b]))
    assert model.layers[:2] == [conv_a, conv_b] or model.layers[:2] == [conv_b, conv_a]
    assert model.get_layer(conv_a.name) is conv_a
    assert model.get_layer(index=-1) is model.layers[-1]
    assert model.input is inp and model.output is model.layers[-1].output
    with pytest.raises(ValueError, match="no layer named 'nope'"):
        model.get_layer("nope")
    # Neither (it said "no layer named 'None'") or both (the index won, silently).
    with pytest.raises(ValueError, match="not neither"):
        model.get_layer()
    with pytest.raises(ValueError, match="not both"):
        model.get_layer(conv_a.name, index=-1)


# --- errors at build time --------------------------------------------------------------

def test_mismatched_shapes_at_a_merge_are_refused_when_called():
    inp = pyconv.Input(shape=(4, 4, 3))
    a = L.Conv2D(3, 1)(inp)
    b = L.Conv2D(5, 1)(inp)
    with pytest.raises(pyconv.ShapeError, match="one shape, or size 1"):
        L.Add()([a, b])
    with pytest.raises(pyconv.ShapeError, match="every axis but the concatenation axis"):
        L.Concatenate(axis=1)([a, b])
    with pytest.raises(ValueError, match="batch axis"):
        L.Concatenate(axis=0)
    with pytest.raises(pyconv.ShapeError, match="exactly 2 inputs"):
        L.Subtract()([a, a, a])
    with pytest.raises(pyconv.ShapeError, match="at least 2 inputs"):
        L.Add()(a)


def test_a_disconnected_input_is_refused():
    inp, other = pyconv.Input(shape=(4,)), pyconv.Input(shape=(4,))
    out = L.Add()([L.Dense(4)(inp), L.Dense(4)(other)])
    with pytest.raises(ValueError, match="disconnected input"):
        pyconv.Model(inp, out)
    with pytest.raises(ValueError, match="no layers"):
        pyconv.Model(inp, inp)


def test_a_kernel_larger_than_the_padded_input_is_refused_when_called():
    inp = pyconv.Input(shape=(4, 4, 1))
    with pytest.raises(pyconv.ShapeError):
        L.Conv2D(2, 5)(inp)


def test_calling_a_layer_on_arrays_or_on_another_shape_is_refused():
    inp = pyconv.Input(shape=(4,))
    dense = L.Dense(2)
    with pytest.raises(TypeError, match="symbolic tensors"):
        dense(np.zeros((1, 4), np.float32))
    dense(inp)
    dense(inp)  # a second call on the same shape shares the weights
    with pytest.raises(ValueError, match="same shapes"):
        dense(pyconv.Input(shape=(5,)))


def test_model_needs_its_inputs_and_outputs():
    with pytest.raises(TypeError, match="Model\\(inputs, outputs\\)"):
        pyconv.Model()
