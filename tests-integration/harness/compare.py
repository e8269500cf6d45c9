"""Comparing two directory trees entry by entry, and reporting every difference.

``diff_trees`` returns the differences as readable lines; ``assert_trees_equal`` fails with
all of them. Contents are compared in chunks, and only where either file has data (found
with SEEK_DATA/SEEK_HOLE): holes read as zeros, so a 4 GiB sparse file costs a few reads.

Not here: making trees (see ``trees``).
"""

from __future__ import annotations

import errno
import fnmatch
import os
import stat
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Iterable

CHUNK: Final = 1 << 20
MAX_REPORTED: Final = 200

_KINDS: Final = {
    stat.S_IFREG: "file",
    stat.S_IFDIR: "directory",
    stat.S_IFLNK: "symlink",
    stat.S_IFIFO: "fifo",
    stat.S_IFSOCK: "socket",
    stat.S_IFCHR: "char device",
    stat.S_IFBLK: "block device",
}
_DEVICES: Final = frozenset({stat.S_IFCHR, stat.S_IFBLK})
_SPECIALS: Final = frozenset({stat.S_IFIFO, stat.S_IFSOCK})

Pathish = str | os.PathLike[str]


def kind(st: os.stat_result) -> str:
    """Return a readable name of the entry type (``file``, ``symlink``, ...)."""
    return _KINDS.get(stat.S_IFMT(st.st_mode), f"type {stat.S_IFMT(st.st_mode):o}")


def show(rel: str) -> str:
    """Return ``rel`` as is when printable, else its repr (newlines, undecodable bytes)."""
    return rel if rel.isprintable() else repr(rel)


def scan(root: Pathish) -> dict[str, os.stat_result]:
    """Return ``lstat`` of every entry under ``root``, keyed by relative path (root is ``.``).

    Symlinks are not followed. Names that are not UTF-8 appear with surrogate escapes.
    """
    top = os.fspath(root)
    entries = {".": os.lstat(top)}
    pending = [""]
    while pending:
        rel_dir = pending.pop()
        with os.scandir(os.path.join(top, rel_dir) if rel_dir else top) as it:
            for entry in it:
                rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
                st = entry.stat(follow_symlinks=False)
                entries[rel] = st
                if stat.S_ISDIR(st.st_mode):
                    pending.append(rel)
    return entries


def _excluded(rel: str, patterns: Iterable[str]) -> bool:
    for pattern in patterns:
        pat = pattern.strip("/")
        if rel == pat or rel.startswith(pat + "/") or fnmatch.fnmatchcase(rel, pat):
            return True
    return False


def _data_extents(fd: int, size: int) -> list[tuple[int, int]]:
    """Return the ``(start, end)`` ranges holding data; the whole file when unknown."""
    if size < 4 * CHUNK:
        return [(0, size)] if size else []
    extents = []
    pos = 0
    while pos < size:
        try:
            start = os.lseek(fd, pos, os.SEEK_DATA)
        except OSError as exc:
            if exc.errno == errno.ENXIO:  # no data after pos
                break
            return [(0, size)]  # SEEK_DATA not supported here
        end = os.lseek(fd, start, os.SEEK_HOLE)
        extents.append((start, min(end, size)))
        pos = end
    return extents


def _union(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(a + b):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def first_difference(path_a: Pathish, path_b: Pathish) -> int | None:
    """Return the offset of the first differing byte of two files, or None if equal.

    Reads in chunks, and only ranges where either file has data (holes are zeros in both).
    Files of different sizes differ at the end of the shorter one, at the latest.
    """
    fa = os.open(path_a, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        fb = os.open(path_b, os.O_RDONLY | os.O_NOFOLLOW)
        try:
            size_a, size_b = os.fstat(fa).st_size, os.fstat(fb).st_size
            size = min(size_a, size_b)
            regions = _union(_data_extents(fa, size_a), _data_extents(fb, size_b))
            for start, end in regions:
                pos, stop = min(start, size), min(end, size)
                while pos < stop:
                    n = min(CHUNK, stop - pos)
                    da, db = os.pread(fa, n, pos), os.pread(fb, n, pos)
                    if da != db or len(da) < n:
                        common = min(len(da), len(db))
                        at = next((i for i in range(common) if da[i] != db[i]), common)
                        return pos + at
                    pos += n
            return None if size_a == size_b else size
        finally:
            os.close(fb)
    finally:
        os.close(fa)


def _ns_text(ns: int) -> str:
    seconds, frac = divmod(ns, 10**9)
    return f"{seconds}.{frac:09d}"


def _compare_entry(
    rel: str,
    a: str,
    b: str,
    sa: os.stat_result,
    sb: os.stat_result,
    *,
    perms: bool,
    times: bool,
    symlink_times: bool,
    dir_times: bool,
    owners: bool,
    time_precision_ns: int,
) -> list[str]:
    name = show(rel)
    if stat.S_IFMT(sa.st_mode) != stat.S_IFMT(sb.st_mode):
        return [f"{name}: type {kind(sa)} != {kind(sb)}"]
    out = []
    fmt = stat.S_IFMT(sa.st_mode)
    path_a, path_b = os.path.join(a, rel), os.path.join(b, rel)
    if fmt == stat.S_IFREG:
        if sa.st_size != sb.st_size:
            out.append(f"{name}: size {sa.st_size} != {sb.st_size}")
        else:
            at = first_difference(path_a, path_b)
            if at is not None:
                out.append(f"{name}: content differs at byte {at} (size {sa.st_size})")
    elif fmt == stat.S_IFLNK:
        ta, tb = os.readlink(path_a), os.readlink(path_b)
        if ta != tb:
            out.append(f"{name}: symlink target {ta!r} != {tb!r}")
    elif fmt in _DEVICES and sa.st_rdev != sb.st_rdev:
        out.append(
            f"{name}: device {os.major(sa.st_rdev)},{os.minor(sa.st_rdev)} "
            f"!= {os.major(sb.st_rdev)},{os.minor(sb.st_rdev)}"
        )
    if perms and fmt != stat.S_IFLNK and stat.S_IMODE(sa.st_mode) != stat.S_IMODE(sb.st_mode):
        out.append(f"{name}: mode {stat.S_IMODE(sa.st_mode):04o} != {stat.S_IMODE(sb.st_mode):04o}")
    check_time = {stat.S_IFDIR: dir_times, stat.S_IFLNK: symlink_times}.get(fmt, times)
    if check_time and (sa.st_mtime_ns // time_precision_ns != sb.st_mtime_ns // time_precision_ns):
        out.append(f"{name}: mtime {_ns_text(sa.st_mtime_ns)} != {_ns_text(sb.st_mtime_ns)}")
    if owners and (sa.st_uid, sa.st_gid) != (sb.st_uid, sb.st_gid):
        out.append(f"{name}: owner {sa.st_uid}:{sa.st_gid} != {sb.st_uid}:{sb.st_gid}")
    return out


def _hardlink_groups(
    entries: dict[str, os.stat_result], common: set[str]
) -> dict[str, frozenset[str]]:
    """Map each linked entry of ``common`` to its group of names in ``common``."""
    by_inode: dict[tuple[int, int], set[str]] = {}
    for rel in common:
        st = entries[rel]
        if not stat.S_ISDIR(st.st_mode) and st.st_nlink > 1:
            by_inode.setdefault((st.st_dev, st.st_ino), set()).add(rel)
    return {rel: frozenset(g) for g in by_inode.values() if len(g) > 1 for rel in g}


def diff_trees(
    a: Pathish,
    b: Pathish,
    *,
    perms: bool = True,
    times: bool = True,
    symlink_times: bool | None = None,
    dir_times: bool = False,
    owners: bool = False,
    hardlinks: bool = False,
    devices: bool = True,
    specials: bool = True,
    time_precision_ns: int = 1_000_000_000,
    exclude: Iterable[str] = (),
) -> list[str]:
    """Compare tree ``b`` with tree ``a``; return one readable line per difference.

    Always compared: which entries exist, their types, file sizes and contents, symlink
    targets. The keywords add or remove the rest.

    Args:
        a: the expected tree (usually the source).
        b: the tree to check (usually the destination).
        perms: permission bits, with setuid, setgid and sticky (not of symlinks).
        times: mtimes of everything but directories and symlinks.
        symlink_times: mtimes of symlinks; None means the same as ``times``.
        dir_times: mtimes of directories, the roots included.
        owners: numeric owner and group.
        hardlinks: which names share an inode.
        devices: compare device nodes and their numbers; False ignores them on both sides.
        specials: compare FIFOs and sockets; False ignores them on both sides.
        time_precision_ns: mtimes are equal when equal after flooring to this many ns.
        exclude: relative paths or fnmatch patterns ignored on both sides (with contents).

    Returns:
        The differences, sorted by path; empty when the trees are equal.
    """
    if symlink_times is None:
        symlink_times = times
    top_a, top_b = os.fspath(a), os.fspath(b)
    ignored_kinds = (set() if devices else set(_DEVICES)) | (set() if specials else _SPECIALS)

    def keep(entries: dict[str, os.stat_result]) -> dict[str, os.stat_result]:
        return {
            rel: st
            for rel, st in entries.items()
            if stat.S_IFMT(st.st_mode) not in ignored_kinds and not _excluded(rel, exclude)
        }

    missing_roots = [f"{top}: does not exist" for top in (top_a, top_b) if not os.path.lexists(top)]
    if missing_roots:
        return missing_roots
    ea, eb = keep(scan(top_a)), keep(scan(top_b))
    out: list[tuple[str, str]] = [
        (rel, f"{show(rel)}: missing ({kind(ea[rel])} only in {top_a})")
        for rel in sorted(ea.keys() - eb.keys())
    ]
    out.extend(
        (rel, f"{show(rel)}: unexpected ({kind(eb[rel])} only in {top_b})")
        for rel in sorted(eb.keys() - ea.keys())
    )
    common = ea.keys() & eb.keys()
    for rel in sorted(common):
        lines = _compare_entry(
            rel,
            top_a,
            top_b,
            ea[rel],
            eb[rel],
            perms=perms,
            times=times,
            symlink_times=symlink_times,
            dir_times=dir_times,
            owners=owners,
            time_precision_ns=time_precision_ns,
        )
        out.extend((rel, line) for line in lines)
    if hardlinks:
        ga, gb = _hardlink_groups(ea, common), _hardlink_groups(eb, common)
        reported: set[tuple[frozenset[str], frozenset[str]]] = set()
        for rel in sorted(ga.keys() | gb.keys()):
            pair = (ga.get(rel, frozenset({rel})), gb.get(rel, frozenset({rel})))
            if pair[0] != pair[1] and pair not in reported:
                reported.add(pair)
                names_a = ", ".join(show(r) for r in sorted(pair[0]))
                names_b = ", ".join(show(r) for r in sorted(pair[1]))
                out.append((rel, f"{show(rel)}: hard links [{names_a}] != [{names_b}]"))
    return [line for _rel, line in sorted(out, key=lambda item: item[0])]


def assert_trees_equal(
    a: Pathish,
    b: Pathish,
    *,
    perms: bool = True,
    times: bool = True,
    symlink_times: bool | None = None,
    dir_times: bool = False,
    owners: bool = False,
    hardlinks: bool = False,
    devices: bool = True,
    specials: bool = True,
    time_precision_ns: int = 1_000_000_000,
    exclude: Iterable[str] = (),
) -> None:
    """Fail with every difference between trees ``a`` and ``b`` (see ``diff_trees``).

    Raises:
        AssertionError: listing the differences (at most ``MAX_REPORTED`` of them).
    """
    __tracebackhide__ = True
    differences = diff_trees(
        a,
        b,
        perms=perms,
        times=times,
        symlink_times=symlink_times,
        dir_times=dir_times,
        owners=owners,
        hardlinks=hardlinks,
        devices=devices,
        specials=specials,
        time_precision_ns=time_precision_ns,
        exclude=exclude,
    )
    if differences:
        shown = differences[:MAX_REPORTED]
        more = len(differences) - len(shown)
        lines = [f"{len(differences)} difference(s) between {os.fspath(a)} and {os.fspath(b)}:"]
        lines += [f"  {line}" for line in shown]
        if more:
            lines.append(f"  ... and {more} more")
        raise AssertionError("\n".join(lines))


def allocated_bytes(path: Pathish) -> int:
    """Return the disk space a file takes (``st_blocks`` * 512): small for a sparse file."""
    return os.lstat(path).st_blocks * 512
