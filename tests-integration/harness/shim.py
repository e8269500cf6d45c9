"""The ``-e`` shim: a stand-in for ssh so that rsync reaches a ``--server`` program locally.

``rsync -e SHIM host:path`` runs ``SHIM [-l user] host rsync --server ...``. The shim drops the
ssh-style options and the host, and hands the rest to ``/bin/sh -c`` as sshd hands it to the
login shell (rsync quotes its arguments for a remote shell, so this parses them the same
way). With ``command``, the first word of the remote command (the program rsync asked for,
``rsync`` or the ``--rsync-path``) is replaced by ``command``: the idea of gokrazy/rsync's
``CommandMain``, where the test binary doubles as the remote shell.

With ``log``, each remote command line is appended to that file, for assertions.
"""

from __future__ import annotations

import os
import shlex
import stat
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

_HEAD = """#!/bin/sh
# Written by tests-integration/harness/shim.py: an rsync -e stand-in for ssh.
# Called as: SHIM [ssh options] HOST COMMAND...; runs COMMAND locally.
while [ $# -gt 0 ]; do
  case "$1" in
    -[BDEFIJLOQRSWbceilmopw]) shift 2 ;;
    --) shift; break ;;
    -*) shift ;;
    *) break ;;
  esac
done
if [ $# -lt 2 ]; then
  echo "rsh shim: expected HOST COMMAND..., got: $*" >&2
  exit 255
fi
shift
"""


def write_rsh_shim(
    path: Path, *, command: Sequence[str | os.PathLike[str]] | None = None, log: Path | None = None
) -> Path:
    """Write an executable ``-e`` shim at ``path`` and return ``path``.

    Args:
        path: where to write the script (its directory must exist).
        command: replaces the remote program (for example ``[sys.executable, "-m",
            "rsync_daemon"]``), keeping rsync's arguments; None runs the remote command as is.
        log: a file that receives each remote command line.

    Returns:
        ``path``, for ``rsync -e PATH``.
    """
    body = _HEAD
    if log is not None:
        body += f'printf "%s\\n" "$*" >> {shlex.quote(str(log))}\n'
    if command is None:
        body += 'exec /bin/sh -c "$*"\n'
    else:
        prefix = shlex.join(os.fspath(c) for c in command)
        # Parse the line as the remote shell would (eval), then swap the program for prefix.
        inner = f'eval "set -- $1"; shift; exec {prefix} "$@"'
        body += f'exec /bin/sh -c {shlex.quote(inner)} rsh-shim "$*"\n'
    path.write_text(body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def shim_log(shim: Path) -> Path:
    """Return the log file of a shim made by the ``rsh_shim`` fixtures."""
    return shim.with_name(shim.name + ".log")


class ShimFactory(Protocol):
    """The ``rsh_shim_factory`` fixture: writes a shim (logging to ``shim_log``)."""

    def __call__(
        self, command: Sequence[str | os.PathLike[str]] | None = None, /, *, name: str = "rsh-shim"
    ) -> Path:
        """Write a shim running ``command`` for the remote program (see ``write_rsh_shim``)."""
        ...
