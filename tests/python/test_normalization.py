"""LayerNormalization and LocalResponseNormalization against NumPy, with
finite-difference gradients."""

import numpy as np
import pytest

import kernel_cases
import pyconv
from gradcheck import assert_close_to_reference, check_layer_grads, randomize_params
from pyconv import _core
from pyconv import layers as L

RNG = np.random.default_rng(0)


@pytest.mark.parametrize("shape", [(7,), (3, 4, 5), (2, 1)], ids=str)
@pytest.mark.parametrize("center, scale", [(True, True), (False, True), (True, False)])
def test_layer_normalization(shape, center, scale):
    layer = L.LayerNormalization(center=center, scale=scale, epsilon=1e-3)
    runner = _core.LayerRunner(layer.core_config(), shape)
    params = randomize_params(runner, RNG)
    gamma = params[0] if scale else 1.0
    beta = params[-1] if center else 0.0
    x = (RNG.standard_normal((3,) + shape) * 2 + 1).astype(np.float32)
    x64 = x.astype(np.float64)
    mean = x64.mean(axis=-1, keepdims=True)
    var = x64.var(axis=-1, keepdims=True)
    expected = gamma * (x64 - mean) / np.sqrt(var + 1e-3) + beta
    assert_close_to_reference(runner.forward(x), expected)
    check_layer_grads(runner, x)


def numpy_lrn(x, radius, bias, alpha, beta):
    x = x.astype(np.float64)
    c = x.shape[-1]
    out = np.empty_like(x)
    for k in range(c):
        lo, hi = max(0, k - radius), min(c, k + radius + 1)
        out[..., k] = x[..., k] / (bias + alpha * np.sum(x[..., lo:hi] ** 2, axis=-1)) ** beta
    return out



def _lrn_cases(section):
    """A section's rows of tests/data/kernel_cases.txt as (input shape, arguments)."""
    return [(shape, {k: v for k, v in config.items() if k != "type"})
            for shape, config in kernel_cases.layers(section)]


LRN_CASES = _lrn_cases("lrn")  # which arguments take which path: kernel_cases.txt
LRN_FAST_CASES = _lrn_cases("lrn_fast")


@pytest.mark.parametrize("isa", _core.available_isas())
@pytest.mark.parametrize("shape,args", LRN_CASES, ids=[str(args) for _, args in LRN_CASES])
def test_local_response_normalization(shape, args, isa, use_isa):
    use_isa(isa)
    layer = L.LocalResponseNormalization(**args)
    runner = _core.LayerRunner(layer.core_config(), shape)
    x = RNG.standard_normal((2,) + shape).astype(np.float32)
    full = {"depth_radius": 5, "bias": 1.0, "alpha": 1.0, "beta": 0.5, **args}
    expected = numpy_lrn(x, full["depth_radius"], full["bias"], full["alpha"], full["beta"])
    assert_close_to_reference(runner.forward(x), expected, rtol=1e-5, atol_rel=1e-6)
    check_layer_grads(runner, x)


@pytest.mark.parametrize("isa", [isa for isa in _core.available_isas() if isa != "ref"])
@pytest.mark.parametrize("shape,args", LRN_FAST_CASES,
                         ids=[str(shape[2]) for shape, _ in LRN_FAST_CASES])
def test_lrn_fast_kernels_match_the_reference(shape, args, isa, use_isa):
    # AlexNet's arguments on a batch big enough to be split among threads.
    config = L.LocalResponseNormalization(**args).core_config()
    x = (RNG.standard_normal((4,) + shape) * 30).astype(np.float32)
    dy = RNG.standard_normal(x.shape).astype(np.float32)
    results = []
    for which in ("ref", isa):
        use_isa(which)
        runner = _core.LayerRunner(config, x.shape[1:])
        results.append((runner.forward(x, training=True), runner.backward(dy)[0]))
    np.testing.assert_allclose(results[1][0], results[0][0], rtol=2e-6, atol=1e-6)
    np.testing.assert_allclose(results[1][1], results[0][1], rtol=2e-6, atol=1e-6)


def test_lrn_matches_tensorflows_definition_not_pytorchs():
    # TensorFlow: alpha multiplies the plain sum (PyTorch divides it by the size).
    runner = _core.LayerRunner(L.LocalResponseNormalization(1, 0.5, 0.25, 1.0).core_config(),
                               (3,))
    x = np.array([[1.0, 2.0, 3.0]], np.float32)
    expected = [1 / (0.5 + 0.25 * 5), 2 / (0.5 + 0.25 * 14), 3 / (0.5 + 0.25 * 13)]
    np.testing.assert_allclose(runner.forward(x)[0], expected, rtol=1e-6)


def test_arguments_are_checked():
    with pytest.raises(ValueError, match="depth_radius >= 0"):
        L.LocalResponseNormalization(depth_radius=-1)
    with pytest.raises(ValueError, match="epsilon must be positive"):
        L.LayerNormalization(epsilon=0.0)
    with pytest.raises(ValueError, match="only axis=-1"):
        L.LayerNormalization(axis=1)


def test_an_alexnet_style_block_trains():
    pyconv.set_seed(3)
    model = pyconv.Sequential([
        pyconv.Input((12, 12, 1)), L.Conv2D(8, 5, strides=2, activation="relu"),
        L.LocalResponseNormalization(2, 2.0, 1e-4, 0.75), L.MaxPooling2D(),
        L.Flatten(), L.LayerNormalization(), L.Dense(2, activation="softmax")])
    model.compile(pyconv.optimizers.Adam(0.01), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    x = RNG.random((128, 12, 12, 1), dtype=np.float32)
    y = (x[:, :6].mean(axis=(1, 2, 3)) > x[:, 6:].mean(axis=(1, 2, 3))).astype(int)
    model.fit(x, y, epochs=30, batch_size=32, verbose=0)
    # 1.0 here; without the LayerNormalization the same block reaches 0.80.
    assert model.evaluate(x, y, verbose=0)[1] > 0.95
