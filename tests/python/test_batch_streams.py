"""fit, evaluate and predict on data given batch by batch, as Keras 3 takes
it: a pyconv.utils.PyDataset (threads or processes making batches ahead),
a Python generator, and the tuple (x, y) as x. (A plain object with
__len__ and __getitem__ that is neither is refused, as Keras refuses it:
test_model_state.py.)"""

import itertools
import threading
import time

import numpy as np
import pytest

import pyconv
from pyconv import layers as L
from pyconv.utils import PyDataset, Sequence


def data(n=24, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 5), dtype=np.float32), rng.random((n, 2), dtype=np.float32)


def model(seed=1):
    pyconv.set_seed(seed)
    m = pyconv.Sequential([pyconv.Input((5,)), L.Dense(2)])
    m.compile(pyconv.optimizers.SGD(learning_rate=0.1), "mse")
    return m


class Batches(PyDataset):
    def __init__(self, x, y, batch_size, delay=0.0, **kwargs):
        super().__init__(**kwargs)
        self.x, self.y, self.batch_size, self.delay = x, y, batch_size, delay
        self.epochs_ended = 0

    def __len__(self):
        return -(-len(self.x) // self.batch_size)

    def __getitem__(self, i):
        time.sleep(self.delay)
        s = slice(i * self.batch_size, (i + 1) * self.batch_size)
        return self.x[s], self.y[s]

    def on_epoch_end(self):
        self.epochs_ended += 1


def same_weights(a, b):
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)


@pytest.mark.parametrize("workers,processes", [(1, False), (3, False), (2, True)])
def test_a_py_dataset_trains_as_the_arrays_do(workers, processes):
    x, y = data()
    a, b = model(), model()
    dataset = Batches(x, y, 8, workers=workers, use_multiprocessing=processes, max_queue_size=2)
    history = a.fit(dataset, epochs=3, verbose=0)
    b.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    same_weights(a, b)
    assert len(history.history["loss"]) == 3
    if not processes:
        assert dataset.epochs_ended == 3
    assert a.evaluate(dataset, verbose=0) == pytest.approx(b.evaluate(x, y, batch_size=8, verbose=0))
    np.testing.assert_array_equal(a.predict(dataset), b.predict(x))


class Reshuffled(Batches):
    """Batches in an order on_epoch_end draws anew, as a dataset that shuffles itself."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.order = np.arange(len(self))

    def __getitem__(self, i):
        return super().__getitem__(int(self.order[i]))

    def on_epoch_end(self):
        super().on_epoch_end()
        self.order = np.random.default_rng(self.epochs_ended).permutation(len(self))


def test_worker_processes_see_what_on_epoch_end_changed():
    # The processes got the dataset once, at the first epoch: every epoch
    # then trained in the first epoch's order.
    x, y = data()
    in_threads, in_processes = model(), model()
    in_threads.fit(Reshuffled(x, y, 6), epochs=3, verbose=0)
    in_processes.fit(Reshuffled(x, y, 6, workers=2, use_multiprocessing=True), epochs=3, verbose=0)
    same_weights(in_threads, in_processes)


def test_a_generator_with_steps_per_epoch_and_validation():
    x, y = data()

    def forever():
        while True:
            for i in range(0, 24, 6):
                yield x[i:i + 6], y[i:i + 6], np.ones(6, np.float32)
    a, b = model(), model()
    history = a.fit(forever(), steps_per_epoch=4, epochs=2, verbose=0,
                    validation_data=Batches(x, y, 12), validation_steps=1)
    b.fit(x, y, batch_size=6, epochs=2, shuffle=False, verbose=0)
    same_weights(a, b)
    assert len(history.history["val_loss"]) == 2


def test_a_generator_used_again_goes_on_where_the_last_call_stopped():
    # fit(g, steps_per_epoch=2) drew 11 batches more than it took (lost to the
    # next call), and a slow generator's thread was still inside next() when
    # the next fit's thread called it: "generator already executing".
    x, y = data()
    drawn = []

    def numbered(delay=0.0):
        for i in itertools.count():
            time.sleep(delay)
            drawn.append(i)
            yield x[i % 4 * 6:(i % 4 + 1) * 6], y[i % 4 * 6:(i % 4 + 1) * 6]
    g = numbered()
    m = model()
    m.fit(g, steps_per_epoch=2, epochs=2, verbose=0)
    assert drawn == [0, 1, 2, 3]
    m.evaluate(g, steps=1, verbose=0)
    m.predict(g, steps=2, verbose=0)
    assert drawn == [0, 1, 2, 3, 4, 5, 6]
    slow = numbered(delay=0.02)
    for _ in range(5):
        m.fit(slow, steps_per_epoch=1, epochs=1, verbose=0)


def test_an_error_ends_fit_at_once_while_the_generator_stalls():
    # A source with no next batch yet (a network, a queue): fit's error was
    # held until the generator gave its next batch.
    x, y = data()
    stall = threading.Event()

    def source():
        yield x[:6], y[:6]
        yield x[:6], np.ones((6, 3), np.float32)  # the wrong target shape
        stall.wait()
        yield x[:6], y[:6]
    m = model()
    release = threading.Timer(30.0, stall.set)  # a broken fit returns then (and fails), not never
    release.start()
    try:
        with pytest.raises(ValueError):
            m.fit(source(), steps_per_epoch=3, verbose=0)
        assert not stall.is_set()  # fit returned while the source was still stalled
    finally:
        stall.set()
        release.cancel()


def test_a_finite_generator_ends_the_epoch_and_then_training():
    x, y = data(12)
    m = model()
    with pytest.warns(UserWarning, match="ran out of data"):
        history = m.fit(((x[i:i + 4], y[i:i + 4]) for i in range(0, 12, 4)), epochs=3, verbose=0)
    assert len(history.history["loss"]) == 1
    # As validation data, for a second epoch: the message says why nothing is left.
    once = ((x[i:i + 4], y[i:i + 4]) for i in range(0, 12, 4))
    with pytest.warns(UserWarning, match="ran out of data"), \
            pytest.raises(ValueError, match="generator ran out in an earlier pass"):
        m.fit(x, y, epochs=2, validation_data=once, verbose=0)


def test_batches_are_made_ahead_and_in_parallel():
    x, y = data(32)
    started = [threading.Event() for _ in range(4)]
    together = threading.Barrier(2, timeout=10)

    class Watched(Batches):
        def __getitem__(self, i):
            started[i].set()
            if self.workers > 1 and i < 2:
                together.wait()  # batches 0 and 1 are made at the same time, or this fails
            return super().__getitem__(i)

    def next_batch_already_started(batch, logs):
        if batch < 3:
            assert started[batch + 1].wait(10), "the next batch was not being made during the step"
    from pyconv.callbacks import LambdaCallback
    for workers in (1, 2):
        for event in started:
            event.clear()
        model().fit(Watched(x, y, 8, workers=workers), epochs=1, verbose=0,
                    callbacks=[LambdaCallback(on_train_batch_end=next_batch_already_started)])


def test_tuples_as_x_and_what_is_refused():
    x, y = data()
    a, b = model(), model()
    a.fit((x, y), batch_size=8, epochs=1, shuffle=False, verbose=0)
    b.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    same_weights(a, b)
    dataset = Batches(x, y, 8)
    a, b = model(), model()  # as in Keras 3, a dataset's own batches count, not batch_size
    a.fit(dataset, batch_size=4, epochs=1, verbose=0)
    b.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    same_weights(a, b)
    # A batch given as a list [x, y], as Keras takes it (numpy's "inhomogeneous
    # shape" before).
    class ListBatches(Batches):
        def __getitem__(self, i):
            return list(super().__getitem__(i))
    a, b = model(), model()
    a.fit(ListBatches(x, y, 8), epochs=1, verbose=0)
    b.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    same_weights(a, b)
    with pytest.raises(ValueError, match="`y`"):
        a.fit(dataset, y, verbose=0)
    with pytest.raises(ValueError, match="validation_split"):
        a.fit(dataset, validation_split=0.5, verbose=0)
    assert Sequence is PyDataset

    class Broken(PyDataset):
        def __len__(self):
            return 2

        def __getitem__(self, i):
            raise KeyError("no such batch")
    with pytest.raises(KeyError, match="no such batch"):
        a.fit(Broken(), verbose=0)
    threads_before = threading.active_count()

    def failing():
        yield x[:4], y[:4]
        raise RuntimeError("the source broke")
    with pytest.raises(RuntimeError, match="the source broke"):
        a.fit(failing(), steps_per_epoch=3, verbose=0)
    time.sleep(0.3)
    assert threading.active_count() <= threads_before


class NumBatches(Batches):
    """Keras 3 lets a PyDataset give num_batches instead of __len__ (None: no end)."""

    __len__ = PyDataset.__len__

    def __init__(self, *args, endless=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.endless = endless

    @property
    def num_batches(self):
        return None if self.endless else -(-len(self.x) // self.batch_size)

    def __getitem__(self, i):
        return super().__getitem__(i % -(-len(self.x) // self.batch_size))


def test_steps_per_epoch_goes_on_through_the_data_as_keras_does():
    """Keras 3 carries on from where the last epoch stopped; a pass that ends
    mid-epoch ends that epoch, and the next epoch starts the data again."""
    x, y = data(24)
    arrays = _batches_seen(model(), x, y=y, batch_size=6)
    dataset = _batches_seen(model(), Batches(x, y, 6))
    by_property = _batches_seen(model(), NumBatches(x, y, 6))
    assert arrays == dataset == by_property == [[0, 1, 2], [3], [0, 1, 2], [3]]
    endless = _batches_seen(model(), NumBatches(x, y, 6, endless=True), warn=False)
    assert endless == [[0, 1, 2], [3, 0, 1], [2, 3, 0], [1, 2, 3]]  # indices 0-11, 4 batches
    with pytest.raises(ValueError, match="steps_per_epoch"):
        model().fit(NumBatches(x, y, 6, endless=True), epochs=1, verbose=0)


def _batches_seen(m, fit_x, y=None, batch_size=None, warn=True):
    """The batches each epoch trained on (by the first x value of each)."""
    x0 = data(24)[0][:, 0]
    seen = []

    class Record(pyconv.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            seen.append([])
    original = m._run_batch

    def run_batch(sums, xs, *rest, **kw):
        seen[-1].append(int(np.flatnonzero(x0 == xs[0][0, 0])[0]) // 6)
        return original(sums, xs, *rest, **kw)
    m._run_batch = run_batch
    fit = lambda: m.fit(fit_x, y, batch_size=batch_size, epochs=4, steps_per_epoch=3,
                        shuffle=False, callbacks=[Record()], verbose=0)
    if warn:
        with pytest.warns(UserWarning, match="ran out of data"):
            fit()
    else:
        fit()
    return seen
