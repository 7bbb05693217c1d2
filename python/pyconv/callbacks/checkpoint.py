"""Saving during training: ModelCheckpoint (the model, or the best one so far,
to a file named from the epoch and the logs) and BackupAndRestore (a fit that
was interrupted resumes where it stopped, exactly)."""

import json
import os
import shutil
import warnings

from .. import _core, saving
from .base import Callback
from .monitor import check_mode, direction, improved


class ModelCheckpoint(Callback):
    """Saves the model to `filepath` (a .pcv file) every epoch, or every
    `save_freq` batches. The path may name the epoch (from 1) and any logged
    value: "ckpt-{epoch:02d}-{val_loss:.2f}.pcv". With `save_best_only`, only
    when `monitor` improves (on `initial_value_threshold`, if given)."""

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False,
                 save_weights_only=False, mode="auto", save_freq="epoch",
                 initial_value_threshold=None):
        super().__init__()
        self.filepath = os.fspath(filepath)
        if not self.filepath.endswith(".pcv"):
            raise ValueError(f"ModelCheckpoint's filepath must end in .pcv (the model file), "
                             f"received {self.filepath!r}")
        if save_freq != "epoch" and not (isinstance(save_freq, int) and save_freq > 0):
            raise ValueError(f"save_freq must be 'epoch' or a positive integer, received {save_freq!r}")
        self.monitor, self.verbose = monitor, int(verbose)
        self.save_best_only, self.save_weights_only = save_best_only, save_weights_only
        self.mode = check_mode(mode, "ModelCheckpoint")
        self.save_freq = save_freq
        self.best = initial_value_threshold
        self._batches_seen = 0
        self._epoch = 0

    def on_train_begin(self, logs=None):
        if self.save_best_only:
            self._direction = direction(self.monitor, self.mode, "ModelCheckpoint")

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq == "epoch":
            return
        self._batches_seen += 1
        if self._batches_seen % self.save_freq == 0:
            self._save(self._epoch, batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save(epoch, None, logs)

    def _path(self, epoch, batch, logs):
        try:
            if batch is None:
                return self.filepath.format(epoch=epoch + 1, **(logs or {}))
            return self.filepath.format(epoch=epoch + 1, batch=batch + 1, **(logs or {}))
        except KeyError as e:
            raise KeyError(f"ModelCheckpoint's filepath {self.filepath!r} names {e}, which is not "
                           f"among the logged values {sorted(logs or {})}") from None

    def _save(self, epoch, batch, logs):
        path = self._path(epoch, batch, logs)
        if self.save_best_only:
            value = (logs or {}).get(self.monitor)
            if value is None:
                warnings.warn(f"Can save best model only with {self.monitor} available, skipping.",
                              stacklevel=2)
                return
            if not improved(value, self.best, self._direction, 0.0):
                if self.verbose > 0:
                    print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {self.best:.5f}")
                return
            if self.verbose > 0:
                start = "-inf" if self._direction == "max" else "inf"  # Keras's words
                before = start if self.best is None else f"{self.best:.5f}"
                print(f"\nEpoch {epoch + 1}: {self.monitor} improved from {before} to {value:.5f}, "
                      f"saving model to {path}")
            self.best = value
        elif self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: saving model to {path}")
        folder = os.path.dirname(path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        (self.model.save_weights if self.save_weights_only else self.model.save)(path)


class BackupAndRestore(Callback):
    """Backs the whole training state up in `backup_dir` at the end of every
    epoch, in one model file written atomically: weights, optimizer state,
    training step, the shuffling generator and the epoch. A fit given the same
    callback after an interruption starts from the backup, so it ends with
    the weights an uninterrupted fit would have. The backup is deleted when
    fit completes (unless delete_checkpoint=False)."""

    _EPOCH_KEY = "backup_and_restore.epoch"
    # fit's steps_per_epoch: the pass over the arrays that epochs go on through
    _PASS_KEY = "backup_and_restore.pass"

    def __init__(self, backup_dir, save_freq="epoch", delete_checkpoint=True):
        super().__init__()
        if not backup_dir:
            raise ValueError("BackupAndRestore needs a backup_dir")
        if save_freq != "epoch":
            raise ValueError("pyconv's BackupAndRestore backs up at the end of each epoch "
                             f"(save_freq='epoch'), received save_freq={save_freq!r}")
        self.backup_dir = os.fspath(backup_dir)
        self.save_freq, self.delete_checkpoint = save_freq, delete_checkpoint
        self._path = os.path.join(self.backup_dir, "latest.pcv")

    def on_train_begin(self, logs=None):
        if not os.path.exists(self._path):
            return
        graph = _core.load_graph(self._path)
        meta = graph.meta
        epoch = meta.pop(self._EPOCH_KEY)
        under_way = meta.pop(self._PASS_KEY, None)
        graph.meta = meta
        # The compiled optimizer's own schedule object (a user's class too)
        # goes on driving the rate from the restored step count.
        schedule = getattr(self.model.optimizer, "_schedule", None)
        with warnings.catch_warnings():
            if schedule is not None:  # (the file's copy of it is not needed)
                warnings.simplefilter("ignore")
            saving.restore(self.model, graph)
        if schedule is not None:
            self.model.optimizer._schedule = schedule
        self.model._initial_epoch = epoch + 1  # the next epoch after the one backed up
        batches = getattr(self.model, "_fit_batches", None)
        if under_way is not None and hasattr(batches, "resume_pass"):
            batches.resume_pass(json.loads(under_way))

    def on_epoch_end(self, epoch, logs=None):
        os.makedirs(self.backup_dir, exist_ok=True)
        graph = self.model._graph
        meta = graph.meta
        backup = {**meta, self._EPOCH_KEY: epoch}
        batches = getattr(self.model, "_fit_batches", None)
        if hasattr(batches, "pass_state"):
            backup[self._PASS_KEY] = json.dumps(batches.pass_state())
        graph.meta = backup
        try:
            self.model.save(self._path)  # atomic: an interruption leaves the last backup whole
        finally:
            graph.meta = meta

    def on_train_end(self, logs=None):
        if self.delete_checkpoint and os.path.isdir(self.backup_dir):
            shutil.rmtree(self.backup_dir)
