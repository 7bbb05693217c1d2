"""Datasets in the Keras shape `((x_train, y_train), (x_test, y_test))`."""

from . import fashion_mnist, idx, mnist, waldo
from ._fetch import DatasetNotFoundError
from .idx import IDXFormatError

__all__ = ["DatasetNotFoundError", "IDXFormatError", "fashion_mnist", "idx", "mnist", "waldo"]
