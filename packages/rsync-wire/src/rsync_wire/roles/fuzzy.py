"""``-y``/``--fuzzy``: a file missing from the destination gets a similar file as its basis.

For a file that does not exist yet, the generator looks through the regular, non-empty
files of the same directory (``-yy``: also that directory in each ``--compare-dest``/
``--copy-dest``/``--link-dest`` directory): first for one with the same size and
modification time, otherwise for the one whose name is closest, by rsync's weighted
Levenshtein distance with extra weight on the suffix (``.tar.gz``, not ``.bak``, ``.old``
or ``~``); a distance over 25 changes counts as no match. The file found is the basis of
the delta (basis type ``FNAMECMP_FUZZY`` plus the directory's number, and its name).

Each directory is listed once, when its first missing file needs it; a destination file
that is itself being updated stops being a candidate for later files.

rsync: generator.c find_fuzzy(), recv_generator() (fuzzy_dirlist); util1.c
fuzzy_distance(), find_filename_suffix().
"""

from __future__ import annotations

import stat
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from rsync_wire.fs_write import DestTree

__all__ = ["FuzzyFinder", "find_filename_suffix", "fuzzy_distance"]

UNIT: Final = 1 << 16
_LOWEST: Final = 25 << 16  # a distance greater than 25 is ignored
_NO_MATCH: Final = 0xFFFF * UNIT + 1
_DISQUALIFIED: Final = 0xFFFF0000


def find_filename_suffix(name: bytes) -> bytes:
    """The significant suffix of ``name`` (``b""`` if none), as rsync finds it.

    Leading dots are no suffix; ``~`` at the end is ignored; ``.bak``, ``.old``, ``.orig``
    and (after a ``~``) ``.~<digits>`` are skipped over; an all-digit suffix lets an
    earlier one be looked for.

    rsync: util1.c find_filename_suffix().
    """
    fn = name.lstrip(b".")
    fn_len = len(fn)
    had_tilde = fn_len > 1 and fn.endswith(b"~")
    if had_tilde:
        fn_len -= 1
    suf = b""
    s = fn_len
    while fn_len > 1:
        s -= 1
        while fn[s : s + 1] != b"." and s != 0:
            s -= 1
        if s == 0:
            break
        s_len = fn_len - s
        fn_len = s
        part = fn[s : s + s_len]
        rest = fn[s + 1 :]  # rsync compares to the end of the name (a "~" included)
        if s_len == 4:
            if rest in (b"bak", b"old"):
                continue
        elif s_len == 5:
            if rest == b"orig":
                continue
        elif s_len > 2 and had_tilde and part[1:2] == b"~" and part[2:3].isdigit():
            continue
        suf = part
        if s_len == 1:
            break
        if not part[1:].isdigit():
            return suf
        # an all-digit suffix may not be that significant: look on
    return suf


def _signed(byte: int) -> int:
    return byte - 256 if byte >= 128 else byte


def fuzzy_distance(s1: bytes, s2: bytes, upperlimit: int) -> int:
    """Rsync's Levenshtein distance in units of 2**16, plus the characters' differences.

    rsync: util1.c fuzzy_distance().
    """
    len1, len2 = len(s1), len(s2)
    if abs(len1 - len2) * UNIT > upperlimit:
        return _NO_MATCH
    if not len1 or not len2:
        s = s1 or s2
        return (len(s) * UNIT + sum(_signed(c) for c in s)) & 0xFFFFFFFF
    a = [(i2 + 1) * UNIT for i2 in range(len2)]
    for i1 in range(len1):
        c1 = s1[i1]
        diag = i1 * UNIT
        above = (i1 + 1) * UNIT
        for i2 in range(len2):
            c2 = s2[i2]
            left = a[i2]
            cost = c1 - c2
            if cost:
                cost = UNIT - cost if cost < 0 else UNIT + cost
            diag_inc = diag + cost
            left_inc = left + UNIT + c1
            above_inc = above + UNIT + c2
            if left < above:
                above = left_inc if left_inc < diag_inc else diag_inc
            else:
                above = above_inc if above_inc < diag_inc else diag_inc
            a[i2] = above
            diag = left
    return a[len2 - 1] & 0xFFFFFFFF


class _Candidate:
    __slots__ = ("mtime", "name", "sent", "size", "suffix")

    def __init__(self, name: bytes, size: int, mtime: int) -> None:
        self.name = name
        self.size = size
        self.mtime = mtime
        self.suffix = find_filename_suffix(name)
        self.sent = False


class FuzzyFinder:
    """The fuzzy search of one receiving side.

    Args:
        trees: where to look, in order: the destination, then (``-yy``) each basis
            directory (``None`` for one that could not be opened).
        modify_window: ``--modify-window`` (the size-and-time match allows this much).
    """

    def __init__(self, trees: Sequence[DestTree | None], *, modify_window: int = 0) -> None:
        self.trees = list(trees)
        self.modify_window = modify_window
        self._dir: bytes | None = None
        self._lists: list[list[_Candidate]] = []
        self.trace: Callable[[str], None] | None = None  # --debug=fuzzy2's lines

    def _listing(self, reldir: bytes) -> list[list[_Candidate]]:
        if self._dir != reldir:
            self._dir = reldir
            self._lists = [self._list(tree, reldir) for tree in self.trees]
        return self._lists

    @staticmethod
    def _list(tree: DestTree | None, reldir: bytes) -> list[_Candidate]:
        if tree is None:
            return []
        try:
            entries = tree.list_dir(reldir)
        except OSError:
            return []
        out = [
            _Candidate(name, st.st_size, int(st.st_mtime))
            for name, st in entries
            if stat.S_ISREG(st.st_mode) and st.st_size
        ]
        out.sort(key=lambda c: c.name)
        return out

    def find(self, rel: bytes, size: int, mtime: int) -> tuple[int, bytes] | None:
        """The fuzzy basis of the missing file ``rel``: (which tree, its name there).

        rsync: generator.c find_fuzzy().
        """
        cut = rel.rfind(b"/")
        reldir, fname = (rel[:cut], rel[cut + 1 :]) if cut >= 0 else (b"", rel)
        lists = self._listing(reldir)
        trace = self.trace
        prefix = reldir.decode("utf-8", "surrogateescape") + "/" if reldir else ""
        for i, cands in enumerate(lists):
            for c in cands:
                if not c.sent and c.size == size and abs(c.mtime - mtime) <= self.modify_window:
                    if trace is not None:
                        shown = c.name.decode("utf-8", "surrogateescape")
                        trace(f"fuzzy size/modtime match for {prefix}{shown}")
                    return i, c.name
        fname_suf = find_filename_suffix(fname)
        lowest = _LOWEST
        best: tuple[int, bytes] | None = None
        for i, cands in enumerate(lists):
            for c in cands:
                if c.sent:
                    continue
                dist = fuzzy_distance(c.name, fname, lowest)
                if dist < _DISQUALIFIED:
                    dist += fuzzy_distance(c.suffix, fname_suf, _DISQUALIFIED) * 10
                    dist &= 0xFFFFFFFF
                if trace is not None:  # rsync: generator.c find_fuzzy() (DEBUG_GTE(FUZZY, 2))
                    shown = c.name.decode("utf-8", "surrogateescape")
                    trace(f"fuzzy distance for {prefix}{shown} = {dist >> 16}.{dist & 0xFFFF:05d}")
                if dist <= lowest:
                    lowest = dist
                    best = (i, c.name)
        return best

    def changing(self, rel: bytes) -> None:
        """``rel`` (in the destination) is being updated: no longer a basis for others.

        rsync: generator.c recv_generator() (FLAG_FILE_SENT on fuzzy_dirlist[0]).
        """
        cut = rel.rfind(b"/")
        reldir, name = (rel[:cut], rel[cut + 1 :]) if cut >= 0 else (b"", rel)
        if self._dir != reldir or not self._lists:
            return
        for c in self._lists[0]:
            if c.name == name:
                c.sent = True
