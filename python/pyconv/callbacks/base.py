"""The callback interface, as Keras 3 has it: every hook of fit, evaluate
and predict, and the list that calls them in order."""


class Callback:
    """Base class: override the hooks you need. `self.model` is the model
    being trained, evaluated or run; `self.params` holds verbose, epochs and
    steps."""

    def __init__(self):
        self._model = None
        self.params = {}

    @property
    def model(self):
        return self._model

    def set_model(self, model):
        self._model = model

    def set_params(self, params):
        self.params = params

    def on_train_begin(self, logs=None): pass
    def on_train_end(self, logs=None): pass
    def on_epoch_begin(self, epoch, logs=None): pass
    def on_epoch_end(self, epoch, logs=None): pass
    def on_test_begin(self, logs=None): pass
    def on_test_end(self, logs=None): pass
    def on_predict_begin(self, logs=None): pass
    def on_predict_end(self, logs=None): pass
    def on_batch_begin(self, batch, logs=None): pass
    def on_batch_end(self, batch, logs=None): pass
    def on_test_batch_begin(self, batch, logs=None): pass
    def on_test_batch_end(self, batch, logs=None): pass
    def on_predict_batch_begin(self, batch, logs=None): pass
    def on_predict_batch_end(self, batch, logs=None): pass

    # Keras's older names: the training batch hooks call on_batch_*.
    def on_train_batch_begin(self, batch, logs=None):
        self.on_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch, logs=None):
        self.on_batch_end(batch, logs=logs)


class History(Callback):
    """Records every epoch's logs: history.history["loss"], ["val_accuracy"], ..."""

    def __init__(self):
        super().__init__()
        self.epoch = []
        self.history = {}

    def on_train_begin(self, logs=None):
        self.epoch = []
        self.history = {}

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)


_HOOKS = frozenset(name for name in vars(Callback) if name.startswith("on_"))
# The hooks whose first argument is an epoch or batch number.
_INDEXED_HOOKS = frozenset(name for name in _HOOKS if "epoch" in name or "batch" in name)


class CallbackList:
    """Calls a hook on every callback, in the order given. Accepts a list of
    Callback objects (anything else is a TypeError naming it)."""

    def __init__(self, callbacks, model, params):
        self.callbacks = list(callbacks or [])
        for cb in self.callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks must be pyconv.callbacks.Callback objects, received "
                                f"{type(cb).__name__}")
            cb.set_model(model)
            cb.set_params(params)

    def __getattr__(self, hook):
        if hook not in _HOOKS:
            raise AttributeError(hook)

        indexed = hook in _INDEXED_HOOKS

        def call(*args):
            # As Keras 3: logs is always a dict, even where the caller has none.
            index, logs = (args[0], args[1:]) if indexed else (None, args)
            logs = (logs[0] if logs else None) or {}
            for cb in self.callbacks:
                if indexed:
                    getattr(cb, hook)(index, logs)
                else:
                    getattr(cb, hook)(logs)
        return call
