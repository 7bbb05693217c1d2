"""pyconv.profile: per-layer forward and backward times, and the training
steps' loss and weight update, counted in C++ while switched on."""

import numpy as np
import pytest

import pyconv
from pyconv import layers


def _model():
    pyconv.set_seed(0)
    model = pyconv.Sequential([
        pyconv.Input((12, 12, 1)),
        layers.Conv2D(4, 3, name="conv"),
        layers.BatchNormalization(name="norm"),
        layers.Activation("tanh", name="act"),
        layers.MaxPooling2D(2, name="pool"),
        layers.Flatten(name="flat"),
        layers.Dense(10, activation="softmax", name="out"),
    ])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _data(n=40):
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, 12, 12, 1)).astype(np.float32), rng.integers(0, 10, n)


def test_a_fit_is_broken_down_by_layer_and_part():
    model = _model()
    x, y = _data()
    with pyconv.profile(model) as report:
        model.fit(x, y, batch_size=8, epochs=2, verbose=0)  # 10 steps
    rows = {r["layer"]: r for r in report.rows}
    assert list(rows) == ["conv", "norm", "act", "pool", "flat", "out"]
    for row in rows.values():
        assert row["forward_calls"] == 10 and row["backward_calls"] == 10
        assert row["forward_ms"] > 0 and row["backward_ms"] > 0
    assert report.step["step"]["calls"] == 10
    assert report.step["loss"]["calls"] == 10 and report.step["update"]["calls"] == 10
    parts = sum(r["forward_ms"] + r["backward_ms"] for r in rows.values())
    parts += report.step["loss"]["ms"] + report.step["update"]["ms"]
    assert parts <= report.step["step"]["ms"]  # the parts lie inside the steps
    text = str(report)
    assert "per training step, over 10" in text
    for name in ("conv (Conv2D)", "out (Dense)", "loss and metrics", "weight update", "other"):
        assert name in text


def test_nothing_is_counted_outside_the_block():
    model = _model()
    x, y = _data()
    with pyconv.profile(model) as report:
        model.train_on_batch(x[:8], y[:8])
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert not model._graph.profiling
    with pyconv.profile(model) as again:
        pass
    assert all(r["forward_calls"] == 0 and r["backward_calls"] == 0 for r in again.rows)
    assert report.step["step"]["calls"] == 1


def test_inference_counts_forward_passes_and_folds_normalization():
    model = _model()
    x, _ = _data(24)
    with pyconv.profile(model) as report:
        model.predict(x, batch_size=8, verbose=0)  # 3 batches
    rows = {r["layer"]: r for r in report.rows}
    assert rows["conv"]["forward_calls"] == 3 and rows["out"]["forward_calls"] == 3
    # At inference the normalization and activation run inside the convolution.
    assert rows["norm"]["forward_calls"] == 0 and rows["act"]["forward_calls"] == 0
    assert all(r["backward_calls"] == 0 for r in report.rows)
    assert report.step["step"]["calls"] == 0
    assert "in all" in str(report)


def test_one_profile_at_a_time():
    model = _model()
    with pyconv.profile(model):
        with pytest.raises(RuntimeError, match="already being profiled"):
            with pyconv.profile(model):
                pass


def test_an_unbuilt_model_is_refused():
    with pytest.raises(ValueError, match="not built"):
        pyconv.profile(pyconv.Sequential([layers.Dense(3)]))
