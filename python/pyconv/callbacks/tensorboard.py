"""TensorBoard: the logged values as scalars in event files that TensorBoard
reads (`tensorboard --logdir LOG_DIR`), laid out as Keras 3 lays them out:
LOG_DIR/train and LOG_DIR/validation, tags "epoch_loss", "epoch_accuracy",
... (the validation values without their "val_"), and with update_freq
"batch" or N, "batch_loss" ... every N training batches."""

import os

from .base import Callback
from .event_file import EventFileWriter


# Keras's arguments for what pyconv does not write: each accepted at the value
# that turns it off (scripts spell out the defaults); any other is refused.
_OFF = {"histogram_freq": 0, "write_graph": False, "write_images": False,
        "write_steps_per_second": False, "profile_batch": 0, "embeddings_freq": 0,
        "embeddings_metadata": None}


class TensorBoard(Callback):
    def __init__(self, log_dir="logs", update_freq="epoch", **others):
        super().__init__()
        unsupported = sorted(k for k, v in others.items() if k not in _OFF or v != _OFF[k])
        if unsupported:
            raise TypeError(f"pyconv's TensorBoard writes the logged scalars only; it does not "
                            f"take {', '.join(f'{k}={others[k]!r}' for k in unsupported)}")
        if update_freq not in ("epoch", "batch") and not (isinstance(update_freq, int)
                                                          and update_freq > 0):
            raise ValueError(f"update_freq must be 'epoch', 'batch' or a positive integer, "
                             f"received {update_freq!r}")
        self.log_dir = os.fspath(log_dir)
        self.update_freq = 1 if update_freq == "batch" else update_freq
        self._train = self._validation = None

    def on_train_begin(self, logs=None):
        self._train = EventFileWriter(os.path.join(self.log_dir, "train"))
        self._validation = None

    def on_train_batch_end(self, batch, logs=None):
        # The step is the optimizer's (as Keras's): a later fit's batches go on
        # from the earlier one's instead of writing over its steps.
        step = int(self.model.optimizer.iterations)
        if self.update_freq != "epoch" and step % self.update_freq == 0 and logs:
            self._train.scalars(step, {f"batch_{k}": v for k, v in logs.items()})

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        train = {f"epoch_{k}": v for k, v in logs.items() if not k.startswith("val_")}
        validation = {f"epoch_{k[4:]}": v for k, v in logs.items() if k.startswith("val_")}
        self._train.scalars(epoch, train)
        if validation:
            if self._validation is None:
                self._validation = EventFileWriter(os.path.join(self.log_dir, "validation"))
            self._validation.scalars(epoch, validation)

    def on_train_end(self, logs=None):
        for writer in (self._train, self._validation):
            if writer is not None:
                writer.close()
        self._train = self._validation = None
