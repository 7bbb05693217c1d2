"""Training and inference run a MaxPooling2D inside the Conv2D before it (the
pool fusion: graph.h, ops/conv_pool.h), a few samples at a time. Every step
and prediction must match the same network run apart: here, the same weights
with a linear Activation between the two layers, which the fusion does not
cross."""

import numpy as np
import pytest

import pyconv
from gradcheck import assert_grad_close, numeric_grad
from pyconv import layers as L


def _pair(input_shape, body, fused_at, loss="sparse_categorical_crossentropy", seed=0):
    """The model as given, and the same with Activation("linear") after the
    layer at body index `fused_at` (so nothing is fused there), with equal
    weights, both compiled with plain SGD."""
    fused = pyconv.Sequential([pyconv.Input(input_shape)] + [b() for b in body])
    apart_body = [b() for b in body]
    apart_body.insert(fused_at + 1, L.Activation("linear"))
    apart = pyconv.Sequential([pyconv.Input(input_shape)] + apart_body)
    apart.set_weights(fused.get_weights())
    for m in (fused, apart):
        m.compile(optimizer=pyconv.optimizers.SGD(learning_rate=0.1), loss=loss)
    return fused, apart


def _data(model, batch, classes=10, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch,) + tuple(model.input_shape[1:])).astype(np.float32)
    return x, rng.integers(0, classes, batch)


def _assert_same_steps(fused, apart, x, y, steps=2):
    for _ in range(steps):
        loss_f = fused.train_on_batch(x, y)
        loss_a = apart.train_on_batch(x, y)
        np.testing.assert_allclose(loss_f, loss_a, rtol=1e-5)
    for wf, wa in zip(fused.get_weights(), apart.get_weights()):
        np.testing.assert_allclose(wf, wa, rtol=2e-4, atol=2e-6)


def _conv(*args, **kw):
    return lambda: L.Conv2D(*args, **kw)


def _pool(*args, **kw):
    return lambda: L.MaxPooling2D(*args, **kw)


def _head(classes=10):
    return [L.Flatten, lambda: L.Dense(classes, activation="softmax")]


@pytest.mark.parametrize("activation", ["relu", "linear", "tanh", "sigmoid", "elu"])
@pytest.mark.parametrize("batch", [1, 3, 23])
def test_first_layer_steps_match_unfused(activation, batch):
    # 24x24x16 outputs: 7 samples a chunk, so batch 23 takes four chunks, the last part-filled.
    body = [_conv(16, 3, activation=activation), _pool(2)] + _head()
    fused, apart = _pair((26, 26, 1), body, 0)
    assert fused._graph.pool_fusions == [[0, 1]]
    assert apart._graph.pool_fusions == []
    x, y = _data(fused, batch)
    _assert_same_steps(fused, apart, x, y)


@pytest.mark.parametrize("batch", [1, 7, 23])
def test_inference_matches_unfused(batch):
    # Two fusions, the second through Winograd; predict, evaluate and model(x).
    body = [_conv(16, 3, activation="relu"), _pool(2), _conv(16, 3, activation="tanh"), _pool(2)]
    body += _head()
    fused = pyconv.Sequential([pyconv.Input((26, 26, 1))] + [b() for b in body])
    linear = lambda: L.Activation("linear")  # noqa: E731
    apart = pyconv.Sequential([pyconv.Input((26, 26, 1))] +
                              [b() for b in body[:1] + [linear] + body[1:3] + [linear] + body[3:]])
    apart.set_weights(fused.get_weights())
    assert fused._graph.pool_fusions == [[0, 1], [2, 3]]
    x, y = _data(fused, batch)
    np.testing.assert_allclose(fused.predict(x, verbose=0), apart.predict(x, verbose=0),
                               rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(np.asarray(fused(x)), np.asarray(apart(x)), rtol=1e-6, atol=1e-7)
    for m in (fused, apart):
        m.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    np.testing.assert_allclose(fused.evaluate(x, y, verbose=0), apart.evaluate(x, y, verbose=0),
                               rtol=1e-6)


@pytest.mark.parametrize("batch", [1, 3])
def test_few_large_images_steps_match_unfused(batch):
    # 68x68x16 outputs (296 KB a sample): one sample a chunk, and with fewer
    # chunks than threads each chunk's kernels take every thread.
    body = [_conv(16, 3, activation="relu"), _pool(2)] + _head()
    fused, apart = _pair((70, 70, 1), body, 0)
    x, y = _data(fused, batch)
    _assert_same_steps(fused, apart, x, y)


@pytest.mark.parametrize(
    "conv, pool",
    [
        (dict(filters=8, kernel_size=3), dict(pool_size=2)),  # 11x11 -> 5x5: a row and column in no window
        (dict(filters=8, kernel_size=3, padding="same"), dict(pool_size=3, strides=2, padding="same")),  # overlapping windows
        (dict(filters=6, kernel_size=(3, 2), strides=2, dilation_rate=1), dict(pool_size=(2, 1))),
        (dict(filters=33, kernel_size=3, dilation_rate=2, use_bias=False), dict(pool_size=2, strides=1)),
        (dict(filters=4, kernel_size=1), dict(pool_size=2)),  # pointwise
        (dict(filters=6, kernel_size=3, groups=3), dict(pool_size=2)),  # grouped
        (dict(filters=6, kernel_size=3, groups=6), dict(pool_size=2)),  # depthwise
    ],
)
def test_second_layer_steps_match_unfused(conv, pool):
    # The fused layer is not the first: its input gradient flows on to the first.
    body = [_conv(6, 3, activation="relu"), _conv(activation="relu", **conv), _pool(**pool)] + _head()
    fused, apart = _pair((13, 13, 2), body, 1)
    assert fused._graph.pool_fusions == [[1, 2]]
    x, y = _data(fused, 5)
    _assert_same_steps(fused, apart, x, y)


def test_two_fusions_in_the_keras_example():
    # The second convolution runs through Winograd (3x3, 32 channels to 64).
    body = [_conv(32, 3, activation="relu"), _pool(2), _conv(64, 3, activation="relu"), _pool(2),
            L.Flatten, lambda: L.Dense(10, activation="softmax")]
    fused = pyconv.Sequential([pyconv.Input((28, 28, 1))] + [b() for b in body])
    assert fused._graph.pool_fusions == [[0, 1], [2, 3]]
    linear = lambda: L.Activation("linear")  # noqa: E731
    apart = pyconv.Sequential([pyconv.Input((28, 28, 1))] +
                              [b() for b in body[:1] + [linear] + body[1:3] + [linear] + body[3:]])
    assert apart._graph.pool_fusions == []
    apart.set_weights(fused.get_weights())
    for m in (fused, apart):
        m.compile(optimizer=pyconv.optimizers.SGD(learning_rate=0.1),
                  loss="sparse_categorical_crossentropy")
    x, y = _data(fused, 9)
    _assert_same_steps(fused, apart, x, y)


def test_fused_gradient_matches_finite_differences():
    # SGD with learning rate 1 moves each weight by minus its gradient; the
    # loss at nearby weights comes from evaluation. (A
    # step of 1e-4: tanh's curvature at these pre-activations makes 1e-2 too
    # coarse, and a smaller step moves fewer windows' winners; the seed fixes
    # the weights, so the check is the same every run.)
    pyconv.utils.set_random_seed(7)
    model = pyconv.Sequential([pyconv.Input((9, 9, 2)), L.Conv2D(5, 3, activation="tanh"),
                               L.MaxPooling2D(2), L.Flatten(), L.Dense(3)])
    model.compile(optimizer=pyconv.optimizers.SGD(learning_rate=1.0), loss="mse")
    assert model._graph.pool_fusions == [[0, 1]]
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 9, 9, 2)).astype(np.float32)
    y = rng.standard_normal((4, 3)).astype(np.float32)
    before = [w.copy() for w in model.get_weights()]
    model.train_on_batch(x, y)
    after = model.get_weights()
    for i, what in ((0, "kernel"), (1, "bias")):
        def loss_at(value):
            model.set_weights(before[:i] + [value] + before[i + 1:])
            return float(model.test_on_batch(x, y))

        coords = rng.choice(before[i].size, min(20, before[i].size), replace=False)
        numeric = numeric_grad(loss_at, before[i].copy(), coords, 1e-4)
        analytic = (before[i] - after[i]).reshape(-1)[coords]
        assert_grad_close(numeric, analytic, f"fused conv {what}")


def test_frozen_layer_still_passes_its_input_gradient():
    body = [_conv(4, 3, activation="relu"), _conv(6, 3, activation="relu"), _pool(2)] + _head()
    fused, apart = _pair((12, 12, 1), body, 1)
    for m in (fused, apart):
        m.layers[1].trainable = False
        m.compile(optimizer=pyconv.optimizers.SGD(learning_rate=0.1),
                  loss="sparse_categorical_crossentropy")
    frozen = fused.layers[1].get_weights()[0].copy()
    first = fused.layers[0].get_weights()[0].copy()
    x, y = _data(fused, 4)
    _assert_same_steps(fused, apart, x, y)
    np.testing.assert_array_equal(fused.layers[1].get_weights()[0], frozen)
    assert not np.allclose(fused.layers[0].get_weights()[0], first)  # trained through it


def test_not_fused_where_the_output_is_needed():
    def conv_and_pool():
        inp = pyconv.Input((10, 10, 2))
        conv = L.Conv2D(4, 3, activation="relu")(inp)
        return inp, conv, L.MaxPooling2D(2)(conv)

    # The convolution's output is read twice: no fusion.
    inp, conv, pooled = conv_and_pool()
    two = pyconv.Model(inp, [L.Flatten()(pooled), L.GlobalAveragePooling2D()(conv)])
    assert two._graph.pool_fusions == []
    # A model output: no fusion.
    inp, conv, pooled = conv_and_pool()
    assert pyconv.Model(inp, [conv, pooled])._graph.pool_fusions == []
    # A layer called twice (shared weights): none.
    inp = pyconv.Input((10, 10, 2))
    shared = L.Conv2D(2, 3, padding="same")
    twice = pyconv.Model(inp, L.MaxPooling2D(2)(shared(shared(inp))))
    assert twice._graph.pool_fusions == []
    # Average pooling, gelu (its derivative needs the input), an activity regularizer: none.
    for layers in ([L.Conv2D(4, 3), L.AveragePooling2D(2)],
                   [L.Conv2D(4, 3, activation="gelu"), L.MaxPooling2D(2)],
                   [L.Conv2D(4, 3, activity_regularizer=pyconv.regularizers.L2(0.1)),
                    L.MaxPooling2D(2)]):
        model = pyconv.Sequential([pyconv.Input((10, 10, 2))] + layers + [L.Flatten(), L.Dense(2)])
        assert model._graph.pool_fusions == []
    # The pooling as the model's output is fused; its output is what training returns.
    model = pyconv.Sequential([pyconv.Input((10, 10, 2)), L.Conv2D(4, 3), L.MaxPooling2D(2)])
    assert model._graph.pool_fusions == [[0, 1]]
    model.compile(optimizer="sgd", loss="mse")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 10, 10, 2)).astype(np.float32)
    before = model.predict(x, verbose=0)
    loss = model.test_on_batch(x, np.zeros_like(before))
    np.testing.assert_allclose(model.train_on_batch(x, np.zeros_like(before)), loss, rtol=1e-5)


def test_fused_step_follows_batch_size_changes():
    body = [_conv(16, 3, activation="relu"), _pool(2)] + _head()
    fused, apart = _pair((26, 26, 1), body, 0)
    for batch in (23, 2, 40):
        x, y = _data(fused, batch, seed=batch)
        _assert_same_steps(fused, apart, x, y, steps=1)


def test_profile_names_the_layer_a_pooling_runs_in():
    model = pyconv.Sequential([pyconv.Input((10, 10, 2)), L.Conv2D(4, 3, name="c"),
                               L.MaxPooling2D(2, name="p"), L.Flatten(), L.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    x = np.zeros((2, 10, 10, 2), np.float32)
    with pyconv.profile(model) as report:
        model.train_on_batch(x, np.zeros((2, 2), np.float32))
    rows = {r["layer"]: r for r in report.rows}
    assert rows["p"]["in"] == "c" and rows["c"]["in"] is None
    assert rows["p"]["forward_calls"] == 0 and rows["c"]["backward_calls"] == 1
    assert "p (MaxPooling2D, in c)" in str(report)
