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
        L.Dense(2, kernel_initializer="orthogonal")


def test_initializers_called_directly():
    w = initializers.GlorotUniform(seed=1)((300, 200))
    assert w.shape == (300, 200) and np.abs(w).max() <= np.sqrt(6 / 500)
    np.testing.assert_array_equal(w, initializers.GlorotUniform(seed=1)((300, 200)))
    n = initializers.HeNormal(seed=2)((400, 300))
    assert abs(n.std() - np.sqrt(2 / 400)) < 0.05 * np.sqrt(2 / 400)
    assert np.abs(n).max() <= 2 * np.sqrt(2 / 400) / 0.8796 + 1e-6
    assert initializers.Zeros()((2, 3)).sum() == 0
    assert isinstance(initializers.get("lecun_uniform"), initializers.LecunUniform)


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
