"""Keras's remaining metric objects, computed in NumPy from the outputs (in
fit, from the outputs the step hands back): the means of a per-sample error
or cross-entropy, sums, confusion counts, IoU variants, F-scores and R^2.
pyconv.metrics exports them beside its own."""

import numpy as np

from .metrics import MeanIoU, Metric, _Counts, _labels

_EPSILON = 1e-7  # Keras's clip of probabilities before a logarithm


def _pair(y_true, y_pred):
    return np.asarray(y_true, np.float64), np.asarray(y_pred, np.float64)


def _per_sample(values):
    """The mean of each sample's values (Keras averages the last axis, then the batch)."""
    return values.reshape(len(values), -1).mean(axis=1)


class _MeanOf(Metric):
    """The (weighted) mean over samples of _value(y_true, y_pred) per sample."""

    def update_state(self, y_true, y_pred, sample_weight=None):
        t, p = _pair(y_true, y_pred)
        self._add(self._value(t.reshape(p.shape) if t.size == p.size else t, p), sample_weight)


class Sum(Metric):
    """The (weighted) sum of the values given: update_state(values)."""

    def update_state(self, values, sample_weight=None):
        self._add(np.asarray(values, np.float64).reshape(-1), sample_weight)

    def result(self):
        return self._total


class RootMeanSquaredError(_MeanOf):
    def _value(self, t, p):
        return _per_sample((p - t) ** 2)

    def result(self):
        return float(np.sqrt(super().result()))


class MeanAbsolutePercentageError(_MeanOf):
    def _value(self, t, p):
        return _per_sample(100 * np.abs((t - p) / np.maximum(np.abs(t), _EPSILON)))


class MeanSquaredLogarithmicError(_MeanOf):
    def _value(self, t, p):
        return _per_sample((np.log1p(np.maximum(p, _EPSILON)) - np.log1p(np.maximum(t, _EPSILON))) ** 2)


class LogCoshError(_MeanOf):
    def _value(self, t, p):
        d = p - t
        return _per_sample(d + np.logaddexp(0, -2 * d) - np.log(2.0))


class CosineSimilarity(_MeanOf):
    _config_keys = ("axis",)

    def __init__(self, name=None, dtype=None, axis=-1):
        self.axis = axis
        super().__init__(name, dtype)

    def _value(self, t, p):
        norm = lambda a: a / np.maximum(np.linalg.norm(a, axis=self.axis, keepdims=True), 1e-12)
        return _per_sample((norm(t) * norm(p)).sum(axis=self.axis))


class Hinge(_MeanOf):
    def _value(self, t, p):
        return _per_sample(np.maximum(1 - _signed(t) * p, 0))


class SquaredHinge(_MeanOf):
    def _value(self, t, p):
        return _per_sample(np.maximum(1 - _signed(t) * p, 0) ** 2)


class CategoricalHinge(_MeanOf):
    def _value(self, t, p):
        pos = (t * p).reshape(len(p), -1).sum(axis=1)
        neg = ((1 - t) * p).reshape(len(p), -1).max(axis=1)
        return np.maximum(neg - pos + 1, 0)


def _signed(t):
    """Keras's hinge labels: 0/1 become -1/1."""
    return np.where(np.isin(t, (0, 1)).all(), 2 * t - 1, t)


class KLDivergence(_MeanOf):
    def _value(self, t, p):
        t, p = np.clip(t, _EPSILON, 1), np.clip(p, _EPSILON, 1)
        return (t * np.log(t / p)).reshape(len(p), -1).sum(axis=1)


class Poisson(_MeanOf):
    def _value(self, t, p):
        return _per_sample(p - t * np.log(p + _EPSILON))


class _Crossentropy(_MeanOf):
    _config_keys = ("from_logits", "label_smoothing")

    def __init__(self, name=None, dtype=None, from_logits=False, label_smoothing=0.0, axis=-1):
        if axis != -1:
            raise ValueError(f"{type(self).__name__} takes classes on the last axis (axis=-1), "
                             f"received axis={axis!r}")
        self.from_logits, self.label_smoothing = bool(from_logits), float(label_smoothing)
        super().__init__(name, dtype)


class BinaryCrossentropy(_Crossentropy):
    def _value(self, t, p):
        if self.from_logits:  # log(sigmoid(p)) without overflow
            log_p, log_q = -np.logaddexp(0, -p), -np.logaddexp(0, p)
        else:
            p = np.clip(p, _EPSILON, 1 - _EPSILON)
            log_p, log_q = np.log(p), np.log(1 - p)
        t = t * (1 - self.label_smoothing) + 0.5 * self.label_smoothing
        return _per_sample(-(t * log_p + (1 - t) * log_q))


def _log_probabilities(p, from_logits):
    if from_logits:
        return p - np.logaddexp.reduce(p, axis=-1, keepdims=True)
    p = p / p.sum(axis=-1, keepdims=True)
    return np.log(np.clip(p, _EPSILON, 1 - _EPSILON))


class CategoricalCrossentropy(_Crossentropy):
    def _value(self, t, p):
        classes = p.shape[-1]
        t = t * (1 - self.label_smoothing) + self.label_smoothing / classes
        return _per_sample(-(t * _log_probabilities(p, self.from_logits)).sum(axis=-1))


class SparseCategoricalCrossentropy(_Crossentropy):
    _config_keys = ("from_logits",)

    def __init__(self, name=None, dtype=None, from_logits=False, axis=-1):
        super().__init__(name, dtype, from_logits, 0.0, axis)

    def _value(self, t, p):
        log_p = _log_probabilities(p, self.from_logits).reshape(-1, p.shape[-1])
        labels = np.asarray(t).reshape(-1).astype(np.int64)
        return _per_sample(-log_p[np.arange(len(labels)), labels].reshape(len(p), -1))

    def update_state(self, y_true, y_pred, sample_weight=None):
        self._add(self._value(np.asarray(y_true), np.asarray(y_pred, np.float64)), sample_weight)


class _Count(_Counts):
    """One confusion count of thresholded binary predictions, summed."""

    def result(self):
        return getattr(self, self._count_name)


class TruePositives(_Count):
    _count_name = "tp"


class FalsePositives(_Count):
    _count_name = "fp"


class TrueNegatives(_Count):
    _count_name = "tn"


class FalseNegatives(_Count):
    _count_name = "fn"


class IoU(MeanIoU):
    """The intersection over union of the classes in target_class_ids, averaged."""

    _config_keys = MeanIoU._config_keys + ("target_class_ids",)

    def __init__(self, num_classes, target_class_ids, name=None, dtype=None, ignore_class=None,
                 sparse_y_true=True, sparse_y_pred=True, axis=-1):
        self.target_class_ids = [int(c) for c in target_class_ids]
        if not all(0 <= c < int(num_classes) for c in self.target_class_ids):
            raise ValueError(f"target_class_ids must be class ids in [0, {num_classes}), "
                             f"received {target_class_ids!r}")
        super().__init__(num_classes, name, dtype, ignore_class, sparse_y_true, sparse_y_pred, axis)

    def _classes(self):
        return np.asarray(self.target_class_ids, np.int64)


class OneHotIoU(IoU):
    """IoU of one-hot labels and per-class scores (their argmax)."""

    _config_keys = ("num_classes", "target_class_ids", "ignore_class", "sparse_y_pred", "axis")

    def __init__(self, num_classes, target_class_ids, name=None, dtype=None, ignore_class=None,
                 sparse_y_pred=False, axis=-1):
        super().__init__(num_classes, target_class_ids, name, dtype, ignore_class, False,
                         sparse_y_pred, axis)


class OneHotMeanIoU(MeanIoU):
    """MeanIoU of one-hot labels and per-class scores (their argmax)."""

    _config_keys = ("num_classes", "ignore_class", "sparse_y_pred", "axis")

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None, sparse_y_pred=False,
                 axis=-1):
        super().__init__(num_classes, name, dtype, ignore_class, False, sparse_y_pred, axis)


class FBetaScore(Metric):
    """F-beta of thresholded (or, with threshold=None, argmax) predictions
    against one-hot labels, per class: average=None (one per class),
    "micro", "macro" or "weighted" (by each class's support)."""

    _config_keys = ("average", "beta", "threshold")

    def __init__(self, average=None, beta=1.0, threshold=None, name=None, dtype=None):
        if average not in (None, "micro", "macro", "weighted"):
            raise ValueError("average must be None, 'micro', 'macro' or 'weighted', received "
                             f"{average!r}")
        if not beta > 0:
            raise ValueError(f"beta must be > 0, received {beta!r}")
        self.average, self.beta, self.threshold = average, float(beta), threshold
        super().__init__(name or "fbeta_score", dtype)  # Keras's name

    def reset_state(self):
        self.tp = self.fp = self.fn = self.support = None

    def update_state(self, y_true, y_pred, sample_weight=None):
        t, p = _pair(y_true, y_pred)
        p, t = p.reshape(len(p), -1), t.reshape(len(p), -1)
        if self.threshold is None:  # the highest score of each sample
            p = (p == p.max(axis=1, keepdims=True)).astype(np.float64)
        else:
            p = (p > self.threshold).astype(np.float64)
        w = np.ones((len(p), 1)) if sample_weight is None \
            else np.asarray(sample_weight, np.float64).reshape(len(p), 1)
        counts = [(w * p * t).sum(0), (w * p * (1 - t)).sum(0), (w * (1 - p) * t).sum(0),
                  (w * t).sum(0)]
        if self.tp is None:
            self.tp, self.fp, self.fn, self.support = counts
        else:
            for name, c in zip(("tp", "fp", "fn", "support"), counts):
                setattr(self, name, getattr(self, name) + c)

    def result(self):
        if self.tp is None:
            return 0.0
        tp, fp, fn = self.tp, self.fp, self.fn
        if self.average == "micro":
            tp, fp, fn = tp.sum(), fp.sum(), fn.sum()
        b2 = self.beta ** 2
        with np.errstate(divide="ignore", invalid="ignore"):
            score = np.nan_to_num((1 + b2) * tp / ((1 + b2) * tp + b2 * fn + fp))
        if self.average == "macro":
            return float(score.mean())
        if self.average == "weighted":
            return float((score * self.support).sum() / max(self.support.sum(), 1e-300))
        return score if self.average is None else float(score)


class F1Score(FBetaScore):
    _config_keys = ("average", "threshold")

    def __init__(self, average=None, threshold=None, name=None, dtype=None):
        super().__init__(average, 1.0, threshold, name or "f1_score", dtype)


class R2Score(Metric):
    """The coefficient of determination over everything seen: per output
    column, 1 - residual / total sum of squares, then averaged
    ("uniform_average"), weighted by each column's variance
    ("variance_weighted_average") or not (None); num_regressors adjusts it."""

    _config_keys = ("class_aggregation", "num_regressors")

    def __init__(self, class_aggregation="uniform_average", num_regressors=0, name="r2_score",
                 dtype=None):
        if class_aggregation not in (None, "uniform_average", "variance_weighted_average"):
            raise ValueError("class_aggregation must be None, 'uniform_average' or "
                             f"'variance_weighted_average', received {class_aggregation!r}")
        self.class_aggregation, self.num_regressors = class_aggregation, int(num_regressors)
        super().__init__(name, dtype)

    def reset_state(self):
        self.sums = None  # weight, sum y, sum y^2, sum residual^2 per column

    def update_state(self, y_true, y_pred, sample_weight=None):
        t, p = _pair(y_true, y_pred)
        t, p = t.reshape(len(p), -1), p.reshape(len(p), -1)
        w = np.ones((len(p), 1)) if sample_weight is None \
            else np.asarray(sample_weight, np.float64).reshape(len(p), 1)
        sums = np.stack([np.broadcast_to(w, t.shape).sum(0), (w * t).sum(0), (w * t * t).sum(0),
                         (w * (t - p) ** 2).sum(0)])
        self.sums = sums if self.sums is None else self.sums + sums

    def result(self):
        if self.sums is None:
            return 0.0
        count, total, squares, residual = self.sums
        variance = squares - total * total / np.maximum(count, 1e-300)
        with np.errstate(divide="ignore", invalid="ignore"):
            raw = np.where(variance > 0, 1 - residual / variance, 0.0)
        if self.class_aggregation == "uniform_average":
            r2 = raw.mean()
        elif self.class_aggregation == "variance_weighted_average":
            r2 = (raw * variance).sum() / max(variance.sum(), 1e-300)
        else:
            r2 = raw
        n = count[0]
        if self.num_regressors and n - self.num_regressors - 1 > 0:
            r2 = 1 - (1 - r2) * (n - 1) / (n - self.num_regressors - 1)
        return r2 if self.class_aggregation is None else float(r2)
