"""_core.loss_and_grad: hand-computed values, reference implementations,
finite differences and numerically extreme inputs."""

import math

import numpy as np
import pytest

import reference as ref
from gradcheck import check_loss_grad
from pyconv import _core

SCE_LOGITS = {"type": "sparse_categorical_crossentropy", "from_logits": True}
SCE_PROBS = {"type": "sparse_categorical_crossentropy", "from_logits": False}
CCE_LOGITS = {"type": "categorical_crossentropy", "from_logits": True}
CCE_PROBS = {"type": "categorical_crossentropy", "from_logits": False}
MSE = {"type": "mse"}
HINGE = {"type": "hinge"}


def f32(a):
    return np.asarray(a, dtype=np.float32)


def loss_and_grad(config, pred, target):
    loss, grad = _core.loss_and_grad(config, f32(pred), f32(target))
    assert isinstance(loss, float)
    grad = np.asarray(grad)
    assert grad.shape == np.shape(pred)
    assert grad.dtype == np.float32
    return loss, grad


def random_probs(rng, n, k, lo=0.1):
    """Rows summing to 1 with every entry >= lo/k (no clipping, mild curvature)."""
    p = rng.random((n, k)) + lo
    return p / p.sum(axis=1, keepdims=True)


# --- hand-computed values ------------------------------------------------------


def test_cross_entropies_take_kerass_other_arguments_at_their_defaults_only():
    import pyconv
    losses = pyconv.losses
    assert losses.BinaryCrossentropy(label_smoothing=0.0, axis=-1, name="bce").get_config() == \
        {"from_logits": False}
    for kwargs in ({"label_smoothing": 0.1}, {"ignore_class": 3}, {"axis": 1}):
        with pytest.raises(ValueError, match=f"{next(iter(kwargs))}=.* is not supported"):
            losses.SparseCategoricalCrossentropy(**kwargs)
    with pytest.raises(TypeError, match="unexpected keyword argument 'smoothing'"):
        losses.CategoricalCrossentropy(smoothing=0.1)


def test_sparse_ce_logits_hand_values():
    loss, grad = loss_and_grad(SCE_LOGITS, [[0.0, 0.0]], [0])
    assert loss == pytest.approx(math.log(2), rel=1e-6)
    np.testing.assert_allclose(grad, [[-0.5, 0.5]], rtol=1e-6)
    # Two samples: mean of log(e+e^2+e^3)-3 and log(2).
    loss, _ = loss_and_grad(SCE_LOGITS, [[1.0, 2.0, 3.0], [5.0, 5.0, 0.0]], [2, 1])
    expected = (math.log(math.e + math.e**2 + math.e**3) - 3 + (math.log(2 + math.exp(-5.0)))) / 2
    assert loss == pytest.approx(expected, rel=1e-6)


def test_categorical_ce_logits_hand_values():
    loss, grad = loss_and_grad(CCE_LOGITS, [[0.0, 0.0], [0.0, 0.0]], [[1.0, 0.0], [0.0, 1.0]])
    assert loss == pytest.approx(math.log(2), rel=1e-6)
    np.testing.assert_allclose(grad, [[-0.25, 0.25], [0.25, -0.25]], rtol=1e-6)


def test_ce_probs_hand_values():
    loss, _ = loss_and_grad(SCE_PROBS, [[0.25, 0.75]], [1])
    assert loss == pytest.approx(-math.log(0.75), rel=1e-6)
    loss, _ = loss_and_grad(CCE_PROBS, [[0.5, 0.5]], [[0.0, 1.0]])
    assert loss == pytest.approx(math.log(2), rel=1e-6)
    # Unnormalised row: Keras rescales it to sum 1 first: [0.2, 0.8] -> -log 0.8.
    loss, grad = loss_and_grad(CCE_PROBS, [[0.1, 0.4]], [[0.0, 1.0]])
    assert loss == pytest.approx(-math.log(0.8), rel=1e-6)
    # d/dp_j (-log(p_1 / (p_0 + p_1))) = [1/S, -1/p_1 + 1/S], S = 0.5
    np.testing.assert_allclose(grad, [[2.0, -2.5 + 2.0]], rtol=1e-5)


def test_mse_hand_values():
    loss, grad = loss_and_grad(MSE, [[1.0, 2.0], [3.0, 4.0]], [[1.0, 1.0], [1.0, 1.0]])
    assert loss == pytest.approx((0 + 1 + 4 + 9) / 4, rel=1e-6)
    np.testing.assert_allclose(grad, [[0.0, 0.5], [1.0, 1.5]], rtol=1e-6)


def test_hinge_hand_values():
    # 0/1 targets become -1/+1: max(1 - 0.5, 0) = 0.5 and max(1 - 2, 0) = 0.
    loss, grad = loss_and_grad(HINGE, [[0.5, -2.0]], [[1.0, 0.0]])
    assert loss == pytest.approx(0.25, rel=1e-6)
    np.testing.assert_allclose(grad, [[-0.5, 0.0]], atol=1e-7)
    # Already -1/+1: max(1 - 0.25, 0) = 0.75, max(1 - 0.5, 0) = 0.5.
    loss, grad = loss_and_grad(HINGE, [[0.25], [-0.5]], [[1.0], [-1.0]])
    assert loss == pytest.approx(0.625, rel=1e-6)
    np.testing.assert_allclose(grad, [[-0.5], [0.5]], rtol=1e-6)


@pytest.mark.parametrize("shape", [(3,), (3, 1)])
def test_sparse_target_shapes(shape):
    logits = [[1.0, 0.0, -1.0], [0.0, 2.0, 0.0], [0.5, 0.5, 3.0]]
    target = np.array([0, 1, 2], np.float32).reshape(shape)
    loss, grad = loss_and_grad(SCE_LOGITS, logits, target)
    exp_loss, exp_grad = ref.sparse_ce_logits(logits, [0, 1, 2])
    assert loss == pytest.approx(exp_loss, rel=1e-5)
    np.testing.assert_allclose(grad, exp_grad, rtol=1e-5, atol=1e-7)


# --- against the reference on random inputs -----------------------------------

SIZES = [(1, 2), (4, 3), (5, 10), (3, 17)]


@pytest.mark.parametrize("n, k", SIZES)
def test_sparse_ce_logits_reference(n, k):
    rng = np.random.default_rng(n * k)
    z = f32(3 * rng.standard_normal((n, k)))
    t = f32(rng.integers(0, k, size=n))
    loss, grad = loss_and_grad(SCE_LOGITS, z, t)
    exp_loss, exp_grad = ref.sparse_ce_logits(z, t)
    assert loss == pytest.approx(exp_loss, rel=1e-5, abs=1e-6)
    np.testing.assert_allclose(grad, exp_grad, rtol=1e-4, atol=1e-6)
    check_loss_grad(_core, SCE_LOGITS, z, t)


@pytest.mark.parametrize("n, k", SIZES)
def test_sparse_ce_probs_reference(n, k):
    rng = np.random.default_rng(n * k + 1)
    p = f32(random_probs(rng, n, k))
    t = f32(rng.integers(0, k, size=n))
    loss, grad = loss_and_grad(SCE_PROBS, p, t)
    assert loss == pytest.approx(ref.sparse_ce_probs(p, t), rel=1e-5)
    # Only the true class has a direct -1/(N p_y) term. Whether the row is
    # renormalised (Keras does) changes the other entries, so check against the
    # core's own loss by finite differences instead of a closed form.
    rows = np.arange(n)
    y = t.astype(int)
    assert np.all(grad[rows, y] < 0)
    check_loss_grad(_core, SCE_PROBS, p, t, eps=1e-4)


@pytest.mark.parametrize("n, k", SIZES)
def test_categorical_ce_logits_reference(n, k):
    rng = np.random.default_rng(n * k + 2)
    z = f32(3 * rng.standard_normal((n, k)))
    t = f32(random_probs(rng, n, k, lo=0.0))  # soft targets
    loss, grad = loss_and_grad(CCE_LOGITS, z, t)
    exp_loss, exp_grad = ref.categorical_ce_logits(z, t)
    assert loss == pytest.approx(exp_loss, rel=1e-5, abs=1e-6)
    np.testing.assert_allclose(grad, exp_grad, rtol=1e-4, atol=1e-6)
    check_loss_grad(_core, CCE_LOGITS, z, t)


@pytest.mark.parametrize("n, k", SIZES)
@pytest.mark.parametrize("normalised", [True, False])
def test_categorical_ce_probs_reference(n, k, normalised):
    rng = np.random.default_rng(n * k + 3)
    p = random_probs(rng, n, k)
    if not normalised:
        p = p * rng.uniform(0.5, 2.0, size=(n, 1))  # row sums in [0.5, 2], entries stay in range
    p = f32(p)
    t = f32(np.eye(k)[rng.integers(0, k, size=n)])
    loss, grad = loss_and_grad(CCE_PROBS, p, t)
    exp_loss, exp_grad = ref.categorical_ce_probs(p, t)
    assert loss == pytest.approx(exp_loss, rel=1e-5)
    np.testing.assert_allclose(grad, exp_grad, rtol=1e-4, atol=1e-5)
    check_loss_grad(_core, CCE_PROBS, p, t, eps=1e-4)


@pytest.mark.parametrize("n, k", SIZES)
def test_mse_reference(n, k):
    rng = np.random.default_rng(n * k + 4)
    p = f32(rng.standard_normal((n, k)))
    t = f32(rng.standard_normal((n, k)))
    loss, grad = loss_and_grad(MSE, p, t)
    exp_loss, exp_grad = ref.mse(p, t)
    assert loss == pytest.approx(exp_loss, rel=1e-5)
    np.testing.assert_allclose(grad, exp_grad, rtol=1e-5, atol=1e-7)
    check_loss_grad(_core, MSE, p, t)


@pytest.mark.parametrize("n, k", SIZES)
@pytest.mark.parametrize("binary", [True, False])
def test_hinge_reference(n, k, binary):
    rng = np.random.default_rng(n * k + 5)
    # p = sign * a with the margin 1 - a in [-1, -0.1] or [0.1, 2]: at least 0.1
    # from the kink at 0, so the eps = 1e-2 finite-difference steps stay on one side.
    sign = rng.choice([-1.0, 1.0], size=(n, k))
    big = rng.uniform(1.1, 2.0, size=(n, k))
    small = rng.uniform(-1.0, 0.9, size=(n, k))
    a = np.where(rng.random((n, k)) < 0.3, big, small)
    p = f32(sign * a)
    t = f32((sign + 1) / 2) if binary else f32(sign)
    loss, grad = loss_and_grad(HINGE, p, t)
    exp_loss, exp_grad = ref.hinge(p, t)
    assert loss == pytest.approx(exp_loss, rel=1e-5, abs=1e-7)
    np.testing.assert_allclose(grad, exp_grad, rtol=1e-5, atol=1e-7)
    check_loss_grad(_core, HINGE, p, t, eps=1e-2)


# --- numerically extreme inputs -----------------------------------------------


def test_sparse_ce_extreme_logits():
    z = [[1e4, 0.0, -1e4], [1e4, 0.0, -1e4], [-1e4, -1e4, -1e4]]
    loss, grad = loss_and_grad(SCE_LOGITS, z, [1, 0, 2])
    assert math.isfinite(loss) and np.all(np.isfinite(grad))
    # (1e4 + 0 + log 3) / 3
    assert loss == pytest.approx((1e4 + 0.0 + math.log(3)) / 3, rel=1e-6)
    np.testing.assert_allclose(grad, [[1 / 3, -1 / 3, 0], [0, 0, 0], [1 / 9, 1 / 9, -2 / 9]], atol=1e-6)


@pytest.mark.parametrize("config", [SCE_LOGITS, CCE_LOGITS], ids=["sparse", "categorical"])
@pytest.mark.parametrize("offset", [-1e4, 1e4])
def test_ce_logits_shift_invariant(config, offset):
    """Softmax is shift-invariant: logits c + [0, 0, 0] must give exactly the
    values of [0, 0, 0] (loss log 3, probabilities 1/3). A stable log-softmax
    works with z - max(z) (exact here), so float32 keeps ~1e-7 accuracy even
    when |c| = 1e4, where one ulp of c is ~1e-3."""
    z = np.full((2, 3), offset, np.float32)
    target = [2, 0] if config is SCE_LOGITS else [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]
    loss, grad = loss_and_grad(config, z, target)
    assert loss == pytest.approx(math.log(3), rel=1e-6)
    expected = (np.full((2, 3), 1 / 3) - np.array([[0, 0, 1], [1, 0, 0]])) / 2
    np.testing.assert_allclose(grad, expected, atol=1e-6)


def test_categorical_ce_extreme_logits():
    z = [[1e4, -1e4], [-1e4, 1e4]]
    loss, grad = loss_and_grad(CCE_LOGITS, z, [[0.0, 1.0], [0.0, 1.0]])
    assert math.isfinite(loss) and np.all(np.isfinite(grad))
    assert loss == pytest.approx(1e4, rel=1e-6)
    np.testing.assert_allclose(grad, [[0.5, -0.5], [0, 0]], atol=1e-6)


@pytest.mark.parametrize("config", [SCE_PROBS, CCE_PROBS], ids=["sparse", "categorical"])
def test_ce_probs_clipped(config):
    """p = 0 for the true class is clipped to 1e-7: loss -log(1e-7), finite grad."""
    target = [1] if config is SCE_PROBS else [[0.0, 1.0]]
    loss, grad = loss_and_grad(config, [[1.0, 0.0]], target)
    assert loss == pytest.approx(-math.log(1e-7), rel=1e-4)
    assert np.all(np.isfinite(grad))
    loss, grad = loss_and_grad(config, [[0.0, 1.0]], target)
    assert loss == pytest.approx(-math.log(1 - 1e-7), abs=1e-6)
    assert np.all(np.isfinite(grad))


@pytest.mark.parametrize("config, key", [
    ({"type": "sparse_categorical_crossentropy", "from_logit": True}, "from_logit"),
    ({"type": "mse", "from_logits": True}, "from_logits"),
    ({"type": "hinge", "delta": 1.0}, "delta"),
])
def test_unknown_loss_arguments_are_refused(config, key):
    """A misspelt argument is an error, never silently the default."""
    with pytest.raises(ValueError, match=f"unknown argument '{key}'"):
        _core.validate_loss(config)
