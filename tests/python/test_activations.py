"""The Activation layer through _core.LayerRunner."""

import numpy as np
import pytest

import reference as ref
from gradcheck import assert_close_to_reference, check_layer_grads, spaced_values
from pyconv import _core

ACTS = ["linear", "relu", "tanh", "sigmoid", "softmax", "elu", "selu", "softplus", "relu6",
        "hard_sigmoid", "leaky_relu", "gelu", "swish", "silu"]
KINKED = {"relu", "relu6", "hard_sigmoid", "leaky_relu", "selu"}  # not smooth somewhere
SHAPES = [(1,), (7,), (16,), (17,), (3, 5, 4), (2, 3, 15)]


def act_runner(name, input_shape):
    return _core.LayerRunner({"type": "Activation", "name": "act", "activation": name}, tuple(input_shape))


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("activation", ACTS)
def test_forward(activation, shape):
    rng = np.random.default_rng(len(shape))
    runner = act_runner(activation, shape)
    assert tuple(runner.output_shape) == shape
    assert list(runner.param_names) == []
    x = (3 * rng.standard_normal((2,) + shape)).astype(np.float32)
    y = runner.forward(x)
    assert_close_to_reference(y, ref.activation(activation, x), rtol=1e-5, atol_rel=1e-6)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("activation", ACTS)
def test_backward(activation, shape):
    rng = np.random.default_rng(len(shape) + 10)
    runner = act_runner(activation, shape)
    # Well-spaced distinct values keep ReLU away from its kink (eps << spacing/2);
    # for the smooth activations they are just a spread of inputs in about [-3, 3].
    n = 2 * int(np.prod(shape))
    x = spaced_values((2,) + shape, rng, spacing=min(0.05, 6.0 / n))
    check_layer_grads(runner, x, seed=len(shape), training=True,
                      eps=min(1e-2, 0.5 / n) if activation in KINKED else 1e-2)
    # Closed form on every element.
    y = runner.forward(x, training=True)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx, dparams = runner.backward(dy)
    assert list(dparams) == []
    expected = ref.activation_backward(activation, ref.activation(activation, x), dy, x)
    assert_close_to_reference(dx, expected, rtol=1e-5, atol_rel=1e-5)


@pytest.mark.parametrize("k", [1, 2, 3, 4, 7, 8, 15, 16, 17, 100])
def test_softmax_rows_sum_to_one(k):
    rng = np.random.default_rng(k)
    runner = act_runner("softmax", (3, k))
    x = (5 * rng.standard_normal((4, 3, k))).astype(np.float32)
    y = runner.forward(x)
    assert np.all(y >= 0)
    np.testing.assert_allclose(y.sum(axis=-1), 1.0, rtol=1e-5)


def test_softmax_is_over_last_axis():
    runner = act_runner("softmax", (2, 3))
    x = np.array([[[0, 0, 0], [1, 2, 3]]], np.float32)
    y = runner.forward(x)
    np.testing.assert_allclose(y[0, 0], [1 / 3] * 3, rtol=1e-5)
    e = np.exp([1.0, 2.0, 3.0])
    np.testing.assert_allclose(y[0, 1], e / e.sum(), rtol=1e-5)


@pytest.mark.parametrize("activation", ACTS)
def test_extreme_inputs_finite(activation):
    runner = act_runner(activation, (4,))
    x = np.array(
        [[1e4, -1e4, 0, 1], [-1e4, -1e4, -1e4, -1e4], [1e4, 1e4, 1e4, 0], [88, 89, -88, -89]],
        np.float32,
    )
    y = runner.forward(x, training=True)
    assert np.all(np.isfinite(y)), y
    assert_close_to_reference(y, ref.activation(activation, x), rtol=1e-5, atol_rel=1e-6)
    dx, _ = runner.backward(np.ones_like(y))
    assert np.all(np.isfinite(dx)), dx


def test_hand_computed_values():
    x = np.array([[-2.0, -0.5, 0.0, 0.5, 2.0]], np.float32)
    np.testing.assert_array_equal(act_runner("relu", (5,)).forward(x), [[0, 0, 0, 0.5, 2]])
    np.testing.assert_array_equal(act_runner("linear", (5,)).forward(x), x)
    np.testing.assert_allclose(act_runner("sigmoid", (5,)).forward(x)[0, 2], 0.5, rtol=1e-6)
    y = act_runner("tanh", (5,)).forward(x)[0]
    np.testing.assert_allclose(y, np.tanh(x[0].astype(np.float64)), rtol=1e-6)


# --- activations whose derivative needs the input, fused into Dense and Conv2D ------


@pytest.mark.parametrize("activation", ["gelu", "swish"])
@pytest.mark.parametrize("layer", [
    {"type": "Dense", "units": 5},
    {"type": "Conv2D", "filters": 3, "kernel_size": [2, 2]},
], ids=["Dense", "Conv2D"])
def test_input_needing_activation_inside_a_layer(layer, activation):
    rng = np.random.default_rng(5)
    shape = (6,) if layer["type"] == "Dense" else (4, 4, 2)
    runner = _core.LayerRunner({**layer, "name": "l", "activation": activation}, shape)
    x = rng.standard_normal((3,) + shape).astype(np.float32)
    linear = _core.LayerRunner({**layer, "name": "l", "activation": "linear"}, shape)
    linear.set_params(runner.get_params())
    z = linear.forward(x)
    assert_close_to_reference(runner.forward(x), ref.activation(activation, z), rtol=1e-5,
                              atol_rel=1e-6)
    check_layer_grads(runner, x, training=True)


def test_its_backward_needs_a_training_forward():
    runner = _core.LayerRunner({"type": "Dense", "units": 2, "name": "d",
                                "activation": "gelu"}, (3,))
    runner.forward(np.ones((1, 3), np.float32), training=False)
    with pytest.raises(Exception, match="needs a training forward pass"):
        runner.backward(np.ones((1, 2), np.float32))


# --- LeakyReLU, ELU, PReLU -----------------------------------------------------------


def _layer(config, shape):
    return _core.LayerRunner({"name": "l", **config}, shape)


@pytest.mark.parametrize("config, fn", [
    ({"type": "LeakyReLU"}, lambda x: np.where(x > 0, x, 0.3 * x)),
    ({"type": "LeakyReLU", "negative_slope": 0.05}, lambda x: np.where(x > 0, x, 0.05 * x)),
    ({"type": "ELU"}, lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0)))),
    ({"type": "ELU", "alpha": 0.5}, lambda x: np.where(x > 0, x, 0.5 * np.expm1(np.minimum(x, 0)))),
], ids=["leaky", "leaky0.05", "elu", "elu0.5"])
def test_sloped_activation_layers(config, fn):
    rng = np.random.default_rng(6)
    runner = _layer(config, (3, 4))
    x = spaced_values((2, 3, 4), rng, spacing=0.1)
    assert_close_to_reference(runner.forward(x), fn(x.astype(np.float64)), rtol=1e-6,
                              atol_rel=1e-6)
    check_layer_grads(runner, x, eps=1e-2)


@pytest.mark.parametrize("shared_axes, alpha_shape", [(None, (3, 2, 4)), ([1, 2], (1, 1, 4)),
                                                      ([3], (3, 2, 1))])
def test_prelu_learns_a_slope_per_unshared_element(shared_axes, alpha_shape):
    rng = np.random.default_rng(7)
    config = {"type": "PReLU"} if shared_axes is None else {"type": "PReLU",
                                                            "shared_axes": shared_axes}
    runner = _layer(config, (3, 2, 4))
    (alpha,) = runner.get_params()
    assert alpha.shape == alpha_shape
    np.testing.assert_array_equal(alpha, 0)  # Keras's zeros initializer
    alpha = rng.uniform(0.1, 0.5, alpha_shape).astype(np.float32)
    runner.set_params([alpha])
    x = spaced_values((2, 3, 2, 4), rng, spacing=0.1)
    expected = np.where(x > 0, x, alpha * x.astype(np.float64))
    assert_close_to_reference(runner.forward(x), expected, rtol=1e-6, atol_rel=1e-6)
    check_layer_grads(runner, x, eps=1e-2)


def test_activation_layer_arguments_are_checked():
    import pyconv
    from pyconv import layers as L
    with pytest.raises(ValueError, match="negative_slope must be non-negative"):
        L.LeakyReLU(negative_slope=-1)
    assert L.LeakyReLU(alpha=0.1).get_config()["negative_slope"] == pytest.approx(0.1)
    with pytest.raises(ValueError, match="shared_axes must be in"):
        pyconv.Sequential([pyconv.Input((4, 4, 3)), L.PReLU(shared_axes=[4])]).build()
    with pytest.raises(TypeError, match="shared_axes must be integers"):
        L.PReLU(shared_axes=["h"])
