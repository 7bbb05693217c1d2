"""Exceptions raised by pyconv, all raised by the C++ core.

ShapeError (a ValueError): an input, weight or label of the wrong shape.
ModelFileError (an OSError): a model file that is corrupt, truncated or not a .pcv file.
"""

from ._core import ModelFileError, ShapeError

__all__ = ["ModelFileError", "ShapeError"]
