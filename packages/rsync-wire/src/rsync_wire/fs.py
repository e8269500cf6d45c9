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
import re
import stat
import sys
from typing import Final

__all__ = [
    "UNTRUSTED_SYMLINK",
    "Root",
    "UntrustedSymlinkError",
    "open_trusted",
    "set_confine_root",
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
# The arguments every call shares, made once: building them costs more than the syscall
# on a short path. The kernel only reads an open_how, so one per (flags, resolve) serves
# every call and thread.
_NR_OPENAT2: Final = ctypes.c_long(_SYS_OPENAT2)
_HOW_SIZE: Final = ctypes.c_size_t(ctypes.sizeof(_OpenHow))
_HOWS: dict[tuple[int, int], object] = {}
_HOWS_KEPT: Final = 64
_HAVE_OPENAT2: bool | None = None if platform.system() == "Linux" else False


def _openat2(dirfd: int, path: bytes, flags: int, resolve: int) -> int:
    """``openat2(2)``; EAGAIN (a rename raced a ``..`` walk) is retried, a bounded number of times.

    With ``RESOLVE_IN_ROOT`` or ``RESOLVE_BENEATH`` the kernel answers EAGAIN when a rename
    anywhere on the system may have moved a directory while it resolved ``..``: the
    lookup is safe to repeat. After ``_EAGAIN_TRIES`` the EAGAIN is raised; callers fall
    back to a component-wise walk.
    """
    key = (flags, resolve)
    how = _HOWS.get(key)
    if how is None:
        how = ctypes.byref(_OpenHow(flags | os.O_CLOEXEC, 0, resolve))  # keeps the struct
        if len(_HOWS) < _HOWS_KEPT:
            _HOWS[key] = how
    err = errno.EAGAIN
    for _ in range(_EAGAIN_TRIES):
        # ctypes passes an int as a C int and bytes as a char pointer
        fd = _syscall(_NR_OPENAT2, dirfd, path, how, _HOW_SIZE)
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
_confine_root: bytes | None = None


def set_insecure_links(*, on: bool) -> None:
    """``--insecure-links`` (a client's, never a daemon's): follow any symlink.

    :func:`open_trusted` then opens the path as given, as rsync did before 3.5. (A daemon
    module's ``insecure links = yes`` is the module's own `Root`, never this switch.)

    rsync: options.c insecure_links, syscall.c symlink_optout_allowed().
    """
    global _insecure_links
    _insecure_links = on


def set_confine_root(root: str | None) -> None:
    """``--confine-root=DIR`` outside a daemon: where operator paths must resolve.

    Two effects on :func:`open_trusted`. A path pinned to a descriptor, as a wrapper such
    as rsync's ``rrsync`` hands them over (``/proc/self/fd/N/...``, ``/dev/fd/N/...``),
    may be walked: in a user namespace the ``/proc/self`` and ``/dev/fd`` links show the
    overflow uid, which the walk would refuse as another user's, so exactly those two
    links (``self`` in ``/proc``, ``fd`` in ``/dev``) are followed while the walk is
    still inside the pin; the descriptor's own link is checked as any other, and so is
    every component of where it leads. And a path opened with ``confined=True`` (a
    ``--files-from`` list) must end up inside ``DIR``.

    rsync: syscall.c ona_open() (pin_transit, namespace_pin), fd_pin_tail(),
    abspath_outside_confinement() (operator_path_resolve).
    """
    global _confine_root
    _confine_root = None if root is None else os.fsencode(os.path.realpath(root))


def _outside_confine_root(fd: int) -> bool:
    """Whether the file open on ``fd`` lies outside ``--confine-root`` (unknown: outside)."""
    root = _confine_root
    if root is None or root == b"/":
        return False
    try:
        where = os.readlink(f"/proc/self/fd/{fd}".encode())
    except OSError:
        return True
    return not (where == root or where.startswith(root + b"/"))


_FD_PIN: Final = re.compile(rb"^/+(?:dev/+fd|proc/+(?:self|[0-9]+)/+fd)(?:/|$)")


def _is_fd_pin(path: bytes) -> bool:
    """Whether ``path`` is in a descriptor-pin namespace (rsync: syscall.c fd_pin_tail())."""
    return _FD_PIN.match(path) is not None


def open_trusted(path: bytes, flags: int, mode: int = 0o777, *, confined: bool = False) -> int:
    """Open a path the user named, following only symlinks owned by root or by us.

    Each component is looked at with ``lstat`` and opened with ``O_NOFOLLOW``; a symlink
    (a parent or the last component) is followed by splicing its target into the rest of
    the path, but only when root or the effective uid owns it: another user could
    otherwise point the destination (or a file the command line names) anywhere after
    we looked. The operator's own ``/backup -> /mnt/disk`` link still works. This is the
    one walk for every path an operator names (the client's destination, ``--log-file``,
    ``--files-from``, batch files, ...; the daemon's configuration, secrets, lock and
    log files); ``--insecure-links`` (:func:`set_insecure_links`) turns it off, and
    ``--confine-root`` (:func:`set_confine_root`) lets it through a descriptor pin.

    Args:
        path: the path, relative to the working directory or absolute.
        flags: ``open(2)`` flags for the last component (``O_NOFOLLOW`` is added).
        mode: the mode for ``O_CREAT``.
        confined: the file must lie inside ``--confine-root`` (ELOOP otherwise).

    Returns:
        A descriptor the caller closes.

    Raises:
        UntrustedSymlinkError: a component is a symlink owned by another user.
        OSError: as ``open(2)`` (ELOOP after 40 links).

    rsync: syscall.c ona_open() (open_no_attacker_symlinks()).
    """
    if not path:
        raise OSError(errno.ENOENT, os.strerror(errno.ENOENT), path)
    if _insecure_links:  # --insecure-links cannot be given with --confine-root
        return os.open(path, flags | os.O_CLOEXEC, mode)
    fd = _walk_trusted(path, flags, mode)
    if confined and _outside_confine_root(fd):
        os.close(fd)
        raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path.decode("utf-8", "replace"))
    return fd


def _walk_trusted(path: bytes, flags: int, mode: int) -> int:
    """:func:`open_trusted`'s walk."""
    trusted = os.geteuid()
    walk_flags = os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC
    remaining = path
    # where the walk is, for the descriptor-pin exemption (None: relative to the cwd)
    here: list[bytes] | None = None
    pin = _confine_root is not None and _is_fd_pin(path)
    if remaining.startswith(b"/"):
        dfd = os.open(b"/", walk_flags)
        remaining = remaining.lstrip(b"/")
        here = []
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
                namespace_pin = pin and (
                    (here == [b"proc"] and comp == b"self") or (here == [b"dev"] and comp == b"fd")
                )
                if not namespace_pin and st.st_uid not in (0, trusted):
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
                    # "self" leads to "<pid>", still inside the pin; the descriptor's own
                    # link leads elsewhere and ends the exemption for good
                    pin = pin and _is_fd_pin(target + (b"/" + rest if rest else b""))
                    target = target.lstrip(b"/")
                    here = []
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
            if here is not None:
                if comp == b"..":
                    if here:
                        here.pop()
                else:
                    here.append(comp)
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
        insecure_links: a daemon module's ``insecure links = yes`` (without chroot): paths
            are opened as ``openat`` opens them, following any symlink wherever it leads
            and ``..`` above the root, as rsync did before 3.5. The administrator's choice
            for one module, never a client's.
    """

    def __init__(self, path: str | bytes, *, insecure_links: bool = False) -> None:
        self.path = os.fsencode(path)
        self.insecure_links = insecure_links
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
        if self.insecure_links:  # rsync: syscall.c symlink_optout_allowed() (legacy open)
            return os.open(rel, flags | os.O_CLOEXEC, dir_fd=self.fd)
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
