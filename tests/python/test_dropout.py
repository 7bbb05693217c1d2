"""Dropout (inverted) through _core.LayerRunner."""

import numpy as np
import pytest

import pyconv
from pyconv import _core


def dropout_runner(rate, input_shape, seed=1234):
    cfg = {"type": "Dropout", "name": "drop", "rate": float(rate), "seed": int(seed)}
    return _core.LayerRunner(cfg, tuple(input_shape))


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.9])
def test_kept_fraction_and_scale(rate):
    shape = (4, 32, 32, 16)  # 65536 elements
    runner = dropout_runner(rate, shape[1:])
    assert tuple(runner.output_shape) == shape[1:]
    assert list(runner.param_names) == []
    rng = np.random.default_rng(0)
    x = (1.0 + rng.random(shape)).astype(np.float32)  # nonzero everywhere
    y = runner.forward(x, training=True)
    kept = y != 0
    p = 1.0 - rate
    n = x.size
    # Binomial(n, p): 6 standard deviations.
    assert abs(kept.mean() - p) < 6 * np.sqrt(p * (1 - p) / n), kept.mean()
    np.testing.assert_allclose(y[kept], x[kept] / np.float32(p), rtol=1e-6)
    # The mask should not be constant along any one axis (e.g. per channel).
    assert 0 < kept[..., 0].mean() < 1 and 0 < kept[0, 0].mean() < 1


@pytest.mark.parametrize("rate", [0.25, 0.5])
def test_backward_uses_forward_mask(rate):
    rng = np.random.default_rng(1)
    x = (1.0 + rng.random((3, 50))).astype(np.float32)
    runner = dropout_runner(rate, (50,))
    y = runner.forward(x, training=True)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx, dparams = runner.backward(dy)
    assert list(dparams) == []
    mask = y != 0
    np.testing.assert_allclose(dx, np.where(mask, dy / np.float32(1 - rate), 0), rtol=1e-6, atol=0)


def test_same_seed_is_deterministic():
    x = np.ones((2, 100), np.float32)
    y1 = dropout_runner(0.5, (100,), seed=7).forward(x, training=True)
    y2 = dropout_runner(0.5, (100,), seed=7).forward(x, training=True)
    np.testing.assert_array_equal(y1, y2)
    y3 = dropout_runner(0.5, (100,), seed=8).forward(x, training=True)
    assert not np.array_equal(y1, y3)


@pytest.mark.parametrize("rate", [0.0, 0.3, 0.99])
@pytest.mark.parametrize("shape", [(5, 3), (300, 700)])  # one block; several on the threads
def test_identity_at_inference(rate, shape):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2,) + shape).astype(np.float32)
    runner = dropout_runner(rate, shape)
    np.testing.assert_array_equal(runner.forward(x, training=False), x)
    np.testing.assert_array_equal(runner.forward(x), x)  # training defaults to False
    dy = rng.standard_normal(x.shape).astype(np.float32)
    dx, _ = runner.backward(dy)
    np.testing.assert_array_equal(dx, dy)


def test_rate_zero_is_identity_in_training():
    x = np.random.default_rng(3).standard_normal((2, 64)).astype(np.float32)
    runner = dropout_runner(0.0, (64,))
    np.testing.assert_array_equal(runner.forward(x, training=True), x)


def test_the_mask_does_not_depend_on_the_thread_count():
    # 2 x 40,000 values: several blocks of 16,384 for the threads to share.
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 200, 200)).astype(np.float32)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    results = []
    for threads in (1, 2):
        pyconv.set_num_threads(threads)
        runner = dropout_runner(0.3, (200, 200), seed=9)
        y = runner.forward(x, training=True)
        results.append((y, runner.backward(dy)[0]))
    pyconv.set_num_threads(0)
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)
    assert 0.69 < np.mean(results[0][0] != 0) < 0.71
