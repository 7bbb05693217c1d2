"""Metrics. In fit and evaluate the core computes the hot ones in the same pass
as the loss: "accuracy" (the Keras accuracy that fits the loss: sparse
categorical, categorical, or thresholded binary), "mae", "mse" and the top-k
accuracies. The metric objects below work on their own, as Keras's do:
update_state(y_true, y_pred, sample_weight), result(), reset_state(); given
to compile, the others (Precision, Recall, AUC, MeanIoU, ...) are updated
from each step's outputs, which the step then hands back."""

import re
import warnings

import numpy as np

_ACCURACY_NAMES = ("accuracy", "acc", "sparse_categorical_accuracy", "categorical_accuracy",
                   "binary_accuracy")
MEAN_ABSOLUTE = ("mae", "mean_absolute_error")
MEAN_SQUARED = ("mse", "mean_squared_error")
_NAMES = _ACCURACY_NAMES + MEAN_ABSOLUTE + MEAN_SQUARED


def to_json(metric):
    """A compiled metric (a name, or an object) as JSON for the model file."""
    if isinstance(metric, str):
        return metric
    return {"class_name": type(metric).__name__, "config": metric.get_config()}


def _metric_class(name, custom_objects):
    """The Metric class a model file names: the caller's (custom_objects), a
    pyconv one, or a subclass of Metric defined in this process (a model
    pickled to a worker that imports the same code); None if none is."""
    if custom_objects and name in custom_objects:
        return custom_objects[name]
    cls = globals().get(name)
    if isinstance(cls, type) and issubclass(cls, Metric):
        return cls
    stack = [Metric]
    while stack:
        for sub in stack.pop().__subclasses__():
            if sub.__name__ == name:
                return sub
            stack.append(sub)
    return None


def from_json(entry, custom_objects=None):
    """A compiled metric from the model file; None (and a warning) for a
    class of the user's that is not defined here: the model loads without it."""
    if isinstance(entry, str):
        return entry
    cls = _metric_class(entry["class_name"], custom_objects)
    if cls is None:
        warnings.warn(f"the model file's metric {entry['class_name']!r} is none of pyconv's and "
                      "no Metric subclass of that name is defined here: the model is loaded "
                      "without it (pass custom_objects={'" + entry["class_name"] + "': ...} to "
                      "load_model)", stacklevel=4)
        return None
    return cls.from_config(entry["config"])


def resolve(metrics):
    """The metrics to report, validated: the names the core sums in its step
    (for those and for the matching objects), and metric objects computed
    from the step's outputs."""
    if metrics is None:
        return []
    if isinstance(metrics, (str, Metric)):
        metrics = [metrics]
    resolved = []
    for m in metrics:
        if isinstance(m, str) and m.lower() in _BY_NAME:
            m = _BY_NAME[m.lower()](name=m)  # as Keras: logged under the name given
        if isinstance(m, Metric):
            resolved.append(m)  # logged under its name; summed by the core if it has a core_name
            continue
        if not isinstance(m, str) or m.lower() not in _NAMES:
            raise ValueError(f"unknown metric {m!r}; expected a pyconv.metrics object or one of "
                             + ", ".join(f"'{n}'" for n in _NAMES + tuple(_BY_NAME)))
        resolved.append(m.lower())
    # Objects named alike (AUC() and AUC(curve="PR") are both "auc") would
    # log under one key, one hiding the other: later ones get "_1", "_2", as
    # Keras names them.
    taken = {m if isinstance(m, str) else m.name for m in resolved}
    seen = set()
    for m in resolved:
        if isinstance(m, Metric) and m.name in seen:
            k = 1
            while f"{m.name}_{k}" in taken:
                k += 1
            m.name = f"{m.name}_{k}"
            taken.add(m.name)
        seen.add(m if isinstance(m, str) else m.name)
    return resolved


def as_object(metric):
    """A resolved metric as an object computed from the outputs (the names
    the core sums become their metric objects, named as given)."""
    if not isinstance(metric, str):
        return metric
    if metric in ("accuracy", "acc"):
        return _AutoAccuracy(name=metric)
    cls = {"sparse_categorical_accuracy": SparseCategoricalAccuracy,
           "categorical_accuracy": CategoricalAccuracy, "binary_accuracy": BinaryAccuracy}.get(
        metric, MeanAbsoluteError if metric in MEAN_ABSOLUTE else MeanSquaredError)
    return cls(name=metric)


class Metric:
    """A stateful metric: update_state adds a batch, result() is the value
    over everything added since reset_state()."""

    core_name = None  # the name the core sums it under in fit, if it does
    core_top_k = None  # the k of a top-k accuracy, which the core counts in fit

    def __init__(self, name=None, dtype=None):
        self.name = name or _snake(type(self).__name__)
        self._variables = []
        # pyconv's metrics start their state here; a subclass of your own
        # makes its state after this (add_variable), as in Keras.
        if type(self).reset_state.__module__.startswith("pyconv."):
            self.reset_state()
        else:
            Metric.reset_state(self)

    def reset_state(self):
        self._total = 0.0
        self._count = 0.0
        for variable, initial in getattr(self, "_variables", ()):
            variable.assign(initial)

    def add_variable(self, shape=(), initializer="zeros", dtype=None, name=None):
        """A state variable for a metric of your own (Keras's add_variable):
        update it with assign / assign_add, read it as a number or array;
        reset_state() puts it back to its initial value."""
        if initializer not in ("zeros", "ones") and not isinstance(initializer, (int, float)):
            raise ValueError("a metric variable starts at 'zeros', 'ones' or a number, received "
                             f"{initializer!r}")
        start = {"zeros": 0.0, "ones": 1.0}.get(initializer, initializer)
        initial = np.full(shape, start, np.float64)
        variable = MetricVariable(initial, name)
        self._variables.append((variable, initial))
        return variable

    add_weight = add_variable

    def _add(self, values, sample_weight=None, per_sample=None):
        values = np.asarray(values, dtype=np.float64)
        weights = np.ones(len(values)) if sample_weight is None \
            else np.asarray(sample_weight, dtype=np.float64).reshape(len(values))
        self._total += float((values * weights).sum())
        self._count += float(weights.sum())

    def result(self):
        return self._total / self._count if self._count else 0.0

    def add_counts(self, total, count):
        """Adds what the core counted for a batch (top-k accuracy in fit)."""
        self._total += float(total)
        self._count += float(count)

    def update_state(self, y_true, y_pred, sample_weight=None):
        raise NotImplementedError

    def __call__(self, y_true, y_pred, sample_weight=None):
        self.update_state(y_true, y_pred, sample_weight)
        return self.result()

    # The constructor arguments get_config reports besides the name.
    _config_keys = ()

    def get_config(self):
        return {"name": self.name, **{k: getattr(self, k) for k in self._config_keys}}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class MetricVariable:
    """A metric's state: an array with Keras's assign, assign_add and numpy()."""

    def __init__(self, value, name=None):
        self.name, self.value = name, np.array(value, np.float64)

    @property
    def shape(self):
        return self.value.shape

    def assign(self, value):
        self.value = np.broadcast_to(np.asarray(value, np.float64), self.value.shape).copy()
        return self

    def assign_add(self, value):
        return self.assign(self.value + np.asarray(value, np.float64))

    def numpy(self):
        return self.value.copy()

    def __array__(self, dtype=None, copy=None):
        return self.value.astype(dtype) if dtype else self.value

    def __float__(self):
        return float(self.value)


def _snake(name):
    """Keras's default metric name for a class: MeanIoU -> mean_io_u, AUC -> auc."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


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
    _config_keys = ("threshold",)

    def __init__(self, name=None, dtype=None, threshold=0.5):
        self.threshold = float(threshold)
        self.core_name = "binary_accuracy" if self.threshold == 0.5 else None
        super().__init__(name, dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        p = np.asarray(y_pred).reshape(len(y_pred), -1) > self.threshold
        t = np.asarray(y_true).reshape(len(y_pred), -1) > 0.5
        self._add((p == t).mean(axis=1), sample_weight)


class _AutoAccuracy(Metric):
    """"accuracy" as Keras picks it from the shapes: binary for one output
    value, sparse categorical for class labels, else categorical."""

    threshold = 0.5  # (BinaryAccuracy's)

    def update_state(self, y_true, y_pred, sample_weight=None):
        t, p = np.asarray(y_true), np.asarray(y_pred)
        if p.shape[-1] == 1:
            cls = BinaryAccuracy
        elif t.ndim < p.ndim or t.shape[-1] == 1:
            cls = SparseCategoricalAccuracy
        else:
            cls = CategoricalAccuracy
        cls.update_state(self, y_true, y_pred, sample_weight)


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

    _config_keys = ("k",)

    def __init__(self, k=5, name=None, dtype=None):
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k must be a positive integer, received {k!r}")
        self.k = int(k)
        self.core_top_k = self.k
        super().__init__(name, dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        p = np.asarray(y_pred)
        top = np.argsort(-p, axis=-1, kind="stable")[:, :self.k]
        self._add((top == _labels(y_true)[:, None]).any(axis=1), sample_weight)


class TopKCategoricalAccuracy(SparseTopKCategoricalAccuracy):
    def update_state(self, y_true, y_pred, sample_weight=None):
        super().update_state(np.asarray(y_true).argmax(-1), y_pred, sample_weight)


class _Counts(Metric):
    """The confusion counts (tp, fp, tn, fn) of thresholded binary predictions."""

    _config_keys = ("thresholds",)

    def __init__(self, thresholds=0.5, name=None, dtype=None):
        self.thresholds = float(thresholds)
        super().__init__(name, dtype)

    def reset_state(self):
        self.tp = self.fp = self.tn = self.fn = 0.0

    def update_state(self, y_true, y_pred, sample_weight=None):
        p = (np.asarray(y_pred) > self.thresholds).reshape(len(y_pred), -1)
        t = (np.asarray(y_true) > 0.5).reshape(len(y_pred), -1)
        w = np.ones(len(p)) if sample_weight is None else np.asarray(sample_weight, np.float64)
        w = w.reshape(len(p), 1)
        self.tp += float((w * (p & t)).sum())
        self.fp += float((w * (p & ~t)).sum())
        self.tn += float((w * (~p & ~t)).sum())
        self.fn += float((w * (~p & t)).sum())


class Precision(_Counts):
    def result(self):
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0


class Recall(_Counts):
    def result(self):
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0


class MeanIoU(Metric):
    """The intersection over union of each class, averaged over the classes
    present (labels and predicted class ids, e.g. per pixel). With
    sparse_y_pred=False the predictions are per-class scores (a softmax
    output during fit): their argmax is the class; sparse_y_true=False does
    the same for one-hot labels."""

    _config_keys = ("num_classes", "ignore_class", "sparse_y_true", "sparse_y_pred", "axis")

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None,
                 sparse_y_true=True, sparse_y_pred=True, axis=-1):
        self.num_classes = int(num_classes)
        self.ignore_class = ignore_class
        self.sparse_y_true, self.sparse_y_pred, self.axis = sparse_y_true, sparse_y_pred, axis
        super().__init__(name, dtype)  # Keras's name: mean_io_u

    def reset_state(self):
        self.confusion = np.zeros((self.num_classes, self.num_classes), np.float64)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
        if not self.sparse_y_true:
            y_true = y_true.argmax(self.axis)
        if not self.sparse_y_pred:
            y_pred = y_pred.argmax(self.axis)
        t = y_true.reshape(-1).astype(np.int64)
        p = y_pred.reshape(-1).astype(np.int64)
        if t.shape != p.shape:
            raise ValueError(f"MeanIoU compares one class id per label: {t.size} labels and "
                             f"{p.size} predictions (scores per class? use sparse_y_pred=False)")
        w = np.ones(t.size) if sample_weight is None else np.broadcast_to(
            np.asarray(sample_weight, np.float64).reshape(len(y_true), -1),
            y_true.reshape(len(y_true), -1).shape).reshape(-1)
        if self.ignore_class is not None:
            keep = t != self.ignore_class
            t, p, w = t[keep], p[keep], w[keep]
        for what, ids in (("labels", t), ("predictions", p)):
            if ids.size and (ids.min() < 0 or ids.max() >= self.num_classes):
                raise ValueError(f"MeanIoU {what} must be class ids in [0, {self.num_classes}), "
                                 f"found {ids.min()}..{ids.max()}")
        np.add.at(self.confusion, (t, p), w)

    def _classes(self):
        return np.arange(self.num_classes)

    def result(self):
        inter = np.diag(self.confusion)
        union = self.confusion.sum(0) + self.confusion.sum(1) - inter
        inter, union = inter[self._classes()], union[self._classes()]
        present = union > 0
        return float((inter[present] / union[present]).mean()) if present.any() else 0.0


class AUC(Metric):
    """The area under the ROC curve (curve="ROC") or the precision-recall
    curve ("PR"), from true/false positive counts at `num_thresholds`
    thresholds evenly spread over [0, 1], as Keras computes it: the
    "interpolation" sum (trapezoids for ROC, Davis and Goadrich's for PR),
    or "minoring"/"majoring" (lower and upper Riemann sums). Labels are 0/1;
    predictions probabilities (or logits with from_logits=True). All outputs
    count as one set of binary predictions (multi_label=False)."""

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation",
                 name=None, dtype=None, thresholds=None, multi_label=False, num_labels=None,
                 label_weights=None, from_logits=False):
        if curve not in ("ROC", "PR"):
            raise ValueError(f"curve must be 'ROC' or 'PR', received {curve!r}")
        if summation_method not in ("interpolation", "minoring", "majoring"):
            raise ValueError("summation_method must be 'interpolation', 'minoring' or "
                             f"'majoring', received {summation_method!r}")
        if multi_label or num_labels is not None or label_weights is not None:
            raise ValueError("AUC(multi_label=True) is not supported: one AUC over every output")
        if thresholds is not None:
            inner = np.sort(np.asarray(thresholds, np.float64).reshape(-1))
        else:
            if int(num_thresholds) < 2:
                raise ValueError(f"num_thresholds must be > 1, received {num_thresholds!r}")
            n = int(num_thresholds)
            inner = np.arange(1, n - 1, dtype=np.float64) / (n - 1)
        # Keras's end points just outside [0, 1], so 0 and 1 predictions count.
        self.thresholds = np.concatenate([[-1e-7], inner, [1 + 1e-7]])
        self._given_thresholds = None if thresholds is None else inner.tolist()
        self.num_thresholds = len(self.thresholds)
        self.curve, self.summation_method = curve, summation_method
        self.from_logits = bool(from_logits)
        super().__init__(name or "auc", dtype)

    def get_config(self):
        config = {"name": self.name, "curve": self.curve,
                  "summation_method": self.summation_method, "from_logits": self.from_logits}
        if self._given_thresholds is not None:
            config["thresholds"] = self._given_thresholds
        else:
            config["num_thresholds"] = self.num_thresholds
        return config

    def reset_state(self):
        size = len(getattr(self, "thresholds", ()))
        self.tp, self.fp, self.tn, self.fn = (np.zeros(size) for _ in range(4))

    def update_state(self, y_true, y_pred, sample_weight=None):
        p = np.asarray(y_pred, np.float64).reshape(len(y_pred), -1)
        if self.from_logits:
            p = 1 / (1 + np.exp(-p))
        t = np.asarray(y_true, np.float64).reshape(p.shape) > 0.5
        w = np.ones(len(p)) if sample_weight is None else np.asarray(sample_weight, np.float64)
        w = np.broadcast_to(w.reshape(len(p), 1), p.shape).reshape(-1)
        p, t = p.reshape(-1), t.reshape(-1)
        # Each prediction counts as positive at every threshold below it: a
        # cumulative sum over the sorted thresholds (not a threshold x value table).
        slot = np.searchsorted(self.thresholds, p, side="left")  # thresholds < p: [0, slot)
        size = len(self.thresholds)
        pos = np.bincount(slot, weights=w * t, minlength=size + 1)
        neg = np.bincount(slot, weights=w * ~t, minlength=size + 1)
        above_pos = np.cumsum(pos[::-1])[::-1][1:]  # predictions above threshold i
        above_neg = np.cumsum(neg[::-1])[::-1][1:]
        self.tp += above_pos
        self.fp += above_neg
        self.fn += pos.sum() - above_pos
        self.tn += neg.sum() - above_neg

    def result(self):
        tp, fp, tn, fn = self.tp, self.fp, self.tn, self.fn
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.curve == "PR" and self.summation_method == "interpolation":
                return self._pr_interpolation()
            recall = np.where(tp + fn > 0, tp / (tp + fn), 0.0)
            if self.curve == "ROC":
                x, y = np.where(fp + tn > 0, fp / (fp + tn), 0.0), recall
            else:
                x, y = recall, np.where(tp + fp > 0, tp / (tp + fp), 0.0)
            if self.summation_method == "interpolation":
                heights = (y[:-1] + y[1:]) / 2
            elif self.summation_method == "minoring":
                heights = np.minimum(y[:-1], y[1:])
            else:
                heights = np.maximum(y[:-1], y[1:])
            return float(np.sum((x[:-1] - x[1:]) * heights))

    def _pr_interpolation(self):
        """Davis and Goadrich's interpolation of precision between thresholds."""
        tp, fp, fn = self.tp, self.fp, self.fn
        dtp = tp[:-1] - tp[1:]
        p = tp + fp
        dp = p[:-1] - p[1:]
        slope = np.where(dp > 0, dtp / np.maximum(dp, 1e-300), 0.0)
        intercept = tp[1:] - slope * p[1:]
        ratio = np.where((p[:-1] > 0) & (p[1:] > 0), p[:-1] / np.maximum(p[1:], 1e-300), 1.0)
        increment = slope * (dtp + intercept * np.log(ratio))
        positives = tp[1:] + fn[1:]
        return float(np.sum(np.where(positives > 0, increment / np.maximum(positives, 1e-300),
                                     0.0)))


from .metrics_more import (  # noqa: E402 (they build on the classes above)
    BinaryCrossentropy, CategoricalCrossentropy, CategoricalHinge, CosineSimilarity, F1Score,
    FalseNegatives, FalsePositives, FBetaScore, Hinge, IoU, KLDivergence, LogCoshError,
    MeanAbsolutePercentageError, MeanSquaredLogarithmicError, OneHotIoU, OneHotMeanIoU, Poisson,
    R2Score, RootMeanSquaredError, SparseCategoricalCrossentropy, SquaredHinge, Sum,
    TrueNegatives, TruePositives)


def _default_name(cls):
    """The name of cls() (None where it needs arguments, or takes values, not targets)."""
    if cls in (Metric, Mean, Sum):
        return None
    try:
        return cls().name
    except TypeError:
        return None


# Keras's metric names that stand for objects computed from the outputs: each
# class's own name (those that need no arguments), and Keras's aliases.
_BY_NAME = {_default_name(cls): cls for name, cls in list(globals().items())
            if isinstance(cls, type) and issubclass(cls, Metric) and not name.startswith("_")}
_BY_NAME.pop(None, None)
_BY_NAME.update({"mape": MeanAbsolutePercentageError, "msle": MeanSquaredLogarithmicError,
                 "kld": KLDivergence, "kl_divergence": KLDivergence, "log_cosh": LogCoshError,
                 "rmse": RootMeanSquaredError,
                 "top_k_categorical_accuracy": TopKCategoricalAccuracy,
                 "sparse_top_k_categorical_accuracy": SparseTopKCategoricalAccuracy})
for _name in _NAMES:  # the core sums these itself
    _BY_NAME.pop(_name, None)


def __getattr__(name):
    """A Keras metric pyconv lacks: say so, and what there is."""
    raise AttributeError(f"pyconv.metrics has no {name!r}; its metrics: " + ", ".join(
        sorted(n for n, c in globals().items() if isinstance(c, type) and issubclass(c, Metric)
               and not n.startswith("_"))))
