"""The seed behind weight initialisation, dropout masks and shuffling.

One numpy generator hands out seeds, so after `set_seed(s)` every model built
and every epoch shuffled follows the same sequence.
"""

import numpy as np

from . import _core

_generator = np.random.default_rng()


def set_seed(seed):
    """Make weight initialisation, dropout and shuffling reproducible."""
    global _generator
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) \
            or not 0 <= seed < 2**64:
        raise ValueError(f"seed must be an integer with 0 <= seed < 2**64, received {seed!r}")
    _core.set_seed(int(seed))
    _generator = np.random.default_rng(int(seed))


def next_seed():
    """A fresh 63-bit seed drawn from the global generator."""
    return int(_generator.integers(0, 2**63 - 1))


def generator():
    """A new numpy generator seeded from the global one (for shuffling)."""
    return np.random.default_rng(next_seed())
