"""rsync_client: ``pyrsync``, an rsync-compatible client, and its Python API.

Use it like the command line::

    from rsync_client import sync

    stats = sync("rsync://host/module/dir/", "local-dir/", archive=True, delete=True)

The public interface is ``__all__`` (see README.md); every other module is internal and
may change between versions:

- :func:`sync`, :func:`async_sync`: run a transfer; keyword arguments are rsync's
  options (:class:`SyncOptions`, generated from the option table);
- :class:`Stats`: what a transfer did;
- :class:`SyncError`: a failed transfer (exit code, rsync's lines, statistics, output);
  :class:`SyncOptionError`: a keyword ``sync()`` does not take (a ``TypeError``);
  :class:`OptionError`: an option value rsync refuses;
- :class:`ClientOptions`: the parsed options, as ``pyrsync``'s parser builds them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rsync_client._syncopts import SyncOptions
    from rsync_client.api import SyncError, SyncOptionError, async_sync, sync
    from rsync_client.options import ClientOptions, OptionError
    from rsync_client.stats import Stats

__all__ = [
    "ClientOptions",
    "OptionError",
    "Stats",
    "SyncError",
    "SyncOptionError",
    "SyncOptions",
    "async_sync",
    "sync",
]

_HOMES = {
    "ClientOptions": "rsync_client.options",
    "OptionError": "rsync_client.options",
    "Stats": "rsync_client.stats",
    "SyncOptions": "rsync_client._syncopts",
}


def __getattr__(name: str) -> Any:
    # Loaded on first use: ``pyrsync`` imports this package too, and the API pulls in the
    # whole transfer machinery, which ``pyrsync --version`` does not need.
    if name in __all__:
        import importlib

        return getattr(importlib.import_module(_HOMES.get(name, "rsync_client.api")), name)
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
