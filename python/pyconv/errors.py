"""Exceptions raised by pyconv. ShapeError is raised by the C++ core and is a ValueError."""

from ._core import ShapeError

__all__ = ["ShapeError"]
