"""Weight initializers with Keras's names and arguments. A layer's weights are
made by the C++ core from the initializer's spec, its name with the
arguments: "random_normal(mean=0.0,stddev=0.02)" (seeded by pyconv.set_seed,
or by the initializer's own seed when it has one). Calling an initializer
object, initializer(shape), gives a NumPy array of the same distribution, as
Keras's can be called."""

import numpy as np


class Initializer:
    core_name = None

    def __init__(self, seed=None):
        self.seed = seed

    def __call__(self, shape, dtype=None):
        raise NotImplementedError

    def get_config(self):
        return {"seed": self.seed}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class Zeros(Initializer):
    core_name = "zeros"

    def __init__(self):
        super().__init__()

    def __call__(self, shape, dtype=None):
        return np.zeros(shape, np.float32)

    def get_config(self):
        return {}


class Ones(Zeros):
    core_name = "ones"

    def __call__(self, shape, dtype=None):
        return np.ones(shape, np.float32)


def _fans(shape):
    """Keras's fans: a kernel's receptive field times its input and output channels."""
    shape = tuple(shape)
    if len(shape) < 2:
        return shape[0] if shape else 1, shape[0] if shape else 1
    field = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    return shape[-2] * field, shape[-1] * field


class _VarianceScaling(Initializer):
    """scale / fan, uniform or a normal truncated at two standard deviations."""

    scale, fan, uniform = 1.0, "fan_avg", True
    preset = None

    @property
    def core_name(self):
        return self.preset if self.seed is None else f"{self.preset}(seed={int(self.seed)})"

    def __call__(self, shape, dtype=None):
        fan_in, fan_out = _fans(shape)
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.fan]
        variance = self.scale / max(1.0, fan)
        rng = np.random.default_rng(self.seed)
        if self.uniform:
            limit = np.sqrt(3.0 * variance)
            return rng.uniform(-limit, limit, shape).astype(np.float32)
        values = rng.standard_normal(shape)
        while np.any(np.abs(values) > 2):
            bad = np.abs(values) > 2
            values[bad] = rng.standard_normal(int(bad.sum()))
        return (values * np.sqrt(variance) / 0.87962566103423978).astype(np.float32)


class GlorotUniform(_VarianceScaling):
    preset = "glorot_uniform"


class GlorotNormal(_VarianceScaling):
    preset, uniform = "glorot_normal", False


class HeUniform(_VarianceScaling):
    preset, scale, fan = "he_uniform", 2.0, "fan_in"


class HeNormal(_VarianceScaling):
    preset, scale, fan, uniform = "he_normal", 2.0, "fan_in", False


class LecunUniform(_VarianceScaling):
    preset, fan = "lecun_uniform", "fan_in"


class LecunNormal(_VarianceScaling):
    preset, fan, uniform = "lecun_normal", "fan_in", False


class _WithArguments(Initializer):
    """An initializer whose core spec carries its arguments."""

    name = None
    _defaults = {}

    def __init__(self, seed=None, **arguments):
        super().__init__(seed)
        for key, value in arguments.items():
            setattr(self, key, value)

    @property
    def core_name(self):
        values = {key: getattr(self, key) for key in self._defaults}
        if self.seed is not None:
            values["seed"] = int(self.seed)
        return f"{self.name}({','.join(f'{k}={v}' for k, v in values.items())})"

    def get_config(self):
        return {**{key: getattr(self, key) for key in self._defaults}, "seed": self.seed}

    def _rng(self):
        return np.random.default_rng(self.seed)


class Constant(_WithArguments):
    name, _defaults = "constant", {"value": 0.0}

    def __init__(self, value=0.0):
        super().__init__(value=float(value))

    def __call__(self, shape, dtype=None):
        return np.full(shape, self.value, np.float32)

    def get_config(self):
        return {"value": self.value}


class RandomNormal(_WithArguments):
    name, _defaults = "random_normal", {"mean": 0.0, "stddev": 0.05}

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        super().__init__(seed, mean=float(mean), stddev=float(stddev))

    def __call__(self, shape, dtype=None):
        return (self.mean + self.stddev * self._rng().standard_normal(shape)).astype(np.float32)


class TruncatedNormal(RandomNormal):
    """A normal redrawn beyond two standard deviations (not rescaled)."""

    name = "truncated_normal"

    def __call__(self, shape, dtype=None):
        return (self.mean + self.stddev * _truncated(self._rng(), shape)).astype(np.float32)


class RandomUniform(_WithArguments):
    name, _defaults = "random_uniform", {"minval": -0.05, "maxval": 0.05}

    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        super().__init__(seed, minval=float(minval), maxval=float(maxval))

    def __call__(self, shape, dtype=None):
        return self._rng().uniform(self.minval, self.maxval, shape).astype(np.float32)


class VarianceScaling(_WithArguments):
    """scale / fan (fan_in, fan_out or their mean), as a truncated normal, a
    normal or a uniform distribution."""

    name = "variance_scaling"
    _defaults = {"scale": 1.0, "mode": "fan_in", "distribution": "truncated_normal"}

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None):
        super().__init__(seed, scale=float(scale), mode=mode, distribution=distribution)

    def __call__(self, shape, dtype=None):
        fan_in, fan_out = _fans(shape)
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        variance = self.scale / max(1.0, fan)
        rng = self._rng()
        if self.distribution == "uniform":
            limit = np.sqrt(3.0 * variance)
            return rng.uniform(-limit, limit, shape).astype(np.float32)
        if self.distribution == "untruncated_normal":
            return (rng.standard_normal(shape) * np.sqrt(variance)).astype(np.float32)
        return (_truncated(rng, shape) * np.sqrt(variance) / 0.87962566103423978).astype(
            np.float32)


class Orthogonal(_WithArguments):
    """An orthogonal matrix (rows = every axis but the last) times gain."""

    name, _defaults = "orthogonal", {"gain": 1.0}

    def __init__(self, gain=1.0, seed=None):
        super().__init__(seed, gain=float(gain))

    def __call__(self, shape, dtype=None):
        rows = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
        cols = shape[-1]
        a = self._rng().standard_normal((max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(a)
        q *= np.sign(np.diag(r))
        q = q if rows >= cols else q.T
        return (self.gain * q).reshape(shape).astype(np.float32)


class Identity(_WithArguments):
    name, _defaults = "identity", {"gain": 1.0}

    def __init__(self, gain=1.0):
        super().__init__(gain=float(gain))

    def __call__(self, shape, dtype=None):
        return (self.gain * np.eye(*shape)).astype(np.float32)

    def get_config(self):
        return {"gain": self.gain}


def _truncated(rng, shape):
    values = rng.standard_normal(shape)
    while np.any(np.abs(values) > 2):
        bad = np.abs(values) > 2
        values[bad] = rng.standard_normal(int(bad.sum()))
    return values


_BY_NAME = {cls.core_name: cls for cls in (Zeros, Ones)}
_BY_NAME.update({cls.preset: cls for cls in (GlorotUniform, GlorotNormal, HeUniform, HeNormal,
                                             LecunUniform, LecunNormal)})
_BY_NAME.update({cls.name: cls for cls in (Constant, RandomNormal, TruncatedNormal, RandomUniform,
                                           VarianceScaling, Orthogonal, Identity)})


def get(identifier):
    """An Initializer from a name, a spec with arguments, or an Initializer."""
    if isinstance(identifier, Initializer):
        return identifier
    name, _, body = name_of(identifier).partition("(")
    arguments = {}
    for item in filter(None, body.rstrip(")").split(",")):
        key, _, value = item.partition("=")
        arguments[key] = _spec_value(value)
    return _BY_NAME[name](**arguments)


def _spec_value(text):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def name_of(identifier):
    """The core's spec for an initializer given as a name, a spec with
    arguments ("random_normal(stddev=0.02)"), or an object. The core checks
    the arguments."""
    if isinstance(identifier, Initializer):
        return identifier.core_name
    if isinstance(identifier, str) and identifier.lower() in _BY_NAME:
        return identifier.lower()
    if isinstance(identifier, str) and identifier.split("(", 1)[0] in _BY_NAME \
            and identifier.endswith(")"):
        return identifier
    raise ValueError(f"unknown initializer {identifier!r}; expected one of "
                     + ", ".join(f"'{n}'" for n in _BY_NAME)
                     + " or the matching pyconv.initializers object")
