"""Metrics. In fit and evaluate the core sums them in the same pass as the
loss: "accuracy" (the Keras accuracy that fits the loss: sparse categorical,
categorical, or thresholded binary), "mae" and "mse". The metric objects
below also work on their own, as Keras's do: update_state(y_true, y_pred,
sample_weight), result(), reset_state(); those the core sums can be given to
compile too."""

import numpy as np

_ACCURACY_NAMES = ("accuracy", "acc", "sparse_categorical_accuracy", "categorical_accuracy",
                   "binary_accuracy")
MEAN_ABSOLUTE = ("mae", "mean_absolute_error")
MEAN_SQUARED = ("mse", "mean_squared_error")
_NAMES = _ACCURACY_NAMES + MEAN_ABSOLUTE + MEAN_SQUARED


def resolve(metrics):
    """The list of metric names to report, validated: names, or the metric
    objects of this module whose values the core sums in its step."""
    if metrics is None:
        return []
    if isinstance(metrics, (str, Metric)):
        metrics = [metrics]
    names = []
    for m in metrics:
        if isinstance(m, Metric):
            if m.core_name is None:
                raise ValueError(f"metric {type(m).__name__} is not computed during fit: use it on "
                                 "predictions, metric.update_state(y, model.predict(x))")
            names.append(m.core_name)
            continue
        if not isinstance(m, str) or m.lower() not in _NAMES:
            raise ValueError(f"unknown metric {m!r}; expected one of "
                             + ", ".join(f"'{n}'" for n in _NAMES))
        names.append(m.lower())
    return names


class Metric:
    """A stateful metric: update_state adds a batch, result() is the value
    over everything added since reset_state()."""

    core_name = None  # the name the core sums it under in fit, if it does

    def __init__(self, name=None, dtype=None):
        self.name = name or _snake(type(self).__name__)
        self.reset_state()

    def reset_state(self):
        self._total = 0.0
        self._count = 0.0

    def _add(self, values, sample_weight=None, per_sample=None):
        values = np.asarray(values, dtype=np.float64)
        weights = np.ones(len(values)) if sample_weight is None \
            else np.asarray(sample_weight, dtype=np.float64).reshape(len(values))
        self._total += float((values * weights).sum())
        self._count += float(weights.sum())

    def result(self):
        return self._total / self._count if self._count else 0.0

    def update_state(self, y_true, y_pred, sample_weight=None):
        raise NotImplementedError

    def __call__(self, y_true, y_pred, sample_weight=None):
        self.update_state(y_true, y_pred, sample_weight)
        return self.result()

    def get_config(self):
        return {"name": self.name}


def _snake(name):
    return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")


def _labels(y):
    y = np.asarray(y)
    return y.reshape(len(y), -1)[:, 0] if y.ndim > 1 and y.shape[-1] == 1 else y


class Mean(Metric):
    """The (weighted) mean of the values given: update_state(values)."""

    def update_state(self, values, sample_weight=None):
        self._add(np.asarray(values, dtype=np.float64).reshape(-1), sample_weight)


class Accuracy(Metric):
    """How often predictions equal the labels exactly."""

    def update_state(self, y_true, y_pred, sample_weight=None):
        t, p = np.asarray(y_true).reshape(len(y_pred), -1), np.asarray(y_pred).reshape(len(y_pred), -1)
        self._add((t == p).mean(axis=1), sample_weight)


class SparseCategoricalAccuracy(Metric):
    core_name = "sparse_categorical_accuracy"

    def update_state(self, y_true, y_pred, sample_weight=None):
        self._add(np.asarray(y_pred).argmax(-1) == _labels(y_true), sample_weight)


class CategoricalAccuracy(Metric):
    core_name = "categorical_accuracy"

    def update_state(self, y_true, y_pred, sample_weight=None):
        self._add(np.asarray(y_pred).argmax(-1) == np.asarray(y_true).argmax(-1), sample_weight)


class BinaryAccuracy(Metric):
    def __init__(self, name=None, dtype=None, threshold=0.5):
        self.threshold = float(threshold)
        self.core_name = "binary_accuracy" if self.threshold == 0.5 else None
        super().__init__(name, dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        p = np.asarray(y_pred).reshape(len(y_pred), -1) > self.threshold
        t = np.asarray(y_true).reshape(len(y_pred), -1) > 0.5
        self._add((p == t).mean(axis=1), sample_weight)


class MeanAbsoluteError(Metric):
    core_name = "mean_absolute_error"

    def update_state(self, y_true, y_pred, sample_weight=None):
        d = np.asarray(y_pred, np.float64) - np.asarray(y_true, np.float64)
        self._add(np.abs(d).reshape(len(d), -1).mean(axis=1), sample_weight)


class MeanSquaredError(Metric):
    core_name = "mean_squared_error"

    def update_state(self, y_true, y_pred, sample_weight=None):
        d = np.asarray(y_pred, np.float64) - np.asarray(y_true, np.float64)
        self._add((d * d).reshape(len(d), -1).mean(axis=1), sample_weight)


class SparseTopKCategoricalAccuracy(Metric):
    """How often the label is among the k highest predictions."""

    def __init__(self, k=5, name=None, dtype=None):
        self.k = int(k)
        super().__init__(name, dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        p = np.asarray(y_pred)
        top = np.argsort(-p, axis=-1, kind="stable")[:, :self.k]
        self._add((top == _labels(y_true)[:, None]).any(axis=1), sample_weight)


class TopKCategoricalAccuracy(SparseTopKCategoricalAccuracy):
    def update_state(self, y_true, y_pred, sample_weight=None):
        super().update_state(np.asarray(y_true).argmax(-1), y_pred, sample_weight)


class _Counts(Metric):
    """True/false positives of thresholded binary predictions."""

    def __init__(self, thresholds=0.5, name=None, dtype=None):
        self.thresholds = float(thresholds)
        super().__init__(name, dtype)

    def reset_state(self):
        self.tp = self.fp = self.fn = 0.0

    def update_state(self, y_true, y_pred, sample_weight=None):
        p = (np.asarray(y_pred) > self.thresholds).reshape(len(y_pred), -1)
        t = (np.asarray(y_true) > 0.5).reshape(len(y_pred), -1)
        w = np.ones(len(p)) if sample_weight is None else np.asarray(sample_weight, np.float64)
        w = w.reshape(len(p), 1)
        self.tp += float((w * (p & t)).sum())
        self.fp += float((w * (p & ~t)).sum())
        self.fn += float((w * (~p & t)).sum())


class Precision(_Counts):
    def result(self):
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0


class Recall(_Counts):
    def result(self):
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0


class MeanIoU(Metric):
    """The intersection over union of each class, averaged over the classes
    present (labels and predicted class ids, e.g. per pixel)."""

    def __init__(self, num_classes, name=None, dtype=None):
        self.num_classes = int(num_classes)
        super().__init__(name or "mean_iou", dtype)

    def reset_state(self):
        self.confusion = np.zeros((self.num_classes, self.num_classes), np.float64)

    def update_state(self, y_true, y_pred, sample_weight=None):
        t = np.asarray(y_true).reshape(-1).astype(np.int64)
        p = np.asarray(y_pred).reshape(-1).astype(np.int64)
        w = None if sample_weight is None else np.broadcast_to(
            np.asarray(sample_weight, np.float64).reshape(len(y_true), -1),
            np.asarray(y_true).reshape(len(y_true), -1).shape).reshape(-1)
        np.add.at(self.confusion, (t, p), 1.0 if w is None else w)

    def result(self):
        inter = np.diag(self.confusion)
        union = self.confusion.sum(0) + self.confusion.sum(1) - inter
        present = union > 0
        return float((inter[present] / union[present]).mean()) if present.any() else 0.0
