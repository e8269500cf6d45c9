"""Sans-IO protocol grammar: bytes in, values out, and back.

Nothing in this package does I/O, reads a clock or draws random numbers: the
checksum seed and "now" are parameters. Roles in :mod:`rsync_wire.roles` drive
these codecs over a byte stream.
"""

from __future__ import annotations
