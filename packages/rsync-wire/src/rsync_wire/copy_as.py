"""``--copy-as=USER[:GROUP]``: the side that touches the files becomes that user first.

rsync switches the whole process (the sender of a push, the receiver and generator of a
pull, both of a local copy, a remote-shell server) to USER, with GROUP or USER's own group
and supplementary groups, once its connection is set up and before it reads or writes a
file. Only root can do so: anyone else fails at ``setgroups`` (or earlier), with rsync's
message and exit code 1. The switch cannot be undone, so the process keeps nothing of
root's rights for the transfer.

rsync: main.c become_copy_as_user(); uidlist.c user_to_uid(), group_to_gid().
"""

from __future__ import annotations

import contextlib
import grp
import importlib
import os
import pkgutil
import pwd
import sys
import time
from typing import TYPE_CHECKING

from rsync_wire.errors import ExitCode, RsyncError

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "CopyAsError",
    "become_copy_as_user",
    "load_before_switch",
    "parse_copy_as",
    "prepare_copy_as",
]

_PACKAGES = ("rsync_wire", "rsync_delta", "rsync_client", "rsync_daemon")
_MORE = (
    "importlib.metadata",
    "numpy",
    "Crypto.Hash.MD4",
    "Crypto.Hash.MD5",
    "xxhash",
    "zlib",
    "zstandard",
    "lz4.block",
    "encodings.latin_1",
    "encodings.ascii",
    "anyio.streams.memory",
    "importlib.util",
    "tempfile",
    "secrets",
    "traceback",
)


class CopyAsError(RsyncError):
    """``--copy-as`` named no such user or group, or the switch failed (exit 1).

    Attributes:
        bare: the message is printed without rsync's ``rsync: `` prefix ("Invalid
            copy-as user: X").
    """

    def __init__(self, message: str, *, bare: bool) -> None:
        super().__init__(message, exit_code=ExitCode.SYNTAX)
        self.bare = bare


def _user(name: str) -> tuple[int, str | None]:
    """The uid of ``name`` (a number is taken as one) and the name for initgroups()."""
    if name.isdigit():
        return int(name), None
    try:
        return pwd.getpwnam(name).pw_uid, name
    except KeyError:
        msg = f"Invalid copy-as user: {name}"
        raise CopyAsError(msg, bare=True) from None


def parse_copy_as(spec: str) -> tuple[int, int | None, str | None]:
    """``USER[:GROUP]`` as (uid, gid or ``None`` for USER's own, name for initgroups()).

    Raises:
        CopyAsError: an unknown user or group ("Invalid copy-as user: X").
    """
    user, colon, group = spec.partition(":")
    if not user:
        msg = f"Invalid copy-as user: {user}"
        raise CopyAsError(msg, bare=True)
    uid, name = _user(user)
    if not colon:
        return uid, None, name
    if group.isdigit():
        return uid, int(group), name
    try:
        return uid, grp.getgrnam(group).gr_gid, name
    except KeyError:
        msg = f"Invalid copy-as group: {group}"
        raise CopyAsError(msg, bare=True) from None


def load_before_switch() -> None:
    """Import now every module the transfer may import later, and read the time zone.

    After the switch the new user may not read the interpreter's files (a virtual
    environment in root's home), so nothing may be loaded lazily any more: this imports
    every module of pyrsync's packages that this process has loaded (rsync_wire and
    rsync_delta always) and the libraries they use.
    """
    for top in _PACKAGES:
        if top not in sys.modules and top not in ("rsync_wire", "rsync_delta"):
            continue
        with contextlib.suppress(ImportError):
            package = importlib.import_module(top)
        if top not in sys.modules:
            continue
        package = sys.modules[top]
        for info in pkgutil.walk_packages(package.__path__, f"{top}."):
            if info.name.endswith("__main__"):
                continue
            with contextlib.suppress(ImportError):
                importlib.import_module(info.name)
    for name in _MORE:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    time.localtime()


def prepare_copy_as(spec: str | None, *, who: str) -> Callable[[], None]:
    """Look ``spec`` up and load what the transfer needs; returns the switch itself.

    The look-ups (users, groups, supplementary groups) and the imports happen now, while
    the process may still read everything; the returned function only makes the system
    calls, so that it can run after the client confined itself (Landlock).

    Raises:
        CopyAsError: an unknown user or group.
    """
    if spec is None:
        return lambda: None
    uid, gid, name = parse_copy_as(spec)
    if gid is None:
        try:
            gid = pwd.getpwuid(uid).pw_gid
        except KeyError:
            msg = f"[{who}] getpwuid failed: No such file or directory (2)"
            raise CopyAsError(msg, bare=False) from None
        # rsync: setgroups(gid), then initgroups(USER, gid) (USER's own groups too)
        groups = os.getgrouplist(name, gid) if name is not None else [gid]
    else:
        groups = [gid]
    load_before_switch()
    final_gid = gid

    def switch() -> None:
        steps: list[tuple[str, Callable[[], None]]] = [
            ("setgid", lambda: os.setgid(final_gid)),
            ("setgroups", lambda: os.setgroups(groups)),
            ("setuid", lambda: os.setuid(uid)),
            ("setuid", lambda: os.seteuid(uid)),
        ]
        for what, step in steps:
            try:
                step()
            except OSError as exc:
                msg = f"[{who}] {what} failed: {exc.strerror} ({exc.errno})"
                raise CopyAsError(msg, bare=False) from None

    return switch


def become_copy_as_user(spec: str | None, *, who: str) -> None:
    """Switch this process to ``spec``'s user and group (nothing when ``spec`` is None).

    Args:
        spec: the ``--copy-as`` value.
        who: the role rsync names in its messages (``sender``, ``Receiver``, ...).

    Raises:
        CopyAsError: unknown user or group, or a switch the kernel refused (not root).

    rsync: main.c become_copy_as_user().
    """
    prepare_copy_as(spec, who=who)()
