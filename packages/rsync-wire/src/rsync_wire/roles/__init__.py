"""The transfer roles (sender, generator, receiver) over a ``WireStream``."""

from __future__ import annotations
