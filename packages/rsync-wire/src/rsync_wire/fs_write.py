"""Writing inside a destination tree that a peer describes: the receiving side's filesystem.

:class:`DestTree` opens the destination directory once and does every later
operation relative to a directory descriptor inside it. Directories below the
root are opened with ``openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)`` (or, on
kernels without ``openat2``, one component at a time with ``O_NOFOLLOW``), so a
symlink in the destination, whether it was there before or the sender created
it earlier in this very transfer, is never followed; the final operation is an
``*at()`` call on a single name that holds no ``/``. Names come from the file
list, which the decoder has already checked (no ``..``, no absolute names), and
are checked again here.

New file content goes to a temporary file ``.<name>.XXXXXX`` in the target
directory, created with ``O_EXCL``, and reaches its final name only by
``renameat``. Symlinks, device nodes and hard links that replace something are
made under a temporary name and renamed over it too.

What this module deliberately does not do: decide anything (that is the
generator's job), talk to the network, or follow symlinks for the caller, with one
exception: with ``--keep-dirlinks`` or ``-R --no-implied-dirs``
(:attr:`DestTree.follow_dirlinks`) a directory on
the way to a name may be a symlink, followed only while it stays beneath the root
(``RESOLVE_BENEATH``); the last component is still never followed.
"""

from __future__ import annotations

import contextlib
import errno
import os
import random
import stat
from collections import OrderedDict
from typing import TYPE_CHECKING, Final

from rsync_wire.fs import _have_openat2, _openat2

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["DestTree", "UnsafePathError", "is_temp_name_of", "temp_name_for"]

_RESOLVE_NO_MAGICLINKS: Final = 0x02
_RESOLVE_NO_SYMLINKS: Final = 0x04
_RESOLVE_BENEATH: Final = 0x08
_DIR_FLAGS: Final = os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC
_CACHE_SIZE: Final = 64
_NAME_MAX: Final = 255
_TMP_SUFFIX_LEN: Final = 7  # ".XXXXXX"
_TMP_ALPHABET: Final = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_TMP_TABLE: Final = bytes(_TMP_ALPHABET[i % len(_TMP_ALPHABET)] for i in range(256))


class UnsafePathError(OSError):
    """A path that would leave the destination (``..``, absolute, empty component)."""


def _check_rel(rel: bytes) -> None:
    if not rel or rel == b".":
        return
    if rel.startswith(b"/") or b"\0" in rel:
        msg = f"unsafe path {rel!r}"
        raise UnsafePathError(errno.EINVAL, msg)
    for part in rel.split(b"/"):
        if part in (b"", b"..") or part == b".":
            msg = f"unsafe path {rel!r}"
            raise UnsafePathError(errno.EINVAL, msg)


def _split(rel: bytes) -> tuple[bytes, bytes]:
    """``b"a/b/c"`` -> ``(b"a/b", b"c")``; a top-level name has the directory ``b""``."""
    cut = rel.rfind(b"/")
    if cut < 0:
        return b"", rel
    return rel[:cut], rel[cut + 1 :]


def temp_name_for(name: bytes, *, dot: bool = True) -> bytes:
    """Rsync's temporary name for ``name``: ``.<name>.XXXXXX`` within NAME_MAX.

    ``dot=False`` gives the name in a ``--temp-dir``: ``<name>.XXXXXX``, without the dot
    (and a leading dot of ``name`` kept).

    rsync: receiver.c get_tmpname() (the basename is cut to fit, a leading dot dropped).
    """
    suffix = _temp_random().randbytes(6).translate(_TMP_TABLE)
    prefix = _temp_prefix(name) if dot else _temp_prefix(b"x" + name)[2:]
    return prefix + suffix


_RANDOM: list[random.Random] = []
os.register_at_fork(after_in_child=_RANDOM.clear)


def _temp_random() -> random.Random:
    """A generator for temporary names, seeded from the kernel once per process.

    The names need to be unlikely, not secret (the file is created with ``O_EXCL`` and
    ``O_NOFOLLOW``, and a clash is retried): one ``getrandom`` per file cost 6 % of a
    connection's CPU on many small files. Reseeded after a fork, so that connection
    processes do not draw the same names.
    """
    if not _RANDOM:
        _RANDOM.append(random.Random(os.urandom(16)))  # noqa: S311 (names, not secrets)
    return _RANDOM[0]


def is_temp_name_of(candidate: bytes, name: bytes) -> bool:
    """Whether ``candidate`` is a temporary name :func:`temp_name_for` could give ``name``."""
    prefix = _temp_prefix(name)
    tail = candidate[len(prefix) :]
    return (
        len(candidate) == len(prefix) + 6
        and candidate.startswith(prefix)
        and all(c in _TMP_ALPHABET for c in tail)
    )


def _temp_prefix(name: bytes) -> bytes:
    """``.<name>.`` (cut to leave room for the six random characters)."""
    base = name[1:] if name.startswith(b".") else name
    room = _NAME_MAX - 1 - _TMP_SUFFIX_LEN
    if len(base) > room:
        base = base[:room]
        # do not cut a multi-byte character in half
        while base and base[-1] & 0x80 and not base[-1] & 0x40:
            base = base[:-1]
        if base and base[-1] & 0xC0 == 0xC0:
            base = base[:-1]
    if base.endswith(b"."):
        base = base[:-1]
    return b"." + base + b"."


class DestTree:
    """A destination directory and every write the receiving side makes inside it.

    Args:
        path: the destination directory (it is resolved normally, as the user named it).
        fd: the directory, already opened by the caller (then ``path`` only names it).

    Raises:
        OSError: the directory cannot be opened.
    """

    def __init__(self, path: str | bytes | os.PathLike[str], *, fd: int | None = None) -> None:
        self.path = os.fsencode(path)
        if fd is None:
            fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        self.fd = fd
        self._dirs: OrderedDict[bytes, int] = OrderedDict()
        self._last_dir = b""
        self._last_fd = self.fd
        self._stale: dict[bytes, dict[bytes, list[bytes]]] = {}
        self.is_root = os.geteuid() == 0
        # --keep-dirlinks: directories on the way may be symlinks that stay beneath the root
        self.follow_dirlinks = False
        # a daemon module's "insecure links = yes": kept dirlinks lead anywhere (rsync
        # before 3.5); see rsync_wire.fs.Root
        self.insecure_links = False

    def close(self) -> None:
        """Close every descriptor."""
        self.forget(b"")
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> DestTree:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- directory descriptors ---------------------------------------------------------------

    def dir_fd(self, reldir: bytes) -> int:
        """A descriptor of the directory ``reldir`` (``b""``: the root), owned by the tree.

        No component may be a symlink (with :attr:`follow_dirlinks`: none that leads
        outside the root). The descriptor stays valid until :meth:`forget`
        is called for it or a parent, or until the cache evicts it (so use it at once).

        Raises:
            OSError: ELOOP/ENOTDIR when a component is a symlink or not a directory,
                ENOENT when it is missing.
        """
        if not reldir or reldir == b".":
            return self.fd
        fd = self._dirs.get(reldir)
        if fd is not None:
            self._dirs.move_to_end(reldir)
            return fd
        _check_rel(reldir)
        fd = self._open_dir(reldir)
        self._dirs[reldir] = fd
        if len(self._dirs) > _CACHE_SIZE:
            _, old = self._dirs.popitem(last=False)
            if old == self._last_fd:
                self._last_fd = -1
            os.close(old)
        return fd

    def _open_dir(self, reldir: bytes) -> int:
        if self.insecure_links and self.follow_dirlinks:
            return os.open(reldir, _DIR_FLAGS, dir_fd=self.fd)
        if _have_openat2():
            if self.follow_dirlinks:
                flags, resolve = _DIR_FLAGS, _RESOLVE_BENEATH | _RESOLVE_NO_MAGICLINKS
            else:
                flags = _DIR_FLAGS | os.O_NOFOLLOW
                resolve = _RESOLVE_BENEATH | _RESOLVE_NO_SYMLINKS | _RESOLVE_NO_MAGICLINKS
            try:
                return _openat2(self.fd, reldir, flags, resolve)
            except OSError as exc:
                if exc.errno == errno.EXDEV:  # a link out of the tree: as rsync 3.5 says it
                    raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), reldir) from None
                if not isinstance(exc, BlockingIOError):
                    raise
                # EAGAIN after the retries: renames kept racing; go component-wise
        parent, name = _split(reldir)
        pfd = self.dir_fd(parent)
        return os.open(name, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=pfd)

    def forget(self, rel: bytes) -> None:
        """Drop cached descriptors of ``rel`` and everything below it (after a removal)."""
        if not rel or rel == b".":
            doomed = list(self._dirs)
        else:
            prefix = rel + b"/"
            doomed = [k for k in self._dirs if k == rel or k.startswith(prefix)]
        for key in doomed:
            os.close(self._dirs.pop(key))
        self._last_dir = b""
        self._last_fd = self.fd

    def parent(self, rel: bytes) -> tuple[int, bytes]:
        """The directory descriptor holding ``rel`` and its last name.

        The descriptor of the directory used last is kept at hand: the receiving side
        works through the file list one directory after another.
        """
        if not rel or rel[0] == 0x2F:  # "/"
            msg = f"unsafe path {rel!r}"
            raise UnsafePathError(errno.EINVAL, msg)
        cut = rel.rfind(b"/")
        if cut < 0:
            reldir, name = b"", rel
        else:
            reldir, name = rel[:cut], rel[cut + 1 :]
        if name in (b"", b".", b"..") or 0 in name:
            msg = f"unsafe path {rel!r}"
            raise UnsafePathError(errno.EINVAL, msg)
        if reldir == self._last_dir and self._last_fd >= 0:
            return self._last_fd, name
        fd = self.dir_fd(reldir)
        self._last_dir = reldir
        self._last_fd = fd
        return fd, name

    # -- queries -----------------------------------------------------------------------------

    def lstat(self, rel: bytes) -> os.stat_result:
        """``lstat`` of ``rel`` (the root for ``b"."``)."""
        if not rel or rel == b".":
            return os.fstat(self.fd)
        dfd, name = self.parent(rel)
        return os.stat(name, dir_fd=dfd, follow_symlinks=False)

    def dir_stat(self, rel: bytes) -> os.stat_result | None:
        """``--keep-dirlinks``: ``stat`` of ``rel`` followed when it is a directory, or ``None``.

        Only with :attr:`follow_dirlinks`. A link that leads out of the tree is a directory
        here too (as rsync's stat says), but nothing is ever reached through it (ELOOP).

        rsync: generator.c recv_generator() (link_stat() with keep_dirlinks).
        """
        if not self.follow_dirlinks:
            return None
        try:
            dfd, name = self.parent(rel)
            st = os.stat(name, dir_fd=dfd)
        except OSError:
            return None
        return st if stat.S_ISDIR(st.st_mode) else None

    def lstat_or_none(self, rel: bytes) -> os.stat_result | None:
        """``lstat`` of ``rel``, or ``None`` when it (or a parent) does not exist."""
        try:
            return self.lstat(rel)
        except (FileNotFoundError, NotADirectoryError):
            return None

    def readlink(self, rel: bytes) -> bytes:
        """The target of the symlink ``rel``."""
        dfd, name = self.parent(rel)
        return os.readlink(name, dir_fd=dfd)

    def open_read(self, rel: bytes) -> int:
        """Open the regular file ``rel`` for reading (never through a symlink).

        Raises:
            OSError: ELOOP for a symlink, EISDIR/EINVAL for anything but a regular file.
        """
        dfd, name = self.parent(rel)
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=dfd)
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise OSError(errno.EINVAL, "not a regular file", rel)
        return fd

    def list_dir(self, rel: bytes) -> list[tuple[bytes, os.stat_result]]:
        """The entries of directory ``rel`` with their ``lstat`` (vanished ones left out)."""
        dfd = self.dir_fd(rel) if rel not in (b"", b".") else self.fd
        fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=dfd)
        out: list[tuple[bytes, os.stat_result]] = []
        with os.scandir(fd) as it:
            for de in it:
                try:
                    out.append((os.fsencode(de.name), de.stat(follow_symlinks=False)))
                except FileNotFoundError:
                    continue
        os.close(fd)
        return out

    # -- creation ----------------------------------------------------------------------------

    def mkdir(self, rel: bytes, mode: int) -> None:
        """Create directory ``rel``."""
        dfd, name = self.parent(rel)
        os.mkdir(name, mode, dir_fd=dfd)
        # new and empty: no earlier run left temporary files in it (remove_stale_temps()
        # need not list it)
        self._stale[rel] = {}

    def create_temp(self, rel: bytes, *, dot: bool = True) -> tuple[int, bytes]:
        """Create an empty temporary file next to ``rel``; returns ``(fd, temp_name)``.

        The file is opened read-write, mode 0600, with ``O_EXCL`` and ``O_NOFOLLOW``.
        ``dot=False``: named as in a ``--temp-dir`` (see :func:`temp_name_for`).
        """
        dfd, name = self.parent(rel)
        for _ in range(100):
            tmp = temp_name_for(name, dot=dot)
            try:
                fd = os.open(
                    tmp,
                    os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                    0o600,
                    dir_fd=dfd,
                )
            except FileExistsError:
                continue
            return fd, tmp
        raise FileExistsError(errno.EEXIST, "no unique temporary name", rel)

    def remove_stale_temps(self, rel: bytes) -> list[bytes]:
        """Remove temporary files an earlier, killed run left for ``rel``; returns their names.

        Only regular files named as :func:`temp_name_for` names ``rel``'s temporary files,
        in ``rel``'s own directory, are removed. Each directory is listed once per tree
        (the first time one of its files is written), so this costs one ``readdir`` per
        directory, not one per file; none for a directory :meth:`mkdir` made.
        """
        reldir, name = _split(rel)
        stale = self._stale.get(reldir)
        if stale is None:
            stale = self._stale[reldir] = self._temp_like_names(reldir)
        if not stale:
            return []
        prefix = _temp_prefix(name)
        found = [t for t in stale.get(prefix, ()) if is_temp_name_of(t, name)]
        if not found:
            return []
        stale[prefix] = [t for t in stale[prefix] if t not in found]
        dfd, _ = self.parent(rel)
        removed = []
        for tmp in found:
            try:
                st = os.stat(tmp, dir_fd=dfd, follow_symlinks=False)
                if stat.S_ISREG(st.st_mode):
                    os.unlink(tmp, dir_fd=dfd)
                    removed.append(tmp)
            except OSError:
                continue
        return removed

    def _temp_like_names(self, reldir: bytes) -> dict[bytes, list[bytes]]:
        """Names in ``reldir`` shaped like ``.<x>.XXXXXX``, by their ``.<x>.`` prefix."""
        out: dict[bytes, list[bytes]] = {}
        try:
            dfd = self.dir_fd(reldir)
            fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=dfd)
        except OSError:
            return out
        try:
            with os.scandir(fd) as it:
                for de in it:
                    n = os.fsencode(de.name)
                    if len(n) >= 9 and n[0] == 0x2E and n[-7] == 0x2E:  # "."
                        out.setdefault(n[:-6], []).append(n)
        except OSError:
            return out
        finally:
            os.close(fd)
        return out

    def open_inplace(self, rel: bytes) -> int:
        """Open ``rel`` itself for writing (``--inplace``), created 0600 if missing.

        The last component is never followed (a symlink there is ELOOP); the file is
        not truncated (the receiver truncates it to the new length at the end). An
        existing file that ``O_CREAT`` may not open (Linux's ``fs.protected_regular``, in a
        sticky world-writable directory) is opened without it, in the same directory.

        rsync: receiver.c recv_files() (the ``protected_regular`` retry).
        """
        dfd, name = self.parent(rel)
        flags = os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            return os.open(name, flags | os.O_CREAT, 0o600, dir_fd=dfd)
        except PermissionError:
            return os.open(name, flags, dir_fd=dfd)

    def rename_into_place(self, rel: bytes, tmp_name: bytes) -> None:
        """Rename the temporary ``tmp_name`` (in ``rel``'s directory) to ``rel``."""
        dfd, name = self.parent(rel)
        os.rename(tmp_name, name, src_dir_fd=dfd, dst_dir_fd=dfd)

    def rename_temp_to(self, rel: bytes, tmp_name: bytes, final: bytes) -> None:
        """Rename ``tmp_name`` in ``rel``'s directory to ``final`` in the same directory."""
        dfd, _ = self.parent(rel)
        os.rename(tmp_name, final, src_dir_fd=dfd, dst_dir_fd=dfd)

    def unlink_temp(self, rel: bytes, tmp_name: bytes) -> None:
        """Remove the temporary ``tmp_name`` next to ``rel`` (missing is fine)."""
        try:
            dfd, _ = self.parent(rel)
            os.unlink(tmp_name, dir_fd=dfd)
        except FileNotFoundError:
            pass

    def symlink(self, target: bytes, rel: bytes, *, replace: bool) -> None:
        """Make ``rel`` a symlink to ``target`` (atomically replacing a non-directory)."""
        dfd, name = self.parent(rel)
        if not replace:
            os.symlink(target, name, dir_fd=dfd)
            return
        tmp = self._unique(name, lambda t: os.symlink(target, t, dir_fd=dfd))
        self._rename_over(dfd, tmp, name)

    def mknod(self, rel: bytes, mode: int, device: int, *, replace: bool) -> None:
        """Create a device node, FIFO or socket ``rel`` (atomically replacing a non-directory)."""
        dfd, name = self.parent(rel)
        if stat.S_ISSOCK(mode):
            mode = stat.S_IFSOCK | 0o600  # Linux makes socket nodes with mknod for anyone
            device = 0

        def make(t: bytes) -> None:
            os.mknod(t, mode, device, dir_fd=dfd)

        if not replace:
            make(name)
            return
        tmp = self._unique(name, make)
        self._rename_over(dfd, tmp, name)

    def hardlink(self, existing: bytes, rel: bytes, *, replace: bool) -> None:
        """Make ``rel`` a hard link to ``existing`` (both inside the tree; never via symlinks)."""
        sdfd, sname = self.parent(existing)
        dfd, name = self.parent(rel)
        if not replace:
            os.link(sname, name, src_dir_fd=sdfd, dst_dir_fd=dfd, follow_symlinks=False)
            return
        sdfd2 = os.dup(sdfd)  # the cache may evict sdfd while we look for a name
        try:
            tmp = self._unique(
                name,
                lambda t: os.link(
                    sname, t, src_dir_fd=sdfd2, dst_dir_fd=dfd, follow_symlinks=False
                ),
            )
        finally:
            os.close(sdfd2)
        self._rename_over(dfd, tmp, name)

    @staticmethod
    def _unique(name: bytes, make: Callable[[bytes], None]) -> bytes:
        for _ in range(100):
            tmp = temp_name_for(name)
            try:
                make(tmp)
            except FileExistsError:
                continue
            return tmp
        raise FileExistsError(errno.EEXIST, "no unique temporary name", name)

    @staticmethod
    def _rename_over(dfd: int, tmp: bytes, name: bytes) -> None:
        try:
            os.rename(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=dfd)
            raise

    # -- attributes --------------------------------------------------------------------------

    def chmod(self, rel: bytes, mode: int) -> None:
        """Set the permission bits of ``rel`` (not a symlink: Linux has no symlink modes)."""
        if not rel or rel == b".":
            os.fchmod(self.fd, mode)
            return
        dfd, name = self.parent(rel)
        fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dfd)
        try:
            if stat.S_ISLNK(os.fstat(fd).st_mode):
                if self.follow_dirlinks:  # a kept dirlink: rsync 3.5 refuses it too
                    raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), rel)
                return
            try:
                os.chmod(f"/proc/self/fd/{fd}", mode)
            except FileNotFoundError:  # no /proc: the name was just checked not to be a link
                os.chmod(name, mode, dir_fd=dfd)
        finally:
            os.close(fd)

    def chown(self, rel: bytes, uid: int, gid: int) -> None:
        """Set owner and group of ``rel`` (-1 leaves one unchanged); symlinks themselves."""
        if not rel or rel == b".":
            os.fchown(self.fd, uid, gid)
            return
        dfd, name = self.parent(rel)
        os.chown(name, uid, gid, dir_fd=dfd, follow_symlinks=False)

    def set_mtime(self, rel: bytes, mtime_ns: int, *, atime_ns: int | None = None) -> None:
        """Set the modification time of ``rel`` (symlinks themselves); atime defaults to now."""
        times = (atime_ns if atime_ns is not None else _now_ns(), mtime_ns)
        if not rel or rel == b".":
            os.utime(self.fd, ns=times)
            return
        dfd, name = self.parent(rel)
        os.utime(name, ns=times, dir_fd=dfd, follow_symlinks=False)

    # -- removal -----------------------------------------------------------------------------

    def remove(self, rel: bytes, *, dir_only: bool = False) -> None:
        """Remove the non-directory ``rel`` (or the empty directory).

        ``dir_only``: only an empty directory goes (NotADirectoryError for anything else),
        as a partial dir is removed once its last file went (rsync: util1.c
        handle_partial_dir(), ``do_rmdir``).
        """
        dfd, name = self.parent(rel)
        st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
        if stat.S_ISDIR(st.st_mode):
            self.forget(rel)
            os.rmdir(name, dir_fd=dfd)
        elif dir_only:
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), rel)
        else:
            os.unlink(name, dir_fd=dfd)


def _now_ns() -> int:
    import time

    return time.time_ns()
