"""The receiving side's decisions, as pure functions (no I/O).

What the generator asks about each file-list entry against what ``lstat`` says
of the destination: is the file up to date (the quick check), which attributes
differ (the ``iflags`` of an itemize record), which permissions a new or
existing file gets without ``-p``. Inputs are :class:`FileEntry` records,
``os.stat_result`` values (or anything with the same attributes) and options;
outputs are values. Reading files (for ``-c``) and changing anything is the
caller's job.
"""

from __future__ import annotations

import stat
from typing import TYPE_CHECKING, Final, Protocol

from rsync_wire.proto.constants import Item

if TYPE_CHECKING:
    from rsync_wire.proto.flist import FileEntry
    from rsync_wire.proto.options import TransferOptions

__all__ = [
    "CHMOD_BITS",
    "ITEM",
    "SIGNIFICANT_ITEM_FLAGS",
    "StatLike",
    "dest_mode",
    "itemize_flags",
    "mtime_differs",
    "ownership_differs",
    "perms_differ",
    "quick_check_ok",
    "same_time",
    "unchanged_attrs",
]

CHMOD_BITS: Final = 0o7777  # CHMOD_BITS


class ITEM:
    """The ITEM_* bits as plain ints: IntFlag arithmetic is slow in per-file loops."""

    REPORT_ATIME: Final = int(Item.REPORT_ATIME)
    REPORT_CHANGE: Final = int(Item.REPORT_CHANGE)
    REPORT_SIZE: Final = int(Item.REPORT_SIZE)
    REPORT_TIMEFAIL: Final = int(Item.REPORT_TIMEFAIL)
    REPORT_TIME: Final = int(Item.REPORT_TIME)
    REPORT_PERMS: Final = int(Item.REPORT_PERMS)
    REPORT_OWNER: Final = int(Item.REPORT_OWNER)
    REPORT_GROUP: Final = int(Item.REPORT_GROUP)
    REPORT_ACL: Final = int(Item.REPORT_ACL)
    REPORT_XATTR: Final = int(Item.REPORT_XATTR)
    REPORT_CRTIME: Final = int(Item.REPORT_CRTIME)
    BASIS_TYPE_FOLLOWS: Final = int(Item.BASIS_TYPE_FOLLOWS)
    XNAME_FOLLOWS: Final = int(Item.XNAME_FOLLOWS)
    IS_NEW: Final = int(Item.IS_NEW)
    LOCAL_CHANGE: Final = int(Item.LOCAL_CHANGE)
    TRANSFER: Final = int(Item.TRANSFER)
    MATCHED: Final = 1 << 18  # ITEM_MATCHED: found in a basis directory; itemize() only, never sent


SIGNIFICANT_ITEM_FLAGS: Final = 0xFFFF & ~(
    ITEM.BASIS_TYPE_FOLLOWS | ITEM.XNAME_FOLLOWS | ITEM.LOCAL_CHANGE
)  # SIGNIFICANT_ITEM_FLAGS


class StatLike(Protocol):
    """The ``os.stat_result`` attributes the decisions read."""

    @property
    def st_mode(self) -> int: ...  # noqa: D102
    @property
    def st_size(self) -> int: ...  # noqa: D102
    @property
    def st_mtime_ns(self) -> int: ...  # noqa: D102
    @property
    def st_uid(self) -> int: ...  # noqa: D102
    @property
    def st_gid(self) -> int: ...  # noqa: D102
    @property
    def st_rdev(self) -> int: ...  # noqa: D102


def same_time(sec1: int, nsec1: int, sec2: int, nsec2: int, *, modify_window: int = 0) -> bool:
    """Rsync's time comparison: whole seconds (nanoseconds too for a negative window).

    rsync: util1.c same_time().
    """
    if modify_window == 0:
        return sec1 == sec2
    if modify_window < 0:
        return sec1 == sec2 and nsec1 == nsec2
    return abs(sec1 - sec2) <= modify_window


def mtime_differs(st: StatLike, entry: FileEntry, *, modify_window: int = 0) -> bool:
    """Whether the destination's mtime differs from the entry's.

    rsync: generator.c mtime_differs().
    """
    sec, nsec = divmod(st.st_mtime_ns, 1_000_000_000)
    return not same_time(sec, nsec, entry.mtime, entry.mtime_nsec, modify_window=modify_window)


def perms_differ(entry_mode: int, st: StatLike, opts: TransferOptions) -> bool:
    """Whether the permission bits differ in a way the options care about.

    rsync: generator.c perms_differ().
    """
    if opts.preserve_perms:
        return (st.st_mode ^ entry_mode) & CHMOD_BITS != 0
    if opts.preserve_executability:
        return bool(st.st_mode & 0o111) != bool(entry_mode & 0o111)
    return False


def ownership_differs(
    uid: int, gid: int, st: StatLike, opts: TransferOptions, *, am_root: bool, skip_group: bool
) -> bool:
    """Whether owner (as root) or group differ from the mapped ids.

    rsync: generator.c ownership_differs().
    """
    if am_root and opts.preserve_uid and st.st_uid != uid:
        return True
    return opts.preserve_gid and not skip_group and st.st_gid != gid


def quick_check_ok(
    entry: FileEntry,
    st: StatLike,
    opts: TransferOptions,
    *,
    checksum: bytes | None = None,
    link_target: bytes | None = None,
) -> bool:
    """Rsync's quick check: is the destination item already the entry's content?

    Args:
        entry: the file-list entry.
        st: ``lstat`` of the destination (of the same type family as ``entry``).
        opts: the options (``-c``, ``--size-only``, ``-I``, ``--modify-window``).
        checksum: the destination's whole-file checksum, for ``-c`` (the caller computes
            it only when the sizes agree).
        link_target: the destination symlink's target, for symlinks.

    rsync: generator.c quick_check_ok().
    """
    mode = entry.mode
    if stat.S_ISREG(mode):
        if st.st_size != entry.size:
            return False
        if opts.always_checksum:
            return checksum is not None and checksum == entry.checksum
        if opts.size_only:
            return True
        if opts.ignore_times:
            return False
        return not mtime_differs(st, entry, modify_window=opts.modify_window)
    if stat.S_ISDIR(mode):
        return True
    if stat.S_ISLNK(mode):
        return link_target is not None and link_target == entry.link_target
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return stat.S_IFMT(st.st_mode) == stat.S_IFMT(mode) and st.st_rdev == _makedev(
            entry.rdev_major, entry.rdev_minor
        )
    # FIFOs and sockets: the same type is enough
    return stat.S_IFMT(st.st_mode) == stat.S_IFMT(mode)


def _makedev(major: int, minor: int) -> int:
    import os

    return os.makedev(major, minor)


def unchanged_attrs(
    entry: FileEntry,
    mode: int,
    uid: int,
    gid: int,
    st: StatLike,
    opts: TransferOptions,
    *,
    am_root: bool,
    skip_group: bool,
) -> bool:
    """Whether times, permissions and ownership already match.

    rsync: generator.c unchanged_attrs().
    """
    is_link = stat.S_ISLNK(entry.mode)
    if (
        opts.preserve_times
        and not (is_link and opts.omit_link_times)
        and mtime_differs(st, entry, modify_window=opts.modify_window)
    ):
        return False
    if not is_link and perms_differ(mode, st, opts):
        return False
    return not ownership_differs(uid, gid, st, opts, am_root=am_root, skip_group=skip_group)


def itemize_flags(
    entry: FileEntry,
    mode: int,
    uid: int,
    gid: int,
    st: StatLike | None,
    opts: TransferOptions,
    iflags: int,
    *,
    am_root: bool,
    skip_group: bool,
    xname: bytes | None = None,
) -> int:
    """The iflags of an item: ``iflags`` plus what differs between ``entry`` and ``st``.

    ``st`` is ``None`` for a new item (then ITEM_IS_NEW is added).

    rsync: generator.c itemize() (the flag computation; sending is the caller's).
    """
    if st is None:
        return (iflags | ITEM.IS_NEW) & 0xFFFF
    emode = entry.mode
    if stat.S_ISDIR(emode):
        keep_time = opts.preserve_times and not opts.omit_dir_times
    elif stat.S_ISLNK(emode):
        keep_time = opts.preserve_times and not opts.omit_link_times
    else:
        keep_time = opts.preserve_times
    if stat.S_ISREG(emode) and entry.size != st.st_size:
        iflags |= ITEM.REPORT_SIZE
    if keep_time:
        if mtime_differs(st, entry, modify_window=opts.modify_window):
            iflags |= ITEM.REPORT_TIME
    elif (
        iflags & (ITEM.TRANSFER | ITEM.LOCAL_CHANGE)
        and not iflags & ITEM.MATCHED
        and (not iflags & ITEM.XNAME_FOLLOWS or xname)
    ):
        iflags |= ITEM.REPORT_TIME
    # -U (rsync: generator.c itemize(), ITEM_REPORT_ATIME: files and devices, whole seconds)
    atime = getattr(st, "st_atime_ns", None)
    if (
        opts.preserve_atimes
        and entry.atime is not None
        and atime is not None
        and not stat.S_ISDIR(emode)
        and not stat.S_ISLNK(emode)
        and atime // 1_000_000_000 != entry.atime
    ):
        iflags |= ITEM.REPORT_ATIME
    if not stat.S_ISLNK(emode):
        if opts.preserve_perms:
            if (st.st_mode ^ mode) & CHMOD_BITS:
                iflags |= ITEM.REPORT_PERMS
        elif opts.preserve_executability and bool(st.st_mode & 0o111) != bool(mode & 0o111):
            iflags |= ITEM.REPORT_PERMS
    if opts.preserve_uid and am_root and uid != st.st_uid:
        iflags |= ITEM.REPORT_OWNER
    if opts.preserve_gid and not skip_group and st.st_gid != gid:
        iflags |= ITEM.REPORT_GROUP
    return iflags & 0xFFFF


def dest_mode(
    flist_mode: int, stat_mode: int | None, dflt_perms: int, *, preserve_executability: bool
) -> int:
    """The mode a file gets without ``-p``: the existing file's bits, or the defaults.

    Args:
        flist_mode: the entry's mode.
        stat_mode: the existing destination's mode, or ``None`` when it does not exist.
        dflt_perms: ``0777 & ~umask``.
        preserve_executability: ``-E``.

    rsync: rsync.c dest_mode().
    """
    if stat_mode is not None:
        new_mode = (flist_mode & ~CHMOD_BITS) | (stat_mode & CHMOD_BITS)
        if preserve_executability and stat.S_ISREG(flist_mode):
            if not flist_mode & 0o111:
                new_mode &= ~0o111
            elif not stat_mode & 0o111:
                new_mode |= (new_mode & 0o444) >> 2
        return new_mode
    return flist_mode & (~CHMOD_BITS | dflt_perms)
