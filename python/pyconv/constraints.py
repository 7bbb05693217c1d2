"""Weight constraints with Keras's names and arguments, given to layers as
kernel_constraint= / bias_constraint=. The C++ core applies them to the
weights after every optimizer step; called on an array, constraint(w)
computes the same in NumPy."""

import numpy as np

__all__ = ["Constraint", "MaxNorm", "MinMaxNorm", "NonNeg", "UnitNorm", "get", "spec_of"]

_EPSILON = 1e-7  # Keras's


class Constraint:
    name = None
    _arguments = ()

    def spec(self):
        """The core's spec: "max_norm(max_value=2.0,axis=0)"."""
        values = []
        for key in self._arguments:
            value = getattr(self, key)
            if key == "axis":
                value = ":".join(str(a) for a in np.atleast_1d(value))
            values.append(f"{key}={value}")
        return f"{self.name}({','.join(values)})" if values else self.name

    def get_config(self):
        return {key: getattr(self, key) for key in self._arguments}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class _Norm(Constraint):
    def _norms(self, w):
        axis = tuple(np.atleast_1d(self.axis).tolist())
        return np.sqrt(np.sum(np.square(w), axis=axis, keepdims=True))

    def __call__(self, w):
        w = np.asarray(w, np.float64)
        norms = self._norms(w)
        return (w * (self._desired(norms) / (_EPSILON + norms))).astype(np.float32)


class MaxNorm(_Norm):
    name, _arguments = "max_norm", ("max_value", "axis")

    def __init__(self, max_value=2.0, axis=0):
        self.max_value, self.axis = float(max_value), axis

    def _desired(self, norms):
        return np.clip(norms, 0, self.max_value)


class MinMaxNorm(_Norm):
    name, _arguments = "min_max_norm", ("min_value", "max_value", "rate", "axis")

    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        self.min_value, self.max_value, self.rate, self.axis = (float(min_value),
                                                                float(max_value), float(rate), axis)

    def _desired(self, norms):
        return self.rate * np.clip(norms, self.min_value, self.max_value) + (1 - self.rate) * norms


class UnitNorm(_Norm):
    name, _arguments = "unit_norm", ("axis",)

    def __init__(self, axis=0):
        self.axis = axis

    def _desired(self, norms):
        return np.ones_like(norms)


class NonNeg(Constraint):
    name = "non_neg"

    def __call__(self, w):
        w = np.asarray(w, np.float32)
        return w * (w >= 0)


_BY_NAME = {cls.name: cls for cls in (MaxNorm, MinMaxNorm, UnitNorm, NonNeg)}


def get(identifier):
    """A Constraint from a name, a spec ("max_norm(max_value=3)"), or a Constraint."""
    if identifier is None or isinstance(identifier, Constraint):
        return identifier
    if isinstance(identifier, str):
        name, _, body = identifier.partition("(")
        if name in _BY_NAME and (not body or body.endswith(")")):
            arguments = {}
            for item in filter(None, body.rstrip(")").split(",")):
                key, _, value = item.partition("=")
                arguments[key] = ([int(a) for a in value.split(":")] if key == "axis"
                                  else float(value))
            if isinstance(arguments.get("axis"), list) and len(arguments["axis"]) == 1:
                arguments["axis"] = arguments["axis"][0]
            try:
                return _BY_NAME[name](**arguments)
            except TypeError as error:
                raise ValueError(f"constraint {identifier!r}: {error}") from None
    raise ValueError(f"unknown constraint {identifier!r}; expected one of "
                     + ", ".join(f"'{n}'" for n in _BY_NAME)
                     + " or a pyconv.constraints object (a Python function cannot be applied "
                     "by the C++ step)")


def spec_of(identifier):
    """The core's spec for a constraint given as a name, a spec (whose
    arguments the core checks) or an object."""
    if isinstance(identifier, str) and identifier.partition("(")[0] in _BY_NAME:
        return identifier
    return get(identifier).spec()
