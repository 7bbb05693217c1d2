"""The scan that refuses NaN and infinity in inputs (kernels/finite_impl.h),
on every ISA: a bad value anywhere, in the vector body or the tail of any
length, is found and its flat index named; the largest finite floats, the
subnormals and -0 pass. Where the first layer is an Activation, the layer
checks its input as it reads it instead (the cheap activations in their own
loop: activation_forward_checked_f32); both paths are tested."""

import numpy as np
import pytest

import pyconv
from pyconv import _core, layers

ISAS = _core.available_isas()
LENGTHS = [1, 31, 32, 33, 64, 100, 1000, 70001,
           1_048_593]  # the scan takes 32 values at a time; the last splits among 2 threads



# The graph's own scan (Reshape reads the input as it is), and the checking
# activations: those tested in their loop, a computed one (tanh: a scan of
# each block beside it) and softmax (rows: a scan first).
FIRST_LAYERS = ["reshape", "linear", "relu", "relu6", "leaky_relu", "hard_sigmoid", "tanh",
                "softmax"]


# What each first layer computes, in NumPy (the checking loops must still compute it).
EXPECTED = {"reshape": lambda x: x, "linear": lambda x: x, "relu": lambda x: np.maximum(x, 0),
            "relu6": lambda x: np.clip(x, 0, 6), "leaky_relu": lambda x: np.where(x > 0, x, 0.2 * x),
            "hard_sigmoid": lambda x: np.clip(x / 6 + 0.5, 0, 1), "tanh": np.tanh,
            "softmax": lambda x: np.exp(x - x.max(-1, keepdims=True))
            / np.exp(x - x.max(-1, keepdims=True)).sum(-1, keepdims=True)}


def _model(n, first="linear"):
    layer = layers.Reshape((n,)) if first == "reshape" else layers.Activation(first)
    model = pyconv.Sequential([pyconv.Input((n,)), layer])
    model.build()
    return model


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("first", FIRST_LAYERS)
def test_every_position_of_a_bad_value_is_found(first, isa, threads, use_isa):
    use_isa(isa)
    pyconv.set_num_threads(threads)
    negative_nan = -np.float32(np.nan)
    for n in LENGTHS:
        model = _model(n, first)
        x = (np.random.default_rng(n).standard_normal((1, n)) * 4).astype(np.float32)
        np.testing.assert_allclose(model.predict_on_batch(x), EXPECTED[first](x), rtol=1e-6,
                                   atol=5e-7)
        for at in sorted({0, n // 2, n - 1, max(0, n - 33)}):
            for bad in (np.nan, negative_nan, np.inf, -np.inf):
                y = x.copy()
                y[0, at] = bad
                with pytest.raises(ValueError, match=rf"expected finite input values, found "
                                                     rf"-?(nan|inf) at flat index {at}$"):
                    model.predict_on_batch(y)
    pyconv.set_num_threads(0)


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("first", ["reshape", "linear", "relu"])
def test_the_extremes_of_finite_floats_pass(first, isa, use_isa):
    use_isa(isa)
    info = np.finfo(np.float32)
    edge = np.array([info.max, -info.max, info.tiny, info.smallest_subnormal, -0.0, 0.0],
                    np.float32)
    for n in LENGTHS:
        x = np.resize(edge, (1, n))
        y = _model(n, first).predict_on_batch(x)[0]
        # relu computes (subnormals flushed to 0 as pyconv computes); the others copy
        want = np.where(x[0] >= info.tiny, x[0], 0) if first == "relu" else x[0]
        np.testing.assert_array_equal(y != 0, want != 0)


@pytest.mark.parametrize("first", FIRST_LAYERS)
def test_training_and_evaluation_refuse_bad_inputs_too(first):
    model = pyconv.Sequential([pyconv.Input((5,)), layers.Reshape((5,)) if first == "reshape"
                               else layers.Activation(first), layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    x = np.ones((3, 5), np.float32)
    x[2, 4] = np.inf
    before = [w.copy() for w in model.get_weights()]
    for run in (lambda: model.train_on_batch(x, np.zeros((3, 2), np.float32)),
                lambda: model.evaluate(x, np.zeros((3, 2), np.float32), verbose=0),
                lambda: model(x)):
        # (fit and evaluate check their arrays in Python first, in their words)
        with pytest.raises(ValueError, match=r"finite.*found inf at (flat index 14|index "
                                             r"\(2, 4\))$"):
            run()
    for w, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(w, b)
