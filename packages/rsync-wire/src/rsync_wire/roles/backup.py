"""``--backup``: what the receiving side keeps of a file it replaces or deletes.

With ``--backup`` a file about to be replaced by a transfer, or deleted, is renamed
first: to ``NAME~`` beside it (``--suffix`` changes the ``~``), or, with
``--backup-dir=DIR``, to ``DIR/NAME`` (plus ``--suffix`` when one is given), its
directories made as needed. Directories themselves are never backed up (their files are,
one by one). Without a backup directory, names that end in the suffix are protected
from deletion, as rsync's implied ``P *~`` rule does, so each run does not delete the
backups of the last.

The backup directory is a tree of its own (:class:`~rsync_wire.fs_write.DestTree`):
names inside it are reached without following symlinks, as in the destination. A backup
on another filesystem is copied, then the original removed.

rsync: backup.c make_backup(), get_backup_name(), make_bak_dir(); options.c (the implied
protect rule); delete.c delete_item().
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from typing import TYPE_CHECKING

from rsync_wire.roles.links import unsafe_symlink

if TYPE_CHECKING:
    from collections.abc import Callable

    from rsync_wire.fs_write import DestTree

__all__ = ["DEFAULT_SUFFIX", "Backups"]

DEFAULT_SUFFIX = b"~"


class Backups:
    """Renames replaced and deleted files to their backup names.

    Args:
        tree: the destination.
        suffix: the suffix (``None``: rsync's default, ``~`` without a backup directory
            and nothing with one).
        backup_dir: opens (making it as needed) the backup directory's tree, at the first
            backup; ``None`` for backups beside the file.
        safe_links: ``--safe-links``: a symlink whose target is unsafe (or unreadable) is
            not kept (rsync: backup.c make_backup()).
    """

    def __init__(
        self,
        tree: DestTree,
        *,
        suffix: bytes | None,
        backup_dir: Callable[[], DestTree] | None,
        safe_links: bool = False,
        shown_dir: bytes = b"",
    ) -> None:
        self.tree = tree
        self.shown_dir = shown_dir  # --backup-dir as given, "/"-ended: messages show it
        self.how = "RENAME"  # how the last backup was made (--debug=backup's word)
        self.safe_links = safe_links
        self._open_backup_dir = backup_dir
        self.backup_tree: DestTree | None = None
        if suffix is None:
            suffix = b"" if backup_dir is not None else DEFAULT_SUFFIX
        self.suffix = suffix

    @property
    def in_dir(self) -> bool:
        """Whether backups go to a backup directory (``--backup-dir``)."""
        return self._open_backup_dir is not None

    def name_for(self, rel: bytes) -> bytes:
        """The backup name of ``rel`` (in the backup tree, or beside ``rel``)."""
        return rel + self.suffix

    def is_backup(self, rel: bytes) -> bool:
        """Whether ``rel`` is a backup beside its file (protected from deletion)."""
        return not self.in_dir and bool(self.suffix) and rel.endswith(self.suffix)

    def keep(self, rel: bytes) -> bytes | None:
        """Move the non-directory ``rel`` to its backup name; returns that name.

        ``None`` when there is nothing to keep (``rel`` is missing or a directory).

        Raises:
            OSError: the backup could not be made (the file is left where it was).
        """
        tree = self.tree
        try:
            st = tree.lstat(rel)
        except FileNotFoundError:
            return None
        if stat.S_ISDIR(st.st_mode):
            return None
        if self.safe_links and stat.S_ISLNK(st.st_mode):
            try:
                link: bytes | None = tree.readlink(rel)
            except OSError:
                link = None
            if unsafe_symlink(link, rel):
                return None  # not kept: the caller replaces it all the same
        bname = self.name_for(rel)
        if self._open_backup_dir is not None and self.backup_tree is None:
            # made when the first backup is (a --delete pass before it must not see it)
            self.backup_tree = self._open_backup_dir()
        if self.backup_tree is not None:
            self._make_dirs(bname)
        dfd, name = tree.parent(rel)
        target = self.backup_tree or tree
        bdfd, bbase = target.parent(bname)
        try:
            try:
                os.rename(name, bbase, src_dir_fd=dfd, dst_dir_fd=bdfd)
            except OSError as exc:
                if exc.errno not in (errno.EISDIR, errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR):
                    raise
                # an older backup of another kind is in the way: it goes first (rsync:
                # backup.c make_backup_inner(), delete_item() with DEL_FOR_BACKUP)
                _remove_all(target, bname)
                os.rename(name, bbase, src_dir_fd=dfd, dst_dir_fd=bdfd)
            self.how = "RENAME"
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            self._copy(dfd, name, st, bdfd, bbase)
            os.unlink(name, dir_fd=dfd)
            mode = st.st_mode
            self.how = (
                "SYMLINK" if stat.S_ISLNK(mode) else "COPY" if stat.S_ISREG(mode) else "DEVICE"
            )
        return bname

    def failure(self, rel: bytes, full: bytes, exc: OSError) -> str:
        """The error line for a backup of ``rel`` (shown as ``full``) that failed with ``exc``.

        In rsync's words: ``keep_backup failed: NAME -> "BACKUP"``, the backup name with
        ``--backup-dir`` as given (rsync: backup.c make_backup()).
        """
        to = self.shown(self.name_for(rel))
        text = (full + b' -> "' + to + b'"').decode("utf-8", "backslashreplace")
        return f"keep_backup failed: {text}: {exc.strerror} ({exc.errno})"

    def shown(self, bname: bytes) -> bytes:
        """A backup name as rsync's messages show it (with ``--backup-dir`` as given)."""
        return self.shown_dir + bname

    def _make_dirs(self, bname: bytes) -> None:
        """The directories of ``bname`` in the backup tree, as those of the destination.

        rsync: backup.c make_bak_dir() (each new directory gets the original's mode).
        """
        assert self.backup_tree is not None  # noqa: S101 - only called with one
        parts = bname.split(b"/")[:-1]
        for k in range(1, len(parts) + 1):
            rel = b"/".join(parts[:k])
            if self.backup_tree.lstat_or_none(rel) is not None:
                continue
            try:
                mode = stat.S_IMODE(self.tree.lstat(rel).st_mode)
            except OSError:
                mode = 0o755
            with contextlib.suppress(FileExistsError):
                self.backup_tree.mkdir(rel, mode | 0o700)

    @staticmethod
    def _copy(sdfd: int, sname: bytes, st: os.stat_result, ddfd: int, dname: bytes) -> None:
        """A backup across filesystems: the same content, mode and times (rsync: copy_file())."""
        if stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(sname, dir_fd=sdfd), dname, dir_fd=ddfd)
            return
        if not stat.S_ISREG(st.st_mode):
            os.mknod(dname, st.st_mode, st.st_rdev, dir_fd=ddfd)
            return
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
        src = os.open(sname, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=sdfd)
        try:
            dst = os.open(dname, flags, stat.S_IMODE(st.st_mode), dir_fd=ddfd)
            try:
                while True:
                    data = os.read(src, 1 << 20)
                    if not data:
                        break
                    view = memoryview(data)
                    while view:
                        view = view[os.write(dst, view) :]
                os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))
            finally:
                os.close(dst)
        finally:
            os.close(src)


def _remove_all(tree: DestTree, rel: bytes) -> None:
    """Remove ``rel`` from ``tree``, a directory with all it holds."""
    st = tree.lstat_or_none(rel)
    if st is None:
        return
    if stat.S_ISDIR(st.st_mode):
        for name, _st in tree.list_dir(rel):
            _remove_all(tree, rel + b"/" + name)
    tree.remove(rel)
