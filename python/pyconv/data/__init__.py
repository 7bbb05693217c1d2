"""Batch pipeline for training: GIL-free gather and normalisation (Cython)."""

from .pipeline import BatchIterator, gather_batch, normalize
from .py_dataset import PyDataset, Sequence

__all__ = ["BatchIterator", "PyDataset", "Sequence", "gather_batch", "normalize"]
