"""Metrics as Keras has them: "mae" and "mse" summed by the C++ step beside
the loss, metric objects in compile, and metric objects on their own
(update_state, result, reset_state) checked against NumPy."""

import numpy as np
import pytest

import pyconv
from pyconv import layers as L
from pyconv import metrics as M


def test_mae_and_mse_during_fit_and_evaluate():
    pyconv.set_seed(0)
    rng = np.random.default_rng(1)
    x, y = rng.random((10, 3), dtype=np.float32), rng.random((10, 2), dtype=np.float32)
    m = pyconv.Sequential([pyconv.Input((3,)), L.Dense(2)])
    m.compile("sgd", "mse", metrics=["mae", M.MeanSquaredError()])
    logs = m.evaluate(x, y, batch_size=4, return_dict=True, verbose=0)
    d = m.predict(x).astype(np.float64) - y
    assert logs["mae"] == pytest.approx(np.abs(d).mean(), rel=1e-6)
    assert logs["mean_squared_error"] == pytest.approx((d * d).mean(), rel=1e-6)
    assert logs["mean_squared_error"] == pytest.approx(logs["loss"], rel=1e-5)
    history = m.fit(x, y, epochs=1, verbose=0)
    assert set(history.history) == {"loss", "mae", "mean_squared_error"}


def test_metrics_that_need_matching_targets_or_predictions_say_so():
    m = pyconv.Sequential([pyconv.Input((3,)), L.Dense(4, activation="softmax")])
    m.compile("sgd", "sparse_categorical_crossentropy", metrics=["mae"])
    with pytest.raises(ValueError, match="shaped like the model's output"):
        m.evaluate(np.zeros((2, 3), np.float32), np.array([0, 3]), verbose=0)
    with pytest.raises(ValueError, match="update_state"):
        m.compile("sgd", "mse", metrics=[M.Precision()])
    m.compile("sgd", "sparse_categorical_crossentropy", metrics=[M.SparseCategoricalAccuracy()])
    assert set(m.evaluate(np.zeros((2, 3), np.float32), np.array([0, 3]), return_dict=True,
                          verbose=0)) == {"loss", "sparse_categorical_accuracy"}


def test_metric_objects_on_their_own():
    probs = np.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2], [0.2, 0.3, 0.5], [0.4, 0.35, 0.25]])
    labels = np.array([1, 2, 2, 1])
    acc = M.SparseCategoricalAccuracy()
    acc.update_state(labels[:2], probs[:2])
    acc.update_state(labels[2:], probs[2:], sample_weight=[3.0, 1.0])
    assert acc.result() == pytest.approx((1 + 0 + 3 + 0) / 6)
    acc.reset_state()
    assert acc.result() == 0.0
    assert M.CategoricalAccuracy()(np.eye(3)[labels], probs) == pytest.approx(0.5)
    assert M.SparseTopKCategoricalAccuracy(k=2)(labels, probs) == pytest.approx(0.75)
    assert M.TopKCategoricalAccuracy(k=1)(np.eye(3)[labels], probs) == pytest.approx(0.5)
    y, p = np.array([1, 0, 1, 1, 0]), np.array([0.9, 0.8, 0.4, 0.7, 0.1])
    assert M.Precision()(y, p) == pytest.approx(2 / 3)
    assert M.Recall()(y, p) == pytest.approx(2 / 3)
    assert M.BinaryAccuracy()(y, p) == pytest.approx(3 / 5)
    assert M.MeanAbsoluteError()([[1.0, 2.0]], [[2.0, 4.0]]) == pytest.approx(1.5)
    iou = M.MeanIoU(num_classes=3)
    iou.update_state(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 2]))
    # class 0: 1 / 2, class 1: 1 / 2, class 2: 1 / 1
    assert iou.result() == pytest.approx((0.5 + 0.5 + 1.0) / 3)
    mean = M.Mean()
    mean.update_state([1.0, 3.0])
    assert mean.result() == pytest.approx(2.0) and M.MeanIoU(2).name == "mean_iou"
