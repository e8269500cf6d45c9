"""Where a received file's new content is written, and how it reaches its final name.

The receiver writes each file's new content into a temporary file and then renames it
over the final name. This module is the one home of the choices around that:

* ``-T``/``--temp-dir=DIR``: the temporary file is made in DIR (``<name>.XXXXXX``,
  without the leading dot), relative to the destination directory unless absolute. The
  rename into place crosses directories; when DIR is on another filesystem the content
  is copied (to a new temporary file beside the final name, then renamed over it, so an
  interruption never leaves a half-copied file under the final name) and the temporary
  file removed, as rsync's ``robust_rename()`` does. As in rsync 3.5, a DIR with a ``..``
  component makes every temporary file fail (``mkstemp ... failed: Invalid argument``),
  and a symlink on the way to DIR is followed only when root or we own it.
* ``--delay-updates``: each finished file waits in the partial directory (``.~tmp~``
  unless ``--partial-dir`` names another) and all of them are renamed into place at the
  end of the transfer, each partial directory removed when it is empty.
* ``-S``/``--sparse``: :class:`SparseWriter` writes a file's content leaving holes where
  it has long runs of zeros.

What it does not do: decide what to transfer (the generator), read the wire (the
receiver), or set attributes beyond carrying them across a copy.

rsync: receiver.c get_tmpname(), open_tmpfile(), handle_delayed_updates(); rsync.c
finish_transfer(); util1.c robust_rename(), copy_file(); fileio.c write_sparse(),
sparse_end(); main.c do_recv() (the temp-dir checks); options.c (``.~tmp~``).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import re
import stat
from typing import TYPE_CHECKING, Final

from rsync_wire.errors import ExitCode, RsyncError
from rsync_wire.fs import UntrustedSymlinkError
from rsync_wire.fs_write import temp_name_for
from rsync_wire.roles.destination import ModuleDestination

if TYPE_CHECKING:
    from collections.abc import Sequence

    from rsync_wire.fs_write import DestTree
    from rsync_wire.proto.options import TransferOptions
    from rsync_wire.roles.daemon_rules import DaemonRules
    from rsync_wire.roles.destination import Destination

__all__ = [
    "DELAY_DIR",
    "FALLOC_FL_KEEP_SIZE",
    "SPARSE_WRITE_SIZE",
    "Output",
    "SparseWriter",
    "fallocate",
    "open_temp_dir",
    "rejected_by_module",
]

DELAY_DIR: Final = b".~tmp~"
"""The partial directory ``--delay-updates`` uses without ``--partial-dir`` (rsync's
``tmp_partialdir``)."""

SPARSE_WRITE_SIZE: Final = 1024
"""A run of zeros at least this long inside written data becomes a hole (rsync.h)."""

_COPY_CHUNK: Final = 1 << 20
_ZERO_RUN: Final = re.compile(rb"\x00{%d,}" % SPARSE_WRITE_SIZE)
FALLOC_FL_KEEP_SIZE: Final = 0x01
"""fallocate(2): reserve blocks without changing the file's length (--preallocate)."""
_FALLOC_FL_PUNCH_HOLE: Final = 0x02

_libc = ctypes.CDLL(None, use_errno=True)
fallocate = _libc.fallocate
"""fallocate(2) (ctypes: returns -1 and sets ``ctypes.get_errno()`` on failure)."""
fallocate.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64)
fallocate.restype = ctypes.c_int


class Output:
    """The temporary files of one destination tree and the renames that finish them.

    Args:
        tree: the destination.
        temp_tree: the ``--temp-dir`` directory, or ``None`` (temporary files beside
            their final names).
        temp_shown: the temp dir as error messages name it (relative to the destination,
            or absolute).
        temp_error: why no temporary file can be made in the temp dir (every file then
            fails with it, as in rsync).
    """

    def __init__(
        self,
        tree: DestTree,
        *,
        temp_tree: DestTree | None = None,
        temp_shown: bytes = b"",
        temp_error: OSError | None = None,
    ) -> None:
        self.tree = tree
        self.temp_tree = temp_tree
        self.temp_shown = temp_shown
        self.temp_error = temp_error
        self.delayed: list[tuple[int, bytes, bytes]] = []  # (ndx, rel, partial_rel)

    @property
    def in_temp_dir(self) -> bool:
        """Whether temporary files are made in a ``--temp-dir``."""
        return self.temp_tree is not None or self.temp_error is not None

    def close(self) -> None:
        """Close the temp dir's descriptors."""
        if self.temp_tree is not None:
            self.temp_tree.close()
            self.temp_tree = None

    def create_temp(self, rel: bytes) -> tuple[int, bytes]:
        """A new, empty temporary file for ``rel``; returns ``(fd, temp_name)``.

        Raises:
            OSError: it could not be made.

        rsync: receiver.c open_tmpfile(), get_tmpname().
        """
        if self.temp_error is not None:
            raise self.temp_error
        if self.temp_tree is None:
            return self.tree.create_temp(rel)
        return self.temp_tree.create_temp(_base(rel), dot=False)

    def shown_temp(self, rel: bytes, tmp: bytes | None = None) -> bytes:
        """The temporary file of ``rel`` as rsync names it (``XXXXXX`` before it exists)."""
        base = _base(rel)
        if tmp is None:
            tmp = temp_name_for(base, dot=not self.in_temp_dir)[:-6] + b"XXXXXX"
        if self.in_temp_dir:
            return self.temp_shown + b"/" + tmp
        return rel[: len(rel) - len(base)] + tmp

    def unlink_temp(self, rel: bytes, tmp: bytes) -> None:
        """Remove the temporary file ``tmp`` of ``rel`` (missing is fine)."""
        if self.temp_tree is None:
            self.tree.unlink_temp(rel, tmp)
            return
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp, dir_fd=self.temp_tree.fd)

    def rename_temp(
        self, rel: bytes, tmp: bytes, target: bytes | None = None, *, tree: DestTree | None = None
    ) -> None:
        """Give the temporary file ``tmp`` of ``rel`` the name ``target`` (default ``rel``).

        ``target`` is a destination name: the file itself, or its partial file (in
        ``tree`` for an absolute ``--partial-dir``; default: the destination). A
        temporary file on another filesystem (``--temp-dir``) is copied with its mode,
        owner and times, then removed.

        Raises:
            OSError: the rename (or copy) failed; the temporary file is still there.

        rsync: util1.c robust_rename(), copy_file().
        """
        if target is None:
            target = rel
        ttree = self.tree if tree is None else tree
        tdfd, tname = ttree.parent(target)
        if self.temp_tree is None:
            same_dir = target[: target.rfind(b"/") + 1] == rel[: rel.rfind(b"/") + 1]
            if same_dir and ttree is self.tree:
                os.rename(tmp, tname, src_dir_fd=tdfd, dst_dir_fd=tdfd)  # the common case
                return
            tdfd = os.dup(tdfd)  # the next lookup may evict it from the tree's cache
            try:
                sdfd, _ = self.tree.parent(rel)
                os.rename(tmp, tname, src_dir_fd=sdfd, dst_dir_fd=tdfd)
            finally:
                os.close(tdfd)
            return
        try:
            os.rename(tmp, tname, src_dir_fd=self.temp_tree.fd, dst_dir_fd=tdfd)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            self._copy_into_place(tmp, target, ttree)
            self.unlink_temp(rel, tmp)

    def _copy_into_place(self, tmp: bytes, target: bytes, tree: DestTree) -> None:
        """Copy ``tmp`` (in the temp dir) over ``target``, attributes included."""
        assert self.temp_tree is not None  # noqa: S101 - only with a temp dir
        src = os.open(tmp, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=self.temp_tree.fd)
        try:
            st = os.fstat(src)
            fd, copy = tree.create_temp(target)
            try:
                try:
                    _copy_data(src, fd)
                    with contextlib.suppress(OSError):  # a non-root receiver keeps its ids
                        os.fchown(fd, st.st_uid, st.st_gid)
                    os.fchmod(fd, stat.S_IMODE(st.st_mode))
                    os.utime(fd, ns=(st.st_atime_ns, st.st_mtime_ns))
                finally:
                    os.close(fd)
                tree.rename_into_place(target, copy)
            except BaseException:
                tree.unlink_temp(target, copy)
                raise
        finally:
            os.close(src)

    # -- --delay-updates -------------------------------------------------------------------

    def delay(self, ndx: int, rel: bytes, partial_rel: bytes) -> None:
        """``rel`` is complete in ``partial_rel``: rename it at the end of the transfer."""
        self.delayed.append((ndx, rel, partial_rel))

    def take_delayed(self) -> list[tuple[int, bytes, bytes]]:
        """The delayed files in file-list order (and forget them)."""
        out = sorted(self.delayed)
        self.delayed = []
        return out


def _base(rel: bytes) -> bytes:
    return rel[rel.rfind(b"/") + 1 :]


def _copy_data(src: int, dst: int) -> None:
    while True:
        data = os.read(src, _COPY_CHUNK)
        if not data:
            return
        view = memoryview(data)
        while view:
            view = view[os.write(dst, view) :]


# -- the temp dir -----------------------------------------------------------------------------


def _clean(raw: bytes) -> bytes:
    """``raw`` as rsync's ``sanitize_path()`` leaves it: no ``.``, no ``..`` above its start."""
    parts: list[bytes] = []
    for part in raw.split(b"/"):
        if part in (b"", b"."):
            continue
        if part == b"..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    return b"/".join(parts)


def rejected_by_module(opts: TransferOptions, rules: DaemonRules | None) -> bool:
    """Whether a receiving daemon's rules reject the temp, backup or partial directory given.

    The ``--temp-dir``, the ``--backup-dir``, and an absolute ``--partial-dir``.
    An empty one, or one the module's rules hide, makes rsync's daemon answer "Your options
    have been rejected by the server." (exit 4) before anything is transferred.

    rsync: options.c parse_arguments() (``daemon_filter_list`` and ``options_rejected``).
    """
    if rules is None:
        return False
    for text in (opts.temp_dir, opts.backup_dir):
        if text is None:
            continue
        raw = os.fsencode(text)
        if not raw:
            return True
        clean = _clean(raw)
        if clean and rules.hides((b"/" if raw.startswith(b"/") else b"") + clean, is_dir=True):
            return True
    pdir = os.fsencode(opts.partial_dir or "")
    if pdir.startswith(b"/"):  # rsync: main.c do_server_recv() (an absolute --partial-dir)
        clean = _clean(pdir)
        if clean and rules.hides(b"/" + clean, is_dir=True):
            return True
    return False


def open_temp_dir(
    text: str, tree: DestTree, destination: Destination, *, dest_in_module: bytes = b""
) -> Output:
    """The :class:`Output` of ``tree`` with ``--temp-dir=text``.

    A relative DIR is relative to the destination directory. In a daemon module (a
    :class:`~rsync_wire.roles.destination.ModuleDestination`) the path is cleaned as
    rsync's ``sanitize_path()`` cleans it: ``..`` never climbs above its start, and an
    absolute DIR starts at the module's root (and is shown so, as by a daemon without
    chroot).

    Raises:
        RsyncError: rsync's "The temp-dir does not exist" / "is not a directory" (exit 1)
            or "Failed to stat temp-dir" (exit 11).

    rsync: main.c do_recv(); options.c (sanitize_path of tmpdir); syscall.c
    secure_mkstemp().
    """
    raw = os.fsencode(text)
    module = isinstance(destination, ModuleDestination)
    if isinstance(destination, ModuleDestination):
        clean = _clean(raw)
        base = dest_in_module if not raw.startswith(b"/") else b""
        path = (base + b"/" + clean).strip(b"/") or b"."
        shown = clean or b"."
        if raw.startswith(b"/"):
            shown = destination.root.path.rstrip(b"/") + b"/" + clean
        text = os.fsdecode(shown)
    else:
        path = raw if raw.startswith(b"/") else tree.path.rstrip(b"/") + b"/" + raw
        shown = raw
    try:
        st = destination.stat(path)
    except OSError as exc:
        msg = f"Failed to stat temp-dir {text}: {exc.strerror}"
        raise _bare(msg, ExitCode.FILEIO) from None
    if st is None:
        msg = f"The temp-dir does not exist: {text}"
        raise _bare(msg, ExitCode.SYNTAX)
    if not stat.S_ISDIR(st.st_mode):
        msg = f"The temp-dir is not a directory: {text}"
        raise _bare(msg, ExitCode.SYNTAX)
    template = raw.rstrip(b"/") + b"/"
    if not module and (template.startswith(b"../") or b"/../" in template):
        # rsync 3.5 makes no temporary file through a ".." (syscall.c secure_mkstemp())
        err = OSError(errno.EINVAL, os.strerror(errno.EINVAL))
        return Output(tree, temp_shown=raw, temp_error=err)
    from rsync_wire.fs_write import DestTree

    try:
        fd = destination.open_dir(path)
    except UntrustedSymlinkError as exc:
        return Output(tree, temp_shown=raw, temp_error=exc)
    except OSError as exc:
        return Output(tree, temp_shown=raw, temp_error=exc)
    return Output(tree, temp_tree=DestTree(path, fd=fd), temp_shown=shown)


def _bare(msg: str, code: ExitCode) -> RsyncError:
    """An error printed as rsync prints it: without the ``rsync: `` prefix."""
    err = RsyncError(msg, exit_code=code)
    err.bare = True  # type: ignore[attr-defined]  # read by the client error printer
    return err


# -- --sparse ---------------------------------------------------------------------------------


class SparseWriter:
    """Writes a file's content in order, leaving holes where it has runs of zeros.

    A run of zeros becomes a hole when it is at least :data:`SPARSE_WRITE_SIZE` bytes
    long, or when it starts or ends the file; shorter runs inside the data are written
    (they could not free a filesystem block). Holes are left by writing the next data
    further on; below ``punch_below`` (the old length of a file rewritten in place)
    they are punched out instead, since old data is there. :meth:`finish` gives the
    file its length when it ends in a hole.

    Args:
        fd: the output file, written with ``pwrite`` (its file position is not used).
        punch_below: the length of data already in the file.

    rsync: fileio.c write_sparse(), sparse_end(), do_punch_hole().
    """

    def __init__(self, fd: int, *, punch_below: int = 0) -> None:
        self.fd = fd
        self.punch_below = punch_below
        self.offset = 0  # where the next byte goes
        self.hole = 0  # zeros not written yet, ending at ``offset``

    def write(self, chunks: Sequence[bytes | bytearray | memoryview]) -> None:
        """Write ``chunks`` (the file's next bytes).

        Raises:
            OSError: a write failed.
        """
        for chunk in chunks:
            data = bytes(chunk)
            n = len(data)
            if not n:
                continue
            lead = n - len(data.lstrip(b"\x00"))
            if lead == n:
                self.hole += n
                self.offset += n
                continue
            end = len(data.rstrip(b"\x00"))
            self.hole += lead
            start = lead
            base = self.offset
            for m in _ZERO_RUN.finditer(data, lead, end):
                self._emit(data, start, m.start(), base)
                self.hole += m.end() - m.start()
                start = m.end()
            self._emit(data, start, end, base)
            self.hole = n - end
            self.offset = base + n

    def _emit(self, data: bytes, start: int, stop: int, base: int) -> None:
        """Write ``data[start:stop]`` at ``base + start`` after the pending hole."""
        if stop <= start:
            return
        at = base + start
        if self.hole:
            self._punch(at - self.hole, self.hole)
            self.hole = 0
        view = memoryview(data)[start:stop]
        while view:
            done = os.pwrite(self.fd, view, at)
            view = view[done:]
            at += done

    def _punch(self, offset: int, length: int) -> None:
        """Make ``length`` bytes at ``offset`` a hole where old data may be."""
        end = min(offset + length, self.punch_below)
        if end <= offset:
            return  # beyond the old data: nothing was ever written there
        size = end - offset
        if fallocate(self.fd, _FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, size) == 0:
            return
        # no hole punching here: zeros, as rsync's do_punch_hole() falls back to
        zeros = bytes(min(size, _COPY_CHUNK))
        while size > 0:
            done = os.pwrite(self.fd, zeros[: min(size, len(zeros))], offset)
            offset += done
            size -= done

    def finish(self) -> None:
        """The end of the file: a final hole still gives it its length.

        Raises:
            OSError: the truncation failed.
        """
        if self.hole:
            self._punch(self.offset - self.hole, self.hole)
            self.hole = 0
            if self.offset > self.punch_below:
                os.ftruncate(self.fd, self.offset)
