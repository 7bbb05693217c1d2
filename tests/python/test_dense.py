"""Dense through _core.LayerRunner against reference.dense and finite differences."""

import numpy as np
import pytest

import reference as ref
from gradcheck import assert_close_to_reference, check_layer_grads, randomize_params
from pyconv import _core

SIZES = [1, 2, 3, 4, 7, 8, 15, 16, 17]
ACTS = ["linear", "relu", "tanh", "sigmoid", "softmax"]


def dense_config(units, activation="linear", use_bias=True, name="dense"):
    return {
        "type": "Dense",
        "name": name,
        "units": int(units),
        "activation": activation,
        "use_bias": bool(use_bias),
    }


def build(cfg, n_in, seed):
    rng = np.random.default_rng(seed)
    runner = _core.LayerRunner(cfg, (n_in,))
    params = randomize_params(runner, rng)
    return runner, params, rng


def reference_forward(cfg, x, params):
    bias = params[1] if cfg["use_bias"] else None
    return ref.dense(x, params[0], bias, cfg["activation"])


@pytest.mark.parametrize("n_in", SIZES)
@pytest.mark.parametrize("units", [1, 3, 8, 16, 17])
def test_forward(n_in, units):
    cfg = dense_config(units)
    runner, params, rng = build(cfg, n_in, seed=n_in * 100 + units)
    n = 1 if units % 2 else 3
    x = rng.standard_normal((n, n_in)).astype(np.float32)
    assert tuple(runner.output_shape) == (units,)
    assert_close_to_reference(runner.forward(x), reference_forward(cfg, x, params))


@pytest.mark.parametrize("n_in, units", [(1, 1), (3, 8), (8, 3), (16, 17), (17, 16)])
def test_backward(n_in, units):
    cfg = dense_config(units)
    runner, params, rng = build(cfg, n_in, seed=units)
    x = rng.standard_normal((4, n_in)).astype(np.float32)
    check_layer_grads(runner, x, seed=units)


@pytest.mark.parametrize("activation", ACTS)
@pytest.mark.parametrize("units", [1, 5, 16])
def test_forward_activation(activation, units):
    cfg = dense_config(units, activation)
    runner, params, rng = build(cfg, 6, seed=units)
    x = rng.standard_normal((3, 6)).astype(np.float32)
    y = runner.forward(x)
    assert_close_to_reference(y, reference_forward(cfg, x, params))
    if activation == "softmax":
        np.testing.assert_allclose(y.sum(axis=-1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "softmax"])
def test_backward_smooth_activation(activation):
    cfg = dense_config(7, activation)
    runner, params, rng = build(cfg, 5, seed=1)
    x = rng.standard_normal((3, 5)).astype(np.float32)
    check_layer_grads(runner, x, seed=1)


@pytest.mark.parametrize("activation", ACTS)
def test_backward_fused_activation_chain_rule(activation):
    cfg = dense_config(6, activation)
    runner, params, rng = build(cfg, 9, seed=5)
    lin = _core.LayerRunner(dict(cfg, activation="linear"), (9,))
    lin.set_params(params)
    x = rng.standard_normal((4, 9)).astype(np.float32)
    y = runner.forward(x)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx, dps = runner.backward(dy)
    lin.forward(x)
    dx_lin, dps_lin = lin.backward(ref.activation_backward(activation, y, dy).astype(np.float32))
    np.testing.assert_allclose(dx, dx_lin, rtol=1e-4, atol=1e-5)
    for a, b in zip(dps, dps_lin):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_relu_backward_closed_form():
    """Gradients of relu(x W + b) written out: dz = dy * (z > 0)."""
    cfg = dense_config(5, "relu")
    runner, (w, b), rng = build(cfg, 4, seed=9)
    x = rng.standard_normal((6, 4)).astype(np.float32)
    y = runner.forward(x)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx, (dw, db) = runner.backward(dy)
    dz = dy.astype(np.float64) * (ref.dense(x, w, b) > 0)
    assert_close_to_reference(dx, dz @ w.T.astype(np.float64))
    assert_close_to_reference(dw, x.T.astype(np.float64) @ dz)
    assert_close_to_reference(db, dz.sum(axis=0))


def test_no_bias():
    cfg = dense_config(4, use_bias=False)
    runner, params, rng = build(cfg, 3, seed=2)
    assert list(runner.param_names) == ["kernel"]
    assert [p.shape for p in params] == [(3, 4)]
    x = rng.standard_normal((2, 3)).astype(np.float32)
    assert_close_to_reference(runner.forward(x), reference_forward(cfg, x, params))
    check_layer_grads(runner, x, seed=2)


@pytest.mark.parametrize("seed", range(8))
def test_random_shapes(seed):
    rng = np.random.default_rng(seed)
    n_in, units, n = (int(v) for v in rng.integers(1, 40, size=3))
    act = str(rng.choice(["linear", "tanh", "sigmoid", "softmax"]))
    cfg = dense_config(units, act, use_bias=bool(rng.random() < 0.8))
    runner, params, rng = build(cfg, n_in, seed)
    x = rng.standard_normal((n, n_in)).astype(np.float32)
    assert_close_to_reference(runner.forward(x), reference_forward(cfg, x, params))
    check_layer_grads(runner, x, seed=seed, n_coords=20)


def test_param_shapes_and_default_init():
    runner = _core.LayerRunner(dense_config(20), (30,))
    assert list(runner.param_names) == ["kernel", "bias"]
    kernel, bias = runner.get_params()
    assert kernel.shape == (30, 20) and bias.shape == (20,)
    assert kernel.dtype == np.float32 and bias.dtype == np.float32
    assert np.all(bias == 0)
    limit = np.sqrt(6.0 / (30 + 20))  # glorot_uniform
    assert np.all(np.abs(kernel) <= limit * (1 + 1e-6))
    assert np.abs(kernel).max() > 0.5 * limit
    # Uniform(-limit, limit) has std limit/sqrt(3); 600 samples: loose bound.
    assert abs(kernel.std() - limit / np.sqrt(3)) < 0.15 * limit
