"""FilterList: an ordered rule chain built and asked as rsync's, with per-directory merges.

The per-directory merge files are loaded and unloaded as a walk enters and leaves
directories.

rsync: exclude.c check_filter(), push_local_filters(), pop_local_filters().
"""

from __future__ import annotations

import contextlib
import logging
import re
from typing import TYPE_CHECKING

from rsync_wire.errors import (
    ExitCode,
    RemoteProtocolError,
)
from rsync_wire.proto.filters.matching import (
    _CVS,
    _INDEX_MIN,
    _PLAIN,
    _Entry,
    _Index,
    _MergeSlot,
    _Packed,
    _Target,
)
from rsync_wire.proto.filters.parse import _make_raw, _Origin, _parse_tok, _rule_flag, rule_text
from rsync_wire.proto.filters.rules import (
    _F,
    _I,
    _I_SIDES,
    _MAX_MERGE_DEPTH,
    _MAXPATHLEN,
    _NEWEST_PROTOCOL,
    _XFLG_ABS_IF_SLASH,
    _XFLG_ANCHORED2ABS,
    _XFLG_DIR2WILD3,
    _XFLG_FATAL_ERRORS,
    _XFLG_OLD_PREFIXES,
    DEFAULT_CVSIGNORE,
    MAX_RULE_TEXT,
    FilterError,
    FilterRule,
    ReadFile,
    RuleFlag,
    _rule_prefix,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator


_log = logging.getLogger(__name__)

_FROM_FILE_EARLIER = "<rule from a file read earlier>"
"""A rule read from a file, when asked about after the file was read (rsync: rule_text())."""


# -- path helpers --------------------------------------------------------------------------


def _clean_fname(name: bytes) -> bytes:
    """Collapse ``//``, ``.`` and ``dir/..`` (rsync: util1.c:clean_fname(COLLAPSE_DOT_DOT))."""
    anchored = name.startswith(b"/")
    parts: list[bytes] = []
    for comp in name.split(b"/"):
        if not comp or comp == b".":
            continue
        if comp == b"..":
            if parts and parts[-1] != b"..":
                parts.pop()
                continue
            if anchored:
                continue
        parts.append(comp)
    out = b"/".join(parts)
    if anchored:
        return b"/" + out
    return out or b"."


def _split_lines(
    data: bytes, *, word_split: bool, from0: bool, origin: _Origin
) -> Iterator[tuple[int, bytes]]:
    """Yield (line number, token) as rsync's parse_filter_file() reads a merge file.

    ``origin`` names the file for the over-long-line message (its line is set here).
    """
    if word_split:
        seps = rb"[ \t\n\v\f\r\x00]+" if from0 else rb"[ \t\n\v\f\r]+"
        for tok in re.split(seps, data):
            if tok:
                yield -1, tok
        return
    lines = data.split(b"\0") if from0 else re.split(rb"\r\n|\r|\n", data)
    for number, line in enumerate(lines, 1):
        if len(line) > MAX_RULE_TEXT:
            origin.line = number
            _log.warning("discarding over-long filter: %s", origin.rule_text())
            continue
        if line and line[:1] not in (b";", b"#"):
            yield number, line


class _DirState:
    """What :meth:`FilterList.leave_dir` restores."""

    __slots__ = ("active_len", "dirbuf", "saved")

    def __init__(
        self, saved: list[tuple[_MergeSlot, list[_Entry]]], active_len: int, dirbuf: bytes
    ) -> None:
        self.saved = saved
        self.active_len = active_len
        self.dirbuf = dirbuf


DirToken = _DirState
"""Opaque value returned by :meth:`FilterList.enter_dir`, handed back to ``leave_dir``."""


class FilterList:
    """An ordered filter-rule list with rsync's building and matching rules.

    Build it with the ``add_*`` methods in command-line order (or
    :meth:`add_received` on a server, :meth:`from_daemon_config` for a daemon
    module), then ask :meth:`excluded`. While walking a tree, bracket each
    directory with :meth:`enter_dir` / :meth:`leave_dir` (LIFO) so that
    per-directory merge files take effect; a list without ``:`` rules makes these
    calls cheap no-ops.

    Merge files are read through callbacks ``read_file(path) -> bytes | None``
    (None: no such file). ``path`` is the name as rsync would open it: relative
    to the transfer root for files inside it (``b"sub/.rsync-filter"``),
    absolute (in :attr:`root`'s coordinates) for files outside it, such as the
    parent directories ``-F`` scans, and unchanged for a ``.`` merge named
    before the walk (``b"-"`` there means standard input). A caller must confine
    these reads as rsync does.

    Args:
        protocol: the session's protocol version (CVS defaults are perishable from 30).
        delete_excluded: ``--delete-excluded``: plain rules become sender-side.
        root: the transfer root as an absolute path (``/`` is the filesystem root,
            or the module root in a daemon). It anchors ``/``-modifier rules and
            names parent merge files. The default ``b"/"`` makes those relative to
            the transfer root. It may be changed between top-level arguments.
        read_file: reads ``.`` merge files named while building the list.
        from0: ``--from0``: merge files are NUL-separated.
        home_cvsignore: contents of ``$HOME/.cvsignore`` (``-C``), if any.
        cvsignore_env: the value of ``$CVSIGNORE`` (``-C``), if any.
        honor_sides: whether ``for_sender`` selects rules by their ``s``/``r``
            side; a daemon's own chain ignores sides, as rsync does.

    rsync: exclude.c (filter_list, parse_filter_str(), check_filter()).
    """

    def __init__(
        self,
        *,
        protocol: int = _NEWEST_PROTOCOL,
        delete_excluded: bool = False,
        root: bytes = b"/",
        read_file: ReadFile | None = None,
        from0: bool = False,
        home_cvsignore: bytes | None = None,
        cvsignore_env: bytes | None = None,
        honor_sides: bool = True,
    ) -> None:
        self.protocol = protocol
        self.delete_excluded = delete_excluded
        self._root = b"/"
        self._root_rel = b""
        self.root = root
        self.from0 = from0
        self.honor_sides = honor_sides
        self._home_cvsignore = home_cvsignore
        self._cvsignore_env = cvsignore_env
        self._reader = read_file
        self._main = _Target(self._packed(), [])
        self._active: list[_MergeSlot | None] = []
        self._cvs: _Target | None = None
        self._dirbuf = b""  # rsync's dirbuf: "" until the walk starts
        self._parent_dirscan = False
        self._merge_depth = 0
        self.io_error = 0
        """IOERR_* bits of what :meth:`enter_dir` could not read (rsync: io_error)."""
        self._drop_sides: RuleFlag | None = None
        self._per_dir = False
        self._index: _Index | None = None
        self.debug_rules: list[str] | None = None
        """``--debug=FILTER``: when a list, the ``add_rule(...)`` lines rsync prints at
        level 1 (a rule ending in whitespace) are appended to it, for the caller to print."""
        self.who = "client"
        """Who adds the rules, as those lines say (rsync: who_am_i())."""
        self._adding: _MergeSlot | None = None  # the per-dir list a merge file is read into
        self.shown_root: bytes | None = None
        """Where :attr:`root` is, for naming per-directory merge files in messages
        (rsync names them by their full path); None: as the list sees them."""

    @property
    def root(self) -> bytes:
        """The transfer root (absolute; ``/`` is the filesystem or module root)."""
        return self._root

    @root.setter
    def root(self, value: bytes) -> None:
        root = _clean_fname(value if value.startswith(b"/") else b"/" + value)
        self._root = root
        self._root_rel = root[1:]  # rsync: curr_dir + module_dirlen + 1

    @property
    def reader(self) -> ReadFile | None:
        """The callback that reads ``.`` merge files named while building the list."""
        return self._reader

    @reader.setter
    def reader(self, value: ReadFile | None) -> None:
        self._reader = value

    # -- building --------------------------------------------------------------------------

    def add_filter(self, text: bytes) -> None:
        """Add a ``--filter``/``-f`` rule (``.`` merges are read now).

        Raises:
            FilterError: a syntax error, or a ``.`` merge file that cannot be read.
        """
        self._add_text(self._main, text, _F(0), 0, origin=None)

    def add_exclude(self, text: bytes) -> None:
        """Add an ``--exclude`` pattern (``- ``/``+ `` prefixes allowed, lone ``!`` clears)."""
        self._add_text(self._main, text, _F(0), _XFLG_OLD_PREFIXES, origin=None)

    def add_include(self, text: bytes) -> None:
        """Add an ``--include`` pattern."""
        self._add_text(self._main, text, _F.INCLUDE, _XFLG_OLD_PREFIXES, origin=None)

    def add_exclude_from(self, data: bytes, *, name: str = "exclude file") -> None:
        """Add the contents of an ``--exclude-from`` file.

        One pattern a line (CR, LF or CRLF; NUL with ``from0``), ``#``/``;``
        comment lines and empty lines skipped, ``- ``/``+ `` prefixes allowed.
        ``name`` is only used in error messages.
        """
        self._add_file(self._main, data, _F(0), _XFLG_OLD_PREFIXES, name)

    def add_include_from(self, data: bytes, *, name: str = "include file") -> None:
        """Add the contents of an ``--include-from`` file (see :meth:`add_exclude_from`)."""
        self._add_file(self._main, data, _F.INCLUDE, _XFLG_OLD_PREFIXES, name)

    def add_rule(self, rule: FilterRule) -> None:
        """Add an already parsed rule (``.`` merges are read now, ``!`` clears the list)."""
        self._add_parsed(self._main, rule.flags, rule.pattern, 0)

    def add_received(self, texts: Iterable[bytes], *, protocol: int | None = None) -> None:
        """Add the rules a server received from its client (see :func:`decode_filter_list`).

        Below protocol 29 only the old prefixes are understood. A ``.`` merge rule
        is refused: rsync clients expand merge files themselves and never send
        one, so it can only be a request to read a server file.

        Raises:
            FilterError: a rule that does not parse (exit code 1).
            RemoteProtocolError: a ``.`` merge rule.

        rsync: exclude.c:recv_filter_list().
        """
        proto = self.protocol if protocol is None else protocol
        for text in texts:
            self._add_received_one(text, proto)

    def add_received_texts(self, texts: list[bytes], protocol: int) -> None:
        """:meth:`add_received` for one read's worth of rules (texts already cut at NUL).

        The ``- PATTERN``/``+ PATTERN`` rules that rsync's clients send almost always
        are added here as they are (a plain record: see :class:`_Packed`); any other text
        takes the general path, in order.
        """
        local = self.plain_records()
        if local is None:  # --debug=FILTER: each rule through _append
            for text in texts:
                self._add_received_one(text, protocol)
            return
        for text in texts:
            n = len(text)
            if n > 2 and text[1] == 0x20 and text[0] in (0x2B, 0x2D) and n < _MAXPATHLEN + 2:
                local.extend_plain(text[:1] + text[2:] + b"\0", 1)
            else:
                self._add_received_one(text, protocol)  # "!" replaces the local list
                local = self._main.local

    def plain_records(self) -> _Packed | None:
        """Where received ``- PAT``/``+ PAT`` rules go as plain records (None: rule by rule).

        A received list is read in bulk into the top-level list (see
        :class:`~rsync_wire.proto.filters.wire.FilterListReader`), unless the
        ``--debug=FILTER`` trace wants every rule told.
        """
        if self.debug_rules is not None:
            return None
        local = self._main.local
        return local if local.side == self._plain_side() else None

    def _plain_side(self) -> int:
        return _I.SENDER_SIDE if self.delete_excluded else 0

    def _packed(self) -> _Packed:
        return _Packed(self._plain_side())

    def _add_received_one(self, text: bytes, protocol: int) -> None:
        cut = text.split(b"\0", 1)[0]
        if len(cut) > 2 and cut[1] == 0x20 and cut[0] in (0x2B, 0x2D):
            # "- pat" / "+ pat", what rsync clients send almost always: the same
            # result as _parse_tok() (either prefix style), without its general case.
            side = _I.SENDER_SIDE if self.delete_excluded else 0
            self._add_parsed(self._main, (_I.INCLUDE if cut[0] == 0x2B else 0) | side, cut[2:], 0)
            return
        xflags = _XFLG_OLD_PREFIXES if protocol < 29 else 0
        tok = _parse_tok(
            cut,
            0,
            _F(0),
            old_prefixes=bool(xflags),
            delete_excluded=self.delete_excluded,
            origin=None,
        )
        if tok is None:
            return
        flags, pat, _ = tok
        if flags & _I.MERGE_FILE and not flags & _I.PERDIR_MERGE:
            msg = "refusing a merge-file rule received from the client"
            raise RemoteProtocolError(msg)
        self._add_parsed(self._main, flags, pat, xflags)

    @classmethod
    def from_daemon_config(
        cls,
        *,
        filter: bytes | str | None = None,
        include_from: bytes | None = None,
        include: bytes | str | None = None,
        exclude_from: bytes | None = None,
        exclude: bytes | str | None = None,
        root: bytes = b"/",
        protocol: int = _NEWEST_PROTOCOL,
    ) -> FilterList:
        """Build a daemon module's own chain from its rsyncd.conf parameters.

        The parameters are taken in rsync's order (filter, include from, include,
        exclude from, exclude). ``filter``/``include``/``exclude`` are split on
        whitespace; the ``*_from`` arguments are the files' contents. A pattern
        with a ``/`` is anchored at the module root, and an excluded ``dir/``
        becomes ``dir/***`` (the directory and everything below it). As in rsync
        (which parses these before it knows the transfer direction), sender-only
        rules (``hide``/``show``, ``s``) are dropped, and sides are otherwise
        ignored when matching.

        Args:
            filter: the ``filter`` parameter (rules in ``--filter`` syntax).
            include_from: contents of the ``include from`` file.
            include: the ``include`` parameter (patterns).
            exclude_from: contents of the ``exclude from`` file.
            exclude: the ``exclude`` parameter (patterns).
            root: the transfer root relative to the module, as an absolute path
                (``b"/"`` for the module root itself).
            protocol: the session's protocol version.

        Raises:
            FilterError: a syntax error in a parameter.

        rsync: clientserver.c:rsync_module() (the daemon_filter_list part).
        """
        flist = cls(protocol=protocol, root=root, honor_sides=False)
        flist._dirbuf = b"/"
        flist._drop_sides = _F.SENDER_SIDE
        wild = _XFLG_ABS_IF_SLASH | _XFLG_DIR2WILD3
        old = wild | _XFLG_OLD_PREFIXES
        main = flist._main
        if filter:
            flist._add_text(main, _as_bytes(filter), _F.WORD_SPLIT, wild, origin=None)
        if include_from is not None:
            flist._add_file(main, include_from, _F.INCLUDE, old, "include from")
        if include:
            flist._add_text(main, _as_bytes(include), _F.INCLUDE | _F.WORD_SPLIT, old, origin=None)
        if exclude_from is not None:
            flist._add_file(main, exclude_from, _F(0), old, "exclude from")
        if exclude:
            flist._add_text(main, _as_bytes(exclude), _F.WORD_SPLIT, old, origin=None)
        flist._drop_sides = None
        flist._dirbuf = b""
        return flist

    # -- what the list holds ---------------------------------------------------------------

    @property
    def rules(self) -> tuple[FilterRule, ...]:
        """The top-level rules, in order (per-directory rules are not included)."""
        return tuple(e.rule for e in self._main.entries())

    @property
    def cvs_rules(self) -> list[FilterRule] | None:
        """The global CVS list a ``-C`` rule stands for, once a ``-C`` rule was added."""
        return None if self._cvs is None else [e.rule for e in self._cvs.entries()]

    @property
    def has_per_dir_merge(self) -> bool:
        """A ``:`` rule was seen: a client receiver must then trust the sender's filtering.

        rsync: exclude.c (trust_sender_filter).
        """
        return self._per_dir

    def __bool__(self) -> bool:
        return bool(len(self._main.local) or self._main.inherited)

    def __repr__(self) -> str:
        texts = [r.to_text().decode("utf-8", "backslashreplace") for r in self.rules]
        return f"FilterList({texts!r})"

    # -- matching --------------------------------------------------------------------------

    def match(
        self,
        path: bytes,
        *,
        is_dir: bool,
        for_sender: bool = True,
        ignore_perishable: bool = False,
        xattr: bool = False,
    ) -> FilterRule | None:
        """The first rule that decides for ``path``, or None when none matches.

        Args:
            path: the name relative to the transfer root, as in the file list
                (``b"sub/file"``), or an xattr name with ``xattr``.
            is_dir: the name is a directory.
            for_sender: ask as the sending side (which files to list) rather than
                the receiving side (which files to protect from deletion). Rules
                limited to the other side by ``s``/``r`` (``hide``, ``protect``...)
                are skipped. A client receiver checking the names it receives asks
                with ``for_sender=True``.
            ignore_perishable: skip perishable rules (while deleting in a
                directory that is going away).
            xattr: ``path`` is an xattr name; only ``x`` rules apply to those.

        rsync: exclude.c:check_filter() and rule_matches().
        """
        want = _I.SENDER_SIDE if for_sender else _I.RECEIVER_SIDE
        main = self._main
        if not main.inherited and len(main.local) >= _INDEX_MIN:
            return self._check_indexed(
                path,
                is_dir=is_dir,
                want=want if self.honor_sides else None,
                ignore_perishable=ignore_perishable,
                xattr=xattr,
                root_rel=self._root_rel,
            )
        return self._check(
            main.entries() if main.inherited else main.local,
            path,
            is_dir=is_dir,
            want=want if self.honor_sides else None,
            ignore_perishable=ignore_perishable,
            xattr=xattr,
            root_rel=self._root_rel,
        )

    def excluded(
        self,
        path: bytes,
        *,
        is_dir: bool,
        for_sender: bool = True,
        ignore_perishable: bool = False,
        xattr: bool = False,
    ) -> bool:
        """Whether ``path`` is excluded (the deciding rule is an exclude; see :meth:`match`).

        rsync: exclude.c:check_filter() < 0.
        """
        rule = self.match(
            path,
            is_dir=is_dir,
            for_sender=for_sender,
            ignore_perishable=ignore_perishable,
            xattr=xattr,
        )
        return rule is not None and not rule.flags & _F.INCLUDE

    def trace(
        self,
        path: bytes,
        *,
        is_dir: bool,
        who: str,
        for_sender: bool = True,
        ignore_perishable: bool = False,
        xattr: bool = False,
    ) -> str | None:
        """The ``--debug=FILTER`` line for ``path``, or None when no rule decides for it.

        The same question as :meth:`match`, asked rule by rule (only while the trace is
        on), with the answer told as rsync tells it: ``[who] hiding file NAME because of
        pattern PAT`` (``showing``/``hiding`` for the sender, ``risking``/``protecting``
        for the generator). A rule read from a file is never echoed: its pattern is
        ``<rule from a file read earlier>`` and a directory rule's ``/`` is dropped.

        Args:
            path: as for :meth:`match`.
            is_dir: as for :meth:`match`.
            who: ``"sender"``, ``"generator"`` or ``"receiver"`` (rsync's who_am_i()).
            for_sender: as for :meth:`match`.
            ignore_perishable: as for :meth:`match`.
            xattr: as for :meth:`match`.

        rsync: exclude.c report_filter_result(), rule_text(), rule_detail().
        """
        want = _I.SENDER_SIDE if for_sender else _I.RECEIVER_SIDE
        found = self._first(
            self._main.entries(),
            path,
            is_dir=is_dir,
            want=want if self.honor_sides else None,
            ignore_perishable=ignore_perishable,
            xattr=xattr,
            root_rel=self._root_rel,
        )
        if found is None:
            return None
        e, where = found
        if isinstance(where, _MergeSlot):
            debug_type = f" [per-dir {where.shown}]"
        else:
            debug_type = " [global CVS]" if where == _CVS else ""
        rule = e.rule
        action = ("protect" if who == "generator" else "hid") if not rule.include else None
        if action is None:
            action = "risk" if who == "generator" else "show"
        kind = "xattr" if xattr else "directory" if is_dir else "file"
        if e.from_file:
            pattern, detail = _FROM_FILE_EARLIER, ""
        else:
            pattern = rule.pattern.decode("utf-8", "backslashreplace")
            detail = "/" if rule.dir_only else ""
        name = path.decode("utf-8", "backslashreplace")
        return f"[{who}] {action}ing {kind} {name} because of pattern {pattern}{detail}{debug_type}"

    def _check_indexed(
        self,
        path: bytes,
        *,
        is_dir: bool,
        want: int | None,
        ignore_perishable: bool,
        xattr: bool,
        root_rel: bytes,
    ) -> FilterRule | None:
        """:meth:`_check` over the main list, through its :class:`_Index`."""
        entries = self._main.local
        index = self._index
        if index is None or index.packed is not entries or index.length != len(entries.blob):
            index = self._index = _Index(entries)
        best = (
            index.length
            if xattr
            else index.first_indexed(
                path, is_dir=is_dir, want=want, ignore_perishable=ignore_perishable
            )
        )
        for i in index.generic if xattr else index.generic_before(path, root_rel, best):
            if i >= best:
                break
            e = entries.entry(i)
            if e.kind == _PLAIN and e.slot is None:
                if ignore_perishable and e.perishable:
                    continue
                if want is not None and e.sides and not e.sides & want:
                    continue
                if e.matches(path, is_dir=is_dir, xattr=xattr, root_rel=root_rel):
                    return e.rule
                continue
            found = self._check(
                [e],
                path,
                is_dir=is_dir,
                want=want,
                ignore_perishable=ignore_perishable,
                xattr=xattr,
                root_rel=root_rel,
            )
            if found is not None:
                return found
        return entries.entry(best).rule if best < index.length else None

    def _check(
        self,
        entries: Iterable[_Entry],
        path: bytes,
        *,
        is_dir: bool,
        want: int | None,
        ignore_perishable: bool,
        xattr: bool,
        root_rel: bytes,
    ) -> FilterRule | None:
        found = self._first(
            entries,
            path,
            is_dir=is_dir,
            want=want,
            ignore_perishable=ignore_perishable,
            xattr=xattr,
            root_rel=root_rel,
        )
        return None if found is None else found[0].rule

    def _first(
        self,
        entries: Iterable[_Entry],
        path: bytes,
        *,
        is_dir: bool,
        want: int | None,
        ignore_perishable: bool,
        xattr: bool,
        root_rel: bytes,
    ) -> tuple[_Entry, _MergeSlot | int | None] | None:
        """The first rule that decides for ``path``, and the list it is in.

        The list is the per-directory merge slot, :data:`_CVS` for the global CVS list,
        or None for ``entries`` itself (what ``--debug=FILTER`` tells as the rule's
        debug type).

        rsync: exclude.c:check_filter().
        """
        for e in entries:
            if ignore_perishable and e.perishable:
                continue
            where: _MergeSlot | int
            if e.slot is not None:
                sub = e.slot.entries
                where = e.slot
            elif e.kind == _CVS:
                sub = self._cvs.entries() if self._cvs is not None else []
                where = _CVS
            else:
                if want is not None and e.sides and not e.sides & want:
                    continue
                if e.matches(path, is_dir=is_dir, xattr=xattr, root_rel=root_rel):
                    return e, None
                continue
            if sub:
                found = self._first(
                    sub,
                    path,
                    is_dir=is_dir,
                    want=want,
                    ignore_perishable=ignore_perishable,
                    xattr=xattr,
                    root_rel=root_rel,
                )
                if found is not None:
                    return found if found[1] is not None else (found[0], where)
        return None

    # -- per-directory merge files ---------------------------------------------------------

    def enter_dir(self, dirpath: bytes, read_file: ReadFile) -> DirToken:
        """Enter a directory of the walk: load its per-directory merge files.

        Call it before checking the directory's entries (the directory itself was
        checked with its parent's rules), and :meth:`leave_dir` with the token
        after them; calls nest like the walk.

        Args:
            dirpath: the directory relative to the transfer root (``b""`` or
                ``b"."`` for the root itself).
            read_file: loads a merge file (see the class docstring); a missing
                per-directory file is simply skipped.

        Returns:
            The token for :meth:`leave_dir`.

        Raises:
            FilterError: a rule in a merge file does not parse, or a ``.`` merge
                named in one cannot be read.

        rsync: exclude.c:push_local_filters() and setup_merge_file().
        """
        before = self._dirbuf
        self._set_dir(dirpath)
        if not any(self._active):
            return _DirState([], len(self._active), before)
        saved = [(slot, slot.entries) for slot in self._active if slot is not None]
        state = _DirState(saved, len(self._active), before)
        outer_reader = self._reader
        self._reader = read_file
        try:
            i = 0
            while i < len(self._active):
                slot = self._active[i]
                i += 1
                if slot is None:
                    continue
                inherited = [] if slot.rule.flags & _F.NO_INHERIT else slot.entries
                target = _Target(self._packed(), inherited)
                if slot.needs_setup:
                    slot.needs_setup = False
                    if self._setup_merge(slot, target, read_file):
                        self._set_dir(dirpath)
                path = self._dirbuf + slot.name
                if len(path) >= _MAXPATHLEN:
                    self.io_error |= 1  # IOERR_GENERAL
                    shown = (
                        _FROM_FILE_EARLIER
                        if slot.from_file
                        else path[: _MAXPATHLEN - 1].decode("utf-8", "backslashreplace")
                    )
                    _log.error("cannot add local filter rules in long-named directory: %s", shown)
                else:
                    data = read_file(self._callback_path(path))
                    if data is not None:
                        self._add_slot_file(slot, target, data, path)
                slot.entries = target.entries()
        finally:
            self._reader = outer_reader
        return state

    def leave_dir(self, token: DirToken) -> None:
        """Leave the directory :meth:`enter_dir` returned ``token`` for.

        rsync: exclude.c:pop_local_filters().
        """
        del self._active[token.active_len :]
        while self._active and self._active[-1] is None:
            self._active.pop()
        for slot, entries in token.saved:
            slot.entries = entries
        self._dirbuf = token.dirbuf

    @contextlib.contextmanager
    def in_dir(self, dirpath: bytes, read_file: ReadFile) -> Iterator[None]:
        """Context-manager form of :meth:`enter_dir` / :meth:`leave_dir`."""
        token = self.enter_dir(dirpath, read_file)
        try:
            yield
        finally:
            self.leave_dir(token)

    # -- internals -------------------------------------------------------------------------

    def _root_dir(self) -> bytes:
        root = self._root
        return root if root == b"/" else root + b"/"

    def _set_dir(self, dirpath: bytes) -> None:
        """rsync: exclude.c:set_filter_dir()."""
        if dirpath.startswith(b"/"):
            d = _clean_fname(dirpath)
        else:
            d = _clean_fname(self._root_dir() + dirpath)
        self._dirbuf = d if d == b"/" else d + b"/"

    def _callback_path(self, path: bytes) -> bytes:
        if not path.startswith(b"/"):
            return path
        root = self._root_dir()
        if path.startswith(root):
            return path[len(root) :]
        return path

    def _dirprefix(self) -> bytes:
        return self._dirbuf[:-1] if len(self._dirbuf) > 1 else b""

    def _merge_name(self, name: bytes, shown: str | None) -> bytes | None:
        """A merge file's name, relative ones joined to the directory being scanned.

        ``shown`` is what a message says instead of the name when the rule came from a
        file (None: the name is the user's own and is shown). Returns None, after
        rsync's error, when the joined name would not fit in a path.

        rsync: exclude.c:parse_merge_name().
        """
        if not self._parent_dirscan and not name.startswith(b"/") and b"/" not in name:
            return name
        fn = _clean_fname(name)
        if not fn.startswith(b"/"):
            if len(self._dirbuf) + len(fn) >= _MAXPATHLEN:
                text = shown if shown is not None else fn.decode("utf-8", "backslashreplace")
                _log.error("merge-file name overflows: %s", text)
                return None
            fn = _clean_fname(self._dirbuf + fn)
        return fn

    def _add_text(
        self, target: _Target, text: bytes, tmpl: RuleFlag, xflags: int, *, origin: _Origin | None
    ) -> None:
        """rsync: exclude.c:parse_filter_str()."""
        text = text.split(b"\0", 1)[0]
        pos = 0
        while True:
            tok = _parse_tok(
                text,
                pos,
                tmpl,
                old_prefixes=bool(xflags & _XFLG_OLD_PREFIXES),
                delete_excluded=self.delete_excluded,
                origin=origin,
            )
            if tok is None:
                return
            flags, pat, pos = tok
            self._add_parsed(target, flags, pat, xflags, origin)

    def _add_parsed(
        self, target: _Target, flags: int, pat: bytes, xflags: int, origin: _Origin | None = None
    ) -> None:
        if len(pat) >= _MAXPATHLEN:
            _log.warning("discarding over-long filter: %s", rule_text(pat, origin))
            return
        if flags & _I.CLEAR_LIST:
            self._clear(target)
            return
        if flags & _I.MERGE_FILE:
            if not pat:
                pat = b".cvsignore"
            if flags & _I.EXCLUDE_SELF:
                # a merge file's own rule keeps its provenance (never echoed by a trace)
                self._append(target, pat[pat.rfind(b"/") + 1 :], flags & _I.FROM_FILE, 0)
                flags &= ~_I.EXCLUDE_SELF
            if flags & _I.PERDIR_MERGE:
                self._per_dir = True
                if self._parent_dirscan:
                    name = self._merge_name(pat, origin.rule_text() if origin else None)
                    if name is not None:
                        self._append(target, name, flags, 0, origin)
                    return
            else:
                name = self._merge_name(pat, origin.rule_text() if origin else None)
                if name is not None:
                    self._read_merge(target, name, RuleFlag(flags), origin)
                return
        self._append(target, pat, flags, xflags, origin)
        if flags & _I.CVS_IGNORE and not flags & _I.MERGE_FILE:
            self._get_cvs_excludes(RuleFlag(flags))

    def _append(
        self,
        target: _Target,
        pat: bytes,
        flags: int,
        xflags: int,
        origin: _Origin | None = None,
    ) -> None:
        """rsync: exclude.c:add_rule() (the list and merge-slot half).

        ``origin`` is where the rule was read, when that was a file.
        """
        if self.debug_rules is not None and pat[-1:] in (b" ", b"\t"):
            self._note_trailing(target, pat, flags, origin)
        if (
            self._drop_sides is not None
            and xflags & (_XFLG_ANCHORED2ABS | _XFLG_ABS_IF_SLASH)
            and flags & _I_SIDES == self._drop_sides
        ):
            return
        fl, pattern, _ = _make_raw(pat, flags, xflags, self._dirprefix())
        slot = None
        if fl & _I.PERDIR_MERGE:  # _make_raw keeps this bit
            base = pattern[pattern.rfind(b"/") + 1 :]
            for other in self._active:
                if other is not None and other.name[other.name.rfind(b"/") + 1 :] == base:
                    return
            rule = FilterRule(flags=_rule_flag(fl), pattern=pattern)
            from_file = bool(flags & _I.FROM_FILE)
            shown = base.decode("utf-8", "backslashreplace")
            if from_file:
                shown = origin.rule_text() if origin is not None else _FROM_FILE_EARLIER
            slot = _MergeSlot(rule, from_file=from_file, shown=shown)
            self._active.append(slot)
        elif flags & _I.FROM_FILE:
            fl |= _I.FROM_FILE  # kept for the --debug=FILTER trace (stripped from .rule)
        target.local.append(fl, pattern, slot)

    def _note_trailing(
        self, target: _Target, pat: bytes, flags: int, origin: _Origin | None
    ) -> None:
        """``--debug=FILTER``: a rule ending in whitespace, told as rsync's add_rule() does.

        A rule read from a file is told by where it was read, without the warning (the
        warning would tell whether a line the peer cannot see ends in a space). The
        rules of a per-directory list are told by the list they go to.

        rsync: exclude.c add_rule() (``-- CAUTION: trailing whitespace!``), rule_detail().
        """
        if self.debug_rules is None:
            return
        if target is self._main:
            kind = ""
        elif target is self._cvs:
            kind = " [global CVS]"
        elif self._adding is not None:
            kind = f" [per-dir {self._adding.shown}]"
        else:
            return
        if flags & _I.FROM_FILE:
            if origin is not None:
                self.debug_rules.append(f"[{self.who}] add_rule({origin.rule_text()}){kind}")
            return
        shown = FilterRule(flags=_rule_flag(flags & ~_I.FINISH_SETUP), pattern=pat)
        prefix = _rule_prefix(shown, for_xfer=False, protocol=_NEWEST_PROTOCOL) or b""
        text = (prefix + pat).decode("utf-8", "backslashreplace")
        self.debug_rules.append(
            f"[{self.who}] add_rule({text}){kind} -- CAUTION: trailing whitespace!"
        )

    def _deactivate(self, slots: Iterable[_MergeSlot]) -> None:
        for slot in slots:
            for k, other in enumerate(self._active):
                if other is slot:
                    self._active[k] = None
        while self._active and self._active[-1] is None:
            self._active.pop()

    def _clear(self, target: _Target) -> None:
        """rsync: exclude.c:pop_filter_list() followed by head = NULL."""
        self._deactivate(target.local.slots.values())
        target.local = self._packed()
        target.inherited = []

    def _read_merge(
        self, target: _Target, name: bytes, tmpl: RuleFlag, named_at: _Origin | None
    ) -> None:
        """A ``.`` rule: read and merge the file now (rsync: parse_filter_file(FATAL)).

        ``named_at`` is where the rule was read, when it came out of a file: then the
        name is file content, and neither it nor why the open failed (an existence
        oracle) is shown.
        """
        shown = name.decode("utf-8", "backslashreplace") if named_at is None else None
        if self._merge_depth >= _MAX_MERGE_DEPTH:
            where = shown if named_at is None else named_at.rule_text()
            msg = f"merge-file include depth limit ({_MAX_MERGE_DEPTH}) exceeded at {where}"
            raise FilterError(msg, exit_code=ExitCode.FILEIO)
        data = None if self._reader is None else self._reader(self._callback_path(name))
        if data is None:
            kind = "include" if tmpl & _F.INCLUDE else "exclude"
            if named_at is not None:
                msg = f"failed to open {kind} file {named_at.rule_text()}"
                raise FilterError(msg, exit_code=ExitCode.FILEIO)
            msg = f"failed to open {kind} file {shown}"
            raise FilterError(msg, exit_code=ExitCode.FILEIO)
        origin = _Origin(shown, 0, None if named_at is None else named_at.where())
        self._add_file(target, data, tmpl, _XFLG_FATAL_ERRORS, origin)

    def _add_file(
        self, target: _Target, data: bytes, tmpl: RuleFlag, xflags: int, origin: _Origin | str
    ) -> None:
        """rsync: exclude.c:parse_filter_file() (after the open).

        ``origin`` is the file's name for messages, or its :class:`_Origin` (a name
        that is ``None`` when the name itself came out of a file).
        """
        if isinstance(origin, str):
            origin = _Origin(origin, 0)
        self._merge_depth += 1
        try:
            word_split = bool(tmpl & _F.WORD_SPLIT)
            lines = _split_lines(data, word_split=word_split, from0=self.from0, origin=origin)
            for number, line in lines:
                here = _Origin(origin.name, number, origin.named_at)
                self._add_text(target, line, tmpl, xflags, origin=here)
        finally:
            self._merge_depth -= 1

    def _add_slot_file(self, slot: _MergeSlot, target: _Target, data: bytes, path: bytes) -> None:
        """A per-directory merge file's rules, into its list."""
        outer, self._adding = self._adding, slot
        try:
            shown = path
            if self.shown_root is not None and path.startswith(b"/"):
                shown = self.shown_root.rstrip(b"/") + path
            self._add_file(
                target, data, slot.rule.flags, _XFLG_ANCHORED2ABS, _slot_origin(slot, shown)
            )
        finally:
            self._adding = outer

    def _get_cvs_excludes(self, flags: RuleFlag) -> None:
        """rsync: exclude.c:get_cvs_excludes() (once per list)."""
        if self._cvs is not None:
            return
        self._cvs = cvs = _Target(self._packed(), [])
        perishable = _F.PERISHABLE if self.protocol >= 30 else _F(0)
        self._add_text(cvs, DEFAULT_CVSIGNORE, flags | perishable, 0, origin=None)
        if self._home_cvsignore is not None:
            self._add_file(cvs, self._home_cvsignore, flags, 0, "$HOME/.cvsignore")
        if self._cvsignore_env:
            self._add_text(cvs, self._cvsignore_env, flags, 0, origin=_Origin("$CVSIGNORE", -1))

    def _setup_merge(self, slot: _MergeSlot, target: _Target, read_file: ReadFile) -> bool:
        """Scan the parent directories for a merge file named with a path.

        rsync: exclude.c:setup_merge_file().
        """
        x = self._merge_name(slot.name, _FROM_FILE_EARLIER if slot.from_file else None)
        if x is None or not x.startswith(b"/"):
            return False
        parent, _, base = x.rpartition(b"/")
        slot.name = base
        buf = _clean_fname(parent or b"/")
        if buf != b"/":
            buf += b"/"
        dirbuf = self._dirbuf
        remaining = dirbuf[len(buf) :] if dirbuf.startswith(buf) else b""
        comps = remaining.split(b"/")[:-1] if remaining else []
        cur = buf
        self._parent_dirscan = True
        try:
            for comp in comps:
                self._dirbuf = cur
                path = cur + base
                data = read_file(self._callback_path(path))
                if data is not None:
                    self._add_slot_file(slot, target, data, path)
                if slot.rule.flags & _F.NO_INHERIT:
                    self._deactivate(target.local.slots.values())
                    target.local = self._packed()
                    target.inherited = []
                else:
                    target.inherited = target.entries()
                    target.local = self._packed()
                cur = cur + comp + b"/"
        finally:
            self._parent_dirscan = False
            self._dirbuf = dirbuf
        return True


def _slot_origin(slot: _MergeSlot, path: bytes) -> _Origin:
    """Where a per-directory merge file's rules come from (unnamed if a file named it)."""
    if slot.from_file:
        return _Origin(None, 0)  # read long after the file that named it: no location
    return _Origin(path.decode("utf-8", "backslashreplace"), 0)


def _as_bytes(value: bytes | str) -> bytes:
    return value.encode("utf-8", "surrogateescape") if isinstance(value, str) else value
