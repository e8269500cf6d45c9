"""rsync_client: ``pyrsync``, an rsync-compatible client (downloads), and its Python API.

Use it like the command line::

    from rsync_client import sync

    stats = sync("rsync://host/module/dir/", "local-dir/", archive=True, delete=True)

See README.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rsync_client.api import Stats, SyncError, async_sync, sync
    from rsync_client.options import ClientOptions

__all__ = ["ClientOptions", "Stats", "SyncError", "async_sync", "sync"]


def __getattr__(name: str) -> Any:
    # Loaded on first use: ``pyrsync`` imports this package too, and the API pulls in the
    # whole transfer machinery, which ``pyrsync --version`` does not need.
    if name == "ClientOptions":
        from rsync_client.options import ClientOptions

        return ClientOptions
    if name in __all__:
        from rsync_client import api

        return getattr(api, name)
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)
