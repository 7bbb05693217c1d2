"""Batch pipeline for training: GIL-free gather and normalisation (Cython)."""

from .pipeline import BatchIterator, gather_batch, normalize

__all__ = ["BatchIterator", "gather_batch", "normalize"]
