"""binary_crossentropy (probabilities, logits, and a sigmoid output fused into
it), mae, huber and categorical_hinge: against NumPy, finite differences, and
in models that train."""

import numpy as np
import pytest

import pyconv
from gradcheck import check_loss_grad
from pyconv import _core
from pyconv import layers as L

RNG = np.random.default_rng(0)


def numpy_bce(p, t):
    p = np.clip(p.astype(np.float64), 1e-7, 1 - 1e-7)
    return float(np.mean(-(t * np.log(p) + (1 - t) * np.log1p(-p))))


def numpy_bce_logits(z, t):
    z = z.astype(np.float64)
    return float(np.mean(np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z)))))


def numpy_huber(p, t, delta):
    d = np.abs(p.astype(np.float64) - t)
    return float(np.mean(np.where(d <= delta, 0.5 * d * d, delta * (d - 0.5 * delta))))


def numpy_categorical_hinge(p, t):
    p = p.astype(np.float64)
    pos = np.sum(t * p, axis=-1)
    neg = np.max((1 - t) * p, axis=-1)
    return float(np.mean(np.maximum(neg - pos + 1, 0)))


CASES = [  # config, prediction maker, target maker, reference
    ({"type": "binary_crossentropy"}, lambda s: RNG.uniform(0.05, 0.95, s),
     lambda s: RNG.integers(0, 2, s), numpy_bce),
    ({"type": "binary_crossentropy", "from_logits": True}, lambda s: 3 * RNG.standard_normal(s),
     lambda s: RNG.random(s), numpy_bce_logits),
    ({"type": "mae"}, lambda s: RNG.standard_normal(s), lambda s: RNG.standard_normal(s),
     lambda p, t: float(np.mean(np.abs(p.astype(np.float64) - t)))),
    ({"type": "huber", "delta": 0.7}, lambda s: RNG.standard_normal(s),
     lambda s: RNG.standard_normal(s), lambda p, t: numpy_huber(p, t, 0.7)),
    ({"type": "categorical_hinge"}, lambda s: RNG.standard_normal(s),
     lambda s: np.eye(s[-1])[RNG.integers(0, s[-1], s[0])], numpy_categorical_hinge),
]


@pytest.mark.parametrize("config, make_pred, make_target, reference", CASES,
                         ids=lambda v: str(v) if isinstance(v, dict) else "")
@pytest.mark.parametrize("shape", [(6, 1), (5, 4), (2, 3, 3, 2)], ids=str)
def test_loss_value_and_gradient(config, make_pred, make_target, reference, shape):
    if config["type"] == "categorical_hinge" and len(shape) > 2:
        shape = (shape[0], int(np.prod(shape[1:])))
    pred = make_pred(shape).astype(np.float32)
    target = make_target(shape).astype(np.float32)
    loss, _ = _core.loss_and_grad(config, pred, target)
    assert loss == pytest.approx(reference(pred, target), rel=1e-5, abs=1e-6)
    # Away from the kinks of mae/huber/hinge: the step stays on one side.
    check_loss_grad(_core, config, pred, target, eps=1e-3)


def test_bce_on_extreme_logits_is_finite():
    z = np.array([[1e4], [-1e4], [88.0], [-88.0]], np.float32)
    t = np.array([[0.0], [1.0], [1.0], [0.0]], np.float32)
    loss, grad = _core.loss_and_grad({"type": "binary_crossentropy", "from_logits": True}, z, t)
    assert np.isfinite(loss) and loss == pytest.approx(numpy_bce_logits(z, t), rel=1e-6)
    assert np.all(np.isfinite(grad))


def test_bad_arguments_and_targets():
    with pytest.raises(ValueError, match="targets must be in \\[0, 1\\]"):
        _core.loss_and_grad({"type": "binary_crossentropy"}, np.full((2, 1), 0.5, np.float32),
                            np.array([[2.0], [0.0]], np.float32))
    with pytest.raises(ValueError, match="delta must be positive"):
        pyconv.losses.Huber(delta=0)
    with pytest.raises(ValueError, match="unknown loss 'binary'"):
        pyconv.losses.get("binary")


def test_a_sigmoid_output_is_fused_into_binary_crossentropy():
    # Training on logits (the sigmoid inside the loss) must not saturate: a
    # confidently wrong start still gets a full-size gradient.
    pyconv.set_seed(5)
    x = RNG.standard_normal((256, 2)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.float32)
    model = pyconv.Sequential([pyconv.Input((2,)), L.Dense(1, activation="sigmoid")])
    model.compile(pyconv.optimizers.SGD(2.0), "binary_crossentropy", metrics=["accuracy"])
    kernel, bias = model.layers[0].get_weights()
    model.layers[0].set_weights([-40 * np.ones_like(kernel), bias])  # saturated and wrong
    model.fit(x, y, epochs=30, batch_size=32, verbose=0)
    probs = model.predict(x, verbose=0)
    assert probs.min() >= 0 and probs.max() <= 1  # predict applies the sigmoid
    assert model.evaluate(x, y, verbose=0)[1] > 0.95


@pytest.mark.parametrize("loss", ["mae", "huber", "mse"])
def test_per_pixel_regression_trains(loss):
    # Segmentation-style outputs: a loss over every pixel of (N, H, W, 1).
    pyconv.set_seed(6)
    x = RNG.random((64, 6, 6, 1), dtype=np.float32)
    target = 2 * x - 1 + 0.5 * np.roll(x, 1, axis=2)  # a linear map a 3x3 conv can learn
    model = pyconv.Sequential([pyconv.Input((6, 6, 1)),
                               L.Conv2D(4, 3, padding="same", activation="relu"),
                               L.Conv2D(1, 1)])
    model.compile(pyconv.optimizers.Adam(0.01), loss)
    history = model.fit(x, target, epochs=30, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < 0.3 * history.history["loss"][0]
