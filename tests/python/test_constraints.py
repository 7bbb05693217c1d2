"""Keras's weight constraints (kernel_constraint=, bias_constraint=): applied
by the C++ step after every update, checked against the same SGD step
without the constraint followed by the NumPy constraint; saved with the
model; bad ones refused when the layer is made."""

import numpy as np
import pytest

import pyconv
from pyconv import constraints as C
from pyconv import layers as L

RNG = np.random.default_rng(0)


def _one_step(make_layer, shape, out_shape, **constraint_args):
    """Weights after one SGD step with the constraints, and without them."""
    x = RNG.standard_normal((8,) + shape).astype(np.float32) * 3
    y = RNG.standard_normal((8,) + out_shape).astype(np.float32) * 3
    results = []
    for args in (constraint_args, {}):
        pyconv.set_seed(11)
        model = pyconv.Sequential([pyconv.Input(shape), make_layer(**args)])
        model.compile(pyconv.optimizers.SGD(0.5), "mse")
        model.train_on_batch(x, y)
        results.append(model.get_weights())
    return results


@pytest.mark.parametrize("constraint", [C.MaxNorm(0.3), C.MaxNorm(2.0, axis=1), C.UnitNorm(),
                                        C.MinMaxNorm(0.2, 0.4, rate=0.5), C.NonNeg()])
def test_dense_constraints_match_numpy(constraint):
    (w, b), (w_free, b_free) = _one_step(lambda **a: L.Dense(4, **a), (6,), (4,),
                                         kernel_constraint=constraint,
                                         bias_constraint=C.NonNeg())
    np.testing.assert_allclose(w, constraint(w_free), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(b, np.maximum(b_free, 0), rtol=1e-6, atol=1e-7)
    assert not np.allclose(w, w_free)  # the step moved the weights past the constraint


def test_convolution_kernels_are_constrained_over_window_and_channels():
    constraint = C.MaxNorm(0.5, axis=[0, 1, 2])
    (w, _), (w_free, _) = _one_step(lambda **a: L.Conv2D(3, 3, **a), (5, 5, 2), (3, 3, 3),
                                    kernel_constraint=constraint)
    np.testing.assert_allclose(w, constraint(w_free), rtol=1e-5, atol=1e-6)
    assert np.sqrt((w.astype(np.float64) ** 2).sum(axis=(0, 1, 2))).max() <= 0.5 + 1e-5
    (d, _), (d_free, _) = _one_step(lambda **a: L.DepthwiseConv2D(3, **a), (5, 5, 2), (3, 3, 2),
                                    depthwise_constraint="non_neg")
    np.testing.assert_array_equal(d, np.maximum(d_free, 0))


def test_constraints_are_saved_and_keep_acting(tmp_path):
    layer = L.Dense(3, kernel_constraint=C.MaxNorm(0.1))
    config = layer.get_config()
    assert config["kernel_constraint"] == "max_norm(max_value=0.1,axis=0)"
    assert L.Dense.from_config(config).get_config() == config
    depthwise = L.DepthwiseConv2D(3, depthwise_constraint=C.UnitNorm(axis=[0, 1]))
    assert L.DepthwiseConv2D.from_config(depthwise.get_config()).get_config() == \
        depthwise.get_config()
    model = pyconv.Sequential([pyconv.Input((4,)), layer])
    model.compile("adam", "mse")
    model.save(tmp_path / "m.pcv")
    loaded = pyconv.models.load_model(tmp_path / "m.pcv")
    x, y = np.ones((4, 4), np.float32) * 5, np.ones((4, 3), np.float32) * 50
    loaded.fit(x, y, epochs=3, verbose=0)
    w = loaded.get_weights()[0].astype(np.float64)
    assert np.sqrt((w ** 2).sum(axis=0)).max() <= 0.1 + 1e-6
    assert isinstance(C.get(config["kernel_constraint"]), C.MaxNorm)


@pytest.mark.parametrize("make, error, match", [
    (lambda: L.Dense(2, kernel_constraint="max_nrm"), ValueError, "unknown constraint"),
    (lambda: L.Dense(2, kernel_constraint=lambda w: w), ValueError, "Python function"),
    (lambda: L.Dense(2, kernel_constraint=C.MinMaxNorm(2.0, 1.0)), ValueError, "min_value"),
    (lambda: L.Dense(2, kernel_constraint=C.MaxNorm(-1.0)), ValueError, "non-negative"),
    (lambda: L.Dense(2, kernel_constraint="max_norm(max_value=2,size=3)"), ValueError,
     "takes no argument 'size'"),
])
def test_bad_constraints_are_refused(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_an_axis_the_weight_lacks_is_refused_when_built():
    layer = L.Dense(2, kernel_constraint=C.MaxNorm(axis=2))
    with pytest.raises(ValueError, match="axis 2 is out of range"):
        pyconv.Sequential([pyconv.Input((3,)), layer])
