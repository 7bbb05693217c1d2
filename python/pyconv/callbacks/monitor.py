"""What the callbacks that watch a logged value share (EarlyStopping,
ModelCheckpoint, ReduceLROnPlateau): its direction, improvement by a
margin, and a warning (as Keras gives) when it is not logged."""

import warnings

# Logged values that are better when larger; the rest (losses, errors) when smaller.
_MAXIMIZED = ("acc", "auc", "precision", "recall", "iou", "io_u", "top_k", "f1_score",
              "fbeta_score", "r2_score", "cosine_similarity", "true_positives", "true_negatives")
_MINIMIZED = ("loss", "error", "mae", "mse", "mape", "msle", "rmse", "hinge", "crossentropy",
              "kl_divergence", "kld", "poisson", "log_cosh", "false_positives", "false_negatives")


def check_mode(mode, owner):
    if mode not in ("auto", "min", "max"):
        warnings.warn(f"{owner} mode {mode!r} is unknown, fallback to auto mode.", stacklevel=3)
        return "auto"
    return mode


def direction(monitor, mode, owner):
    """'min' or 'max' for a monitored name under mode 'auto', 'min' or 'max'."""
    if mode != "auto":
        return mode
    name = monitor[4:] if monitor.startswith("val_") else monitor
    if any(word in name for word in _MAXIMIZED):
        return "max"
    if any(word in name for word in _MINIMIZED):
        return "min"
    raise ValueError(f"{owner} callback received monitor={monitor!r}, but cannot tell whether it "
                     "should be maximized or minimized: pass mode='max' or mode='min'")


def improved(value, best, mode, min_delta):
    """True when value beats best (None: nothing yet) by more than min_delta.
    NaN never does (as in Keras, whose best starts at +-inf): a NaN first
    value would otherwise become a best that nothing beats."""
    if value != value:
        return False
    if best is None:
        return True
    return value < best - min_delta if mode == "min" else value > best + min_delta


def monitored(logs, monitor, owner):
    """The monitored value, or None with Keras's warning when it is not logged."""
    value = (logs or {}).get(monitor)
    if value is None:
        warnings.warn(f"{owner} conditioned on metric `{monitor}` which is not available. "
                      f"Available metrics are: {','.join(logs or {})}", stacklevel=3)
    return value
