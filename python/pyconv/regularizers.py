"""Weight penalties, Keras-style: `Dense(64, kernel_regularizer=regularizers.l2(1e-4))`
adds 1e-4 * sum(kernel ** 2) to the loss (and its gradient to the kernel's)."""

import math
import numbers


class Regularizer:
    """l1 * sum(|w|) + l2 * sum(w ** 2)."""

    def __init__(self, l1=0.0, l2=0.0):
        for name, value in (("l1", l1), ("l2", l2)):
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or \
                    not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a non-negative number, received {value!r}")
        self.l1, self.l2 = float(l1), float(l2)

    def __call__(self, weights):
        """The penalty for one weight array (what training adds to the loss)."""
        import numpy as np
        w = np.asarray(weights, np.float64)
        return self.l1 * float(np.abs(w).sum()) + self.l2 * float((w * w).sum())

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}

    def core_attrs(self, prefix):
        """The layer attributes the C++ core reads: prefix_l1, prefix_l2."""
        return {f"{prefix}_l1": self.l1, f"{prefix}_l2": self.l2}

    def __repr__(self):
        return f"{type(self).__name__}(l1={self.l1}, l2={self.l2})"


class L1(Regularizer):
    def __init__(self, l1=0.01):
        super().__init__(l1=l1)


class L2(Regularizer):
    def __init__(self, l2=0.01):
        super().__init__(l2=l2)


class L1L2(Regularizer):
    def __init__(self, l1=0.0, l2=0.0):
        super().__init__(l1=l1, l2=l2)


def l1(l1=0.01):
    return L1(l1)


def l2(l2=0.01):
    return L2(l2)


def l1_l2(l1=0.01, l2=0.01):
    return L1L2(l1, l2)


_BY_NAME = {"l1": L1, "l2": L2, "l1_l2": lambda: L1L2(0.01, 0.01), "l1l2": L1L2}


def get(identifier):
    """A Regularizer from None, a name ('l1', 'l2', 'l1_l2'), a config dict
    ({'l1': .., 'l2': ..}) or a Regularizer."""
    if identifier is None or isinstance(identifier, Regularizer):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _BY_NAME:
        return _BY_NAME[identifier.lower()]()
    if isinstance(identifier, dict):
        return L1L2(identifier.get("l1", 0.0), identifier.get("l2", 0.0))
    raise ValueError(f"unknown regularizer {identifier!r}; expected None, 'l1', 'l2', 'l1_l2' "
                     "or a pyconv.regularizers.Regularizer")
