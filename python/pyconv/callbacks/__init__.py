"""Callbacks with Keras 3's names, arguments and hooks: fit, evaluate and
predict call on_train_*, on_epoch_*, on_test_* and on_predict_* (and their
batch hooks) in Keras's order."""

from .base import Callback, CallbackList, History
from .checkpoint import BackupAndRestore, ModelCheckpoint
from .early_stopping import EarlyStopping
from .learning_rate import LearningRateScheduler, ReduceLROnPlateau
from .simple import CSVLogger, LambdaCallback, TerminateOnNaN
from .tensorboard import TensorBoard

__all__ = ["BackupAndRestore", "CSVLogger", "Callback", "CallbackList", "EarlyStopping", "History",
           "LambdaCallback", "LearningRateScheduler", "ModelCheckpoint", "ReduceLROnPlateau",
           "TensorBoard", "TerminateOnNaN"]
