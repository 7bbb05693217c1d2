"""activity_regularizer (any layer): l1 * sum |y| + l2 * sum y^2 of the
layer's output joins the loss in training and evaluation (summed over the
batch, as Keras 3 does), its gradient the backward pass; it survives
get_config and the model file."""

import numpy as np
import pytest

import pyconv
from gradcheck import check_model_grads
from pyconv import layers as L
from pyconv import regularizers

RNG = np.random.default_rng(3)


def _data(n=6):
    return (RNG.standard_normal((n, 5, 5, 2)).astype(np.float32),
            RNG.standard_normal((n, 3)).astype(np.float32))


def _model(hidden=None, out=None):
    pyconv.set_seed(2)
    inp = pyconv.Input((5, 5, 2))
    h = L.Conv2D(4, 3, activation="tanh", activity_regularizer=hidden)(inp)
    y = L.Dense(3, activity_regularizer=out)(L.Flatten()(h))
    model = pyconv.Model(inp, y)
    model.compile("sgd", "mse")
    return model, h


def test_the_output_penalty_is_added_to_the_loss():
    x, y = _data()
    plain, _ = _model()
    regularized, _ = _model(out=regularizers.l1_l2(0.01, 0.02))
    regularized.set_weights(plain.get_weights())
    p = plain.predict(x).astype(np.float64)
    penalty = 0.01 * np.abs(p).sum() + 0.02 * (p ** 2).sum()
    loss = regularized.evaluate(x, y, batch_size=len(x), verbose=0)
    assert loss == pytest.approx(plain.evaluate(x, y, batch_size=len(x), verbose=0) + penalty,
                                 rel=1e-5)
    assert regularized.train_on_batch(x, y) == pytest.approx(loss, rel=1e-5)


def test_a_hidden_layers_penalty_and_its_gradient():
    x, y = _data()
    plain, _ = _model()
    regularized, _ = _model(hidden=regularizers.l2(0.05))
    regularized.set_weights(plain.get_weights())
    conv = next(layer for layer in regularized.layers if isinstance(layer, L.Conv2D))
    kernel, bias = (w.astype(np.float64) for w in conv.get_weights())
    # The conv's output in NumPy (valid 3x3, tanh).
    windows = np.lib.stride_tricks.sliding_window_view(x.astype(np.float64), (3, 3), axis=(1, 2))
    h = np.tanh(np.einsum("nijckl,klcf->nijf", windows, kernel) + bias)
    penalty = 0.05 * (h ** 2).sum()
    got = regularized.evaluate(x, y, batch_size=len(x), verbose=0)
    want = plain.evaluate(x, y, batch_size=len(x), verbose=0) + penalty
    assert got == pytest.approx(want, rel=1e-4)
    check_model_grads(regularized._graph, x, y)
    check_model_grads(_model(out=regularizers.l1(0.03))[0]._graph, x, y)


def test_config_and_file_keep_it(tmp_path):
    layer = L.Dense(2, activity_regularizer=regularizers.l2(0.1))
    config = layer.get_config()
    assert config["activity_regularizer"] == {"l1": 0.0, "l2": 0.1}
    assert L.Dense.from_config(config).get_config() == config
    flip = L.RandomFlip(activity_regularizer="l1")
    assert L.RandomFlip.from_config(flip.get_config()).get_config() == flip.get_config()
    model, _ = _model(out=regularizers.l2(0.5))
    x, y = _data()
    model.save(tmp_path / "m.pcv")
    loaded = pyconv.models.load_model(tmp_path / "m.pcv")
    assert loaded.evaluate(x, y, verbose=0) == pytest.approx(model.evaluate(x, y, verbose=0))


def test_bad_factors_are_refused():
    with pytest.raises(ValueError, match="l1 must be a non-negative number"):
        L.Dense(2, activity_regularizer={"l1": -1.0})
    with pytest.raises(ValueError, match="activity regularization factors"):  # the core's check
        pyconv._core.validate_layer({"type": "Dense", "units": 2,
                                     "activity_regularizer_l2": float("inf")})
    with pytest.raises(ValueError, match="unknown regularizer"):
        L.Dense(2, activity_regularizer="l3")
