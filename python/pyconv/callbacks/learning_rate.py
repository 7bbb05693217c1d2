"""Changing the learning rate during training: LearningRateScheduler (from a
function of the epoch) and ReduceLROnPlateau (when a logged value stalls).
Both log the rate as "learning_rate", as Keras 3 does."""

import numpy as np

from .base import Callback
from .monitor import check_mode, direction, improved, monitored


def _set_rate(model, rate):
    model.optimizer.learning_rate = rate


class LearningRateScheduler(Callback):
    """Sets the learning rate at the start of every epoch to
    schedule(epoch, current_rate) (or schedule(epoch), as older code wrote)."""

    def __init__(self, schedule, verbose=0):
        super().__init__()
        if not callable(schedule):
            raise TypeError(f"schedule must be a function of (epoch, learning_rate), received "
                            f"{type(schedule).__name__}")
        self.schedule, self.verbose = schedule, int(verbose)

    def on_epoch_begin(self, epoch, logs=None):
        rate = float(self.model.optimizer.learning_rate)
        try:
            rate = self.schedule(epoch, rate)
        except TypeError:  # the older one-argument form
            rate = self.schedule(epoch)
        if not isinstance(rate, (float, int, np.floating, np.integer)) or isinstance(rate, bool):
            raise ValueError(f"The output of the `schedule` function should be a float. Got: {rate!r}")
        _set_rate(self.model, float(rate))
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {float(rate)}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)


class ReduceLROnPlateau(Callback):
    """Multiplies the learning rate by `factor` (down to `min_lr`) once
    `monitor` has not improved by `min_delta` for `patience` epochs, then
    waits `cooldown` epochs before counting again."""

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto",
                 min_delta=1e-4, cooldown=0, min_lr=0.0):
        super().__init__()
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau does not support a factor >= 1.0. Got {factor}")
        self.monitor, self.factor, self.patience = monitor, float(factor), int(patience)
        self.verbose, self.min_delta = int(verbose), float(min_delta)
        self.mode = check_mode(mode, "Learning rate reduction")
        self.cooldown, self.min_lr = int(cooldown), float(min_lr)
        self._reset()

    def _reset(self):
        self.wait = self.cooldown_counter = 0
        self.best = None
        self._direction = None

    def on_train_begin(self, logs=None):
        self._reset()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        logs["learning_rate"] = float(self.model.optimizer.learning_rate)
        value = monitored(logs, self.monitor, "Learning rate reduction")
        if value is None:
            return
        if self._direction is None:
            self._direction = direction(self.monitor, self.mode, "ReduceLROnPlateau")
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if improved(value, self.best, self._direction, self.min_delta):
            self.best, self.wait = value, 0
        elif self.cooldown_counter == 0:
            self.wait += 1
            if self.wait >= self.patience:
                rate = float(self.model.optimizer.learning_rate)
                if rate > np.float32(self.min_lr):
                    new_rate = max(rate * self.factor, self.min_lr)
                    _set_rate(self.model, new_rate)
                    if self.verbose > 0:
                        print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to "
                              f"{new_rate}.")
                    self.cooldown_counter, self.wait = self.cooldown, 0
