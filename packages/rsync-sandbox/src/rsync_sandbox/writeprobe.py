"""Find paths that the serving user could write to although they should be read-only.

How this works: for each path, three independent signals are gathered as the
process's *effective* user:

1. mount flags: ``statvfs`` reports ``ST_RDONLY`` for a read-only mount (per-mount
   flag or superblock), and ``/proc/self/mountinfo`` (when visible) is read for the
   mount holding the path; either saying read-only settles it: not writable;
2. ``access(W_OK)`` with effective ids (``faccessat(AT_EACCESS)``): the permission
   bits and ACLs. It knows nothing of Landlock, which only checks real operations;
3. a real probe where it is safe: in a directory, create a uniquely named file with
   ``O_CREAT | O_EXCL`` and remove it at once (restoring the directory's times); a
   regular file is opened ``O_WRONLY`` without ``O_TRUNC`` and closed, so its content
   and times stay as they were. Other file types (devices, FIFOs, sockets) are never
   opened. When a probe ran, it is the verdict, since it saw every layer (permissions,
   mount, LSMs such as Landlock); otherwise ``access`` is.

The probe only ever leaves a trace (a changed directory ctime, an inotify event) on a
path that turns out to be writable, that is, when the caller is about to refuse to
start anyway. Pass ``probe=False`` to rely on flags and ``access`` alone.
"""

from __future__ import annotations

import contextlib
import os
import stat
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rsync_sandbox.errors import SandboxViolation

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

__all__ = [
    "WriteCheck",
    "check_writable",
    "find_writable",
    "mountinfo_read_only",
    "refuse_writable",
]

_PROBE_PREFIX = ".rsync-sandbox-probe-"


@dataclass(frozen=True, slots=True)
class WriteCheck:
    """What `check_writable` found out about one path.

    Attributes:
        path: the path as given.
        read_only_mount: the path lies on a read-only mount.
        access: ``access(W_OK)`` as the effective user said yes.
        probe: True if a real write (create or open for writing) succeeded, False if it
            failed, None if no probe ran (read-only mount, ``probe=False``, or a file
            type that is never opened).
    """

    path: str
    read_only_mount: bool
    access: bool
    probe: bool | None

    @property
    def writable(self) -> bool:
        """Whether the effective user could write to the path."""
        if self.read_only_mount:
            return False
        if self.probe is not None:
            return self.probe
        return self.access


def _unescape_mountinfo(field: str) -> str:
    r"""Undo mountinfo's octal escapes (``\040`` for a space, ...)."""
    out: list[str] = []
    i = 0
    while i < len(field):
        if field[i] == "\\" and i + 4 <= len(field) and field[i + 1 : i + 4].isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def mountinfo_read_only(path: str) -> bool | None:
    """Return whether the mount holding ``path`` is read-only, per ``/proc/self/mountinfo``.

    The mount is the one with the longest mount point containing ``path``'s real path;
    of stacked mounts on the same point, the last listed (topmost) one counts.

    Returns:
        True or False, or None when ``/proc`` is not visible (for example after
        ``pivot_root``) or no mount matched.
    """
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    real = os.path.realpath(path)
    best: tuple[int, bool] | None = None
    for line in lines:
        head, sep, tail = line.partition(" - ")
        fields = head.split()
        if not sep or len(fields) < 6:
            continue
        mount_point = _unescape_mountinfo(fields[4])
        inside = mount_point == "/" or real == mount_point or real.startswith(mount_point + "/")
        if not inside:
            continue
        super_options = tail.split()[2].split(",") if len(tail.split()) >= 3 else []
        read_only = "ro" in fields[5].split(",") or "ro" in super_options
        if best is None or len(mount_point) >= best[0]:
            best = (len(mount_point), read_only)
    return None if best is None else best[1]


def _probe_directory(path: str) -> bool:
    """Create and remove a uniquely named file in ``path``; True if that worked."""
    before = os.stat(path)
    name = os.path.join(path, f"{_PROBE_PREFIX}{os.getpid()}-{os.urandom(8).hex()}")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(name, flags, 0o600)
    except OSError:
        return False
    os.close(fd)
    os.unlink(name)
    # If this fails, the directory's times show the probe; it is writable, so the
    # caller refuses to start anyway.
    with contextlib.suppress(OSError):
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    return True


def _probe_file(path: str) -> bool:
    """Open a regular file for writing (no truncation) and close it; True if that worked."""
    flags = os.O_WRONLY | os.O_NOCTTY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(path, flags)
    except OSError:
        return False
    os.close(fd)
    return True


def check_writable(path: str, *, probe: bool = True) -> WriteCheck:
    """Find out whether the effective user could write to ``path``.

    Args:
        path: a directory or file.
        probe: also try a real write where safe (see the module docstring).

    Returns:
        The signals gathered; `WriteCheck.writable` is the verdict.

    Raises:
        OSError: ``path`` cannot be examined (does not exist, not searchable).
    """
    st = os.stat(path)
    flags = os.statvfs(path).f_flag
    read_only = bool(flags & os.ST_RDONLY) or bool(mountinfo_read_only(path))
    access = os.access(path, os.W_OK, effective_ids=os.access in os.supports_effective_ids)
    result: bool | None = None
    if probe and not read_only:
        if stat.S_ISDIR(st.st_mode):
            result = _probe_directory(path)
        elif stat.S_ISREG(st.st_mode):
            result = _probe_file(path)
    return WriteCheck(path=path, read_only_mount=read_only, access=access, probe=result)


def find_writable(paths: Iterable[str], *, probe: bool = True) -> list[str]:
    """Return those of ``paths`` that the effective user could write to, in order.

    Args:
        paths: directories or files that should be read-only.
        probe: also try a real write where safe (see the module docstring).

    Raises:
        OSError: a path cannot be examined.
    """
    return [path for path in paths if check_writable(path, probe=probe).writable]


def refuse_writable(modules: Mapping[str, str], *, probe: bool = True) -> None:
    """Refuse to go on when a read-only module is writable by the serving user.

    Args:
        modules: module name to the path the process will serve it from.
        probe: also try a real write where safe (see the module docstring).

    Raises:
        SandboxViolation: a module is writable; the message names every such module
            and its path.
        OSError: a path cannot be examined.
    """
    writable = [
        (name, path) for name, path in modules.items() if check_writable(path, probe=probe).writable
    ]
    if writable:
        listed = ", ".join(f"module {name!r} at {path!r}" for name, path in writable)
        msg = (
            f"read-only {listed} {'is' if len(writable) == 1 else 'are'} writable by"
            f" uid {os.geteuid()}: expected no write access; refusing to start"
        )
        raise SandboxViolation(msg)
