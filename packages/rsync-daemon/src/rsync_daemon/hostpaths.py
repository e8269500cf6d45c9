"""Host paths a confined daemon process may still read besides its modules.

No I/O at import; `extra_read_only_paths` looks at the interpreter's paths.
"""

from __future__ import annotations

import os
import sys
import sysconfig
from typing import TYPE_CHECKING, Final

from rsync_sandbox import python_runtime_paths

if TYPE_CHECKING:
    from rsync_daemon.config import DaemonConfig

__all__ = ["SYSTEM_FILES", "extra_read_only_paths"]

SYSTEM_FILES: Final = ("/etc/passwd", "/etc/group", "/etc/localtime")
"""Host files a connection process reads after confinement: user and group names for the
file list and for ``@group`` entries of ``auth users``, and the time zone of log lines."""


def extra_read_only_paths(config: DaemonConfig) -> tuple[str, ...]:  # noqa: ARG001 - API
    """Host paths the confined process may still read besides its modules.

    These are the Python installation and the source trees on ``sys.path``
    (`rsync_sandbox.python_runtime_paths`) *without* ``sys.path[0]`` and the working
    directory: under ``python -m`` those are the directory the daemon was started from,
    which may be anything up to ``/``. Then `SYSTEM_FILES`. (The motd is read before
    confinement, see `open_daemon_files`.)
    """
    dropped = {os.path.normpath(os.getcwd()), "/"}
    if sys.path and sys.path[0]:
        dropped.add(os.path.normpath(os.path.abspath(sys.path[0])))
    needed = {
        os.path.normpath(p)
        for p in sysconfig.get_paths().values()
        if os.path.isabs(p)  # the installation's own directories stay, whatever the cwd
    }
    paths = [p for p in python_runtime_paths() if p in needed or p not in dropped]
    extra = [*paths, *SYSTEM_FILES]
    return tuple(dict.fromkeys(extra))
