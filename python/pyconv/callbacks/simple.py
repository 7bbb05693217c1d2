"""Small callbacks: LambdaCallback (hooks from functions), TerminateOnNaN,
and CSVLogger (one row of logs per epoch)."""

import csv
import math
import os

from .base import _HOOKS, Callback


class LambdaCallback(Callback):
    """A callback made of functions: LambdaCallback(on_epoch_end=lambda epoch,
    logs: ...). Any hook can be given (on_train_begin, on_test_batch_end, ...)."""

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None,
                 on_train_end=None, on_train_batch_begin=None, on_train_batch_end=None, **kwargs):
        super().__init__()
        given = dict(on_epoch_begin=on_epoch_begin, on_epoch_end=on_epoch_end,
                     on_train_begin=on_train_begin, on_train_end=on_train_end,
                     on_train_batch_begin=on_train_batch_begin,
                     on_train_batch_end=on_train_batch_end, **kwargs)
        for hook, function in given.items():
            if hook not in _HOOKS:
                raise TypeError(f"LambdaCallback has no hook {hook!r}; the hooks are "
                                f"{', '.join(sorted(_HOOKS))}")
            if function is not None:
                setattr(self, hook, function)


class TerminateOnNaN(Callback):
    """Stops training at the first batch whose loss is NaN or infinite."""

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            print(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True


class CSVLogger(Callback):
    """Writes each epoch's logs as a row of a CSV file: the epoch, then the
    logged values in name order (a header first)."""

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.filename, self.sep, self.append = os.fspath(filename), separator, append
        self._file = self._writer = self._keys = None

    def on_train_begin(self, logs=None):
        has_rows = self.append and os.path.exists(self.filename) and os.path.getsize(self.filename)
        self._file = open(self.filename, "a" if self.append else "w", newline="")
        self._write_header = not has_rows
        self._writer = self._keys = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self._keys is None:
            self._keys = sorted(logs)
            # With validation_freq > 1 the first epoch has no val_ values:
            # their columns come now, as Keras adds them (NA until measured).
            validates = getattr(self.model, "_fit_validates", False)
            if validates and not any(k.startswith("val_") for k in logs):
                self._keys += sorted(f"val_{k}" for k in logs if k != "learning_rate")
            self._writer = csv.DictWriter(self._file, fieldnames=["epoch"] + self._keys,
                                          delimiter=self.sep)
            if self._write_header:
                self._writer.writeheader()
        self._writer.writerow({"epoch": epoch, **{k: logs.get(k, "NA") for k in self._keys}})
        self._file.flush()

    def on_train_end(self, logs=None):
        if self._file is not None:
            self._file.close()
            self._file = None
