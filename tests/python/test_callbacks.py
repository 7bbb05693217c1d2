"""Keras 3's callbacks: each hook of fit, evaluate and predict in Keras's
order, EarlyStopping's arguments, ModelCheckpoint on the model file,
BackupAndRestore resuming an interrupted fit exactly, the learning-rate
callbacks, CSVLogger, LambdaCallback, TerminateOnNaN, and TensorBoard event
files read back."""

import csv
import glob
import os

import numpy as np
import pytest

import pyconv
from pyconv import callbacks as C
from pyconv import layers as L
from pyconv.callbacks.event_file import read_scalars


def data(n=32, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, 6, 6, 1)).astype(np.float32)
    return x, rng.integers(0, 3, n)


def model(seed=1, dropout=0.0, optimizer="adam"):
    pyconv.set_seed(seed)
    m = pyconv.Sequential([pyconv.Input((6, 6, 1)), L.Conv2D(3, 3, activation="relu"),
                           L.Flatten(), L.Dropout(dropout), L.Dense(3, activation="softmax")])
    m.compile(optimizer, "sparse_categorical_crossentropy", metrics=["accuracy"])
    return m


def diverging():
    """loss = w**2 for one weight; SGD with lr 1.5 maps w -> -2w: 1, 4, 16, ..."""
    m = pyconv.Sequential([pyconv.Input((1,)), L.Dense(1, use_bias=False)])
    m.compile(pyconv.optimizers.SGD(learning_rate=1.5), "mse")
    m.set_weights([np.ones((1, 1), np.float32)])
    return m, np.ones((1, 1), np.float32), np.zeros((1, 1), np.float32)


class Recorder(C.Callback):
    def __init__(self):
        super().__init__()
        self.events = []

    def __getattribute__(self, name):
        if name.startswith("on_"):
            return lambda *args: self.events.append((name,) + args[:1] if len(args) > 1 else (name,))
        return super().__getattribute__(name)


def test_fit_calls_every_hook_in_keras_order():
    x, y = data(12)
    m, rec = model(), Recorder()
    m.fit(x, y, batch_size=4, epochs=1, validation_split=0.25, callbacks=[rec], verbose=0)
    assert rec.events == [
        ("on_train_begin",), ("on_epoch_begin", 0),
        ("on_train_batch_begin", 0), ("on_train_batch_end", 0),
        ("on_train_batch_begin", 1), ("on_train_batch_end", 1),
        ("on_train_batch_begin", 2), ("on_train_batch_end", 2),   # 9 training samples
        ("on_test_begin",), ("on_test_batch_begin", 0), ("on_test_batch_end", 0), ("on_test_end",),
        ("on_epoch_end", 0), ("on_train_end",)]


def test_evaluate_and_predict_call_their_hooks():
    x, y = data(10)
    m, rec = model(), Recorder()
    m.evaluate(x, y, batch_size=4, callbacks=[rec], verbose=0)
    assert [e[0] for e in rec.events] == ["on_test_begin"] + ["on_test_batch_begin",
                                                              "on_test_batch_end"] * 3 + ["on_test_end"]
    outputs = []
    got = m.predict(x, batch_size=4, callbacks=[C.LambdaCallback(
        on_predict_batch_end=lambda batch, logs: outputs.append(logs["outputs"]))])
    assert len(outputs) == 3 and np.array_equal(np.concatenate(outputs), got)
    np.testing.assert_array_equal(got, m.predict(x))


def test_every_hook_gets_a_logs_dict():
    """Keras 3 passes logs={} where it has nothing to log (the guide's
    callbacks call logs.keys() in every hook)."""
    class Keys(C.Callback):
        calls = []

        def __getattribute__(self, name):
            if name.startswith("on_"):
                return lambda *args: Keys.calls.append((name, sorted(args[-1].keys())))
            return super().__getattribute__(name)
    x, y = data(8)
    m = model()
    m.fit(x, y, batch_size=4, epochs=1, validation_split=0.5, callbacks=[Keys()], verbose=0)
    m.evaluate(x, y, batch_size=4, callbacks=[Keys()], verbose=0)
    m.predict(x, batch_size=4, callbacks=[Keys()], verbose=0)
    hooks = {name for name, _ in Keys.calls}
    assert len(hooks) == 14  # every hook of fit, evaluate and predict ran, each with a dict
    assert ("on_train_begin", []) in Keys.calls and ("on_predict_end", []) in Keys.calls
    assert ("on_epoch_end", ["accuracy", "loss", "val_accuracy", "val_loss"]) in Keys.calls


def test_batch_hooks_of_older_code_still_run():
    class Old(C.Callback):
        seen = 0

        def on_batch_end(self, batch, logs=None):
            Old.seen += 1
    x, y = data(8)
    model().fit(x, y, batch_size=4, epochs=2, callbacks=[Old()], verbose=0)
    assert Old.seen == 4


def test_early_stopping_with_keras_arguments(capsys):
    m, x, y = diverging()
    stop = C.EarlyStopping(monitor="loss", patience=0, verbose=1)
    history = m.fit(x, y, epochs=10, callbacks=[stop], verbose=0)
    assert history.history["loss"] == pytest.approx([1.0, 4.0])
    assert "Epoch 2: early stopping" in capsys.readouterr().out
    # start_from_epoch: the first epochs are not looked at
    m, x, y = diverging()
    stop = C.EarlyStopping(monitor="loss", patience=0, start_from_epoch=2)
    assert len(m.fit(x, y, epochs=10, callbacks=[stop], verbose=0).history["loss"]) == 4
    # baseline: an improvement restarts the wait only if it also beats the
    # baseline, so the first epoch (loss 1 > 0.5) counts towards patience
    for baseline, epochs_run in ((None, 3), (0.5, 2)):
        m, x, y = diverging()
        stop = C.EarlyStopping(monitor="loss", patience=2, baseline=baseline)
        assert len(m.fit(x, y, epochs=10, callbacks=[stop], verbose=0).history["loss"]) == epochs_run


def test_early_stopping_warns_on_a_value_not_logged():
    m, x, y = diverging()
    with pytest.warns(UserWarning, match="val_loss.*not available"):
        history = m.fit(x, y, epochs=2, callbacks=[C.EarlyStopping()], verbose=0)
    assert len(history.history["loss"]) == 2
    with pytest.warns(UserWarning, match="mode"):
        C.EarlyStopping(mode="up")


def test_model_checkpoint_names_files_from_the_logs(tmp_path):
    x, y = data(16)
    m = model()
    pattern = str(tmp_path / "ckpt" / "{epoch:02d}-{val_loss:.2f}.pcv")
    history = m.fit(x, y, epochs=3, validation_split=0.25, verbose=0,
                    callbacks=[C.ModelCheckpoint(pattern)])
    names = sorted(os.path.basename(p) for p in glob.glob(str(tmp_path / "ckpt" / "*.pcv")))
    want = sorted(f"{e + 1:02d}-{v:.2f}.pcv" for e, v in enumerate(history.history["val_loss"]))
    assert names == want
    last = pyconv.models.load_model(tmp_path / "ckpt" / f"03-{history.history['val_loss'][2]:.2f}.pcv")
    np.testing.assert_array_equal(last.predict(x), m.predict(x))


def test_model_checkpoint_keeps_the_best(tmp_path):
    m, x, y = diverging()  # the loss rises every epoch: the first is the best
    path = tmp_path / "best.pcv"
    m.fit(x, y, epochs=3, verbose=0, callbacks=[
        C.ModelCheckpoint(path, monitor="loss", save_best_only=True, save_weights_only=True)])
    saved = pyconv.models.load_model(path)
    assert saved.get_weights()[0].item() == pytest.approx(-2.0)  # after epoch 1
    with pytest.raises(ValueError, match=".pcv"):
        C.ModelCheckpoint(tmp_path / "model.keras")


def test_a_nan_first_value_is_no_best_for_checkpoint_or_early_stopping(tmp_path):
    # val_loss nan, 0.5, 0.4, 0.3: NaN became the best, and nothing beats NaN,
    # so the checkpoint never saved again and early stopping stopped at once.
    class Feed(C.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["val_loss"] = [float("nan"), 0.5, 0.4, 0.3][epoch]

    x, y = data()
    checkpoint = C.ModelCheckpoint(tmp_path / "e{epoch}.pcv", save_best_only=True)
    stopping = C.EarlyStopping(patience=1)
    history = model().fit(x, y, epochs=4, verbose=0, callbacks=[Feed(), checkpoint, stopping])
    assert history.epoch == [0, 1, 2, 3]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e2.pcv", "e3.pcv", "e4.pcv"]
    assert checkpoint.best == stopping.best == 0.3


def test_model_checkpoint_says_what_it_improved_from(tmp_path, capsys):
    x, y = data(16)
    m = model()
    m.fit(x, y, epochs=1, verbose=0, callbacks=[C.ModelCheckpoint(
        tmp_path / "a.pcv", monitor="accuracy", save_best_only=True, verbose=1)])
    assert "accuracy improved from -inf to" in capsys.readouterr().out  # as Keras prints it
    m.fit(x, y, epochs=1, verbose=0, callbacks=[C.ModelCheckpoint(
        tmp_path / "b.pcv", monitor="loss", save_best_only=True, verbose=1)])
    assert "loss improved from inf to" in capsys.readouterr().out


def _fit_interrupted(tmp_path, stop_after, optimizer):
    class Crash(C.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == stop_after:
                raise KeyboardInterrupt
    x, y = data(40)
    m = model(dropout=0.3, optimizer=optimizer())
    backup = C.BackupAndRestore(tmp_path / "backup")
    with pytest.raises(KeyboardInterrupt):
        m.fit(x, y, batch_size=8, epochs=5, callbacks=[backup, Crash()], verbose=0)
    assert os.path.exists(tmp_path / "backup" / "latest.pcv")
    # a fresh process would start from scratch like this
    m = model(dropout=0.3, optimizer=optimizer())
    history = m.fit(x, y, batch_size=8, epochs=5, callbacks=[backup], verbose=0)
    return m, history


@pytest.mark.parametrize("schedule", [None, "decay", "own"])
def test_backup_and_restore_resumes_a_learning_rate_schedule(tmp_path, schedule):
    class Halving(pyconv.optimizers.schedules.LearningRateSchedule):  # a user's own class
        def __call__(self, step):
            return 0.01 * 0.5 ** (step // 5)

    def optimizer():
        rate = {None: 0.01, "own": Halving(),
                "decay": pyconv.optimizers.schedules.ExponentialDecay(0.01, 5, 0.5)}[schedule]
        return pyconv.optimizers.Adam(rate)
    x, y = data(40)
    whole = model(dropout=0.3, optimizer=optimizer())
    whole.fit(x, y, batch_size=8, epochs=5, verbose=0)
    resumed, _ = _fit_interrupted(tmp_path, 1, optimizer)
    for a, b in zip(resumed.get_weights(), whole.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert float(resumed.optimizer.learning_rate) == float(whole.optimizer.learning_rate)


def test_backup_and_restore_resumes_an_interrupted_fit_exactly(tmp_path):
    x, y = data(40)
    whole = model(dropout=0.3)
    whole.fit(x, y, batch_size=8, epochs=5, verbose=0)
    resumed, history = _fit_interrupted(tmp_path, stop_after=1, optimizer=lambda: "adam")
    assert history.epoch == [2, 3, 4]
    for a, b in zip(resumed.get_weights(), whole.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert not os.path.exists(tmp_path / "backup")  # deleted once fit completed
    with pytest.raises(ValueError, match="save_freq"):
        C.BackupAndRestore(tmp_path, save_freq=10)


def test_backup_and_restore_resumes_a_pass_that_steps_per_epoch_left_under_way(tmp_path):
    # With steps_per_epoch the epochs go on through one shuffled pass; the
    # resumed fit started a new pass (0.028 away from the uninterrupted weights).
    x, y = data(48)

    def fit(callbacks=()):
        m = model()
        m.fit(x, y, batch_size=8, epochs=4, steps_per_epoch=2, verbose=0, callbacks=list(callbacks))
        return m

    class Crash(C.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise RuntimeError("interrupted")

    whole = fit()
    with pytest.raises(RuntimeError, match="interrupted"):
        fit([C.BackupAndRestore(tmp_path / "backup"), Crash()])
    resumed = fit([C.BackupAndRestore(tmp_path / "backup")])
    for a, b in zip(resumed.get_weights(), whole.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert resumed._fit_batches is None  # no reference to the data is kept


def test_learning_rate_scheduler_and_plateau():
    x, y = data(8)
    m = model(optimizer=pyconv.optimizers.SGD(learning_rate=0.1))
    history = m.fit(x, y, epochs=3, verbose=0, callbacks=[
        C.LearningRateScheduler(lambda epoch, lr: lr / 2)])
    assert history.history["learning_rate"] == pytest.approx([0.05, 0.025, 0.0125])
    m.fit(x, y, epochs=1, verbose=0, callbacks=[C.LearningRateScheduler(lambda epoch: 0.2)])
    assert m.optimizer.learning_rate == pytest.approx(0.2)
    with pytest.raises(ValueError, match="float"):
        m.fit(x, y, epochs=1, verbose=0, callbacks=[C.LearningRateScheduler(lambda e, lr: "x")])
    # the loss rises every epoch: with patience 1 the rate drops after each epoch, down to min_lr
    d, xd, yd = diverging()
    history = d.fit(xd, yd, epochs=4, verbose=0, callbacks=[
        C.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1, min_lr=0.5)])
    assert history.history["learning_rate"] == pytest.approx([1.5, 1.5, 0.75, 0.5])
    with pytest.raises(ValueError, match="factor"):
        C.ReduceLROnPlateau(factor=2)


def test_csv_logger_lambda_and_terminate_on_nan(tmp_path):
    x, y = data(8)
    m = model()
    path = tmp_path / "log.csv"
    ends = []
    m.fit(x, y, epochs=2, verbose=0, callbacks=[
        C.CSVLogger(path), C.LambdaCallback(on_epoch_end=lambda epoch, logs: ends.append(epoch))])
    m.fit(x, y, epochs=1, verbose=0, callbacks=[C.CSVLogger(path, append=True)])
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["epoch"] for r in rows] == ["0", "1", "0"]
    assert set(rows[0]) == {"epoch", "accuracy", "loss"}
    assert ends == [0, 1]
    # Validated every second epoch: the first epoch's row had fixed the
    # columns without the val_ ones, which were then never written.
    m.fit(x, y, epochs=2, verbose=0, validation_data=(x, y), validation_freq=2,
          callbacks=[C.CSVLogger(tmp_path / "every2.csv")])
    with open(tmp_path / "every2.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert set(rows[0]) == {"epoch", "accuracy", "loss", "val_accuracy", "val_loss"}
    assert rows[0]["val_loss"] == "NA" and float(rows[1]["val_loss"]) > 0
    with pytest.raises(TypeError, match="on_nothing"):
        C.LambdaCallback(on_nothing=print)
    # pyconv's step already refuses an update that would make a weight NaN
    # (a ValueError naming it), so the loss TerminateOnNaN sees comes from
    # the logs a batch passes on: here given directly.
    stop = C.TerminateOnNaN()
    stop.set_model(m)
    m.stop_training = False
    stop.on_train_batch_end(3, {"loss": 0.5})
    assert not m.stop_training
    stop.on_train_batch_end(4, {"loss": float("inf")})
    assert m.stop_training


def test_tensorboard_writes_event_files_tensorboard_reads(tmp_path):
    x, y = data(16)
    m = model()
    history = m.fit(x, y, batch_size=4, epochs=2, validation_split=0.25, verbose=0,
                    callbacks=[C.TensorBoard(tmp_path / "logs", update_freq="batch")])
    (train,) = glob.glob(str(tmp_path / "logs" / "train" / "events.out.tfevents.*"))
    (val,) = glob.glob(str(tmp_path / "logs" / "validation" / "events.out.tfevents.*"))
    scalars = read_scalars(train)
    epoch_loss = [v for step, tag, v in scalars if tag == "epoch_loss"]
    assert epoch_loss == pytest.approx(history.history["loss"], rel=1e-6)
    assert len([1 for _, tag, _ in scalars if tag == "batch_loss"]) == 6  # 12 samples / 4, 2 epochs
    assert [v for _, tag, v in read_scalars(val) if tag == "epoch_accuracy"] == \
        pytest.approx(history.history["val_accuracy"], rel=1e-6)
    # A second fit into the same folder within the second: its own file (the
    # first one's was overwritten), its batches numbered on from the first's.
    again = m.fit(x, y, batch_size=4, epochs=1, verbose=0,
                  callbacks=[C.TensorBoard(tmp_path / "logs", update_freq="batch")])
    files = sorted(glob.glob(str(tmp_path / "logs" / "train" / "events.out.tfevents.*")))
    assert len(files) == 2 and train in files
    assert read_scalars(train) == scalars
    later = next(f for f in files if f != train)
    assert [step for step, tag, _ in read_scalars(later) if tag == "batch_loss"] == [7, 8, 9, 10]
    # TensorBoard's own reader, where it is installed
    event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    acc = event_accumulator.EventAccumulator(str(tmp_path / "logs" / "train"))
    acc.Reload()
    assert [e.value for e in acc.Scalars("epoch_loss")] == pytest.approx(
        history.history["loss"] + again.history["loss"], rel=1e-6)
