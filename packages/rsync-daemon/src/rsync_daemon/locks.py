"""``max connections`` per module, counted with rsync's lock file.

rsync counts a module's connections with POSIX record locks: connection *i* holds a
lock on bytes ``4*i .. 4*i+3`` of the module's ``lock file`` (default
``/var/run/rsyncd.lock``), tries slots ``0 .. max-1``, and is refused when none is
free. The lock goes with the process, so a connection that ends, however it ends,
frees its slot. Modules that share a lock file share their slots, which is how a
``max connections`` in the global section limits all modules together.

pyrsyncd opens each lock file before confinement (through trusted symlinks only, as
rsync 3.5 does) and the connection processes inherit the descriptors; a connection
claims its slot after the client named the module, as rsync does.

rsync: connection.c claim_connection(); util1.c lock_range().
"""

from __future__ import annotations

import fcntl
import os
from typing import TYPE_CHECKING

from rsync_daemon.safeopen import open_trusted

if TYPE_CHECKING:
    from rsync_daemon.config import DaemonConfig, ModuleConfig

__all__ = ["claim_connection", "open_lock_files"]

_fds: dict[str, int] = {}
_errors: dict[str, str] = {}


def open_lock_files(config: DaemonConfig) -> list[str]:
    """Open the lock file of every module with ``max connections``; returns problems.

    A negative limit needs it too: rsync opens it, then finds no slot to take (the module
    is disabled: "max connections (-1) reached").

    A lock file that cannot be opened is not fatal: that module's clients get rsync's
    ``@ERROR: failed to open lock file``.
    """
    problems: list[str] = []
    for mod in config.modules.values():
        path = mod.lock_file
        if mod.max_connections == 0 or path in _fds or path in _errors:
            continue
        old = os.umask(0o077)
        try:
            fd = open_trusted(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            _errors[path] = exc.strerror or str(exc)
            problems.append(f"failed to open lock file {path}: {_errors[path]}")
            continue
        finally:
            os.umask(old)
        _fds[path] = fd
    return problems


def claim_connection(mod: ModuleConfig) -> str | None:
    """Take one of the module's connection slots for this process.

    Returns:
        None when the connection may go on; else rsync's message for the client
        (``max connections (N) reached -- try again later`` or
        ``failed to open lock file``).
    """
    if mod.max_connections == 0:  # no limit; a negative one refuses every connection
        return None
    fd = _fds.get(mod.lock_file)
    if fd is None:
        return "failed to open lock file"
    for slot in range(mod.max_connections):
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 4, slot * 4, os.SEEK_SET)
        except OSError:
            continue
        return None
    return f"max connections ({mod.max_connections}) reached -- try again later"


def lock_error(mod: ModuleConfig) -> str:
    """Why the module's lock file could not be opened (for the log)."""
    return _errors.get(mod.lock_file, "not opened")
