"""pyconv.initializers and pyconv.activations with Keras's names: objects
and functions given to layers name the C++ core's, and called directly they
compute in NumPy. Other Python callables are refused with the reason."""

import numpy as np
import pytest

import pyconv
from pyconv import activations, initializers
from pyconv import layers as L


def test_initializer_objects_name_the_cores():
    pyconv.set_seed(3)
    a = pyconv.Sequential([pyconv.Input((4,)), L.Dense(5, kernel_initializer=initializers.HeNormal(),
                                                       bias_initializer=initializers.Ones())])
    pyconv.set_seed(3)
    b = pyconv.Sequential([pyconv.Input((4,)), L.Dense(5, kernel_initializer="he_normal",
                                                       bias_initializer="ones")])
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    assert a.layers[0].get_config()["kernel_initializer"] == "he_normal"
    with pytest.raises(ValueError, match="unknown initializer"):
        L.Dense(2, kernel_initializer="orthogonl")


def _kernel(initializer, shape=(300, 200)):
    """The kernel the C++ core draws for a Dense layer of this shape."""
    model = pyconv.Sequential([pyconv.Input((shape[0],)),
                               L.Dense(shape[1], kernel_initializer=initializer)])
    return model.layers[0].get_weights()[0].astype(np.float64)


def test_initializers_with_arguments_in_the_core():
    pyconv.set_seed(5)
    w = _kernel(initializers.RandomNormal(mean=0.5, stddev=0.02))
    assert abs(w.mean() - 0.5) < 1e-3 and abs(w.std() - 0.02) < 1e-3
    w = _kernel(initializers.TruncatedNormal(stddev=0.1))
    assert np.abs(w).max() <= 0.2 + 1e-6 and 0.08 < w.std() < 0.09  # 0.1 * 0.88
    w = _kernel(initializers.RandomUniform(-0.2, 0.1))
    assert w.min() >= -0.2 and w.max() <= 0.1 and abs(w.mean() + 0.05) < 2e-3
    np.testing.assert_array_equal(_kernel(initializers.Constant(0.25), (3, 4)), 0.25)
    w = _kernel(initializers.VarianceScaling(2.0, "fan_out", "uniform"))
    assert np.abs(w).max() <= np.sqrt(6 / 200) and abs(w.var() - 2 / 200) < 1e-3 * 2
    w = _kernel(initializers.VarianceScaling(1.0, "fan_avg", "untruncated_normal"))
    assert abs(w.std() - np.sqrt(1 / 250)) < 0.02 * np.sqrt(1 / 250) and np.abs(w).max() > 2 * w.std()
    for shape in ((50, 20), (20, 50), (7, 7)):
        q = _kernel(initializers.Orthogonal(gain=2.0), shape)
        small = q.T @ q if shape[0] >= shape[1] else q @ q.T
        np.testing.assert_allclose(small, 4 * np.eye(min(shape)), atol=1e-5)
    np.testing.assert_array_equal(_kernel(initializers.Identity(3.0), (4, 3)), 3 * np.eye(4, 3))
    # By name (Keras's defaults), and as specs with arguments.
    assert abs(_kernel("random_normal").std() - 0.05) < 2e-3
    assert abs(_kernel("random_normal(stddev=0.3)").std() - 0.3) < 1e-2


def test_a_seeded_initializer_gives_its_own_values():
    pyconv.set_seed(1)
    a = _kernel(initializers.GlorotUniform(seed=7), (6, 5))
    pyconv.set_seed(2)
    b = _kernel(initializers.GlorotUniform(seed=7), (6, 5))
    c = _kernel(initializers.GlorotUniform(seed=8), (6, 5))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    layer = L.Dense(3, kernel_initializer=initializers.RandomNormal(stddev=0.1, seed=4))
    config = layer.get_config()
    assert config["kernel_initializer"] == "random_normal(mean=0.0,stddev=0.1,seed=4)"
    copy = L.Dense.from_config(config)
    assert copy.get_config() == config
    restored = initializers.get(config["kernel_initializer"])
    assert isinstance(restored, initializers.RandomNormal)
    assert (restored.stddev, restored.seed) == (0.1, 4)


@pytest.mark.parametrize("spec, match", [
    ("random_normal(stddev=-1)", "stddev must be >= 0"),
    ("random_uniform(minval=1,maxval=0)", "minval must be <= maxval"),
    ("variance_scaling(mode=fan_middle)", "mode must be one of"),
    ("variance_scaling(scale=0)", "scale must be > 0"),
    ("random_normal(sigma=1)", "takes no argument 'sigma'"),
    ("constant(value=abc)", "finite number"),
    ("random_normal(stddev=0.1", "unknown initializer"),
    ("glorot_uniform(seed=-3)", "seed must be a non-negative integer"),
])
def test_bad_initializer_arguments_are_refused(spec, match):
    with pytest.raises(ValueError, match=match):
        L.Dense(2, kernel_initializer=spec)
    with pytest.raises(ValueError, match="2-D"):
        L.Conv2D(2, 3, kernel_initializer="identity")(pyconv.Input((5, 5, 1)))


def test_initializers_called_directly():
    w = initializers.GlorotUniform(seed=1)((300, 200))
    assert w.shape == (300, 200) and np.abs(w).max() <= np.sqrt(6 / 500)
    np.testing.assert_array_equal(w, initializers.GlorotUniform(seed=1)((300, 200)))
    n = initializers.HeNormal(seed=2)((400, 300))
    assert abs(n.std() - np.sqrt(2 / 400)) < 0.05 * np.sqrt(2 / 400)
    assert np.abs(n).max() <= 2 * np.sqrt(2 / 400) / 0.8796 + 1e-6
    assert initializers.Zeros()((2, 3)).sum() == 0
    assert isinstance(initializers.get("lecun_uniform"), initializers.LecunUniform)
    q = initializers.Orthogonal(seed=3)((30, 10))
    np.testing.assert_allclose(q.T @ q, np.eye(10), atol=1e-5)
    assert initializers.TruncatedNormal(stddev=0.1, seed=1)((1000,)).max() <= 0.2
    assert initializers.Constant(2.0)((2,)).tolist() == [2.0, 2.0]


def test_activation_functions_name_the_cores_and_compute():
    x = np.linspace(-3, 3, 7, dtype=np.float32)
    m = pyconv.Sequential([pyconv.Input((7,)), L.Activation(activations.tanh)])
    np.testing.assert_allclose(m.predict(x[None])[0], np.tanh(x), rtol=1e-5, atol=1e-6)
    assert L.Dense(2, activation=activations.relu).get_config()["activation"] == "relu"
    np.testing.assert_array_equal(activations.relu(x), np.maximum(x, 0))
    np.testing.assert_allclose(activations.softmax(x[None]).sum(), 1.0, rtol=1e-6)
    np.testing.assert_allclose(activations.gelu(np.array([1.0])), [0.8413447], rtol=1e-5)
    with pytest.raises(TypeError, match="C\\+\\+ core"):
        L.Dense(2, activation=lambda v: v * 2)
