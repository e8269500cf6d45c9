"""POSIX ACLs on disk: a file's access and default ACL read and written as xattrs.

Linux keeps ACLs in the ``system.posix_acl_access`` and ``system.posix_acl_default``
extended attributes (the kernel's format: rsync_wire.proto.acls); ``--fake-super`` keeps
rsync's own record in ``user.rsync.%aacl`` and ``%dacl`` instead. Every call goes
through a descriptor opened ``O_NOFOLLOW`` under the parent's descriptor, or, for what
cannot be opened (a device, a socket, a directory without read permission), through
``/proc/self/fd/PARENT/NAME`` with the calls that do not follow a final symlink, or where
``/proc`` is out of sight (a confined daemon) the ``*xattrat`` system calls of Linux 6.13
with ``AT_SYMLINK_NOFOLLOW``: a name swapped for a symlink meanwhile is never followed (a
symlink takes no ACL), and a parent swapped for one does not matter, since the parent is
the descriptor.

rsync: acls.c get_rsync_acl(), set_rsync_acl(); lib/acl.c (xattr-based ACL calls);
xattrs.c get_xattr_acl(), set_xattr_acl(), del_def_xattr_acl().
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import stat
from typing import TYPE_CHECKING

from rsync_wire.proto.acls import (
    ACCESS_XATTR,
    DEFAULT_XATTR,
    EMPTY,
    FAKE_ACCESS_XATTR,
    FAKE_DEFAULT_XATTR,
    AclFormatError,
    RsyncAcl,
    fake_perms,
    parse_fake,
    parse_xattr,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

#: The errors that say "no ACLs here" (rsync: lib/sysacls.c no_acl_syscall_error()).
NO_ACL_ERRNOS = (errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS)
_ABSENT = (errno.ENODATA,)
_OPENABLE = (stat.S_IFREG, stat.S_IFDIR, stat.S_IFIFO)


# Linux 6.13 (the same numbers on every architecture): include/uapi/linux/xattr.h
_SYS_SETXATTRAT = 463
_SYS_GETXATTRAT = 464
_SYS_LISTXATTRAT = 465
_SYS_REMOVEXATTRAT = 466
_AT_SYMLINK_NOFOLLOW = 0x100


class _XattrArgs(ctypes.Structure):
    """``struct xattr_args``."""

    _fields_ = (("value", ctypes.c_uint64), ("size", ctypes.c_uint32), ("flags", ctypes.c_uint32))


_libc = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long


def _at_call(number: int, dfd: int, name: bytes, key: bytes, args: _XattrArgs | None) -> int:
    extra = (ctypes.byref(args), ctypes.c_size_t(ctypes.sizeof(args))) if args else ()
    ret = _syscall(
        ctypes.c_long(number),
        ctypes.c_int(dfd),
        ctypes.c_char_p(name),
        ctypes.c_uint(_AT_SYMLINK_NOFOLLOW),
        ctypes.c_char_p(key),
        *extra,
    )
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), os.fsdecode(name))
    return int(ret)


def listxattr_at(dfd: int, name: bytes) -> list[bytes]:
    """The attribute names of ``name`` in ``dfd``, a final symlink not followed.

    ``listxattrat()`` of Linux 6.13 (``ENOSYS`` before).

    Raises:
        OSError: the call failed.
    """
    for _ in range(8):  # the list may grow between the two calls
        size = _syscall(
            ctypes.c_long(_SYS_LISTXATTRAT),
            ctypes.c_int(dfd),
            ctypes.c_char_p(name),
            ctypes.c_uint(_AT_SYMLINK_NOFOLLOW),
            ctypes.c_char_p(None),
            ctypes.c_size_t(0),
        )
        if size < 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err), os.fsdecode(name))
        buf = ctypes.create_string_buffer(max(size, 1))
        got = _syscall(
            ctypes.c_long(_SYS_LISTXATTRAT),
            ctypes.c_int(dfd),
            ctypes.c_char_p(name),
            ctypes.c_uint(_AT_SYMLINK_NOFOLLOW),
            buf,
            ctypes.c_size_t(size),
        )
        if got >= 0:
            return [key for key in buf.raw[:got].split(b"\0") if key]
        err = ctypes.get_errno()
        if err != errno.ERANGE:
            raise OSError(err, os.strerror(err), os.fsdecode(name))
    raise OSError(errno.ERANGE, os.strerror(errno.ERANGE), os.fsdecode(name))


def getxattr_at(dfd: int, name: bytes, key: bytes) -> bytes:
    """The value of ``key`` on ``name`` in ``dfd``, a final symlink not followed.

    Raises:
        OSError: the call failed (``ENOSYS`` before Linux 6.13).
    """
    return _Target(None, None, at=(dfd, name)).get(key)


class _Target:
    """Where the xattr calls for one file go: a descriptor, a no-follow path, or ``*at``."""

    __slots__ = ("at", "fd", "follow", "path")

    def __init__(
        self,
        fd: int | None,
        path: str | None,
        *,
        follow: bool = False,
        at: tuple[int, bytes] | None = None,
    ) -> None:
        self.fd = fd
        self.path = path
        self.follow = follow  # a /proc/self/fd/N magic link (the pinned file itself)
        self.at = at  # (parent descriptor, name) for the *xattrat calls

    def get(self, key: bytes) -> bytes:
        if self.fd is not None:
            return os.getxattr(self.fd, key)
        if self.at is not None:
            dfd, name = self.at
            size = _at_call(_SYS_GETXATTRAT, dfd, name, key, _XattrArgs(0, 0, 0))
            buf = ctypes.create_string_buffer(max(size, 1))
            args = _XattrArgs(ctypes.addressof(buf), size, 0)
            got = _at_call(_SYS_GETXATTRAT, dfd, name, key, args)
            return buf.raw[:got]
        assert self.path is not None  # noqa: S101 - one of the three is set
        return os.getxattr(self.path, key, follow_symlinks=self.follow)

    def set(self, key: bytes, value: bytes) -> None:
        if self.fd is not None:
            os.setxattr(self.fd, key, value)
        elif self.at is not None:
            buf = ctypes.create_string_buffer(value, len(value))
            args = _XattrArgs(ctypes.addressof(buf), len(value), 0)
            _at_call(_SYS_SETXATTRAT, self.at[0], self.at[1], key, args)
        else:
            assert self.path is not None  # noqa: S101 - one of the three is set
            os.setxattr(self.path, key, value, follow_symlinks=self.follow)

    def remove(self, key: bytes) -> None:
        if self.fd is not None:
            os.removexattr(self.fd, key)
        elif self.at is not None:
            _at_call(_SYS_REMOVEXATTRAT, self.at[0], self.at[1], key, None)
        else:
            assert self.path is not None  # noqa: S101 - one of the three is set
            os.removexattr(self.path, key, follow_symlinks=self.follow)


@contextlib.contextmanager
def target(
    dfd: int, name: bytes, mode: int, fd: int | None = None, *, follow: bool = False
) -> Iterator[_Target]:
    """The file ``name`` in directory ``dfd`` (``b"."``: ``dfd`` itself), or the open ``fd``.

    ``follow``: a sender's name that ``-L`` & co. resolved is read through the symlink, as
    rsync's path-based read does (a receiver never follows one).

    Raises:
        OSError: it cannot be reached without following a symlink.
    """
    if fd is not None:
        yield _Target(fd, None)
        return
    top = name in (b"", b".")
    opened = -1
    if top or stat.S_IFMT(mode) in _OPENABLE:
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
        if follow:
            flags &= ~os.O_NOFOLLOW
        with contextlib.suppress(PermissionError):
            opened = os.open(b"." if top else name, flags, dir_fd=dfd)
    try:
        if opened >= 0:
            yield _Target(opened, None)
        elif not os.path.isdir("/proc/self/fd"):
            # no /proc (a confined daemon): the *xattrat calls (rsync: lib/acl.c)
            yield _Target(None, None, at=(dfd, b"." if top else name))
        elif top:
            yield _Target(None, f"/proc/self/fd/{dfd}", follow=True)
        else:
            if b"/" in name:
                raise OSError(errno.EINVAL, os.strerror(errno.EINVAL), os.fsdecode(name))
            # l*xattr on the name under the pinned parent (rsync: lib/acl.c, pre-6.13 compat)
            yield _Target(None, f"/proc/self/fd/{dfd}/{os.fsdecode(name)}")
    finally:
        if opened >= 0:
            os.close(opened)


def acl_applies(mode: int, *, devices: bool, specials: bool) -> bool:
    """Whether a file of ``mode`` has its ACLs read and set (rsync: acls.c get_acl_fdat())."""
    fmt = stat.S_IFMT(mode)
    if fmt in (stat.S_IFREG, stat.S_IFDIR):
        return True
    if fmt in (stat.S_IFIFO, stat.S_IFSOCK):
        return specials
    if fmt in (stat.S_IFCHR, stat.S_IFBLK):
        return devices
    return False


def read_acls(t: _Target, mode: int, *, fake_super: bool) -> tuple[RsyncAcl, RsyncAcl | None]:
    """The access ACL and (a directory's) default ACL of the file at ``t``.

    A file system without ACLs, or a file without an access ACL, has the one its mode
    makes; an absent default ACL is empty. With ``fake_super`` the ``%aacl``/``%dacl``
    records are read instead (an absent one is empty).

    Raises:
        OSError: reading failed.
        AclFormatError: an attribute in neither format.

    rsync: acls.c get_rsync_acl().
    """
    is_dir = stat.S_ISDIR(mode)
    if fake_super:
        out: list[RsyncAcl] = []
        for key in (FAKE_ACCESS_XATTR, FAKE_DEFAULT_XATTR)[: 1 + is_dir]:
            try:
                value = t.get(key)
            except OSError as exc:
                if exc.errno not in _ABSENT + NO_ACL_ERRNOS:
                    raise
                out.append(EMPTY)
                continue
            acl = parse_fake(value, mode)
            if acl is None:
                msg = f"corrupt {key.decode()} record of {len(value)} bytes"
                raise AclFormatError(msg)
            out.append(acl)
        return out[0], out[1] if is_dir else None
    try:
        access = parse_xattr(t.get(ACCESS_XATTR))
    except OSError as exc:
        if exc.errno not in _ABSENT + NO_ACL_ERRNOS:
            raise
        access = fake_perms(mode)
    if not is_dir:
        return access, None
    try:
        default = parse_xattr(t.get(DEFAULT_XATTR))
    except OSError as exc:
        if exc.errno not in _ABSENT + NO_ACL_ERRNOS:
            raise
        default = EMPTY
    return access, default


def write_acl(t: _Target, value: bytes | None, *, default: bool, fake_super: bool) -> None:
    """Set one ACL attribute (``value`` ``None``: remove the default ACL).

    Raises:
        OSError: the call failed (removing an absent default ACL is no failure).

    rsync: acls.c set_rsync_acl().
    """
    if fake_super:
        key = FAKE_DEFAULT_XATTR if default else FAKE_ACCESS_XATTR
    else:
        key = DEFAULT_XATTR if default else ACCESS_XATTR
    if value is not None:
        t.set(key, value)
        return
    try:
        t.remove(key)
    except OSError as exc:
        if exc.errno not in _ABSENT:
            raise


def dir_default_acl(dfd: int) -> RsyncAcl | None:
    """The default ACL of the open directory ``dfd`` (None: none, or no ACLs here).

    rsync: acls.c default_perms_for_dir().
    """
    try:
        return parse_xattr(os.getxattr(dfd, DEFAULT_XATTR))
    except (OSError, AclFormatError):
        return None
