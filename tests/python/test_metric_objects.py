"""Metrics as Keras has them: "mae" and "mse" summed by the C++ step beside
the loss, metric objects in compile (those the step does not sum are updated
from the outputs it hands back), and metric objects on their own
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


@pytest.mark.parametrize("activation, loss, classes", [("sigmoid", "binary_crossentropy", 1),
                                                       ("softmax", "categorical_crossentropy", 3)])
def test_mae_and_mse_are_of_the_probabilities_where_the_loss_takes_the_logits(activation, loss,
                                                                             classes):
    # The step fuses the sigmoid or softmax into the cross-entropy; "mae" and
    # "mse" were summed over the logits it holds (14.6 where 0.31 was right).
    rng = np.random.default_rng(2)
    x = rng.normal(size=(8, 4)).astype(np.float32)
    y = (rng.integers(0, 2, (8, 1)) if classes == 1 else np.eye(3)[rng.integers(0, 3, 8)])
    y = y.astype(np.float32)
    m = pyconv.Sequential([pyconv.Input((4,)), L.Dense(classes, activation=activation)])
    m.set_weights([2 * rng.normal(size=(4, classes)).astype(np.float32), np.zeros(classes, np.float32)])
    m.compile(pyconv.optimizers.SGD(0.0), loss, metrics=["mse", "mae"])
    d = m.predict(x, verbose=0).astype(np.float64) - y
    logs = m.evaluate(x, y, return_dict=True, verbose=0)
    history = m.fit(x, y, batch_size=8, epochs=1, verbose=0).history
    for mse, mae in ((logs["mse"], logs["mae"]), (history["mse"][0], history["mae"][0])):
        assert mse == pytest.approx((d * d).mean(), rel=1e-5)
        assert mae == pytest.approx(np.abs(d).mean(), rel=1e-5)


def test_metrics_that_need_matching_targets_or_predictions_say_so():
    m = pyconv.Sequential([pyconv.Input((3,)), L.Dense(4, activation="softmax")])
    m.compile("sgd", "sparse_categorical_crossentropy", metrics=["mae"])
    with pytest.raises(ValueError, match="shaped like the model's output"):
        m.evaluate(np.zeros((2, 3), np.float32), np.array([0, 3]), verbose=0)
    with pytest.raises(ValueError, match="unknown metric"):
        m.compile("sgd", "mse", metrics=["precison"])
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
    assert mean.result() == pytest.approx(2.0) and M.MeanIoU(2).name == "mean_io_u"


def _binary_problem(n=300):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((n, 4)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] + 0.7 * rng.standard_normal(n) > 0.3).astype(np.float32)
    return x, y[:, None]


def test_output_metrics_during_fit_and_evaluate_match_the_objects_on_predictions():
    pyconv.set_seed(2)
    x, y = _binary_problem()
    model = pyconv.Sequential([pyconv.Input((4,)), L.Dense(8, activation="relu"),
                               L.Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy",
                  metrics=["accuracy", "auc", M.Precision(), M.Recall(name="rec"),
                           M.AUC(curve="PR", name="pr_auc")])
    history = model.fit(x, y, batch_size=32, epochs=3, verbose=0, validation_split=0.2)
    assert set(history.history) == {"loss", "accuracy", "auc", "precision", "rec", "pr_auc",
                                     "val_loss", "val_accuracy", "val_auc", "val_precision",
                                     "val_rec", "val_pr_auc"}
    assert history.history["auc"][-1] > 0.7
    logs = model.evaluate(x, y, batch_size=64, return_dict=True, verbose=0)
    p = model.predict(x)
    for name, metric in (("auc", M.AUC()), ("precision", M.Precision()), ("rec", M.Recall()),
                         ("pr_auc", M.AUC(curve="PR"))):
        metric.update_state(y, p)
        assert logs[name] == pytest.approx(metric.result(), rel=1e-9, abs=1e-12), name
    # As in Keras 3, compile's metrics ignore the sample weights ...
    w = np.where(y[:, 0] > 0, 3.0, 1.0)
    weighted = model.evaluate(x, y, sample_weight=w, return_dict=True, verbose=0)
    assert weighted["precision"] == pytest.approx(logs["precision"])
    assert weighted["accuracy"] == pytest.approx(logs["accuracy"])
    # ... and its weighted_metrics take them.
    model.compile("adam", "binary_crossentropy", metrics=["accuracy", "auc"],
                  weighted_metrics=["accuracy", M.Precision()])
    weighted = model.evaluate(x, y, sample_weight=w, return_dict=True, verbose=0)
    precision, accuracy = M.Precision(), M.BinaryAccuracy()
    precision.update_state(y, p, sample_weight=w)
    accuracy.update_state(y, p, sample_weight=w)
    assert list(weighted) == ["accuracy", "auc", "loss", "precision", "weighted_accuracy"]
    assert model.metrics_names == ["loss", "accuracy", "auc", "weighted_accuracy", "precision"]
    assert weighted["accuracy"] == pytest.approx(logs["accuracy"])
    assert weighted["weighted_accuracy"] == pytest.approx(accuracy.result())
    assert weighted["precision"] == pytest.approx(precision.result())
    assert weighted["weighted_accuracy"] != pytest.approx(weighted["accuracy"])


def test_top_k_and_mean_iou_during_fit():
    pyconv.set_seed(3)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 6, 6, 2)).astype(np.float32)
    labels = rng.integers(0, 5, 64)
    model = pyconv.Sequential([pyconv.Input((6, 6, 2)), L.Flatten(),
                               L.Dense(5, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy",
                  metrics=["sparse_top_k_categorical_accuracy",
                           M.SparseTopKCategoricalAccuracy(k=2, name="top2"),
                           M.MeanIoU(5, sparse_y_pred=False)])
    logs = model.evaluate(x, labels, return_dict=True, verbose=0)
    p = model.predict(x)
    assert logs["top2"] == pytest.approx(M.SparseTopKCategoricalAccuracy(k=2)(labels, p))
    assert logs["sparse_top_k_categorical_accuracy"] == pytest.approx(
        M.SparseTopKCategoricalAccuracy(k=5)(labels, p))
    iou = M.MeanIoU(5)
    iou.update_state(labels, p.argmax(-1))
    assert logs["mean_io_u"] == pytest.approx(iou.result())
    # Per pixel: a segmentation output.
    seg = pyconv.Sequential([pyconv.Input((6, 6, 2)), L.Conv2D(3, 1, activation="softmax")])
    seg.compile("adam", "mse", metrics=[M.MeanIoU(3, sparse_y_true=False, sparse_y_pred=False)])
    masks = np.eye(3, dtype=np.float32)[rng.integers(0, 3, (64, 6, 6))]
    history = seg.fit(x, masks, epochs=2, verbose=0)
    assert 0 <= history.history["mean_io_u"][-1] <= 1
    logs = seg.evaluate(x, masks, return_dict=True, verbose=0)
    iou = M.MeanIoU(3)
    iou.update_state(masks.argmax(-1), seg.predict(x).argmax(-1))
    assert logs["mean_io_u"] == pytest.approx(iou.result())


def test_every_output_gets_its_own_metric_objects():
    pyconv.set_seed(4)
    inp = pyconv.Input((4,))
    a = L.Dense(1, activation="sigmoid", name="a")(inp)
    b = L.Dense(1, activation="sigmoid", name="b")(inp)
    model = pyconv.Model(inp, [a, b])
    model.compile("sgd", "binary_crossentropy", metrics=["auc"])
    x, y = _binary_problem(100)
    logs = model.evaluate(x, [y, 1 - y], return_dict=True, verbose=0)
    pa, pb = model.predict(x)
    for out, p, t in (("a", pa, y), ("b", pb, 1 - y)):
        auc = M.AUC()
        auc.update_state(t, p)
        assert logs[f"{out}_auc"] == pytest.approx(auc.result())


def _exact_roc_auc(y, p):
    """The probability that a random positive scores above a random negative."""
    pos, neg = p[y > 0.5], p[y <= 0.5]
    greater = (pos[:, None] > neg[None, :]).mean()
    ties = (pos[:, None] == neg[None, :]).mean()
    return greater + 0.5 * ties


def test_auc_against_the_exact_areas():
    rng = np.random.default_rng(7)
    y = (rng.random(2000) < 0.3).astype(np.float64)
    p = np.clip(0.35 * y + rng.random(2000) * 0.65, 0, 1)
    auc = M.AUC(num_thresholds=1000)
    auc.update_state(y, p)
    assert auc.result() == pytest.approx(_exact_roc_auc(y, p), abs=2e-3)
    low, mid, high = (M.AUC(num_thresholds=50, summation_method=s)
                      for s in ("minoring", "interpolation", "majoring"))
    for metric in (low, mid, high):
        metric.update_state(y, p)
    assert low.result() <= mid.result() <= high.result()
    assert high.result() - low.result() > 1e-3
    # PR: the area under precision(recall), against a fine step sum.
    pr = M.AUC(curve="PR", num_thresholds=1000)
    pr.update_state(y, p)
    order = np.argsort(-p)
    hits = np.cumsum(y[order])
    precision, recall = hits / np.arange(1, len(y) + 1), hits / y.sum()
    average_precision = np.sum(np.diff(np.concatenate([[0], recall])) * precision)
    assert pr.result() == pytest.approx(average_precision, abs=1e-2)
    # Logits, and weights.
    logits = M.AUC(from_logits=True)
    logits.update_state(y, np.log(p + 1e-9) - np.log1p(-p + 1e-9))
    plain = M.AUC()
    plain.update_state(y, p)
    assert logits.result() == pytest.approx(plain.result(), abs=1e-3)
    doubled = M.AUC()
    doubled.update_state(np.concatenate([y, y]), np.concatenate([p, p]))
    weighted = M.AUC()
    weighted.update_state(y, p, sample_weight=np.full(len(y), 2.0))
    assert weighted.result() == pytest.approx(doubled.result())
    perfect = M.AUC()
    perfect.update_state([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])
    assert perfect.result() == pytest.approx(1.0)


def test_bad_metric_arguments_and_ids_are_refused():
    with pytest.raises(ValueError, match="curve"):
        M.AUC(curve="DET")
    with pytest.raises(ValueError, match="multi_label"):
        M.AUC(multi_label=True)
    with pytest.raises(ValueError, match=r"class ids in \[0, 3\)"):
        M.MeanIoU(3).update_state([0, 5], [0, 1])
    with pytest.raises(ValueError, match="sparse_y_pred=False"):
        M.MeanIoU(3).update_state([0, 1], [[0.2, 0.8, 0.0], [0.1, 0.1, 0.8]])


def test_top_k_is_counted_by_the_step_like_the_objects():
    pyconv.set_seed(6)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((50, 8)).astype(np.float32)
    labels = rng.integers(0, 6, 50)
    weights = rng.uniform(0.1, 3.0, 50)
    model = pyconv.Sequential([pyconv.Input((8,)), L.Dense(6, activation="softmax")])
    model.compile("sgd", "categorical_crossentropy",
                  metrics=[M.TopKCategoricalAccuracy(k=3), M.TopKCategoricalAccuracy(k=1,
                                                                                 name="top1")])
    one_hot = np.eye(6, dtype=np.float32)[labels]
    logs = model.evaluate(x, one_hot, batch_size=16, return_dict=True, verbose=0)
    # compile's metrics ignore sample weights (Keras 3): the same figures with them
    with_weights = model.evaluate(x, one_hot, sample_weight=weights, batch_size=16,
                                  return_dict=True, verbose=0)
    assert with_weights["loss"] != pytest.approx(logs["loss"])
    assert with_weights["top1"] == logs["top1"]
    assert with_weights["top_k_categorical_accuracy"] == logs["top_k_categorical_accuracy"]
    p = model.predict(x)
    for name, k in (("top_k_categorical_accuracy", 3), ("top1", 1)):
        metric = M.TopKCategoricalAccuracy(k=k)
        metric.update_state(one_hot, p)
        assert logs[name] == pytest.approx(metric.result(), rel=1e-6)
    model.compile("sgd", "categorical_crossentropy",
                  weighted_metrics=[M.TopKCategoricalAccuracy(k=3)])
    weighted = model.evaluate(x, one_hot, sample_weight=weights, batch_size=16,
                              return_dict=True, verbose=0)
    metric = M.TopKCategoricalAccuracy(k=3)
    metric.update_state(one_hot, p, sample_weight=weights)
    assert weighted["top_k_categorical_accuracy"] == pytest.approx(metric.result(), rel=1e-6)
    # Ties rank the lower class first, as a stable sort does.
    flat = pyconv.Sequential([pyconv.Input((8,)), L.Dense(6, kernel_initializer="zeros",
                                                         activation="softmax")])
    flat.compile("sgd", "sparse_categorical_crossentropy",
                 metrics=[M.SparseTopKCategoricalAccuracy(k=2)])
    tied = flat.evaluate(x, labels, return_dict=True, verbose=0)
    assert tied["sparse_top_k_categorical_accuracy"] == pytest.approx(np.mean(labels < 2))


def test_metrics_named_alike_each_keep_their_value():
    # AUC() and AUC(curve="PR") are both "auc": one hid the other in
    # evaluate and History. The later one is "auc_1", as Keras names it.
    rng = np.random.default_rng(2)
    x = rng.normal(size=(23, 4)).astype(np.float32)
    y = rng.integers(0, 2, size=(23, 1)).astype(np.float32)
    m = pyconv.Sequential([pyconv.Input((4,)), L.Dense(1, activation="sigmoid")])
    roc, pr = M.AUC(), M.AUC(curve="PR")
    m.compile("sgd", "binary_crossentropy", metrics=[roc, pr, "mae", M.MeanAbsoluteError(name="mae")])
    assert m.metrics_names == ["loss", "auc", "auc_1", "mae", "mae_1"]
    logs = m.evaluate(x, y, return_dict=True, verbose=0)
    p = m.predict(x, verbose=0)
    for metric, name in ((M.AUC(), "auc"), (M.AUC(curve="PR"), "auc_1")):
        metric.update_state(y, p)
        assert logs[name] == pytest.approx(metric.result(), rel=1e-6)
    assert set(m.fit(x, y, epochs=1, verbose=0).history) == {"loss", "auc", "auc_1", "mae", "mae_1"}


def test_top_k_needs_class_scores():
    model = pyconv.Sequential([pyconv.Input((4, 4, 1)), L.Conv2D(3, 1)])
    model.compile("sgd", "mse", metrics=[M.TopKCategoricalAccuracy(k=2)])
    x = np.zeros((2, 4, 4, 1), np.float32)
    with pytest.raises(ValueError, match=r"outputs of shape \(N, classes\)"):
        model.evaluate(x, np.zeros((2, 4, 4, 3), np.float32), verbose=0)
    with pytest.raises(ValueError, match="k must be a positive integer"):
        M.SparseTopKCategoricalAccuracy(k=0)


def test_metric_names_and_objects_survive_history_and_the_model_file(tmp_path):
    # Found: BinaryAccuracy(name="acc") was logged as "binary_accuracy", and a
    # model compiled with metric objects could not be saved.
    pyconv.set_seed(8)
    x, y = _binary_problem(64)
    model = pyconv.Sequential([pyconv.Input((4,)), L.Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy",
                  metrics=[M.BinaryAccuracy(name="acc"), M.AUC(curve="PR", num_thresholds=50),
                           M.Precision(name="prec"), "mae"])
    history = model.fit(x, y, epochs=1, verbose=0)
    assert set(history.history) == {"loss", "acc", "auc", "prec", "mae"}
    model.save(tmp_path / "m.pcv")
    loaded = pyconv.models.load_model(tmp_path / "m.pcv")
    assert loaded.evaluate(x, y, return_dict=True, verbose=0) == \
        model.evaluate(x, y, return_dict=True, verbose=0)
    auc = [m for m in loaded._metrics if isinstance(m, M.AUC)][0]
    assert (auc.curve, auc.num_thresholds) == ("PR", 50)


def test_the_other_keras_metric_objects():
    t = np.array([[0.0, 1.0], [0.0, 0.0]])
    p = np.array([[0.6, 0.4], [0.4, 0.6]])
    # Keras's docstring figures for the same inputs.
    assert M.BinaryCrossentropy()(t, p) == pytest.approx(0.81492424, rel=1e-5)
    assert M.CategoricalCrossentropy()([[0, 1, 0], [0, 0, 1]],
                                       [[0.05, 0.95, 0], [0.1, 0.8, 0.1]]) == pytest.approx(
        (-np.log(0.95) - np.log(0.1)) / 2, rel=1e-5)
    assert M.SparseCategoricalCrossentropy()([1, 2], [[0.05, 0.95, 0], [0.1, 0.8, 0.1]]) \
        == pytest.approx((-np.log(0.95) - np.log(0.1)) / 2, rel=1e-5)
    logits = np.array([[2.0, -1.0, 0.5]])
    assert M.SparseCategoricalCrossentropy(from_logits=True)([0], logits) == pytest.approx(
        -np.log(np.exp(2.0) / np.exp(logits).sum()))
    assert M.RootMeanSquaredError()(t, p) == pytest.approx(np.sqrt(((t - p) ** 2).mean()))
    assert M.MeanAbsolutePercentageError()([[1.0, 2.0]], [[1.5, 1.0]]) == pytest.approx(50.0)
    assert M.Hinge()(t, p) == pytest.approx(np.maximum(1 - (2 * t - 1) * p, 0).mean())
    assert M.KLDivergence()([[0.5, 0.5]], [[0.25, 0.75]]) == pytest.approx(
        0.5 * np.log(2) + 0.5 * np.log(0.5 / 0.75))
    assert M.CosineSimilarity()([[1.0, 0.0]], [[1.0, 1.0]]) == pytest.approx(np.sqrt(0.5))
    total = M.Sum()
    total.update_state([1.0, 2.0], sample_weight=[1.0, 3.0])
    assert total.result() == 7.0
    y, q = np.array([1, 0, 1, 1, 0]), np.array([0.9, 0.8, 0.4, 0.7, 0.1])
    assert [M.TruePositives()(y, q), M.FalsePositives()(y, q), M.TrueNegatives()(y, q),
            M.FalseNegatives()(y, q)] == [2.0, 1.0, 1.0, 1.0]
    labels, guess = np.array([0, 0, 1, 2]), np.array([0, 1, 1, 2])
    assert M.IoU(3, target_class_ids=[0])(labels, guess) == pytest.approx(0.5)
    assert M.OneHotMeanIoU(3)(np.eye(3)[labels], np.eye(3)[guess]) == pytest.approx(
        M.MeanIoU(3)(labels, guess))
    one_hot = np.eye(3)[[0, 1, 2, 2]]
    scores = np.eye(3)[[0, 2, 2, 1]]
    f1 = M.F1Score()(one_hot, scores)  # per class: tp 1/0/1, fp 0/1/1, fn 0/1/1
    np.testing.assert_allclose(f1, [1.0, 0.0, 0.5])
    assert M.F1Score(average="macro")(one_hot, scores) == pytest.approx(0.5)
    r2 = M.R2Score()
    r2.update_state([[1.0], [2.0], [3.0]], [[1.0], [2.0], [4.0]])
    assert r2.result() == pytest.approx(1 - 1 / 2)
    # Keras's names, and its strings for them in compile.
    assert M.MeanIoU(2).name == "mean_io_u" and M.FBetaScore().name == "fbeta_score"
    assert [m.name for m in M.resolve(["rmse", "binary_crossentropy", "mape"])] == [
        "rmse", "binary_crossentropy", "mape"]
    with pytest.raises(AttributeError, match="pyconv.metrics has no 'Nonexistent'; its metrics"):
        M.Nonexistent
    for cls in (M.F1Score, M.IoU, M.OneHotIoU, M.BinaryCrossentropy):
        metric = cls(2, [0]) if cls in (M.IoU, M.OneHotIoU) else cls()
        assert type(metric).from_config(metric.get_config()).get_config() == metric.get_config()
