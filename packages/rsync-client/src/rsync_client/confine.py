"""The client confines itself with Landlock once its connection is up.

After the transport is connected (and any remote shell started, which stays
outside the confinement), the process may write only below the destination and
read only the destination, its sources (local copies), the Python installation
(for imports that happen later) and the few files of ``/etc`` that user and group
names need. A compromised or buggy receiving side then cannot touch anything
else. Landlock rules are per thread and inherited: the event loop's thread is
confined, and threads started afterwards (file writes) inherit it.

``--no-sandbox`` turns this off; on a kernel without Landlock the client goes on
with a warning on ``-v``.
"""

from __future__ import annotations

import grp
import os
import pwd
import time

from rsync_sandbox import SandboxError, python_runtime_paths
from rsync_sandbox.landlock import restrict

__all__ = ["confine_client"]

_NSS_FILES = ("/etc/passwd", "/etc/group", "/etc/nsswitch.conf", "/etc/localtime")


def _write_target(dest: str | None) -> str:
    """The directory the transfer may write into.

    The destination itself when it is a directory; else its parent (a single file is
    written under the destination's name, or the destination directory is created).
    """
    if dest is None:
        return ""
    path = os.path.abspath(dest)
    if os.path.isdir(path):
        return path
    return os.path.dirname(path.rstrip("/")) or "/"


def confine_client(dest: str | None, sources: list[str] | None = None) -> str:
    """Restrict this process to the transfer's files; returns what is in force, for -v.

    Args:
        dest: the local destination (``None``: list only, nothing may be written).
        sources: local paths the process must read (a local copy's sources).

    Returns:
        A one-line description, or why nothing was confined.
    """
    # Load what later code needs while everything is still readable: the NSS modules
    # behind user and group names, the time zone, the lazily imported delta engine.
    pwd.getpwuid(os.getuid())
    grp.getgrgid(os.getgid())
    time.localtime()
    import rsync_delta.delta
    import rsync_delta.signature  # noqa: F401

    runtime = [p for p in python_runtime_paths() if p not in ("/", os.getcwd())]
    target = _write_target(dest)
    read_write = [target] if target else []
    # Sources inside the writable tree are covered by it (Landlock rules add up).
    read_only = [
        src
        for src in (os.path.abspath(s) for s in sources or [])
        if not target or os.path.commonpath([src, target]) != target
    ]
    try:
        status = restrict(
            read_only=read_only,
            read_write=read_write,
            optional_read_only=[*runtime, *_NSS_FILES],
            scope=False,  # the remote shell started before us must stay signalable
        )
    except SandboxError as exc:
        return f"not confined: {exc}"
    where = target or "nowhere"
    return f"confined with Landlock ABI {status.abi}: writes only below {where}"
