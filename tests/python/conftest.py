"""Makes the helper modules in this directory (reference, gradcheck) importable,
and holds the fixtures that several test files use."""

import os
import sys

import pytest

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)


@pytest.fixture
def use_isa():
    """Switch kernels for one test (call it with an ISA's name), restoring the
    original choice afterwards."""
    from pyconv import _core

    original = _core.kernel_isa()
    yield _core.set_kernel_isa
    _core.set_kernel_isa(original)
