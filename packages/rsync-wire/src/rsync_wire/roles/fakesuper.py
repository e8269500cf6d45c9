"""``--fake-super``: owner, group, mode and device kept in the ``user.rsync.%stat`` xattr.

A receiver with ``--fake-super`` does not change owners: it records what the sender sent
(and a mode it could not give the file) in the attribute, and gives the file owner
access itself; a sender with ``--fake-super`` lists what the attribute records. Regular
files and directories carry the record.

rsync: xattrs.c get_stat_xattr(), set_stat_xattr(), x_lstat().
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from typing import TYPE_CHECKING

from rsync_wire.proto.xattrs import STAT_ATTR, format_stat_value, parse_stat_value
from rsync_wire.roles.xattr_fs import read_stat_xattr

if TYPE_CHECKING:
    from rsync_wire.fs_write import DestTree

_EXTRA = (
    "st_atime",
    "st_mtime",
    "st_ctime",
    "st_atime_ns",
    "st_mtime_ns",
    "st_ctime_ns",
    "st_blksize",
    "st_blocks",
    "st_rdev",
)


def fake_stat(st: os.stat_result, value: bytes | None) -> os.stat_result:
    """``st`` with the mode, owner, group and device a ``%stat`` record gives.

    rsync: xattrs.c x_lstat() (a corrupt record is ignored here; rsync exits).
    """
    if value is None:
        return st
    rec = parse_stat_value(value)
    if rec is None:
        return st
    mode, major, minor, uid, gid = rec
    extra = {k: getattr(st, k) for k in _EXTRA}
    extra["st_rdev"] = os.makedev(major, minor)
    seq = (mode, st.st_ino, st.st_dev, st.st_nlink, uid, gid, st.st_size, *tuple(st)[7:10])
    return os.stat_result(seq, extra)


def fake_lstat(tree: DestTree, rel: bytes, st: os.stat_result) -> os.stat_result:
    """``lstat`` of ``rel`` as ``--fake-super`` sees it (rsync: xattrs.c x_lstat())."""
    dfd, name = (tree.fd, b".") if not rel or rel == b"." else tree.parent(rel)
    try:
        return fake_stat(st, read_stat_xattr(dfd, name, st.st_mode))
    except OSError:
        return st


def set_stat_xattr(fd: int, new_mode: int, rdev: tuple[int, int], uid: int, gid: int) -> str | None:
    """Record ``new_mode``/``rdev``/``uid``/``gid`` on the open file; returns an error.

    The record is dropped when the file itself says all of it; the file gets owner access.

    rsync: xattrs.c set_stat_xattr().
    """
    try:
        fst = os.fstat(fd)
        try:
            old: bytes | None = os.getxattr(fd, STAT_ATTR)
        except OSError as exc:
            if exc.errno not in (errno.ENODATA, errno.ENOTSUP):
                raise
            old = None
        fmode = new_mode & (0o170000 | 0o7777)
        real = stat.S_IFMT(fst.st_mode) | (fmode & 0o777)
        real |= 0o700 if stat.S_ISDIR(fst.st_mode) else 0o600
        if fst.st_mode & (0o170000 | 0o7777) != real:
            os.fchmod(fd, real & 0o7777)
        if real == fmode and rdev == (0, 0) and (fst.st_uid, fst.st_gid) == (uid, gid):
            if old is not None:
                with contextlib.suppress(OSError):
                    os.removexattr(fd, STAT_ATTR)
            return None
        value = format_stat_value(fmode, rdev[0], rdev[1], uid, gid)
        if old != value:
            os.setxattr(fd, STAT_ATTR, value)
    except OSError as exc:
        return f"failed to write xattr {STAT_ATTR.decode()}: {exc.strerror} ({exc.errno})"
    return None


def record_stat_at(
    tree: DestTree, rel: bytes, new_mode: int, rdev: tuple[int, int], uid: int, gid: int
) -> str | None:
    """:func:`set_stat_xattr` on ``rel`` in ``tree`` (regular files and directories)."""
    dfd, name = (tree.fd, b".") if not rel or rel == b"." else tree.parent(rel)
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
    try:
        st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
        if stat.S_IFMT(st.st_mode) not in (stat.S_IFREG, stat.S_IFDIR):
            return None
        fd = os.open(name, flags, dir_fd=dfd)
    except OSError as exc:
        return f"failed to re-stat {rel.decode('utf-8', 'backslashreplace')}: {exc.strerror}"
    try:
        return set_stat_xattr(fd, new_mode, rdev, uid, gid)
    finally:
        os.close(fd)


def write_fake_link(tree: DestTree, rel: bytes, target: bytes, *, replace: bool) -> None:
    """``--fake-super``'s symlink: a regular file holding the target.

    Linux keeps no ``user.`` attributes on a symlink (rsync: syscall.c do_symlink()).
    """
    if replace:
        tree.remove(rel)
    dfd, name = tree.parent(rel)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(name, flags, 0o600, dir_fd=dfd)
    try:
        os.write(fd, target)
    finally:
        os.close(fd)


def read_fake_link(tree: DestTree, rel: bytes) -> bytes:
    """The target of a symlink, or of ``--fake-super``'s file standing for one.

    rsync: syscall.c do_readlink().
    """
    try:
        return tree.readlink(rel)
    except OSError:
        dfd, name = tree.parent(rel)
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dfd)
        try:
            return os.read(fd, 4096)
        finally:
            os.close(fd)
