"""Data given batch by batch, as Keras 3 takes it: a PyDataset (keras.utils.
PyDataset, or the older Sequence) or a Python generator or iterator of
(x, y) or (x, y, sample_weight) batches. The next batches are made in the
background (worker threads or processes for a PyDataset, one thread for a
generator) while the C++ core runs the current step without the GIL."""

import collections
import concurrent.futures
import queue
import threading
import warnings
import weakref


class PyDataset:
    """Base class of a dataset of batches: override __len__ (batches per
    epoch) and __getitem__(index) (one batch: x, (x, y) or (x, y,
    sample_weight)); on_epoch_begin and on_epoch_end run around each epoch.
    `workers` batches are made at once (in processes with
    use_multiprocessing=True), up to `max_queue_size` ahead of the step."""

    def __init__(self, workers=1, use_multiprocessing=False, max_queue_size=10):
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"workers must be a positive integer, received {workers!r}")
        if isinstance(max_queue_size, bool) or not isinstance(max_queue_size, int) \
                or max_queue_size < 1:
            raise ValueError(f"max_queue_size must be a positive integer, received {max_queue_size!r}")
        self._workers, self._use_multiprocessing = workers, bool(use_multiprocessing)
        self._max_queue_size = max_queue_size

    @property
    def workers(self):
        return getattr(self, "_workers", 1)

    @property
    def use_multiprocessing(self):
        return getattr(self, "_use_multiprocessing", False)

    @property
    def max_queue_size(self):
        return getattr(self, "_max_queue_size", 10)

    @property
    def num_batches(self):
        """Batches per epoch (None: no end). As in Keras 3, a subclass
        overrides this property or __len__."""
        if type(self).__len__ is PyDataset.__len__:
            raise NotImplementedError(f"{type(self).__name__} must define __len__ or num_batches "
                                      "(batches per epoch)")
        return len(self)

    def __len__(self):
        if type(self).num_batches is PyDataset.num_batches:
            raise NotImplementedError(f"{type(self).__name__} must define __len__ or num_batches "
                                      "(batches per epoch)")
        n = self.num_batches
        if n is None:
            raise TypeError(f"{type(self).__name__} has no end (num_batches is None)")
        return n

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__(index) -> batch")

    def on_epoch_begin(self):
        pass

    def on_epoch_end(self):
        pass


Sequence = PyDataset  # Keras's older name


def is_batch_stream(x):
    """True for what this module reads: a PyDataset, a Sequence-like object
    (__len__ and __getitem__ returning batches) or a generator/iterator."""
    return isinstance(x, PyDataset) or (hasattr(x, "__next__") and hasattr(x, "__iter__"))


def warn_ran_out(stacklevel):
    """Keras's warning when an epoch wants more batches than the data has left."""
    warnings.warn("Your input ran out of data; interrupting training. Make sure that your "
                  "dataset or generator can generate at least `steps_per_epoch * epochs` "
                  "batches.", stacklevel=stacklevel)


def epoch_span(first, steps, total, carry_on):
    """An epoch's batches [first, last) in a pass of `total` batches (None:
    endless), `steps` of them (None: the rest), and the batch the next epoch
    starts from (0: a new pass). With carry_on (fit's steps_per_epoch) an
    epoch that wants more than the pass has left ends with it, and Keras's
    warning says so."""
    if total is None:
        last = first + steps
    else:
        last = total if steps is None else min(total, first + steps)
        if carry_on and steps is not None and first + steps > total:
            warn_ran_out(5)
    return last, (last if carry_on and (total is None or last < total) else 0)


_worker_dataset = None  # a worker process's dataset, set once when it starts


def _set_worker_dataset(dataset):
    global _worker_dataset
    _worker_dataset = dataset


def _fetch_in_worker(index):
    return _worker_dataset[index]


def _fetch(dataset, index):
    return dataset[index]


class DatasetBatches:
    """A PyDataset's batches for one epoch at a time, made ahead by workers."""

    def __init__(self, dataset):
        self.dataset = dataset
        self.steps = dataset.num_batches  # None: endless, fit's steps_per_epoch says how far
        if self.steps is not None and self.steps < 1:
            raise ValueError(f"{type(dataset).__name__} has no batches (len() is {self.steps})")
        self._next = 0  # carry_on: the batch the next epoch starts from
        self._pool = None
        if not dataset.use_multiprocessing:
            self._pool = concurrent.futures.ThreadPoolExecutor(dataset.workers)
            self._submit = lambda i: self._pool.submit(_fetch, dataset, i)

    def _start_processes(self):
        """Worker processes that hold the dataset as it is now: started for
        every epoch, as Keras starts them, so that what on_epoch_end changed
        (a reshuffled order) reaches them; each gets the dataset once an
        epoch, not per batch."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        self._pool = concurrent.futures.ProcessPoolExecutor(
            self.dataset.workers, initializer=_set_worker_dataset, initargs=(self.dataset,))
        self._submit = lambda i: self._pool.submit(_fetch_in_worker, i)

    def epoch(self, steps=None, carry_on=False):
        """This epoch's batches (the first `steps`), in order; with carry_on
        (fit's steps_per_epoch, as Keras 3 does), the next `steps` after the
        last epoch's, the epoch ending early where the dataset ends."""
        first = self._next if carry_on else 0
        if self.steps is None and steps is None:
            raise ValueError(f"{type(self.dataset).__name__} has no end (num_batches is None): "
                             "give steps_per_epoch (or steps)")
        n, self._next = epoch_span(first, steps, self.steps, carry_on)
        self.dataset.on_epoch_begin()
        if self.dataset.use_multiprocessing:
            self._start_processes()
        ahead = collections.deque()
        submitted = first
        try:
            while submitted < n or ahead:
                while submitted < n and len(ahead) < self.dataset.max_queue_size:
                    ahead.append(self._submit(submitted))
                    submitted += 1
                yield ahead.popleft().result()
        finally:
            for future in ahead:
                future.cancel()
        self.dataset.on_epoch_end()

    def close(self):
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


_END = object()


class GeneratorBatches:
    """A generator's batches, pulled by one background thread up to
    `max_queue_size` ahead. Without steps, an epoch runs until the generator
    ends, and there is no next epoch."""

    def __init__(self, generator, max_queue_size=10, limit=None):
        self.steps = None
        self._queue = queue.Queue(max_queue_size)
        self._stop = threading.Event()
        # limit: the batches the caller will take at most (steps given), so
        # that none is drawn from the generator only to be thrown away: a
        # generator used again (the next fit) goes on where this one stopped.
        it = iter(generator)
        self._thread = threading.Thread(target=self._pull, args=(it, limit, _last_puller(it)),
                                        daemon=True)
        _remember_puller(it, self._thread)
        self._thread.start()
        self.exhausted = False

    def _pull(self, it, limit, before):
        # The generator used again: wait for the last call's thread to leave
        # its next() (a generator runs in one thread at a time), here in the
        # background, so that the last call ended at once on an error.
        if before is not None:
            before.join()
        pulled = 0
        while not self._stop.is_set() and (limit is None or pulled < limit):
            pulled += 1
            try:
                item = next(it)
            except StopIteration:
                item = _END
            except BaseException as e:  # raised again in the training thread
                item = e
            while not self._stop.is_set():
                try:
                    self._queue.put(item, timeout=0.1)
                    break
                except queue.Full:
                    continue
            if item is _END or isinstance(item, BaseException):
                return

    def epoch(self, steps=None, carry_on=True):  # a generator always carries on
        taken = 0
        while steps is None or taken < steps:
            if self.exhausted:
                warn_ran_out(4)
                return
            item = self._queue.get()
            if item is _END:
                self.exhausted = True
                if steps is None:
                    return
                continue
            if isinstance(item, BaseException):
                self.exhausted = True
                raise item
            taken += 1
            yield item

    def close(self):
        self._stop.set()  # the thread ends after the batch it may be making


# Each generator's last pulling thread, while the generator lives.
_pullers = weakref.WeakKeyDictionary()
_pullers_lock = threading.Lock()


def _last_puller(it):
    with _pullers_lock:
        try:
            return _pullers.get(it)
        except TypeError:  # an iterator that takes no weak reference
            return None


def _remember_puller(it, thread):
    with _pullers_lock:
        try:
            _pullers[it] = thread
        except TypeError:
            pass


def batch_stream(x, max_queue_size=10, limit=None):
    """DatasetBatches or GeneratorBatches (drawing at most `limit` batches) for x."""
    if isinstance(x, PyDataset):
        return DatasetBatches(x)
    return GeneratorBatches(x, max_queue_size, limit)


def unpack_batch(batch):
    """(x, y, sample_weight) of one batch: x, (x,), (x, y) or (x, y, sample_weight);
    a list is taken as a tuple, as Keras takes it (x of several inputs: a
    tuple around their list, or a dict)."""
    if isinstance(batch, list):
        batch = tuple(batch)
    if isinstance(batch, tuple):
        if not 1 <= len(batch) <= 3:
            raise ValueError(f"a batch must be x, (x, y) or (x, y, sample_weight); received a "
                             f"tuple of {len(batch)}")
        return tuple(batch) + (None,) * (3 - len(batch))
    return batch, None, None
