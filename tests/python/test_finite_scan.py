"""The scan that refuses NaN and infinity in inputs (kernels/finite_impl.h),
on every ISA: a bad value anywhere, in the vector body or the tail of any
length, is found and its flat index named; the largest finite floats, the
subnormals and -0 pass."""

import numpy as np
import pytest

import pyconv
from pyconv import _core, layers

ISAS = _core.available_isas()
LENGTHS = [1, 31, 32, 33, 64, 100, 1000, 70001,
           1_048_593]  # the scan takes 32 values at a time; the last splits among 2 threads



def _model(n):
    model = pyconv.Sequential([pyconv.Input((n,)), layers.Activation("linear")])
    model.build()
    return model


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("threads", [1, 2])
def test_every_position_of_a_bad_value_is_found(isa, threads, use_isa):
    use_isa(isa)
    pyconv.set_num_threads(threads)
    negative_nan = -np.float32(np.nan)
    for n in LENGTHS:
        model = _model(n)
        x = np.random.default_rng(n).standard_normal((1, n)).astype(np.float32)
        for at in sorted({0, n // 2, n - 1, max(0, n - 33)}):
            for bad in (np.nan, negative_nan, np.inf, -np.inf):
                y = x.copy()
                y[0, at] = bad
                with pytest.raises(ValueError, match=rf"expected finite input values, found "
                                                     rf"-?(nan|inf) at flat index {at}$"):
                    model.predict_on_batch(y)
    pyconv.set_num_threads(0)


@pytest.mark.parametrize("isa", ISAS)
def test_the_extremes_of_finite_floats_pass(isa, use_isa):
    use_isa(isa)
    info = np.finfo(np.float32)
    edge = np.array([info.max, -info.max, info.tiny, info.smallest_subnormal, -0.0, 0.0],
                    np.float32)
    for n in LENGTHS:
        x = np.resize(edge, (1, n))
        np.testing.assert_array_equal(_model(n).predict_on_batch(x)[0] != 0, x[0] != 0)
