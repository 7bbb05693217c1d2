"""pyconv flushes denormal floats to zero while it computes (training drives
gradients and Adam's moments into that range, where x86 slows to a crawl),
and gives the calling thread its own floating-point mode back."""

import threading

import numpy as np

import pyconv
from pyconv import layers as L

TINY = np.float32(1e-39)  # below 2**-126: a denormal float32


def _one_weight_model(weight):
    model = pyconv.Sequential([pyconv.Input((1,)), L.Dense(1, use_bias=False)])
    model.set_weights([np.full((1, 1), weight, np.float32)])
    return model


def test_denormal_weights_read_as_zero():
    model = _one_weight_model(TINY)
    assert model.predict(np.ones((1, 1), np.float32), verbose=0)[0, 0] == 0.0
    # A normal weight is untouched.
    normal = _one_weight_model(np.float32(1e-30))
    assert normal.predict(np.ones((1, 1), np.float32), verbose=0)[0, 0] == np.float32(1e-30)


def _caller_keeps_denormals():
    # NumPy on this thread: a denormal product stays a denormal.
    return np.multiply(TINY, np.float32(1.0)) == TINY and np.float32(2e-39) / 2 != 0


def test_the_callers_mode_is_restored():
    model = _one_weight_model(1.0)
    model.compile("sgd", "mse")
    x = np.ones((256, 1), np.float32)
    for run in (lambda: model.predict(x, verbose=0),
                lambda: model.train_on_batch(x, x),
                lambda: model.evaluate(x, x, verbose=0),
                lambda: model.fit(x, x, epochs=1, verbose=0)):
        run()
        assert _caller_keeps_denormals()


def test_other_threads_keep_their_mode():
    model = _one_weight_model(1.0)
    x = np.ones((4096, 1), np.float32)
    results = []

    def work():
        model.predict(x, verbose=0)
        results.append(_caller_keeps_denormals())

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [True] * 3
