"""Weight initializers with Keras's names. A layer's weights are made by the
C++ core from the initializer's name (seeded by pyconv.set_seed); calling an
initializer object, initializer(shape), gives a NumPy array of the same
distribution (from its own seed), as Keras's can be called."""

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
    core_name = "glorot_uniform"


class GlorotNormal(_VarianceScaling):
    core_name, uniform = "glorot_normal", False


class HeUniform(_VarianceScaling):
    core_name, scale, fan = "he_uniform", 2.0, "fan_in"


class HeNormal(_VarianceScaling):
    core_name, scale, fan, uniform = "he_normal", 2.0, "fan_in", False


class LecunUniform(_VarianceScaling):
    core_name, fan = "lecun_uniform", "fan_in"


class LecunNormal(_VarianceScaling):
    core_name, fan, uniform = "lecun_normal", "fan_in", False


_BY_NAME = {cls.core_name: cls for cls in (Zeros, Ones, GlorotUniform, GlorotNormal, HeUniform,
                                           HeNormal, LecunUniform, LecunNormal)}


def get(identifier):
    """An Initializer from a name or an Initializer."""
    if isinstance(identifier, Initializer) and identifier.core_name:
        return identifier
    return _BY_NAME[name_of(identifier)]()


def name_of(identifier):
    """The core's name for an initializer given as a name or an object."""
    if isinstance(identifier, Initializer) and identifier.core_name:
        return identifier.core_name
    if isinstance(identifier, str) and identifier.lower() in _BY_NAME:
        return identifier.lower()
    raise ValueError(f"unknown initializer {identifier!r}; expected one of "
                     + ", ".join(f"'{n}'" for n in _BY_NAME)
                     + " or the matching pyconv.initializers object")
