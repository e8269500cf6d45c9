"""The transfer roles (sender, generator, receiver) over a :class:`~rsync_wire.stream.WireStream`."""

from __future__ import annotations
