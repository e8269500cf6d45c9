"""How the client reaches the sender: a daemon over TCP or a remote shell, or itself (local).

Each transport ends with a :class:`~rsync_wire.stream.WireStream` whose binary
protocol part is about to start; :mod:`rsync_client.session` takes it from there.
"""

from __future__ import annotations
