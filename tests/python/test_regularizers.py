"""kernel_regularizer / bias_regularizer: the penalty is in the loss, its
gradient in the step, and it survives get_config and the model file."""

import numpy as np
import pytest

import pyconv
from gradcheck import check_model_grads
from pyconv import layers as L
from pyconv import regularizers

RNG = np.random.default_rng(0)


def _model(**regs):
    pyconv.set_seed(1)
    inp = pyconv.Input((5, 5, 2))
    x = L.Conv2D(3, 3, activation="tanh", **regs)(inp)
    out = L.Dense(2, **regs)(L.Flatten()(x))
    model = pyconv.Model(inp, out)
    model.compile("sgd", "mse")
    return model


def _data():
    return (RNG.standard_normal((4, 5, 5, 2)).astype(np.float32),
            RNG.standard_normal((4, 2)).astype(np.float32))


@pytest.mark.parametrize("kernel, bias", [(regularizers.l2(0.1), None),
                                          (regularizers.l1(0.05), regularizers.l2(0.2)),
                                          (regularizers.l1_l2(0.03, 0.07), "l1")])
def test_the_penalty_is_added_to_the_loss(kernel, bias):
    x, y = _data()
    plain = _model()
    regularized = _model(kernel_regularizer=kernel, bias_regularizer=bias)
    regularized.set_weights(plain.get_weights())
    penalty = 0.0
    for layer in regularized.layers:
        weights = layer.get_weights()
        if weights:
            penalty += regularizers.get(kernel)(weights[0])
            if bias is not None:
                penalty += regularizers.get(bias)(weights[1])
    assert regularized.evaluate(x, y, verbose=0) == pytest.approx(
        plain.evaluate(x, y, verbose=0) + penalty, rel=1e-5)


def test_the_penalty_gradient_matches_finite_differences():
    x, y = _data()
    model = _model(kernel_regularizer=regularizers.l1_l2(0.02, 0.3),
                   bias_regularizer=regularizers.l2(0.5))
    check_model_grads(model._graph, x, y)


def test_l2_shrinks_weights_that_get_no_other_gradient():
    # A weight the data never reaches moves only by the penalty: w -= lr * 2 * l2 * w.
    pyconv.set_seed(2)
    model = pyconv.Sequential([pyconv.Input((3,)),
                               L.Dense(2, kernel_regularizer=regularizers.l2(0.25))])
    model.compile(pyconv.optimizers.SGD(0.1), "mse")
    kernel, bias = model.layers[0].get_weights()
    x = np.zeros((4, 3), np.float32)  # no gradient from the data reaches the kernel
    model.train_on_batch(x, np.zeros((4, 2), np.float32) + bias)
    np.testing.assert_allclose(model.layers[0].get_weights()[0], kernel * (1 - 0.1 * 0.5),
                               rtol=1e-6)


def test_config_and_file_keep_the_regularizers(tmp_path):
    layer = L.Dense(4, kernel_regularizer=regularizers.l2(0.01), bias_regularizer="l1")
    config = layer.get_config()
    assert config["kernel_regularizer"] == {"l1": 0.0, "l2": 0.01}
    assert config["bias_regularizer"] == {"l1": 0.01, "l2": 0.0}
    copy = L.Dense.from_config(config)
    assert copy.core_config() == {**layer.core_config(), "name": copy.name}
    depthwise = L.DepthwiseConv2D(3, depthwise_regularizer=regularizers.l1(0.2))
    assert depthwise.get_config()["depthwise_regularizer"] == {"l1": 0.2, "l2": 0.0}

    x, y = _data()
    model = _model(kernel_regularizer=regularizers.l2(0.1))
    model.save(tmp_path / "reg.pcv")
    loaded = pyconv.models.load_model(tmp_path / "reg.pcv")
    assert loaded.evaluate(x, y, verbose=0) == pytest.approx(model.evaluate(x, y, verbose=0),
                                                              rel=1e-6)


def test_bad_factors_are_refused():
    with pytest.raises(ValueError, match="l2 must be a non-negative number"):
        regularizers.l2(-1)
    with pytest.raises(ValueError, match="unknown regularizer"):
        L.Dense(2, kernel_regularizer="l3")
