"""Extended attributes on disk: reading a file's, and making a file's what the sender sent.

Files and directories are opened (``O_NOFOLLOW``) under their parent's descriptor and the
attributes go through that descriptor, so a symlink swapped into a parent cannot redirect
them. Symlinks, devices and specials are left alone: Linux keeps no ``user.`` attributes
on them, and there is no descriptor-relative call for the others.

A sender's entry that ``-L``, ``--copy-unsafe-links`` or ``--copy-dirlinks`` followed is a
file or directory in the list but a symlink on disk: rsync reads its attributes by name
with ``llistxattr()``/``lgetxattr()``, which give the symlink's own (on Linux no ``user.``
ones, but a ``trusted.`` or ``security.`` one may be there), not the target's.
:func:`read_xattrs` with ``link_own`` does the same through ``/proc/self/fd/PARENT/NAME``
with the calls that do not follow the final symlink.

rsync: xattrs.c rsync_xal_get(), rsync_xal_set(), get_xattr_data().
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

_UNSUPPORTED = (errno.ENOTSUP, errno.EOPNOTSUPP)


def _link_path(dfd: int, name: bytes) -> bytes | None:
    """The no-follow path of symlink ``name`` in ``dfd``.

    ``b""`` where ``/proc`` is out of sight (a confined daemon): the ``*xattrat`` calls
    then; ``None`` for a name that is not one component.
    """
    if b"/" in name:
        return None
    if not os.path.isdir("/proc/self/fd"):
        return b""
    return b"/proc/self/fd/%d/%s" % (dfd, name)


def _read_at(dfd: int, name: bytes, wanted: Callable[[bytes], bool]) -> list[tuple[bytes, bytes]]:
    """:func:`read_xattrs` of a symlink through the ``*xattrat`` calls (none before 6.13)."""
    from rsync_wire.roles.acl_fs import getxattr_at, listxattr_at

    try:
        names = listxattr_at(dfd, name)
    except OSError as exc:
        if exc.errno in (errno.ENOSYS, *_UNSUPPORTED):
            return []
        raise
    out: list[tuple[bytes, bytes]] = []
    for key in names:
        if not wanted(key):
            continue
        try:
            out.append((key, getxattr_at(dfd, name, key)))
        except OSError as exc:
            if exc.errno not in (errno.ENODATA, *_UNSUPPORTED):
                raise
    return out


@contextlib.contextmanager
def _handle(
    dfd: int, name: bytes, mode: int, *, link_own: bool = False
) -> Iterator[int | str | bytes | None]:
    """A descriptor (or ``/proc`` path) for ``name`` in ``dfd``, or ``None`` to skip it.

    ``link_own``: a symlink ``name`` gives its no-follow path (bytes, see :func:`_link_path`)
    instead of failing with ``ELOOP``.
    """
    fmt = stat.S_IFMT(mode)
    if fmt not in (stat.S_IFREG, stat.S_IFDIR):
        yield None
        return
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
    fd = -1
    unreadable = False
    try:
        fd = os.open(name, flags, dir_fd=dfd)
    except PermissionError:
        unreadable = True
    except OSError as exc:
        if not link_own or exc.errno != errno.ELOOP:
            raise
    if fd >= 0:
        try:
            yield fd
        finally:
            os.close(fd)
    elif unreadable:
        # unreadable (mode 000): its attributes are still ours to change
        fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dfd)
        try:
            yield f"/proc/self/fd/{fd}"
        finally:
            os.close(fd)
    else:
        yield _link_path(dfd, name)


def read_xattrs(
    dfd: int,
    name: bytes,
    mode: int,
    wanted: Callable[[bytes], bool],
    *,
    link_own: bool = False,
) -> list[tuple[bytes, bytes]]:
    """The attributes of ``name`` (in directory ``dfd``) whose names ``wanted`` accepts.

    ``link_own``: where ``name`` is a symlink (a sender's followed entry), its own
    attributes, as rsync's ``llistxattr()`` on the name gives them (where ``/proc`` is out
    of sight, a confined daemon, through ``listxattrat()``: none before Linux 6.13).

    Raises:
        OSError: listing or reading failed (not for a file system without xattrs).
    """
    with _handle(dfd, name, mode, link_own=link_own) as h:
        if h is None:
            return []
        if h == b"":
            return _read_at(dfd, name, wanted)
        follow = not isinstance(h, bytes)  # bytes: a symlink's own, never followed
        try:
            names = os.listxattr(h, follow_symlinks=follow)
        except OSError as exc:
            if exc.errno in _UNSUPPORTED:
                return []
            raise
        out: list[tuple[bytes, bytes]] = []
        for text in names:
            key = os.fsencode(text)
            if not wanted(key):
                continue
            try:
                value = os.getxattr(h, text, follow_symlinks=follow)
            except OSError as exc:
                if exc.errno in (errno.ENODATA, *_UNSUPPORTED):
                    continue  # removed meanwhile
                raise
            out.append((key, value))
        return out


def apply_xattrs(
    dfd: int,
    name: bytes,
    mode: int,
    want: Sequence[tuple[bytes, bytes]],
    keep: Callable[[bytes], bool],
    *,
    fix_perms: bool,
) -> list[str]:
    """Make ``name``'s attributes ``want``; remove others that ``keep`` says are ours.

    Values already equal are not written again. ``fix_perms``: a file without write
    permission gets it for the change (not root).

    Returns:
        rsync's messages for what failed (empty when all went well).

    rsync: xattrs.c set_xattr(), rsync_xal_set().
    """
    with _handle(dfd, name, mode) as h:
        if h is None or isinstance(h, bytes):  # bytes only with link_own
            return []
        return apply_xattrs_to(h, want, keep, fix_perms=fix_perms)


def apply_xattrs_to(
    h: int | str,
    want: Sequence[tuple[bytes, bytes]],
    keep: Callable[[bytes], bool],
    *,
    fix_perms: bool,
) -> list[str]:
    """:func:`apply_xattrs` on an open descriptor (or a ``/proc`` path)."""
    errors: list[str] = []
    try:
        have = {os.fsencode(n) for n in os.listxattr(h)}
    except OSError as exc:
        if exc.errno in _UNSUPPORTED and not want:
            return errors
        return [f"get_xattr_names: llistxattr failed: {exc.strerror} ({exc.errno})"]
    added_write = False
    if fix_perms and isinstance(h, int):
        st = os.fstat(h)
        if not st.st_mode & stat.S_IWUSR:
            with contextlib.suppress(OSError):
                os.fchmod(h, stat.S_IMODE(st.st_mode) | stat.S_IWUSR)
                added_write = True
    try:
        for key, value in want:
            try:
                if key in have and os.getxattr(h, key) == value:
                    continue
                os.setxattr(h, key, value)
            except OSError as exc:
                shown = key.decode("utf-8", "backslashreplace")
                errors.append(f'rsync_xal_set: lsetxattr("{shown}") failed: {exc.strerror}')
        wanted = {k for k, _ in want}
        for key in sorted(have - wanted):
            if not keep(key):
                continue
            try:
                os.removexattr(h, key)
            except OSError as exc:
                shown = key.decode("utf-8", "backslashreplace")
                errors.append(f'rsync_xal_set: lremovexattr("{shown}") failed: {exc.strerror}')
    finally:
        if added_write and isinstance(h, int):
            os.fchmod(h, stat.S_IMODE(os.fstat(h).st_mode) & ~stat.S_IWUSR)
    return errors


def read_stat_xattr(dfd: int, name: bytes, mode: int) -> bytes | None:
    """The ``--fake-super`` record of ``name``, or ``None`` (rsync: get_stat_xattr())."""
    from rsync_wire.proto.xattrs import STAT_ATTR

    if stat.S_IFMT(mode) not in (stat.S_IFREG, stat.S_IFDIR):
        return None
    with _handle(dfd, name, mode) as h:
        if h is None:
            return None
        try:
            return os.getxattr(h, STAT_ATTR)
        except OSError as exc:
            if exc.errno in (errno.ENODATA, *_UNSUPPORTED):
                return None
            raise
