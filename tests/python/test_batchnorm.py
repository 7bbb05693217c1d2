"""BatchNormalization: batch statistics in training, moving averages at
inference, Keras's weights and defaults, gradients by finite differences, and
the layer in a model that trains, saves and runs through the C library."""

import numpy as np
import pytest

import pyconv
from pyconv import _core
from pyconv import layers as L

from gradcheck import check_layer_grads


def numpy_batchnorm(x, gamma, beta, mean, var, epsilon):
    return gamma * (x - mean) / np.sqrt(var + epsilon) + beta


def _runner(shape, **args):
    return _core.LayerRunner({"type": "BatchNormalization", "name": "bn", **args}, shape)


@pytest.mark.parametrize("shape", [(4, 5, 3), (7,), (1, 1, 6), (3, 2, 9)])
def test_training_uses_the_batch_statistics(shape):
    rng = np.random.default_rng(0)
    runner = _runner(shape)
    gamma = rng.uniform(0.5, 2, shape[-1]).astype(np.float32)
    beta = rng.standard_normal(shape[-1]).astype(np.float32)
    runner.set_params([gamma, beta] + runner.get_params()[2:])
    x = (rng.standard_normal((3,) + shape) * 4 + 2).astype(np.float32)
    axes = tuple(range(x.ndim - 1))
    expected = numpy_batchnorm(x.astype(np.float64), gamma, beta, x.mean(axis=axes),
                               x.var(axis=axes), 1e-3)
    np.testing.assert_allclose(runner.forward(x, training=True), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("offset, spread", [(1e4, 0.5), (-300.0, 1e-2), (0.0, 1e3)])
def test_batch_statistics_hold_for_channels_far_from_zero_mean(offset, spread):
    """Many rows (sums in runs of float, then double) of a channel whose mean
    dwarfs its spread: the variance must not cancel away."""
    rng = np.random.default_rng(1)
    runner = _runner((8, 8, 5), epsilon=1e-6)
    x = (offset + spread * rng.standard_normal((64, 8, 8, 5))).astype(np.float32)
    x64 = x.astype(np.float64)
    expected = (x64 - x64.mean(axis=(0, 1, 2))) / np.sqrt(x64.var(axis=(0, 1, 2)) + 1e-6)
    np.testing.assert_allclose(runner.forward(x, training=True), expected, rtol=2e-3, atol=2e-3)


def test_inference_uses_the_moving_statistics_and_a_step_moves_them():
    rng = np.random.default_rng(1)
    runner = _runner((4, 4, 3), momentum=0.9, epsilon=1e-2)
    assert list(runner.param_names) == ["gamma", "beta", "moving_mean", "moving_variance"]
    gamma, beta, mean, var = runner.get_params()
    np.testing.assert_array_equal(mean, 0)
    np.testing.assert_array_equal(var, 1)
    x = (rng.standard_normal((5, 4, 4, 3)) * 3 - 1).astype(np.float32)
    y = runner.forward(x, training=True)
    runner.backward(np.zeros_like(y))  # a training step's backward moves the averages
    moved_mean, moved_var = runner.get_params()[2:]
    np.testing.assert_allclose(moved_mean, 0.1 * x.mean(axis=(0, 1, 2)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(moved_var, 0.9 + 0.1 * x.var(axis=(0, 1, 2)), rtol=1e-5)
    expected = numpy_batchnorm(x.astype(np.float64), gamma, beta, moved_mean, moved_var, 1e-2)
    np.testing.assert_allclose(runner.forward(x, training=False), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("center, scale", [(True, True), (False, True), (True, False),
                                           (False, False)])
def test_gradients_match_finite_differences(center, scale):
    rng = np.random.default_rng(2)
    runner = _runner((3, 2, 4), center=center, scale=scale)
    names = list(runner.param_names)
    assert names == (["gamma"] if scale else []) + (["beta"] if center else []) + \
        ["moving_mean", "moving_variance"]
    if scale:
        params = runner.get_params()
        params[0] = rng.uniform(0.5, 2, 4).astype(np.float32)
        runner.set_params(params)
    x = (rng.standard_normal((5, 3, 2, 4)) * 2 + 1).astype(np.float32)
    check_layer_grads(runner, x, training=True, eps=1e-2)


@pytest.mark.parametrize("center, scale", [(True, True), (False, True), (True, False)])
def test_inference_mode_trains_gamma_and_beta_against_the_moving_statistics(center, scale):
    """inference_mode (a model called with training=False inside another):
    training uses the moving statistics, which stay as they are, and the
    gradients are those of that fixed normalisation."""
    rng = np.random.default_rng(4)
    runner = _runner((3, 2, 4), center=center, scale=scale, inference_mode=True)
    params = runner.get_params()
    k = int(scale) + int(center)
    params[k] = rng.standard_normal(4).astype(np.float32)         # moving mean
    params[k + 1] = rng.uniform(0.5, 2, 4).astype(np.float32)     # moving variance
    if scale:
        params[0] = rng.uniform(0.5, 2, 4).astype(np.float32)
    runner.set_params(params)
    x = (rng.standard_normal((5, 3, 2, 4)) * 2 + 1).astype(np.float32)
    gamma = params[0] if scale else 1.0
    beta = params[1 if scale else 0] if center else 0.0
    expected = numpy_batchnorm(x.astype(np.float64), gamma, beta, params[k], params[k + 1], 1e-3)
    np.testing.assert_allclose(runner.forward(x, training=True), expected, rtol=1e-5, atol=1e-5)
    check_layer_grads(runner, x, training=True, eps=1e-2)
    for a, b in zip(runner.get_params()[k:], params[k:]):
        np.testing.assert_array_equal(a, b)  # no step moved the statistics


def test_arguments_are_checked():
    with pytest.raises(ValueError, match="momentum must be in"):
        L.BatchNormalization(momentum=1.5)
    with pytest.raises(ValueError, match="epsilon must be positive"):
        L.BatchNormalization(epsilon=0)
    with pytest.raises(ValueError, match="only axis=-1"):
        L.BatchNormalization(axis=1)
    with pytest.raises(TypeError, match="momentum must be a number"):
        L.BatchNormalization(momentum="0.9")


def _cnn():
    return pyconv.Sequential([pyconv.Input((28, 28, 1)),
                              L.Conv2D(8, 3, use_bias=False), L.BatchNormalization(),
                              L.ReLU(), L.MaxPooling2D(), L.Flatten(),
                              L.Dense(10, activation="softmax")])


def test_summary_counts_the_moving_statistics_as_non_trainable():
    model = _cnn()
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    # Keras: Conv2D(8, 3, no bias) 72, BatchNormalization(8) 32 (16 non-trainable),
    # Dense(13 * 13 * 8 -> 10) 13,530.
    assert "Total params: 13,634" in text
    assert "Non-trainable params: 16" in text


def test_a_model_with_batchnorm_trains_saves_and_runs_natively(tmp_path):
    pyconv.set_seed(0)
    (x, y), (x_test, y_test) = pyconv.datasets.mnist.load_sample(num_test=500)
    x, x_test = pyconv.data.normalize(x[:3000]), pyconv.data.normalize(x_test)
    model = _cnn()
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x[..., None], y[:3000], batch_size=64, epochs=2, verbose=0)
    _, accuracy = model.evaluate(x_test[..., None], y_test, verbose=0)
    assert accuracy > 0.75  # 0.78 here (without BatchNormalization: 0.69); chance is 0.1
    moving_mean = model.layers[1].get_weights()[2]
    assert np.abs(moving_mean).max() > 0  # the moving statistics moved
    path = tmp_path / "bn.pcv"
    model.save(path)
    loaded = pyconv.models.load_model(path)
    for a, b in zip(loaded.layers[1].get_weights(), model.layers[1].get_weights()):
        np.testing.assert_array_equal(a, b)
    batch = np.ascontiguousarray(x_test[:50, ..., None])
    expected = model.predict(batch, batch_size=50, verbose=0)
    np.testing.assert_array_equal(loaded.predict(batch, batch_size=50, verbose=0), expected)

    from test_native_runtime import _library, assert_c_api_matches_python
    assert_c_api_matches_python(_library(), model, batch, tmp_path / "bn-again.pcv")


def test_a_frozen_layer_runs_in_inference_mode_as_in_keras():
    # trainable = False: training uses (and keeps) the moving statistics, and
    # the input gradient is that of the fixed affine map.
    rng = np.random.default_rng(3)
    inp = pyconv.Input(shape=(3, 3, 2))
    bn = L.BatchNormalization(moving_variance_initializer="ones")
    model = pyconv.Model(inp, L.Dense(2)(L.Flatten()(bn(L.Conv2D(2, 1)(inp)))))
    model.compile("sgd", "mse")
    gamma, beta, mean, var = bn.get_weights()
    bn.set_weights([gamma * 2, beta + 1, mean + 0.5, var * 3])
    bn.trainable = False
    before = bn.get_weights()
    x = rng.standard_normal((4, 3, 3, 2)).astype(np.float32)
    t = rng.standard_normal((4, 2)).astype(np.float32)
    model.train_on_batch(x, t)
    for a, b in zip(bn.get_weights(), before):
        np.testing.assert_array_equal(a, b)
    from gradcheck import check_model_grads
    check_model_grads(model._graph, x, t)
