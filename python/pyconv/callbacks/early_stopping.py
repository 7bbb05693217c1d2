"""EarlyStopping, with Keras 3's arguments and behaviour."""

import numpy as np

from .base import Callback
from .monitor import check_mode, direction, improved, monitored


class EarlyStopping(Callback):
    """Stops training when `monitor` has not improved by `min_delta` for
    `patience` epochs (counted from `start_from_epoch`); with `baseline`,
    patience runs until the value beats it; optionally restores the weights
    of the best epoch."""

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto",
                 baseline=None, restore_best_weights=False, start_from_epoch=0):
        super().__init__()
        self.monitor, self.patience, self.verbose = monitor, int(patience), int(verbose)
        self.mode = check_mode(mode, "EarlyStopping")
        self.min_delta = abs(min_delta)
        self.baseline = baseline
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = int(start_from_epoch)
        self.wait = self.stopped_epoch = self.best_epoch = 0
        self.best = self.best_weights = None

    def on_train_begin(self, logs=None):
        self.wait = self.stopped_epoch = self.best_epoch = 0
        self.best = self.best_weights = None
        self._direction = None

    def on_epoch_end(self, epoch, logs=None):
        if self._direction is None:
            self._direction = direction(self.monitor, self.mode, "EarlyStopping")
        value = monitored(logs, self.monitor, "Early stopping")
        if value is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights, self.best_epoch = self._weights(), epoch
        self.wait += 1
        if improved(value, self.best, self._direction, self.min_delta):
            self.best, self.best_epoch = value, epoch
            if self.restore_best_weights:
                self.best_weights = self._weights()
            # The wait restarts only once the value also beats the baseline.
            if self.baseline is None or improved(value, self.baseline, self._direction,
                                                  self.min_delta):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)

    def _weights(self):
        return [np.copy(w) for w in self.model.get_weights()]
