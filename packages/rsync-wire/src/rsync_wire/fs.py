"""File access confined to one directory tree.

:class:`Root` opens a directory once and resolves every later path *inside* it
with ``openat2(RESOLVE_IN_ROOT)``: ``..`` cannot climb above the root, and a
symlink, absolute or relative, is resolved as if the root were ``/`` (what
rsync's daemon gets from ``use chroot = yes``). A path from the network therefore
never reaches a file outside the tree, whatever it contains. Final components
are opened with ``O_NOFOLLOW`` unless the caller asks to follow links (``-L``),
and then the link is still resolved inside the root.

Where the kernel lacks ``openat2`` (Linux < 5.6) the same walk is done one
component at a time with ``O_NOFOLLOW``, resolving links by hand, bounded to 40
links like the kernel.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import stat
import sys
from typing import Final

__all__ = [
    "UNTRUSTED_SYMLINK",
    "Root",
    "UntrustedSymlinkError",
    "open_trusted",
    "set_insecure_links",
    "split_path",
]

_SYS_OPENAT2: Final = 437  # the same number on x86_64 and aarch64 (generic table)
_RESOLVE_NO_MAGICLINKS: Final = 0x02
_RESOLVE_NO_SYMLINKS: Final = 0x04
_RESOLVE_BENEATH: Final = 0x08
_RESOLVE_IN_ROOT: Final = 0x10
_MAX_LINKS: Final = 40
_EAGAIN_TRIES: Final = 64
_FS_ENCODING: Final = sys.getfilesystemencoding()


class _OpenHow(ctypes.Structure):
    _fields_ = (("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64))


_libc = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long
_HAVE_OPENAT2: bool | None = None if platform.system() == "Linux" else False


def _openat2(dirfd: int, path: bytes, flags: int, resolve: int) -> int:
    """``openat2(2)``; EAGAIN (a rename raced a ``..`` walk) is retried, a bounded number of times.

    With ``RESOLVE_IN_ROOT`` or ``RESOLVE_BENEATH`` the kernel answers EAGAIN when a rename
    anywhere on the system may have moved a directory while it resolved ``..``: the
    lookup is safe to repeat. After ``_EAGAIN_TRIES`` the EAGAIN is raised; callers fall
    back to a component-wise walk.
    """
    how = _OpenHow(flags | os.O_CLOEXEC, 0, resolve)
    cpath = ctypes.c_char_p(path)
    err = errno.EAGAIN
    for _ in range(_EAGAIN_TRIES):
        fd = _syscall(
            ctypes.c_long(_SYS_OPENAT2),
            ctypes.c_int(dirfd),
            cpath,
            ctypes.byref(how),
            ctypes.c_size_t(ctypes.sizeof(how)),
        )
        if fd >= 0:
            return int(fd)
        err = ctypes.get_errno()
        if err not in (errno.EAGAIN, errno.EINTR):
            break
    raise OSError(err, os.strerror(err), path.decode("utf-8", "replace"))


def _have_openat2() -> bool:
    global _HAVE_OPENAT2
    if _HAVE_OPENAT2 is None:
        try:
            os.close(_openat2(-100, b"/", os.O_PATH, 0))
            _HAVE_OPENAT2 = True
        except OSError as exc:
            _HAVE_OPENAT2 = exc.errno not in (errno.ENOSYS, errno.EPERM)
    return _HAVE_OPENAT2


UNTRUSTED_SYMLINK: Final = (
    "refusing to follow a symlink owned by an untrusted user; use --insecure-links locally or "
    '"insecure links = yes" in a daemon module ONLY if every path component is trusted'
)
"""rsync 3.5's words when a path the user named passes through someone else's symlink."""


class UntrustedSymlinkError(OSError):
    """A path the user named runs through a symlink owned by neither root nor us (ELOOP)."""


_insecure_links = False


def set_insecure_links(*, on: bool) -> None:
    """``--insecure-links`` (a client's, never a daemon's): follow any symlink.

    :func:`open_trusted` then opens the path as given, as rsync did before 3.5.

    rsync: options.c insecure_links, syscall.c symlink_optout_allowed().
    """
    global _insecure_links
    _insecure_links = on


def open_trusted(path: bytes, flags: int, mode: int = 0o777) -> int:
    """Open a path the user named, following only symlinks owned by root or by us.

    Each component is looked at with ``lstat`` and opened with ``O_NOFOLLOW``; a symlink
    (a parent or the last component) is followed by splicing its target into the rest of
    the path, but only when root or the effective uid owns it: another user could
    otherwise point the destination (or a file the command line names) anywhere after
    we looked. The operator's own ``/backup -> /mnt/disk`` link still works.

    Args:
        path: the path, relative to the working directory or absolute.
        flags: ``open(2)`` flags for the last component (``O_NOFOLLOW`` is added).
        mode: the mode for ``O_CREAT``.

    Returns:
        A descriptor the caller closes.

    Raises:
        UntrustedSymlinkError: a component is a symlink owned by another user.
        OSError: as ``open(2)`` (ELOOP after 40 links).

    rsync: syscall.c ona_open() (open_no_attacker_symlinks()).
    """
    if not path:
        raise OSError(errno.ENOENT, os.strerror(errno.ENOENT), path)
    if _insecure_links:
        return os.open(path, flags | os.O_CLOEXEC, mode)
    trusted = os.geteuid()
    walk_flags = os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC
    remaining = path
    if remaining.startswith(b"/"):
        dfd = os.open(b"/", walk_flags)
        remaining = remaining.lstrip(b"/")
    else:
        dfd = os.open(b".", walk_flags)
    links = _MAX_LINKS
    try:
        if not remaining:  # "/" itself
            return os.open(b"/", flags | os.O_CLOEXEC, mode)
        while remaining:
            comp, _, rest = remaining.partition(b"/")
            rest = rest.lstrip(b"/")
            last = not rest
            if not comp or comp == b".":
                if last:
                    return os.open(b".", flags | os.O_CLOEXEC, mode, dir_fd=dfd)
                remaining = rest
                continue
            try:
                st = os.stat(comp, dir_fd=dfd, follow_symlinks=False)
            except FileNotFoundError:
                if last and flags & os.O_CREAT:
                    return os.open(comp, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=dfd)
                raise
            if stat.S_ISLNK(st.st_mode):
                if st.st_uid not in (0, trusted):
                    raise UntrustedSymlinkError(
                        errno.ELOOP, os.strerror(errno.ELOOP), path.decode("utf-8", "replace")
                    )
                links -= 1
                if links < 0:
                    raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
                target = os.readlink(comp, dir_fd=dfd)
                if target.startswith(b"/"):
                    os.close(dfd)
                    dfd = -1
                    dfd = os.open(b"/", walk_flags)
                    target = target.lstrip(b"/")
                remaining = target + (b"/" + rest if rest else b"")
                if not remaining:
                    remaining = b"."
                continue
            if last:
                return os.open(comp, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=dfd)
            if not stat.S_ISDIR(st.st_mode):
                raise OSError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), path)
            nxt = os.open(comp, walk_flags | os.O_NOFOLLOW, dir_fd=dfd)
            os.close(dfd)
            dfd = nxt
            remaining = rest
        return os.open(b".", flags | os.O_CLOEXEC, mode, dir_fd=dfd)
    finally:
        if dfd >= 0:
            os.close(dfd)


def split_path(path: bytes) -> list[bytes]:
    """Split a relative path into components, dropping empty and ``.`` components."""
    return [c for c in path.split(b"/") if c and c != b"."]


class Root:
    """A directory tree that every path is resolved inside.

    Args:
        path: the directory (the module's path, or ``.``).
    """

    def __init__(self, path: str | bytes) -> None:
        self.path = os.fsencode(path)
        # O_PATH: holding the root needs no read right on it (Landlock checks real opens)
        self.fd = os.open(self.path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)

    def close(self) -> None:
        """Close the root's descriptor."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> Root:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- resolution ----------------------------------------------------------------------------

    def open(self, path: bytes, flags: int = os.O_RDONLY, *, follow: bool = False) -> int:
        """Open ``path`` inside the root; returns a descriptor the caller closes.

        Intermediate symlinks are followed inside the root; the last component is followed
        only when ``follow`` is true.

        Raises:
            OSError: as ``open(2)`` would (ELOOP for a final symlink without ``follow``).
        """
        rel = b"/".join(split_path(path)) or b"."
        if not follow:
            flags |= os.O_NOFOLLOW
        if _have_openat2():
            try:
                return _openat2(self.fd, rel, flags, _RESOLVE_IN_ROOT | _RESOLVE_NO_MAGICLINKS)
            except BlockingIOError:
                pass  # renames kept racing the kernel's walk: walk one component at a time
        return self._walk_open(rel, flags, follow=follow)

    def _walk_open(self, rel: bytes, flags: int, *, follow: bool) -> int:
        """Component-wise fallback for kernels without openat2."""
        parts = split_path(rel)
        links = 0
        stack: list[int] = [os.dup(self.fd)]
        try:
            while parts:
                name = parts.pop(0)
                cur = stack[-1]
                if name == b"..":
                    if len(stack) > 1:
                        os.close(stack.pop())
                    continue
                last = not parts
                try:
                    st = os.stat(name, dir_fd=cur, follow_symlinks=False)
                except FileNotFoundError:
                    if last and flags & os.O_CREAT:
                        return os.open(name, flags | os.O_CLOEXEC, 0o600, dir_fd=cur)
                    raise
                if stat.S_ISLNK(st.st_mode) and (not last or follow):
                    links += 1
                    if links > _MAX_LINKS:
                        raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), rel)
                    target = os.readlink(name, dir_fd=cur)
                    if target.startswith(b"/"):
                        while len(stack) > 1:
                            os.close(stack.pop())
                    parts[:0] = [c for c in target.split(b"/") if c and c != b"."]
                    continue
                if last:
                    return os.open(name, flags | os.O_CLOEXEC | os.O_NOFOLLOW, dir_fd=cur)
                stack.append(
                    os.open(
                        name,
                        os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                        dir_fd=cur,
                    )
                )
            return (
                os.dup(stack[-1])
                if flags & os.O_PATH or flags & os.O_DIRECTORY
                else os.open(".", flags | os.O_CLOEXEC, dir_fd=stack[-1])
            )
        finally:
            for fd in stack:
                os.close(fd)

    def open_dir(self, path: bytes, *, follow: bool = True) -> int:
        """Open a directory inside the root for listing."""
        return self.open(path, os.O_RDONLY | os.O_DIRECTORY, follow=follow)

    def parent_and_name(self, path: bytes) -> tuple[int, bytes]:
        """Open the parent directory of ``path`` (an ``O_PATH`` descriptor) and give the last name.

        The top of the tree (an empty path or ``.``) is returned as ``(dup(root), b".")``.
        """
        parts = split_path(path)
        if not parts:
            return os.dup(self.fd), b"."
        parent = b"/".join(parts[:-1]) or b"."
        fd = self.open(parent, os.O_PATH | os.O_DIRECTORY, follow=True)
        return fd, parts[-1]

    def lstat(self, path: bytes) -> os.stat_result:
        """``lstat`` of a path inside the root (intermediate links followed inside it)."""
        dfd, name = self.parent_and_name(path)
        try:
            return os.stat(name, dir_fd=dfd, follow_symlinks=False)
        finally:
            os.close(dfd)

    def stat(self, path: bytes) -> os.stat_result:
        """``stat`` following a final symlink, still inside the root."""
        fd = self.open(path, os.O_PATH, follow=True)
        try:
            return os.fstat(fd)
        finally:
            os.close(fd)

    def readlink(self, path: bytes) -> bytes:
        """The target of a symlink inside the root (as stored, not resolved)."""
        dfd, name = self.parent_and_name(path)
        try:
            return os.readlink(name, dir_fd=dfd)
        finally:
            os.close(dfd)

    def list_dir(self, path: bytes) -> list[tuple[bytes, os.stat_result | OSError]]:
        """The entries of a directory inside the root, each with its ``lstat`` (or the error).

        ``.`` and ``..`` are excluded; the order is the directory's own (``readdir``).
        """
        fd = self.open_dir(path, follow=True)
        try:
            out: list[tuple[bytes, os.stat_result | OSError]] = []
            append = out.append
            with os.scandir(fd) as it:
                for de in it:
                    # scandir on a descriptor gives str names, decoded as os.fsdecode does
                    name = de.name.encode(_FS_ENCODING, "surrogateescape")
                    try:
                        append((name, de.stat(follow_symlinks=False)))
                    except OSError as exc:
                        append((name, exc))
            return out
        finally:
            os.close(fd)
