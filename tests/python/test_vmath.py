"""The vectorised tanh, sigmoid, swish, ELU, SELU, softplus and GELU
(src/cpp/kernels/vmath_impl.h),
built for every ISA, against float64 over the whole float range: every
exponent from the smallest subnormal to the largest float, both signs, plus
0, +-inf and NaN. Then every element-wise activation's forward and backward
kernels of each fast ISA against the reference ISA's."""

import numpy as np
import pytest

import kernel_cases
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


ISAS = _core.available_isas()
FAST_ISAS = [isa for isa in ISAS if isa != "ref"]



@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "swish"])
def test_error_against_float64_over_the_whole_range(activation, isa, use_isa):
    use_isa(isa)
    pyconv.set_num_threads(1)
    x = _sweep()
    got = _run(activation, x).astype(np.float64)
    want = _reference(activation, x.astype(np.float64))
    err = np.abs(got - want)
    # Relative to the result, with an absolute floor where it is tiny (a
    # float32 result cannot be closer than half an ulp of its own size).
    # tanh is a rational function evaluated in float: its roundings reach
    # 4.2 ulp, and 4.1e-7 near +-1 (measured over every float below 10).
    ulps, floor = (5, 4.5e-7) if activation == "tanh" else (4, 3e-7)
    tolerance = np.maximum(ulps * np.spacing(np.abs(want).astype(np.float32)).astype(np.float64),
                           floor * np.minimum(1.0, np.abs(want)) + 1e-37)
    worst = np.argmax(err / tolerance)
    assert np.all(err <= tolerance), (
        f"{activation}({x[worst]!r}) = {got[worst]!r}, float64 says {want[worst]!r}")
    pyconv.set_num_threads(0)


SELU_ALPHA, SELU_SCALE = 1.6732632423543772, 1.0507009873554805


def _with_derivative(activation, x64):
    """float64 (value, derivative) of the activations built on expm1, log1p
    and the normal distribution function."""
    from scipy import special

    with np.errstate(over="ignore"):
        e = special.expm1(np.minimum(x64, 0))
        cdf = special.ndtr(x64)
        pdf = np.exp(-0.5 * x64 * x64) / np.sqrt(2 * np.pi)
        return {
            "elu": (np.where(x64 > 0, x64, e), np.where(x64 > 0, 1, e + 1)),
            "selu": (SELU_SCALE * np.where(x64 > 0, x64, SELU_ALPHA * e),
                     SELU_SCALE * np.where(x64 > 0, 1, SELU_ALPHA * (e + 1))),
            "softplus": (np.logaddexp(0, x64), special.expit(x64)),
            "gelu": (x64 * cdf, cdf + x64 * pdf),
        }[activation]


# Largest error in ulps of the result (forward), and the absolute floor of
# the derivative's error, as measured over the sweep on every ISA. GELU's
# derivative crosses zero near -0.75, where only an absolute bound means
# anything; ELU's and SELU's derivatives are taken from the output (y + 1),
# so for very negative x they are exact only to about 1e-7 absolute.
ULPS = {"elu": 2, "selu": 3, "softplus": 4, "gelu": 6}


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("activation", sorted(ULPS))
def test_exp_log_and_erf_activations_against_float64(activation, isa, use_isa):
    use_isa(isa)
    pyconv.set_num_threads(1)
    x = _sweep()
    y, dx = _forward_backward(activation, x[None, :], np.ones((1, x.size), np.float32))
    want_y, want_dx = _with_derivative(activation, x.astype(np.float64))
    with np.errstate(over="ignore"):
        want32 = want_y.astype(np.float32)
    beyond = ~np.isfinite(want32)  # SELU of the largest floats overflows, as in float64
    assert np.array_equal(y[0][beyond], want32[beyond])
    ulp = np.spacing(np.abs(want32[~beyond])).astype(np.float64)
    err = np.abs(y[0][~beyond].astype(np.float64) - want_y[~beyond])
    worst = np.argmax(err / ulp)
    assert np.all(err <= ULPS[activation] * ulp + 1e-37), (
        f"{activation}({x[~beyond][worst]!r}) = {y[0][~beyond][worst]!r}, "
        f"float64 says {want_y[~beyond][worst]!r}")
    # Subnormal inputs and outputs are flushed to 0, and a derivative read
    # from the output then takes the other branch: the derivative is checked
    # where both are normal floats.
    tiny = np.finfo(np.float32).tiny
    normal = (np.abs(x) >= tiny) & (np.abs(want_y) >= tiny)
    err = np.abs(dx[0].astype(np.float64) - want_dx)[normal]
    tolerance = 2e-7 + 4 * np.spacing(np.abs(want_dx[normal]).astype(np.float32))
    worst = np.argmax(err / tolerance)
    assert np.all(err <= tolerance), (
        f"{activation}'({x[normal][worst]!r}) = {dx[0][normal][worst]!r}, "
        f"float64 says {want_dx[normal][worst]!r}")
    pyconv.set_num_threads(0)


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("activation, at_inf, at_minus_inf", [
    ("tanh", 1.0, -1.0), ("sigmoid", 1.0, 0.0)])
def test_huge_inputs_give_the_limits(activation, at_inf, at_minus_inf, isa, use_isa):
    use_isa(isa)
    # Through the ops directly: a layer refuses non-finite inputs.
    out = _run(activation, np.array([3e38, -3e38, 0.0], np.float32))
    assert out[0] == at_inf and out[1] == at_minus_inf and out[2] == (0.0 if activation == "tanh"
                                                                      else 0.5)


ELEMENTWISE = kernel_cases.words("activations")
(SIZES,) = kernel_cases.numbers("activation_sizes")  # tails, one block and a bit, threaded


def _forward_backward(activation, x, dy):
    runner = _core.LayerRunner({"type": "Activation", "activation": activation}, x.shape[1:])
    y = runner.forward(x, training=True)
    dx, _ = runner.backward(dy)
    return y, dx


@pytest.mark.parametrize("isa", FAST_ISAS)
@pytest.mark.parametrize("activation", ELEMENTWISE)
@pytest.mark.parametrize("size", SIZES)
def test_fast_kernels_match_the_reference(activation, size, isa, use_isa):
    rng = np.random.default_rng(size)
    x = (rng.standard_normal((1, size)) * 4).astype(np.float32)
    x[0, : min(size, 3)] = [0.0, 6.0, -6.0][: min(size, 3)]  # the kinks of relu and relu6
    dy = rng.standard_normal((1, size)).astype(np.float32)
    use_isa("ref")
    want_y, want_dx = _forward_backward(activation, x, dy)
    use_isa(isa)
    got_y, got_dx = _forward_backward(activation, x, dy)
    np.testing.assert_allclose(got_y, want_y, rtol=2e-6, atol=1e-7)
    # tanh's derivative, 1 - y^2, moves by 2 |y| dy wherever two ISAs' y
    # differ; near +-1 they may differ by twice tanh's 4.5e-7 bound.
    slack = 2e-6 * np.abs(dy) if activation == "tanh" else 0.0
    assert np.all(np.abs(got_dx - want_dx) <= 1e-6 + slack + 2e-6 * np.abs(want_dx)), activation


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("cols", [1, 7, 10, 16, 33, 64, 1000])
def test_softmax_rows_against_float64(cols, isa, use_isa):
    # Rows of every length a vector body and tail meet, with values spread
    # wide (large logits, ties, one dominant entry): each row's sum is 1 and
    # every entry within (6 + |x - max|) ulp of float64 (absolute 1e-37 where
    # it underflows): x - max rounded to float moves e^(x - max) by up to
    # |x - max| 2^-24 of itself, the same for any float32 softmax.
    use_isa(isa)
    rng = np.random.default_rng(cols)
    x = (rng.standard_normal((9, cols)) * [[1], [10], [50], [1e-3], [0], [1], [1], [1], [1]]
         ).astype(np.float32)
    x[5, 0] = 80.0   # one entry dominates
    x[6] = 3e38      # all the same, huge: no overflow
    x[7] = -3e38
    x[8, ::2] = -200.0
    runner = _core.LayerRunner({"type": "Activation", "activation": "softmax"}, (cols,))
    got = runner.forward(x, training=False).astype(np.float64)
    x64 = x.astype(np.float64)
    e = np.exp(x64 - x64.max(axis=1, keepdims=True))
    want = e / e.sum(axis=1, keepdims=True)
    ulp = np.spacing(want.astype(np.float32)).astype(np.float64)
    err = np.abs(got - want)
    tolerance = (6 + np.abs(x64 - x64.max(axis=1, keepdims=True))) * ulp + 1e-37
    worst = np.unravel_index(np.argmax(err / tolerance), err.shape)
    assert np.all(err <= tolerance), (
        f"row {worst[0]}, entry {worst[1]}: {got[worst]!r}, float64 says {want[worst]!r}")
    np.testing.assert_allclose(got.sum(axis=1), 1.0, rtol=1e-6)
