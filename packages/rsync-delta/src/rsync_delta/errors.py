"""Exceptions raised by rsync_delta.

Everything this package raises on bad input derives from `DeltaError`, so that callers
can tell "the data was wrong" apart from bugs. Programming errors (a negative block
length passed by the caller, an unknown keyword) stay `ValueError`/`TypeError`.
"""

from __future__ import annotations

__all__ = ["DeltaError", "PatchError", "SignatureError"]


class DeltaError(Exception):
    """Base class: the input of a signature, delta or patch step is unusable."""


class SignatureError(DeltaError):
    """A signature (block sums) is inconsistent, truncated or of an unknown format."""


class PatchError(DeltaError):
    """A delta cannot be applied.

    For example a block index out of range, a truncated or corrupt delta, or a result
    whose whole-file checksum does not match.
    """
