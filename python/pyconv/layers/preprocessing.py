"""Keras's preprocessing layers: Rescaling, Normalization (with adapt) and
Resizing, which act at inference too, and the random augmentations
(RandomFlip, RandomRotation, RandomTranslation, RandomZoom, RandomContrast,
RandomCrop), which act only in training. All run in the C++ core, inside the
training step, and are saved in the model file like any layer.

Like Keras's, they can also be called on arrays: `RandomFlip()(images)`
returns flipped images, `normalizer(x)` normalized ones.
"""

import numbers

import numpy as np

from .. import _random
from .base import Layer

__all__ = ["Normalization", "RandomContrast", "RandomCrop", "RandomFlip", "RandomRotation",
           "RandomTranslation", "RandomZoom", "Rescaling", "Resizing"]


def _number(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, received {value!r}")
    return float(value)


def _range(value, name, single):
    """Keras's factor: a number or (lower, upper). `single` maps a number f to
    the range Keras gives it."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be a number or a tuple (lower, upper), received "
                             f"{value!r}")
        return _number(value[0], name), _number(value[1], name)
    return single(_number(value, name))


def _symmetric(f):
    return -f, f


def _channels_last(data_format):
    if data_format not in (None, "channels_last"):
        raise ValueError("only data_format='channels_last' is supported, "
                         f"received {data_format!r}")


class _Preprocessing(Layer):
    """Keeps the Keras arguments for get_config (the core's are spelt
    differently), and runs on arrays when called on them."""

    # Keras arguments given as (lower, upper) ranges, and the core's name for
    # each: its attributes are <core name>_lower and <core name>_upper.
    _range_args = {}

    def __init__(self, keras_config, core_args, seed=None, **kwargs):
        super().__init__(**kwargs)
        self._keras_config = dict(keras_config)
        self._args = dict(core_args)
        if seed is not None:
            if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
                raise ValueError(f"seed must be a non-negative integer, received {seed!r}")
            self._keras_config["seed"] = int(seed)
            self._args["seed"] = int(seed)
        self._array_models = {}
        self._validate()

    @staticmethod
    def _ranges_to_core(**ranges):
        args = {}
        for name, (lower, upper) in ranges.items():
            args[f"{name}_lower"], args[f"{name}_upper"] = lower, upper
        return args

    def get_config(self):
        config = {"name": self.name, "trainable": self.trainable, **self._keras_config,
                  **self._fold_regularizers(self._activity)}
        if self._input_shape is not None:
            config["input_shape"] = self._input_shape
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for arg, core in cls._range_args.items():  # a file written without Python: core names
            if f"{core}_lower" in config:
                config[arg] = (config.pop(f"{core}_lower"), config.pop(f"{core}_upper"))
        return cls(**config)

    def __call__(self, inputs, training=None):
        from .core import KerasTensor

        tensors = inputs if isinstance(inputs, (list, tuple)) else [inputs]
        if any(isinstance(t, KerasTensor) for t in tensors):
            return super().__call__(inputs)
        return self._call_on_arrays(inputs, training)

    def _call_on_arrays(self, x, training):
        """The layer on an array batch, as Keras's layer(x): the random layers
        transform unless training=False."""
        x = np.asarray(x)
        if x.ndim < 2 or x.dtype.kind not in "biuf":
            raise ValueError(f"layer '{self.name}' expects a batch of numbers (N, ...), received "
                             f"an array of shape {x.shape} and dtype {x.dtype}")
        model = self._array_model(tuple(x.shape[1:]))
        x = np.ascontiguousarray(x, dtype=np.float32)
        key = None if training is False else self._next_draw()
        return model._graph.predict_multi([x], augment_key=key)[0]

    def _next_draw(self):
        """The key of this call's random draws: from the layer's own seed and
        its count of calls where it has a seed (as Keras's seeded layers: a new
        layer with the same seed makes the same draws), else from pyconv's
        global generator (pyconv.set_seed)."""
        seed = self._keras_config.get("seed")
        if seed is None:
            return _random.next_seed()
        self._draws = getattr(self, "_draws", 0) + 1
        return self._draws

    def _array_model(self, sample_shape):
        """A one-layer model of a copy of this layer, per input shape."""
        from ..models import Sequential
        from .core import Input

        model = self._array_models.get(sample_shape)
        if model is None:
            model = Sequential([Input(sample_shape), type(self).from_config(self.get_config())])
            model.build()
            self._array_models[sample_shape] = model
        return model


class Rescaling(_Preprocessing):
    """x * scale + offset, at inference too (e.g. scale=1/255 for images of
    bytes)."""

    core_type = "Rescaling"

    def __init__(self, scale, offset=0.0, **kwargs):
        if isinstance(scale, (list, tuple, np.ndarray)) or isinstance(offset, (list, tuple,
                                                                            np.ndarray)):
            raise ValueError("Rescaling takes one scale and one offset for every channel; for "
                             "per-channel values use Normalization(mean=..., variance=...)")
        scale, offset = _number(scale, "scale"), _number(offset, "offset")
        super().__init__({"scale": scale, "offset": offset}, {"scale": scale, "offset": offset},
                         **kwargs)


class Normalization(_Preprocessing):
    """(x - mean) / sqrt(variance) per channel (axis=-1) or over the whole
    input (axis=None); `invert=True` undoes it. The statistics come from
    `adapt(data)` or from the `mean` and `variance` arguments, and are saved
    with the model."""

    core_type = "Normalization"

    def __init__(self, axis=-1, mean=None, variance=None, invert=False, **kwargs):
        if axis not in (-1, None):
            raise ValueError("Normalization supports axis=-1 (per channel) or axis=None (one "
                             f"mean and variance for everything), received axis={axis!r}")
        if (mean is None) != (variance is None):
            raise ValueError("give both mean and variance, or neither (then call adapt())")
        if not isinstance(invert, bool):
            raise TypeError(f"invert must be True or False, received {invert!r}")
        config = {"axis": axis, "invert": invert}
        self._stats = None  # (mean, variance) the graph must hold, when Python knows them
        if mean is not None:
            mean, variance = (np.asarray(v, np.float64).reshape(-1) for v in (mean, variance))
            self._check_stats(mean, variance)
            config.update(mean=mean.tolist(), variance=variance.tolist())
            self._stats = (mean, variance)
        super().__init__(config, {"per_channel": axis == -1, "invert": invert}, **kwargs)

    @staticmethod
    def _check_stats(mean, variance):
        if mean.shape != variance.shape or mean.size == 0:
            raise ValueError(f"mean and variance must have the same, non-zero size, received "
                             f"{mean.size} and {variance.size} values")
        if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(variance))
                and np.all(variance >= 0)):
            raise ValueError("mean must be finite and variance finite and non-negative")

    def adapt(self, data, batch_size=None, steps=None):
        """Sets the mean and variance from `data`: an array (N, ...), or a
        PyDataset or generator of batches (x or (x, y))."""
        if "mean" in self._keras_config:
            raise ValueError(f"layer '{self.name}' was given mean and variance; adapt() would "
                             "replace them: create the layer without them to adapt it")
        from ..data import py_dataset

        if py_dataset.is_batch_stream(data):
            stream = py_dataset.batch_stream(data, 10)
            try:
                batches = [np.asarray(py_dataset.unpack_batch(raw)[0])
                           for raw in stream.epoch(steps)]
            finally:
                stream.close()
        else:
            x = np.asarray(data)
            if x.ndim == 0:
                raise ValueError("adapt expects a batch of samples (N, ...), received a scalar")
            size = batch_size or max(len(x), 1)
            batches = [x[i:i + size] for i in range(0, len(x), size)]
            if steps is not None:
                batches = batches[:steps]
        count, mean, m2 = 0, 0.0, 0.0
        for batch in batches:
            if batch.dtype.kind not in "biuf":
                raise TypeError(f"adapt expects numbers, received dtype {batch.dtype}")
            per_channel = self._keras_config["axis"] == -1 and batch.ndim >= 2
            values = batch.astype(np.float64).reshape(-1, batch.shape[-1] if per_channel else 1)
            if not np.all(np.isfinite(values)):
                raise ValueError("adapt expects finite values; the data has NaN or infinity")
            # Chan's parallel update: exact means and variances over all batches.
            n = len(values)
            if n == 0:
                continue
            b_mean = values.mean(axis=0)
            b_m2 = ((values - b_mean) ** 2).sum(axis=0)
            total = count + n
            delta = b_mean - mean
            mean = mean + delta * n / total
            m2 = m2 + b_m2 + delta ** 2 * count * n / total
            count = total
        if count == 0:
            raise ValueError("adapt received no data")
        stats = (np.atleast_1d(mean), np.atleast_1d(m2 / count))
        self._stats = stats
        if self._model is not None:
            self._push_stats()
        self._array_models.clear()

    def _attach(self, model, index):
        super()._attach(model, index)
        if self._stats is not None:
            self._push_stats()
            return
        # A model loaded from a file holds statistics adapt() found before it
        # was saved: known again here (a new model's are 0 and 1, unadapted),
        # so that layer.mean and layer(x) on arrays have them as predict has.
        mean, variance = super().get_weights()
        if mean.any() or (variance != 1).any():
            self._stats = (mean.astype(np.float64), variance.astype(np.float64))

    @property
    def mean(self):
        """The mean it subtracts (float32, one per channel), once known; as in Keras."""
        return None if self._stats is None else self._stats[0].astype(np.float32)

    @property
    def variance(self):
        return None if self._stats is None else self._stats[1].astype(np.float32)

    def get_weights(self):
        """[mean, variance]: from the model once in one, else what adapt() found."""
        if self._model is None:
            return [] if self._stats is None else [self.mean, self.variance]
        return super().get_weights()

    def _push_stats(self):
        shapes = [w.shape for w in super().get_weights()]
        mean, variance = (np.broadcast_to(v, shapes[0]).astype(np.float32) for v in self._stats)
        super().set_weights([mean, variance])

    def set_weights(self, weights):
        super().set_weights(weights)
        self._stats = tuple(np.asarray(w, np.float64) for w in weights)
        if "mean" in self._keras_config:  # given to the constructor: the config is what a
            # saved, pickled or cloned model is rebuilt from, so it holds the new values
            self._keras_config.update(mean=self._stats[0].reshape(-1).tolist(),
                                      variance=self._stats[1].reshape(-1).tolist())

    def _array_model(self, sample_shape):
        model = super()._array_model(sample_shape)
        if self._stats is not None:
            model.layers[0]._stats = self._stats
            model.layers[0]._push_stats()
        return model

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if "per_channel" in config:  # core attributes
            config["axis"] = -1 if config.pop("per_channel") else None
        return cls(**config)


class Resizing(_Preprocessing):
    """Resizes (N, H, W, C) images to (height, width), bilinear or nearest
    (half-pixel centres), optionally cropping or padding them to the target's
    aspect ratio first."""

    core_type = "Resizing"

    def __init__(self, height, width, interpolation="bilinear", crop_to_aspect_ratio=False,
                 pad_to_aspect_ratio=False, fill_mode="constant", fill_value=0.0,
                 antialias=False, data_format=None, **kwargs):
        _channels_last(data_format)
        if interpolation not in ("bilinear", "nearest"):
            raise ValueError("Resizing supports interpolation='bilinear' or 'nearest', received "
                             f"{interpolation!r}")
        if antialias:
            raise ValueError("Resizing(antialias=True) is not supported; resize in steps of at "
                             "most 2x, or average-pool first")
        args = {"height": height, "width": width, "interpolation": interpolation,
                "crop_to_aspect_ratio": crop_to_aspect_ratio,
                "pad_to_aspect_ratio": pad_to_aspect_ratio, "fill_mode": fill_mode,
                "fill_value": _number(fill_value, "fill_value")}
        super().__init__(args, args, **kwargs)


class RandomCrop(_Preprocessing):
    """In training, a random (height, width) window of each image; at
    inference, the centred window of that aspect ratio resized to it."""

    core_type = "RandomCrop"

    def __init__(self, height, width, seed=None, data_format=None, **kwargs):
        _channels_last(data_format)
        args = {"height": height, "width": width}
        super().__init__(args, args, seed=seed, **kwargs)


class RandomFlip(_Preprocessing):
    """In training, flips each image left-right ('horizontal'), upside down
    ('vertical') or both, each with probability 1/2."""

    core_type = "RandomFlip"

    def __init__(self, mode="horizontal_and_vertical", seed=None, **kwargs):
        super().__init__({"mode": mode}, {"mode": mode}, seed=seed, **kwargs)


def _fill_args(fill_mode, interpolation, fill_value):
    return {"fill_mode": fill_mode, "interpolation": interpolation,
            "fill_value": _number(fill_value, "fill_value")}


class RandomRotation(_Preprocessing):
    """In training, rotates each image about its centre by a random fraction of
    a full turn: factor=0.1 draws from [-10%, 10%] of 2 pi, (lower, upper)
    from that range; positive is counter-clockwise."""

    core_type = "RandomRotation"
    _range_args = {"factor": "factor"}

    def __init__(self, factor, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, data_format=None, **kwargs):
        _channels_last(data_format)
        fill = _fill_args(fill_mode, interpolation, fill_value)
        super().__init__({"factor": factor, **fill},
                         {**self._ranges_to_core(factor=_range(factor, "factor", _symmetric)),
                          **fill}, seed=seed, **kwargs)


class RandomTranslation(_Preprocessing):
    """In training, shifts each image by random fractions of its height and
    width (a number f draws from [-f, f]; positive moves down and right)."""

    core_type = "RandomTranslation"
    _range_args = {"height_factor": "height", "width_factor": "width"}

    def __init__(self, height_factor, width_factor, fill_mode="reflect",
                 interpolation="bilinear", seed=None, fill_value=0.0, data_format=None, **kwargs):
        _channels_last(data_format)
        fill = _fill_args(fill_mode, interpolation, fill_value)
        ranges = self._ranges_to_core(
            height=_range(height_factor, "height_factor", _symmetric),
            width=_range(width_factor, "width_factor", _symmetric))
        super().__init__({"height_factor": height_factor, "width_factor": width_factor, **fill},
                         {**ranges, **fill}, seed=seed, **kwargs)


class RandomZoom(_Preprocessing):
    """In training, scales each image about its centre by 1 + a random factor
    (a number f draws from [-f, f]; positive zooms out). Without
    width_factor, both axes get the same zoom."""

    core_type = "RandomZoom"
    _range_args = {"height_factor": "height", "width_factor": "width"}

    def __init__(self, height_factor, width_factor=None, fill_mode="reflect",
                 interpolation="bilinear", seed=None, fill_value=0.0, data_format=None, **kwargs):
        _channels_last(data_format)
        fill = _fill_args(fill_mode, interpolation, fill_value)
        ranges = {"height": _range(height_factor, "height_factor", _symmetric)}
        if width_factor is not None:
            ranges["width"] = _range(width_factor, "width_factor", _symmetric)
        super().__init__({"height_factor": height_factor, "width_factor": width_factor, **fill},
                         {**self._ranges_to_core(**ranges), **fill}, seed=seed, **kwargs)


class RandomContrast(_Preprocessing):
    """In training, moves each image's channels away from (or toward) their
    mean by a random factor in [1 - lower, 1 + upper] (factor=f: lower = upper
    = f), then clips to value_range."""

    core_type = "RandomContrast"
    _range_args = {"factor": "factor", "value_range": "value_range"}

    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        factor_range = _range(factor, "factor", lambda f: (f, f))
        if not isinstance(value_range, (tuple, list)):
            raise ValueError(f"value_range must be (low, high), received {value_range!r}")
        value_range = _range(value_range, "value_range", None)
        super().__init__({"factor": factor, "value_range": list(value_range)},
                         self._ranges_to_core(factor=factor_range, value_range=value_range),
                         seed=seed, **kwargs)


# The layers that transform only in training (and in Keras's model(x) on arrays).
RANDOM_LAYERS = (RandomContrast, RandomCrop, RandomFlip, RandomRotation, RandomTranslation,
                 RandomZoom)
