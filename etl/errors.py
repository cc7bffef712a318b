"""The ETL's error type, in a module of its own so commands can catch it without importing the loader
(which imports great-expectations, ≈3 s)."""

from __future__ import annotations


class LoadError(Exception):
    """A load that cannot go on; the message names the file (and row or column)."""
