"""Metrics. The core counts correct predictions in the same pass as the loss;
"accuracy" means the Keras accuracy that fits the loss (sparse categorical,
categorical, or thresholded binary for a single output)."""

_ACCURACY_NAMES = ("accuracy", "acc", "sparse_categorical_accuracy", "categorical_accuracy",
                   "binary_accuracy")


def resolve(metrics):
    """The list of metric names to report, validated."""
    if metrics is None:
        return []
    if isinstance(metrics, str):
        metrics = [metrics]
    names = []
    for m in metrics:
        if not isinstance(m, str) or m.lower() not in _ACCURACY_NAMES:
            raise ValueError(f"unknown metric {m!r}; expected one of "
                             + ", ".join(f"'{n}'" for n in _ACCURACY_NAMES))
        names.append(m.lower())
    return names
