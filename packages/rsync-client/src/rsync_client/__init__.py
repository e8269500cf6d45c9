"""rsync_client: ``pyrsync``, an rsync-compatible client (downloads), and its Python API.

Use it like the command line::

    from rsync_client import sync

    stats = sync("rsync://host/module/dir/", "local-dir/", archive=True, delete=True)

See README.md.
"""

from __future__ import annotations

from rsync_client.api import Stats, SyncError, async_sync, sync
from rsync_client.options import ClientOptions

__all__ = ["ClientOptions", "Stats", "SyncError", "async_sync", "sync"]
