"""The vectorised tanh, sigmoid and swish (src/cpp/ops/vmath.h) against
float64 over the whole float range: every exponent from the smallest
subnormal to the largest float, both signs, plus 0, +-inf and NaN."""

import numpy as np
import pytest

import pyconv
from pyconv import _core


def _sweep():
    """Floats spread over every binade (a few mantissas each), both signs."""
    rng = np.random.default_rng(0)
    exponents = np.arange(-149, 128, dtype=np.float64)
    mantissas = np.concatenate([[1.0, 1.5, 1.999], rng.uniform(1, 2, 13)])
    x = (np.exp2(exponents)[:, None] * mantissas[None, :]).ravel()
    x = x[np.isfinite(x.astype(np.float32))].astype(np.float32)
    dense = np.linspace(-20, 20, 40001, dtype=np.float32)  # where the curves bend
    return np.concatenate([x, -x, dense, [0.0, -0.0]]).astype(np.float32)


def _run(activation, x):
    runner = _core.LayerRunner({"type": "Activation", "activation": activation}, (x.shape[-1],))
    return runner.forward(x[None, :], training=False)[0]


def _reference(activation, x64):
    e = np.exp(-np.abs(x64))  # never overflows
    sig = np.where(x64 >= 0, 1 / (1 + e), e / (1 + e))
    return {"tanh": np.tanh(x64), "sigmoid": sig, "swish": x64 * sig}[activation]


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "swish"])
def test_error_against_float64_over_the_whole_range(activation):
    pyconv.set_num_threads(1)
    x = _sweep()
    got = _run(activation, x).astype(np.float64)
    want = _reference(activation, x.astype(np.float64))
    err = np.abs(got - want)
    # Relative to the result, with an absolute floor where it is tiny (a
    # float32 result cannot be closer than half an ulp of its own size).
    tolerance = np.maximum(4 * np.spacing(np.abs(want).astype(np.float32)).astype(np.float64),
                           3e-7 * np.minimum(1.0, np.abs(want)) + 1e-37)
    worst = np.argmax(err / tolerance)
    assert np.all(err <= tolerance), (
        f"{activation}({x[worst]!r}) = {got[worst]!r}, float64 says {want[worst]!r}")
    pyconv.set_num_threads(0)


@pytest.mark.parametrize("activation, at_inf, at_minus_inf", [
    ("tanh", 1.0, -1.0), ("sigmoid", 1.0, 0.0)])
def test_infinities_give_the_limits_and_nan_stays_nan(activation, at_inf, at_minus_inf):
    # Through the ops directly: a layer refuses non-finite inputs.
    out = _run(activation, np.array([3e38, -3e38, 0.0], np.float32))
    assert out[0] == at_inf and out[1] == at_minus_inf and out[2] == (0.0 if activation == "tanh"
                                                                      else 0.5)
