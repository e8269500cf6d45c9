"""rsync's filter rules: parsing, the wire list, and matching (no I/O).

What is here:

* :func:`parse_rule` turns one rule text (``--filter``, ``--exclude`` or
  ``--include`` syntax, or a rule received from the peer) into a
  :class:`FilterRule`;
* :class:`FilterList` is an ordered rule list built the way rsync builds its own
  (``.`` merge files expanded through a callback, ``!`` clearing, ``-C`` and
  ``:C`` CVS rules, the ``e`` self-exclusion), answering "is this name
  excluded?" exactly as rsync's ``check_filter()`` does, including per-directory
  merge files (``:`` rules, ``-F``) that the caller loads while it walks the tree
  with :meth:`FilterList.enter_dir` / :meth:`FilterList.leave_dir`;
* :func:`encode_filter_list_into` and :func:`decode_filter_list` are the wire
  codec of the list a client sends to the server, with rsync's choice of which
  rules travel and how they are spelled for old protocols;
* :meth:`FilterList.from_daemon_config` builds a daemon module's own rule chain
  from its ``filter``/``include``/``exclude`` parameters.

What is not here: no file is opened and no directory is read. Merge files reach
this module as bytes returned by a ``read_file(path)`` callback, which the caller
owns (and confines: rsync refuses symlinks planted by a peer, keeps reads inside
a daemon module, and treats files hidden by the daemon's own rules as missing).
The wildcard matcher itself is :mod:`rsync_wire.proto.wildmatch`.

How matching works (rsync: exclude.c:rule_matches()): a pattern with no ``/``
(other than a trailing one) and no ``**`` is matched against the last path
component only. Otherwise it is matched against the path relative to the
transfer root: a leading ``/`` anchors it there, else it may match any trailing
part of the path that starts after a ``/`` (with no ``**``: exactly the last
N+1 components for N slashes; with an inner ``**``: from the start or after any
``/``; a pattern starting with ``**`` also sees a leading ``/``). A trailing
``/`` limits a rule to directories, and a trailing ``***`` lets ``dir/***``
match the directory itself too. The first rule that matches decides.

Per-directory merge files (rsync: exclude.c:push_local_filters()): every ``:``
rule owns a sub-list that sits at the rule's place in the list. Entering a
directory reads the merge file there; its rules go in front of the rules
inherited from the parent directories (none with the ``n`` modifier), and a
``!`` in it drops everything inherited. Anchored rules in such a file are
anchored at the file's directory. Leaving the directory restores the sub-lists.
A ``:`` rule whose file name contains a directory that is a parent of the
transfer root (``-F`` is ``: /.rsync-filter``) first reads the file in each
directory from there down to the root's parent.

Deliberate differences from rsync, none visible with lists rsync itself builds:
side modifiers are honoured when asking (``for_sender``) instead of through
rsync's per-process "elide" marks and parse-time drops, so a server given an
``s`` rule by a foreign client applies it only as a sender; a ``.`` merge rule
received from a client is refused rather than read; "filter rules are too
modern" is raised when encoding, not also when the list is not sent at all.
"""

from __future__ import annotations

import contextlib
import logging
import re
from array import array
from collections.abc import Callable
from enum import IntFlag, StrEnum
from typing import TYPE_CHECKING, Final, TypeAlias

import msgspec

from rsync_wire.errors import (
    AllocationLimitError,
    ExitCode,
    LocalProtocolError,
    RemoteProtocolError,
    RsyncError,
)
from rsync_wire.proto.codec import NeedMoreData, decode_int32, encode_int32_into
from rsync_wire.proto.options import DEFAULT_MAX_ALLOC
from rsync_wire.proto.wildmatch import compile_wildmatch, has_wildcards

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence

    from rsync_wire.proto.wildmatch import WildPattern

__all__ = [
    "DEFAULT_CVSIGNORE",
    "F_OPTION_RULES",
    "MAX_RULE_TEXT",
    "RULE_COST",
    "DirToken",
    "FilterAction",
    "FilterError",
    "FilterList",
    "FilterListReader",
    "FilterRule",
    "ReadFile",
    "RuleFlag",
    "cvs_exclude_rules",
    "decode_filter_list",
    "encode_filter_list_into",
    "filter_list_is_sent",
    "filter_rule_texts",
    "parse_rule",
    "parse_rules",
]

_log = logging.getLogger(__name__)

ReadFile: TypeAlias = Callable[[bytes], bytes | None]
"""The callback that loads a merge file: path in, contents out, None if missing."""

RULE_COST: Final = 16
"""Bytes a received rule holds once parsed, besides its text (its end offset, flag number
and hash-table slot; see :class:`_Packed` and :class:`_Index`): what ``--max-alloc`` is
charged with the rule's wire bytes."""

MAX_RULE_TEXT: Final = 5119
"""Longest rule text accepted from the wire (rsync: BIGPATHBUFLEN - 1 on Linux)."""

_MAXPATHLEN: Final = 4096
_MAX_MERGE_DEPTH: Final = 32
_NEWEST_PROTOCOL: Final = 32

DEFAULT_CVSIGNORE: Final = (
    b"RCS SCCS CVS CVS.adm RCSLOG cvslog.* tags TAGS .make.state .nse_depinfo *~ #* .#* ,* _$* "
    b"*$ *.old *.bak *.BAK *.orig *.rej .del-* *.a *.olb *.o *.obj *.so *.exe *.Z *.elc *.ln "
    b"core .svn/ .git/ .hg/ .bzr/"
)
"""The built-in CVS ignore list of ``-C`` (rsync: DEFAULT_CVSIGNORE, from rsync.1.md)."""

F_OPTION_RULES: Final = (b": /.rsync-filter", b"- .rsync-filter")
"""The ``--filter`` rules added by the first and the second ``-F`` (rsync: options.c)."""


class RuleFlag(IntFlag):
    """Flags of a filter rule, with rsync's bit values.

    rsync: rsync.h (FILTRULE_*).
    """

    WILD = 1 << 0  # FILTRULE_WILD: pattern has '*', '[' or '?'
    WILD2 = 1 << 1  # FILTRULE_WILD2: pattern has '**'
    WILD2_PREFIX = 1 << 2  # FILTRULE_WILD2_PREFIX: pattern starts with '**'
    WILD3_SUFFIX = 1 << 3  # FILTRULE_WILD3_SUFFIX: pattern ends with '***'
    ABS_PATH = 1 << 4  # FILTRULE_ABS_PATH: match against the absolute path
    INCLUDE = 1 << 5  # FILTRULE_INCLUDE
    DIRECTORY = 1 << 6  # FILTRULE_DIRECTORY: matches directories only
    WORD_SPLIT = 1 << 7  # FILTRULE_WORD_SPLIT
    NO_INHERIT = 1 << 8  # FILTRULE_NO_INHERIT
    NO_PREFIXES = 1 << 9  # FILTRULE_NO_PREFIXES
    MERGE_FILE = 1 << 10  # FILTRULE_MERGE_FILE
    PERDIR_MERGE = 1 << 11  # FILTRULE_PERDIR_MERGE
    EXCLUDE_SELF = 1 << 12  # FILTRULE_EXCLUDE_SELF
    FINISH_SETUP = 1 << 13  # FILTRULE_FINISH_SETUP (internal to rsync; never set here)
    NEGATE = 1 << 14  # FILTRULE_NEGATE
    CVS_IGNORE = 1 << 15  # FILTRULE_CVS_IGNORE
    SENDER_SIDE = 1 << 16  # FILTRULE_SENDER_SIDE
    RECEIVER_SIDE = 1 << 17  # FILTRULE_RECEIVER_SIDE
    CLEAR_LIST = 1 << 18  # FILTRULE_CLEAR_LIST
    PERISHABLE = 1 << 19  # FILTRULE_PERISHABLE
    XATTR = 1 << 20  # FILTRULE_XATTR
    FROM_FILE = 1 << 21  # FILTRULE_FROM_FILE (internal to rsync; never set here)


_F = RuleFlag
_SIDES: Final = _F.SENDER_SIDE | _F.RECEIVER_SIDE
_FROM_CONTAINER: Final = _F.ABS_PATH | _F.INCLUDE | _F.DIRECTORY | _F.NEGATE | _F.PERISHABLE
_WILD_FLAGS: Final = _F.WILD | _F.WILD2 | _F.WILD2_PREFIX | _F.WILD3_SUFFIX


class _I:
    """The :class:`RuleFlag` bits as plain ints, for the per-rule paths.

    IntFlag arithmetic costs about a microsecond an operation (a new enum member each
    time): a million received rules paid for it dozens of times each.
    """

    WILD: Final = int(RuleFlag.WILD)
    WILD2: Final = int(RuleFlag.WILD2)
    WILD2_PREFIX: Final = int(RuleFlag.WILD2_PREFIX)
    WILD3_SUFFIX: Final = int(RuleFlag.WILD3_SUFFIX)
    ABS_PATH: Final = int(RuleFlag.ABS_PATH)
    INCLUDE: Final = int(RuleFlag.INCLUDE)
    DIRECTORY: Final = int(RuleFlag.DIRECTORY)
    WORD_SPLIT: Final = int(RuleFlag.WORD_SPLIT)
    NO_INHERIT: Final = int(RuleFlag.NO_INHERIT)
    NO_PREFIXES: Final = int(RuleFlag.NO_PREFIXES)
    MERGE_FILE: Final = int(RuleFlag.MERGE_FILE)
    PERDIR_MERGE: Final = int(RuleFlag.PERDIR_MERGE)
    EXCLUDE_SELF: Final = int(RuleFlag.EXCLUDE_SELF)
    FINISH_SETUP: Final = int(RuleFlag.FINISH_SETUP)
    NEGATE: Final = int(RuleFlag.NEGATE)
    CVS_IGNORE: Final = int(RuleFlag.CVS_IGNORE)
    SENDER_SIDE: Final = int(RuleFlag.SENDER_SIDE)
    RECEIVER_SIDE: Final = int(RuleFlag.RECEIVER_SIDE)
    CLEAR_LIST: Final = int(RuleFlag.CLEAR_LIST)
    PERISHABLE: Final = int(RuleFlag.PERISHABLE)
    XATTR: Final = int(RuleFlag.XATTR)
    FROM_FILE: Final = int(RuleFlag.FROM_FILE)


_I_SIDES: Final = _I.SENDER_SIDE | _I.RECEIVER_SIDE
_I_FROM_CONTAINER: Final = _I.ABS_PATH | _I.INCLUDE | _I.DIRECTORY | _I.NEGATE | _I.PERISHABLE
_I_WILD_FLAGS: Final = _I.WILD | _I.WILD2 | _I.WILD2_PREFIX | _I.WILD3_SUFFIX

# Parse-context flags (rsync: rsync.h XFLG_*).
_XFLG_FATAL_ERRORS: Final = 1 << 0
_XFLG_OLD_PREFIXES: Final = 1 << 1
_XFLG_ANCHORED2ABS: Final = 1 << 2
_XFLG_ABS_IF_SLASH: Final = 1 << 3
_XFLG_DIR2WILD3: Final = 1 << 4

_SPACE: Final = frozenset(b" \t\n\v\f\r")


class FilterAction(StrEnum):
    """What a rule does, named by its short rule character."""

    EXCLUDE = "-"
    INCLUDE = "+"
    MERGE = "."
    DIR_MERGE = ":"
    CLEAR = "!"


class FilterError(RsyncError):
    """A filter rule that cannot be parsed, or a merge file that must exist and does not.

    Syntax errors carry exit code 1 (RERR_SYNTAX); a missing merge file carries 11
    (RERR_FILEIO), as in rsync.
    """

    exit_code = ExitCode.SYNTAX


class FilterRule(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One parsed filter rule.

    ``pattern`` is stored as rsync stores it: without the trailing ``/`` of a
    directory-only rule (that is :attr:`dir_only`), and, for rules read from a
    per-directory merge file, with an anchored pattern prefixed by that file's
    directory. ``flags`` holds everything else (:class:`RuleFlag`), and the
    properties below name the flags.

    rsync: rsync.h (struct filter_struct).
    """

    flags: RuleFlag
    pattern: bytes
    slash_cnt: int = 0
    """Number of ``/`` in :attr:`pattern` (rsync: u.slash_cnt); 0 for merge rules."""

    @property
    def action(self) -> FilterAction:
        """The rule's kind; hide/show/protect/risk are excludes/includes with a side flag."""
        f = self.flags
        if f & _F.CLEAR_LIST:
            return FilterAction.CLEAR
        if f & _F.PERDIR_MERGE:
            return FilterAction.DIR_MERGE
        if f & _F.MERGE_FILE:
            return FilterAction.MERGE
        return FilterAction.INCLUDE if f & _F.INCLUDE else FilterAction.EXCLUDE

    @property
    def include(self) -> bool:
        """An include (``+``, ``show``, ``risk``) rather than an exclude."""
        return bool(self.flags & _F.INCLUDE)

    @property
    def anchored(self) -> bool:
        """The pattern starts with ``/`` (anchored at the transfer root or merge-file dir)."""
        return self.pattern.startswith(b"/")

    @property
    def dir_only(self) -> bool:
        """The rule had a trailing ``/`` and matches directories only."""
        return bool(self.flags & _F.DIRECTORY)

    @property
    def negate(self) -> bool:
        """The ``!`` modifier: the rule applies when the pattern does not match."""
        return bool(self.flags & _F.NEGATE)

    @property
    def sender_side(self) -> bool:
        """The ``s`` modifier (or ``hide``/``show``)."""
        return bool(self.flags & _F.SENDER_SIDE)

    @property
    def receiver_side(self) -> bool:
        """The ``r`` modifier (or ``protect``/``risk``)."""
        return bool(self.flags & _F.RECEIVER_SIDE)

    @property
    def perishable(self) -> bool:
        """The ``p`` modifier: ignored while deleting a directory's contents."""
        return bool(self.flags & _F.PERISHABLE)

    @property
    def xattr(self) -> bool:
        """The ``x`` modifier: the rule matches xattr names, not file names."""
        return bool(self.flags & _F.XATTR)

    @property
    def abs_path(self) -> bool:
        """Matched against the absolute path (``/`` modifier, or a per-dir/daemon anchor)."""
        return bool(self.flags & _F.ABS_PATH)

    @property
    def cvs_ignore(self) -> bool:
        """A ``-C`` rule (the global CVS list) or ``:C`` rule (per-dir ``.cvsignore``)."""
        return bool(self.flags & _F.CVS_IGNORE)

    @property
    def no_inherit(self) -> bool:
        """Merge modifier ``n``: per-directory rules are not inherited by subdirectories."""
        return bool(self.flags & _F.NO_INHERIT)

    @property
    def word_split(self) -> bool:
        """Merge modifier ``w``: the file is split on whitespace, not lines."""
        return bool(self.flags & _F.WORD_SPLIT)

    @property
    def merge_content(self) -> FilterAction | None:
        """Merge modifier ``+``/``-``: the file holds only includes/excludes, without prefixes."""
        if not self.flags & _F.NO_PREFIXES or self.flags & _F.CVS_IGNORE:
            return None
        return FilterAction.INCLUDE if self.flags & _F.INCLUDE else FilterAction.EXCLUDE

    @property
    def exclude_self(self) -> bool:
        """Merge modifier ``e``: the merge file's own name is excluded."""
        return bool(self.flags & _F.EXCLUDE_SELF)

    @property
    def has_wildcards(self) -> bool:
        """The pattern is matched with wildcards (else compared literally, backslashes too)."""
        return bool(self.flags & _F.WILD)

    @property
    def has_double_star(self) -> bool:
        """The pattern contains ``**`` (which can match ``/``)."""
        return bool(self.flags & _F.WILD2)

    @property
    def matches_full_path(self) -> bool:
        """Matched against the path (pattern has a non-trailing ``/`` or ``**``), else the name."""
        return self.slash_cnt > 0 or bool(self.flags & _F.WILD2)

    def to_text(self) -> bytes:
        """The rule in ``--filter`` syntax, with every modifier (as rsync's debug output shows it).

        rsync: exclude.c:get_rule_prefix() with for_xfer = 0.
        """
        prefix = _rule_prefix(self, for_xfer=False, protocol=_NEWEST_PROTOCOL) or b""
        return prefix + self.pattern + (b"/" if self.flags & _F.DIRECTORY else b"")


# -- parsing -------------------------------------------------------------------------------

_LONG_NAMES: Final[dict[int, tuple[bytes, int]]] = {
    ord("c"): (b"clear", ord("!")),
    ord("d"): (b"dir-merge", ord(":")),
    ord("e"): (b"exclude", ord("-")),
    ord("h"): (b"hide", ord("H")),
    ord("i"): (b"include", ord("+")),
    ord("m"): (b"merge", ord(".")),
    ord("p"): (b"protect", ord("P")),
    ord("r"): (b"risk", ord("R")),
    ord("s"): (b"show", ord("S")),
}


class _Origin:
    """Where rule text comes from, for error messages (rsync: exclude.c:rule_src_where())."""

    __slots__ = ("line", "name")

    def __init__(self, name: str, line: int) -> None:
        self.name = name
        self.line = line

    def where(self) -> str:
        return self.name if self.line < 0 else f"{self.name} line {self.line}"


_UNKNOWN_RULE: Final = "Unknown filter rule"
_BAD_MODIFIER: Final = "invalid modifier"
_SIDED_MERGE: Final = "specified-side merge file contains specified-side filter"
_CLEAR_TRAILING: Final = "'!' rule has trailing characters"
_UNEXPECTED_END: Final = "unexpected end of filter rule"


def _syntax_error(msg: str, text: bytes, origin: _Origin | None, detail: str = "") -> FilterError:
    # Like rsync 3.5, never echo text that came out of a file: the peer may choose the file.
    if origin is None:
        shown = text.decode("utf-8", "backslashreplace")
        return FilterError(
            f"{msg}{detail} in filter rule: {shown}" if detail else f"{msg}: {shown}"
        )
    return FilterError(f"{msg}: <rule from {origin.where()}>")


def _parse_tok(
    s: bytes,
    pos: int,
    tmpl: RuleFlag,
    *,
    old_prefixes: bool,
    delete_excluded: bool,
    origin: _Origin | None,
) -> tuple[int, bytes, int] | None:
    """Parse the next rule of ``s`` from ``pos``; return (flags, pattern, next pos) or None.

    rsync: exclude.c:parse_rule_tok().
    """
    n = len(s)

    def at(k: int) -> int:
        return s[k] if k < n else 0

    t = int(tmpl)
    word_split = bool(t & _I.WORD_SPLIT)
    if word_split:
        while pos < n and s[pos] in _SPACE:
            pos += 1
    if pos >= n:
        return None
    whole = s[pos:]
    flags = t & _I_FROM_CONTAINER
    i = pos
    if t & _I.NO_PREFIXES:
        if s[i] == 0x21 and t & _I.CVS_IGNORE:
            flags |= _I.CLEAR_LIST  # tentative
    elif old_prefixes:
        if s[i] == 0x2D and at(i + 1) == 0x20:
            flags &= ~_I.INCLUDE
            i += 2
        elif s[i] == 0x2B and at(i + 1) == 0x20:
            flags |= _I.INCLUDE
            i += 2
        elif s[i] == 0x21:
            flags |= _I.CLEAR_LIST  # tentative
    else:
        c = s[i]
        long_name = _LONG_NAMES.get(c)
        if long_name is not None:
            word, ch = long_name
            nxt = at(i + len(word))
            if not s.startswith(word, i):
                raise _syntax_error(_UNKNOWN_RULE, whole, origin)
            if nxt in _SPACE or nxt in (0x5F, 0):
                i += len(word) - 1
            elif nxt == 0x2C:
                i += len(word)
            else:
                raise _syntax_error(_UNKNOWN_RULE, whole, origin)
        else:
            ch = c
            if at(i + 1) == 0x2C:
                i += 1
        side_prefix = False
        if ch == 0x3A:  # ':'
            flags |= _I.PERDIR_MERGE | _I.MERGE_FILE
        elif ch == 0x2E:  # '.'
            flags |= _I.MERGE_FILE
        elif ch == 0x2B:  # '+'
            flags |= _I.INCLUDE
        elif ch == 0x2D:  # '-'
            pass
        elif ch in (0x53, 0x48):  # 'S', 'H'
            flags |= _I.SENDER_SIDE | (_I.INCLUDE if ch == 0x53 else 0)
            side_prefix = True
        elif ch in (0x52, 0x50):  # 'R', 'P'
            flags |= _I.RECEIVER_SIDE | (_I.INCLUDE if ch == 0x52 else 0)
            side_prefix = True
        elif ch == 0x21:  # '!'
            flags |= _I.CLEAR_LIST
        else:
            raise _syntax_error(_UNKNOWN_RULE, whole, origin)
        if ch != 0x21:
            while True:
                i += 1
                m = at(i)
                if m in (0, 0x20, 0x5F):
                    break
                if word_split and m in _SPACE:
                    i -= 1
                    break
                ok = True
                if m in (0x2D, 0x2B):  # '-' / '+': merge file without prefixes
                    ok = bool(flags & _I.MERGE_FILE) and not flags & _I.NO_PREFIXES
                    flags |= _I.NO_PREFIXES | (_I.INCLUDE if m == 0x2B else 0)
                elif m == 0x2F:  # '/'
                    flags |= _I.ABS_PATH
                elif m == 0x21:  # '!'
                    ok = not flags & _I.MERGE_FILE
                    flags |= _I.NEGATE
                elif m == 0x43:  # 'C'
                    ok = not flags & _I.NO_PREFIXES and not side_prefix
                    flags |= _I.NO_PREFIXES | _I.WORD_SPLIT | _I.NO_INHERIT | _I.CVS_IGNORE
                elif m == 0x65:  # 'e'
                    ok = bool(flags & _I.MERGE_FILE)
                    flags |= _I.EXCLUDE_SELF
                elif m == 0x6E:  # 'n'
                    ok = bool(flags & _I.MERGE_FILE)
                    flags |= _I.NO_INHERIT
                elif m == 0x70:  # 'p'
                    flags |= _I.PERISHABLE
                elif m in (0x72, 0x73):  # 'r' / 's'
                    ok = not side_prefix
                    flags |= _I.RECEIVER_SIDE if m == 0x72 else _I.SENDER_SIDE
                elif m == 0x77:  # 'w'
                    ok = bool(flags & _I.MERGE_FILE)
                    flags |= _I.WORD_SPLIT
                elif m == 0x78:  # 'x'
                    flags |= _I.XATTR
                else:
                    ok = False
                if not ok:
                    detail = f" '{chr(m)}' at position {i - pos}" if origin is None else ""
                    raise _syntax_error(_BAD_MODIFIER, whole, origin, detail)
        if at(i):
            i += 1
    if t & _I_SIDES:
        if flags & _I_SIDES:
            raise _syntax_error(_SIDED_MERGE, whole, origin)
        flags |= t & _I_SIDES
    if word_split:
        end = i
        while end < n and s[end] not in _SPACE:
            end += 1
    else:
        end = n
    length = end - i
    if flags & _I.CLEAR_LIST:
        if not t & _I.NO_PREFIXES and not old_prefixes and length:
            raise _syntax_error(_CLEAR_TRAILING, whole, origin)
        if length > 1:
            flags &= ~_I.CLEAR_LIST
    elif not length and not flags & _I.CVS_IGNORE:
        raise _syntax_error(_UNEXPECTED_END, whole, origin)
    if delete_excluded and not flags & (_I_SIDES | _I.MERGE_FILE | _I.PERDIR_MERGE):
        flags |= _I.SENDER_SIDE
    return flags, s[i:end], end


def _make_raw(pat: bytes, flags: int, xflags: int, dirprefix: bytes) -> tuple[int, bytes, int]:
    """Finish a rule as rsync's add_rule() does: (flags, pattern, slash count).

    rsync: exclude.c:add_rule().
    """
    fl = int(flags) & ~(_I_WILD_FLAGS | _I.FINISH_SETUP | _I.FROM_FILE)
    if len(pat) > 1 and pat.endswith(b"/"):
        pat = pat[:-1]
        fl |= _I.DIRECTORY
    slash_cnt = pat.count(b"/")
    prefix = b""
    if not fl & (_I.ABS_PATH | _I.MERGE_FILE) and (
        (xflags & (_XFLG_ANCHORED2ABS | _XFLG_ABS_IF_SLASH) and pat.startswith(b"/"))
        or (xflags & _XFLG_ABS_IF_SLASH and slash_cnt)
    ):
        fl |= _I.ABS_PATH
        if pat.startswith(b"/"):
            prefix = dirprefix
    suffix = b""
    if xflags & _XFLG_DIR2WILD3 and fl & _I.DIRECTORY and not fl & _I.INCLUDE:
        fl &= ~_I.DIRECTORY
        suffix = b"/***"
    pattern = prefix + pat + suffix if prefix or suffix else pat
    slash_cnt += prefix.count(b"/") + (1 if suffix else 0)
    if has_wildcards(pattern):
        fl |= _I.WILD
        k = pattern.find(b"**")
        if k >= 0:
            fl |= _I.WILD2
            if k == 0:
                fl |= _I.WILD2_PREFIX
            if pattern.endswith(b"***"):
                fl |= _I.WILD3_SUFFIX
    if fl & _I.PERDIR_MERGE:
        slash_cnt = 0
    return fl, pattern, slash_cnt


def _rule_flag(fl: int) -> RuleFlag:
    flag = _FLAGS.get(fl)
    if flag is None:
        flag = _FLAGS[fl] = RuleFlag(fl)
    return flag


def _make_rule(pat: bytes, flags: int, xflags: int, dirprefix: bytes) -> FilterRule:
    """:func:`_make_raw` as a :class:`FilterRule`."""
    fl, pattern, slash_cnt = _make_raw(pat, flags, xflags, dirprefix)
    return FilterRule(flags=_rule_flag(fl), pattern=pattern, slash_cnt=slash_cnt)


_FLAGS: dict[int, RuleFlag] = {}
"""RuleFlag values already built (RuleFlag(int) costs more than the rest of a rule)."""


def _template_for(
    default_type: FilterAction | None, *, protocol: int, from_wire: bool
) -> tuple[RuleFlag, int]:
    if from_wire:
        return _F(0), (_XFLG_OLD_PREFIXES if protocol < 29 else 0)
    if default_type is None:
        return _F(0), 0
    if default_type is FilterAction.INCLUDE:
        return _F.INCLUDE, _XFLG_OLD_PREFIXES
    if default_type is FilterAction.EXCLUDE:
        return _F(0), _XFLG_OLD_PREFIXES
    msg = f"default_type must be INCLUDE, EXCLUDE or None, not {default_type!r}"
    raise ValueError(msg)


def parse_rules(
    text: bytes,
    *,
    protocol: int = _NEWEST_PROTOCOL,
    from_wire: bool = False,
    default_type: FilterAction | None = None,
    word_split: bool = False,
    delete_excluded: bool = False,
) -> list[FilterRule]:
    """Parse rule text into rules, without expanding merges or applying ``!``.

    Args:
        text: one rule, or (with ``word_split``) whitespace-separated rules. An
            empty text gives no rule, like ``--exclude=''``.
        protocol: the session's protocol version (matters only with ``from_wire``).
        from_wire: the text was received from a client; below protocol 29 only the
            old ``- ``/``+ `` prefixes and a lone ``!`` are understood.
        default_type: ``None`` for ``--filter`` syntax (a rule type is required);
            :attr:`FilterAction.EXCLUDE` / :attr:`FilterAction.INCLUDE` for
            ``--exclude`` / ``--include`` syntax (bare pattern, optional ``- ``
            or ``+ `` prefix, lone ``!`` clears).
        word_split: split on whitespace, as rsync does for a daemon's parameters.
        delete_excluded: ``--delete-excluded`` is on (plain rules become sender-side).

    Returns:
        The rules, finished as rsync's ``add_rule()`` does (trailing ``/`` turned
        into :attr:`FilterRule.dir_only`, wildcard flags set).

    Raises:
        FilterError: on a syntax error (exit code 1).

    rsync: exclude.c:parse_filter_str() (the parsing half).
    """
    tmpl, xflags = _template_for(default_type, protocol=protocol, from_wire=from_wire)
    if word_split:
        tmpl |= _F.WORD_SPLIT
    text = text.split(b"\0", 1)[0]
    out: list[FilterRule] = []
    pos = 0
    while True:
        tok = _parse_tok(
            text,
            pos,
            tmpl,
            old_prefixes=bool(xflags & _XFLG_OLD_PREFIXES),
            delete_excluded=delete_excluded,
            origin=None,
        )
        if tok is None:
            return out
        flags, pat, pos = tok
        if flags & _F.MERGE_FILE and not pat:
            pat = b".cvsignore"
        if flags & _F.CLEAR_LIST:
            out.append(FilterRule(flags=RuleFlag(flags), pattern=b""))
        elif flags & _F.MERGE_FILE and not flags & _F.PERDIR_MERGE:
            out.append(FilterRule(flags=RuleFlag(flags), pattern=pat))
        else:
            out.append(_make_rule(pat, flags, xflags, b""))


def parse_rule(
    text: bytes,
    *,
    protocol: int = _NEWEST_PROTOCOL,
    from_wire: bool = False,
    default_type: FilterAction | None = None,
    delete_excluded: bool = False,
) -> FilterRule:
    """Parse exactly one rule (see :func:`parse_rules` for the arguments).

    Examples: ``parse_rule(b"- *.o")``, ``parse_rule(b"dir-merge,n- .excl")``,
    ``parse_rule(b"foo/", default_type=FilterAction.EXCLUDE)`` (``--exclude=foo/``).

    Raises:
        FilterError: on a syntax error or an empty text.

    rsync: exclude.c:parse_rule_tok() and add_rule().
    """
    rules = parse_rules(
        text,
        protocol=protocol,
        from_wire=from_wire,
        default_type=default_type,
        delete_excluded=delete_excluded,
    )
    if not rules:
        msg = "empty filter rule"
        raise FilterError(msg)
    return rules[0]


# -- rule prefixes and the wire list -------------------------------------------------------


def _rule_prefix(
    rule: FilterRule,
    *,
    for_xfer: bool,
    protocol: int,
    am_sender: bool = False,
    delete_excluded: bool = False,
) -> bytes | None:
    """The ``<type><modifiers> `` prefix of a rule, or None if ``protocol`` cannot say it.

    rsync: exclude.c:get_rule_prefix().
    """
    f = rule.flags
    pat = rule.pattern
    if f & _F.CLEAR_LIST:
        return b"!"
    legal_len = 1 if for_xfer and protocol < 29 else 15
    op = bytearray()
    if f & _F.MERGE_FILE and not f & _F.PERDIR_MERGE:  # only seen when displaying
        op += b"."
    elif f & _F.PERDIR_MERGE:
        if legal_len == 1:
            return None
        op += b":"
    elif f & _F.INCLUDE:
        op += b"+"
    elif legal_len != 1 or (pat[:1] in (b"-", b"+") and pat[1:2] == b" "):
        op += b"-"
    else:
        legal_len = 0
    if f & _F.ABS_PATH:
        op += b"/"
    if f & _F.NEGATE:
        op += b"!"
    if f & _F.CVS_IGNORE:
        op += b"C"
    else:
        if f & _F.NO_INHERIT:
            op += b"n"
        if f & _F.WORD_SPLIT:
            op += b"w"
        if f & _F.NO_PREFIXES:
            op += b"+" if f & _F.INCLUDE else b"-"
    if f & _F.EXCLUDE_SELF:
        op += b"e"
    if f & _F.XATTR:
        op += b"x"
    if f & _F.SENDER_SIDE and (not for_xfer or protocol >= 29):
        op += b"s"
    if f & _F.RECEIVER_SIDE and (not for_xfer or protocol >= 29 or (delete_excluded and am_sender)):
        op += b"r"
    if f & _F.PERISHABLE:
        if not for_xfer or protocol >= 30:
            op += b"p"
        elif am_sender:
            return None
    if len(op) > legal_len:
        return None
    if legal_len:
        op += b" "
    return bytes(op)


_LOCAL_RULE: Final = 1
_REMOTE_RULE: Final = 2


def _default_cvs_rules(protocol: int) -> list[FilterRule]:
    perishable = _F.PERISHABLE if protocol >= 30 else _F(0)
    return [_make_rule(w, perishable, 0, b"") for w in DEFAULT_CVSIGNORE.split()]


def filter_rule_texts(
    rules: FilterList | Iterable[FilterRule],
    *,
    protocol: int,
    client_is_sender: bool,
    delete_excluded: bool = False,
) -> list[bytes]:
    """The rule texts a client sends for ``rules``, in order (without the terminator).

    Rules that only concern the client's own side are left out; ``-C`` becomes the
    CVS ignore list when the client sends or the protocol is below 29; below
    protocol 29 the old spelling is used (bare pattern for an exclude).

    Args:
        rules: a :class:`FilterList` (its top-level rules and its CVS list) or rules.
        protocol: the negotiated protocol version.
        client_is_sender: the client sends files (a push).
        delete_excluded: ``--delete-excluded`` is on.

    Returns:
        The texts; a directory-only rule ends in ``/``.

    Raises:
        LocalProtocolError: "filter rules are too modern for remote rsync" (exit
            code 2) when a rule needs more than ``protocol`` can express.

    rsync: exclude.c:send_rules().
    """
    if isinstance(rules, FilterList):
        top: Sequence[FilterRule] = rules.rules
        cvs = rules.cvs_rules
    else:
        top = list(rules)
        cvs = None
    out: list[bytes] = []
    am_sender = client_is_sender

    def walk(seq: Sequence[FilterRule], *, send: bool) -> None:
        nonlocal cvs
        for rule in seq:
            f = rule.flags
            elide = 0
            if f & _F.SENDER_SIDE:
                elide = _LOCAL_RULE if am_sender else _REMOTE_RULE
            if f & _F.RECEIVER_SIDE:
                elide = 0 if elide else (_REMOTE_RULE if am_sender else _LOCAL_RULE)
            elif delete_excluded and not elide and (not f & _F.PERDIR_MERGE or f & _F.NO_PREFIXES):
                elide = _LOCAL_RULE if am_sender else _REMOTE_RULE
            if elide == _LOCAL_RULE:
                continue
            if f & _F.CVS_IGNORE and not f & _F.MERGE_FILE:
                if cvs is None:
                    cvs = _default_cvs_rules(protocol)
                expand = am_sender or protocol < 29
                walk(cvs, send=send and expand)
                if expand:
                    continue
            prefix = _rule_prefix(
                rule,
                for_xfer=True,
                protocol=protocol,
                am_sender=am_sender,
                delete_excluded=delete_excluded,
            )
            if prefix is None:
                msg = "filter rules are too modern for remote rsync."
                raise LocalProtocolError(msg)
            if not send:
                continue
            text = prefix + rule.pattern + (b"/" if f & _F.DIRECTORY else b"")
            if text:
                out.append(text)

    walk(top, send=True)
    return out


def encode_filter_list_into(
    buf: bytearray,
    rules: FilterList | Iterable[FilterRule],
    *,
    protocol: int,
    client_is_sender: bool,
    delete_excluded: bool = False,
) -> None:
    """Append the client's filter list to ``buf``: each rule as i32 length + text, then i32 0.

    Call it only when the list is sent at all (:func:`filter_list_is_sent`);
    otherwise rsync writes nothing, not even the terminator.

    Raises:
        LocalProtocolError: see :func:`filter_rule_texts`.

    rsync: exclude.c:send_filter_list() and send_rules().
    """
    texts = filter_rule_texts(
        rules, protocol=protocol, client_is_sender=client_is_sender, delete_excluded=delete_excluded
    )
    for text in texts:
        encode_int32_into(buf, len(text))
        buf += text
    encode_int32_into(buf, 0)


def decode_filter_list(
    buf: bytes | bytearray | memoryview,
    pos: int,
    *,
    resume: object = None,
    max_alloc: int = DEFAULT_MAX_ALLOC,
) -> tuple[list[bytes], int]:
    """Decode a whole filter list (rule texts up to the i32 0 terminator).

    Sans-IO: when ``buf`` ends before the terminator this raises
    :class:`~rsync_wire.proto.codec.NeedMoreData`; read more and call again from
    the same ``pos``, passing the exception's ``resume`` back (a million-rule list
    arrives in many reads; without it every read decoded the list from its start).
    A rule text is cut at its first NUL, as rsync's C string is.

    Returns:
        The rule texts and the position after the terminator. Parse them with
        :meth:`FilterList.add_received`.

    Args:
        buf: the input buffer.
        pos: where the list starts.
        resume: the ``resume`` of the last :class:`NeedMoreData` raised for this list.
        max_alloc: ``--max-alloc``: a list whose rules would hold more (each is charged
            :data:`RULE_COST` bytes plus its text) is refused.

    Raises:
        NeedMoreData: the list is not complete yet.
        RemoteProtocolError: a negative length, or a rule longer than
            :data:`MAX_RULE_TEXT` bytes.
        AllocationLimitError: the list outgrows ``max_alloc``.

    rsync: exclude.c:recv_filter_list().
    """
    first = pos
    out: list[bytes] = []
    if isinstance(resume, _ListProgress):
        out = resume.texts
        pos = first + resume.consumed
    while True:
        start = pos
        try:
            length, pos = decode_int32(buf, pos)
        except NeedMoreData:
            raise NeedMoreData(_ListProgress(start - first, out)) from None
        if length == 0:
            return out, pos
        if length < 0 or length > MAX_RULE_TEXT:
            msg = (
                f"filter rule length {length} at offset {start} is out of range "
                f"(expected 1..{MAX_RULE_TEXT})"
            )
            raise RemoteProtocolError(msg)
        if pos + length > len(buf):
            raise NeedMoreData(_ListProgress(start - first, out))
        out.append(bytes(buf[pos : pos + length]).split(b"\0", 1)[0])
        pos += length
        if (pos - first) + len(out) * RULE_COST > max_alloc:
            msg = f"[sender] exceeded --max-alloc={max_alloc} setting (file=exclude.c)"
            raise AllocationLimitError(msg)


class _ListProgress:
    """How far :func:`decode_filter_list` got: bytes consumed from the start, texts so far."""

    __slots__ = ("consumed", "texts")

    def __init__(self, consumed: int, texts: list[bytes]) -> None:
        self.consumed = consumed
        self.texts = texts


class FilterListReader:
    """Reads the client's filter list into a :class:`FilterList` as its bytes arrive.

    Sans-IO: call :meth:`decode_some` with the input buffer and the position to read
    from; it adds every complete rule there and returns ``(done, position)``, or raises
    :class:`~rsync_wire.proto.codec.NeedMoreData` when not even one rule is complete.
    Call it until ``done`` (``WireStream.decode`` does the reading); the caller's buffer
    never holds more than one read of the list. The checks are those of
    :func:`decode_filter_list`. With ``flist=None`` the rules are checked and dropped
    (a server that refuses the transfer still reads the list, as rsync does).

    rsync: exclude.c:recv_filter_list().
    """

    __slots__ = ("charged", "flist", "max_alloc", "protocol")

    def __init__(
        self,
        flist: FilterList | None,
        *,
        protocol: int = _NEWEST_PROTOCOL,
        max_alloc: int = DEFAULT_MAX_ALLOC,
    ) -> None:
        self.flist = flist
        self.protocol = protocol
        self.max_alloc = max_alloc
        self.charged = 0

    def decode_some(self, buf: bytes | bytearray | memoryview, pos: int) -> tuple[bool, int]:
        """Add the complete rules at ``buf[pos:]``: (whether the list ended, new position).

        Raises:
            NeedMoreData: not one complete rule (or terminator) at ``pos``.
            RemoteProtocolError: a negative length, or a rule longer than
                :data:`MAX_RULE_TEXT` bytes; a ``.`` merge rule.
            FilterError: a rule that does not parse.
            AllocationLimitError: the list outgrows ``max_alloc``.
        """
        progressed = False
        end = len(buf)
        while True:
            if end - pos < 4:
                break
            length = int.from_bytes(buf[pos : pos + 4], "little", signed=True)
            if length == 0:
                return True, pos + 4
            if length < 0 or length > MAX_RULE_TEXT:
                msg = f"filter rule length {length} is out of range (expected 1..{MAX_RULE_TEXT})"
                raise RemoteProtocolError(msg)
            if pos + 4 + length > end:
                break
            text = bytes(buf[pos + 4 : pos + 4 + length])
            pos += 4 + length
            self.charged += 4 + length + RULE_COST
            if self.charged > self.max_alloc:
                msg = f"[sender] exceeded --max-alloc={self.max_alloc} setting (file=exclude.c)"
                raise AllocationLimitError(msg)
            if self.flist is not None:
                self.flist._add_received_one(text, self.protocol)
            progressed = True
        if not progressed:
            raise NeedMoreData(None)
        return False, pos


def filter_list_is_sent(
    *,
    client_is_sender: bool,
    local: bool,
    delete_mode: bool,
    delete_excluded: bool,
    prune_empty_dirs: bool,
    protocol: int,
) -> bool:
    """Whether the client sends (and the server reads) a filter list at all.

    Always when the server is the sender; to a receiving server only when it wants
    the rules (a delete mode, unless ``--delete-excluded`` below protocol 29, or
    ``--prune-empty-dirs``); never in a local copy.

    rsync: exclude.c:send_filter_list()/recv_filter_list() (receiver_wants_list).
    """
    if local:
        return False
    receiver_wants_list = prune_empty_dirs or (
        delete_mode and (not delete_excluded or protocol >= 29)
    )
    return not client_is_sender or receiver_wants_list


def cvs_exclude_rules(
    *, protocol: int, am_sender: bool, am_server: bool, local: bool = False
) -> tuple[tuple[bytes, ...], tuple[bytes, ...]]:
    """The rules the ``-C`` option adds, as (before sending/after receiving, after sending).

    A client adds the first tuple with :meth:`FilterList.add_filter` before
    encoding its list and the second after; a server adds the first tuple right
    after :meth:`FilterList.add_received` (its second tuple is empty).

    rsync: exclude.c:send_filter_list() and recv_filter_list() (the cvs_exclude parts).
    """
    if am_server:
        first: list[bytes] = []
        if local or am_sender or protocol < 29:
            first.append(b":C")
        if local or am_sender:
            first.append(b"-C")
        return tuple(first), ()
    if am_sender:
        before = (b":C", b"-C") if protocol >= 29 else (b"-C",)
        after = (b":C",) if protocol < 29 else ()
        return before, after
    return (), (b":C", b"-C")


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


def _split_lines(data: bytes, *, word_split: bool, from0: bool) -> Iterator[tuple[int, bytes]]:
    """Yield (line number, token) as rsync's parse_filter_file() reads a merge file."""
    if word_split:
        seps = rb"[ \t\n\v\f\r\x00]+" if from0 else rb"[ \t\n\v\f\r]+"
        for tok in re.split(seps, data):
            if tok:
                yield -1, tok
        return
    lines = data.split(b"\0") if from0 else re.split(rb"\r\n|\r|\n", data)
    for number, line in enumerate(lines, 1):
        if len(line) > MAX_RULE_TEXT:
            _log.warning("discarding over-long filter at line %d", number)
            continue
        if line and line[:1] not in (b";", b"#"):
            yield number, line


# -- the list ------------------------------------------------------------------------------

_NEVER: Final = compile_wildmatch(b"[")  # placeholder for literal rules; matches nothing

_PLAIN: Final = 0
_SLOT: Final = 1
_CVS: Final = 2

_MODE_LIT_EQ: Final = 0  # literal, compare whole string
_MODE_LIT_SUFFIX: Final = 1  # literal, compare a trailing part starting after '/'
_MODE_WILD: Final = 2  # wildcard, whole string
_MODE_WILD_TAIL: Final = 3  # wildcard, last n elements
_MODE_WILD_ANY: Final = 4  # wildcard, from the start or after any '/'


class _MergeSlot:
    """The state of one per-directory merge rule (rsync: a mergelist_parents entry)."""

    __slots__ = ("entries", "name", "needs_setup", "rule")

    def __init__(self, rule: FilterRule) -> None:
        self.rule = rule
        self.name = rule.pattern
        self.needs_setup = True
        self.entries: list[_Entry] = []


class _Entry:
    """A rule prepared for matching."""

    __slots__ = (
        "abs_prefix",
        "basename",
        "dir_only",
        "include",
        "kind",
        "lit",
        "mode",
        "n",
        "negate",
        "perishable",
        "rule",
        "sides",
        "slot",
        "w2_prefix",
        "w3_suffix",
        "wp",
        "xattr",
    )

    def __init__(self, rule: FilterRule, slot: _MergeSlot | None = None) -> None:
        f = int(rule.flags)
        self.rule = rule
        self.slot = slot
        if f & _I.PERDIR_MERGE:
            self.kind = _SLOT
        elif f & _I.CVS_IGNORE:
            self.kind = _CVS
        else:
            self.kind = _PLAIN
        self.sides = f & _I_SIDES
        self.perishable = bool(f & _I.PERISHABLE)
        self.include = bool(f & _I.INCLUDE)
        self.negate = bool(f & _I.NEGATE)
        self.xattr = bool(f & _I.XATTR)
        self.dir_only = bool(f & _I.DIRECTORY)
        wild2 = bool(f & _I.WILD2)
        self.basename = rule.slash_cnt == 0 and not wild2
        self.abs_prefix = bool(f & _I.ABS_PATH)
        self.w2_prefix = bool(f & _I.WILD2_PREFIX)
        self.w3_suffix = bool(f & _I.WILD3_SUFFIX)
        pattern = rule.pattern
        anchored = pattern.startswith(b"/")
        if anchored:
            pattern = pattern[1:]
        self.lit = pattern
        self.n = rule.slash_cnt + 1
        self.wp: WildPattern | None = _NEVER
        if f & _I.WILD:
            self.wp = None  # compiled on first use: most of a long list may never be reached
            if not anchored and rule.slash_cnt and not wild2:
                self.mode = _MODE_WILD_TAIL
            elif not anchored and not self.w2_prefix and wild2:
                self.mode = _MODE_WILD_ANY
            else:
                self.mode = _MODE_WILD
        else:
            self.mode = _MODE_LIT_EQ if anchored else _MODE_LIT_SUFFIX

    def matches(self, fname: bytes, *, is_dir: bool, xattr: bool, root_rel: bytes) -> bool:
        """rsync: exclude.c:rule_matches() (True when the rule applies, negation included)."""
        lead = fname.startswith(b"/")
        name = fname[1:] if lead else fname
        if not name or xattr != self.xattr:
            return False
        if self.basename:
            name = name[name.rfind(b"/") + 1 :]
        elif self.abs_prefix and not lead and root_rel:
            name = root_rel + b"/" + name
        elif self.w2_prefix and not lead:
            name = b"/" + name
        if is_dir:
            if self.w3_suffix:
                name += b"/"
        elif self.dir_only:
            return self.negate
        mode = self.mode
        if mode == _MODE_LIT_SUFFIX:
            lit = self.lit
            hit = name.endswith(lit) and (
                len(name) == len(lit) or name[len(name) - len(lit) - 1] == 0x2F
            )
        elif mode == _MODE_LIT_EQ:
            hit = name == self.lit
        else:
            wp = self.wp
            if wp is None:
                wp = self.wp = compile_wildmatch(self.lit)
            if mode == _MODE_WILD:
                hit = wp.match(name)
            elif mode == _MODE_WILD_TAIL:
                hit = wp.match_tail(name, self.n)
            else:
                hit = wp.match_any_start(name)
        return hit != self.negate


_INDEX_MIN: Final = 32
"""Lists shorter than this are checked rule by rule; longer ones get an :class:`_Index`."""

_CACHE_MAX: Final = 1024
"""How many prepared :class:`_Entry` objects a :class:`_Packed` list keeps (its first ones)."""

_WILD_BYTES: Final = frozenset(b"*?[\\")

_CLASS_BITS: Final = _I.DIRECTORY | _I.PERISHABLE | _I_SIDES
"""The flags that decide whether a rule applies to a query at all (not what it matches)."""


class _Packed:
    """The rules of one list, packed into one byte string.

    A rule held as Python objects (text, :class:`FilterRule`, :class:`_Entry`, compiled
    matcher) costs about 700 bytes; a hostile client may send a million rules, and a
    connection process must stay under 64 MiB. Here a rule is a record in :attr:`blob`:
    a byte numbering its flags (in :attr:`fvals`; 255 and 3 bytes of flags after it
    once 255 different flag sets were seen), the pattern, and a NUL (a pattern never
    holds one: rsync cuts rule texts at the first). A rule is named by the offset of its
    record, so offsets sort in list order. :class:`_Entry` objects are made when a rule
    is matched, and kept only for the first :data:`_CACHE_MAX` rules made (all of them
    in a list as long as people write) and for per-directory merge rules.
    """

    __slots__ = ("blob", "cache", "count", "fmap", "fvals", "slots")

    def __init__(self) -> None:
        self.blob = bytearray()
        self.count = 0
        self.fvals: list[int] = []
        self.fmap: dict[int, int] = {}
        self.slots: dict[int, _MergeSlot] = {}
        self.cache: dict[int, _Entry] = {}

    def __len__(self) -> int:
        return self.count

    def append(self, flags: int, pattern: bytes, slot: _MergeSlot | None = None) -> None:
        blob = self.blob
        if len(blob) + len(pattern) + 5 > _MAX_BLOB:
            msg = "filter rules outgrow 4 GiB"
            raise AllocationLimitError(msg)
        if slot is not None:
            self.slots[len(blob)] = slot
        k = self.fmap.get(flags)
        if k is None and len(self.fvals) < 255:
            k = self.fmap[flags] = len(self.fvals)
            self.fvals.append(flags)
        if k is None:
            blob.append(255)
            blob += flags.to_bytes(3, "little")
        else:
            blob.append(k)
        blob += pattern
        blob.append(0)
        self.count += 1

    def _head(self, off: int) -> tuple[int, int]:
        """(flags, start of the pattern) of the record at ``off``."""
        k = self.blob[off]
        if k == 255:
            return int.from_bytes(self.blob[off + 1 : off + 4], "little"), off + 4
        return self.fvals[k], off + 1

    def flags(self, off: int) -> int:
        return self._head(off)[0]

    def flags_pattern(self, off: int) -> tuple[int, bytes]:
        fl, start = self._head(off)
        return fl, bytes(self.blob[start : self.blob.index(0, start)])

    def pattern(self, off: int) -> bytes:
        start = self._head(off)[1]
        return bytes(self.blob[start : self.blob.index(0, start)])

    def rule(self, off: int) -> FilterRule:
        fl, start = self._head(off)
        pattern = bytes(self.blob[start : self.blob.index(0, start)])
        slash = 0 if fl & _I.PERDIR_MERGE else pattern.count(b"/")
        return FilterRule(flags=_rule_flag(fl), pattern=pattern, slash_cnt=slash)

    def entry(self, off: int) -> _Entry:
        e = self.cache.get(off)
        if e is None:
            slot = self.slots.get(off)
            e = _Entry(self.rule(off), slot)
            if len(self.cache) < _CACHE_MAX or slot is not None:
                self.cache[off] = e
            elif e.wp is None:
                # Past the cache, a pattern is compiled for this use only: through
                # compile_wildmatch's own LRU cache, a long list of distinct wildcards
                # would keep 4,096 compiled patterns alive (a few MiB).
                e.wp = compile_wildmatch.__wrapped__(e.lit)
        return e

    def offsets(self) -> Iterator[int]:
        """The offset of every rule, in order."""
        blob = self.blob
        off = 0
        end = len(blob)
        while off < end:
            yield off
            start = off + (4 if blob[off] == 255 else 1)
            off = blob.index(0, start) + 1

    def __iter__(self) -> Iterator[_Entry]:
        for off in self.offsets():
            yield self.entry(off)


_MAX_BLOB: Final = (1 << 32) - 1
"""Offsets are kept in 32-bit arrays (a list this long is past any sane ``--max-alloc``)."""


def _index_key(flags: int, pattern: bytes) -> tuple[int, bytes] | None:
    """Which table of :class:`_Index` can find a rule by lookup (None: checked in order).

    Mirrors :class:`_Entry` (its mode) and :meth:`_Entry.matches`.
    """
    if flags & (_I.PERDIR_MERGE | _I.CVS_IGNORE | _I.NEGATE | _I.XATTR):
        return None
    wild2 = flags & _I.WILD2
    anchored = pattern.startswith(b"/")
    lit = pattern[1:] if anchored else pattern
    basename = not wild2 and b"/" not in pattern
    if not flags & _I.WILD:
        if anchored:
            return None if flags & _I.ABS_PATH else (_TBL_EQ, lit)
        if basename:
            return _TBL_BASE, lit
        return (_TBL_TAIL, lit) if not flags & _I.ABS_PATH and lit else None
    if basename and len(lit) > 1 and not anchored:
        # '*' matches any run without '/', and a last component has none.
        if lit[0] == 0x2A and not _WILD_BYTES.intersection(lit[1:]):
            return _TBL_SUFFIX, lit[1:]
        if lit[-1] == 0x2A and not _WILD_BYTES.intersection(lit[:-1]):
            return _TBL_PREFIX, lit[:-1]
    return None


_TBL_BASE: Final = 0  # literal matched against the last component: base == lit
_TBL_EQ: Final = 1  # anchored literal: name == lit
_TBL_TAIL: Final = 2  # literal with a '/': the trailing components of name == lit
_TBL_SUFFIX: Final = 3  # "*lit" on the last component: base.endswith(lit)
_TBL_PREFIX: Final = 4  # "lit*" on the last component: base.startswith(lit)


def _slot_hash(tbl: int, cls: int, key: bytes) -> int:
    return hash(key) ^ (tbl * 0x9E3779B97F4A7C15 + cls * 0xC2B2AE3D27D4EB4F)


class _Index:
    """The first matching rule of a long list, found without trying every rule.

    rsync tries the rules one by one (exclude.c:check_filter()); at about a microsecond
    a rule in Python, 100,000 rules against 1,000 names took 86 s. Most rules of long
    lists are literal names, anchored paths or ``*.ext``: each of those has a key (what
    it compares: the last component, the path, its last ``k`` bytes, ...), and an
    open-addressing hash table (two flat arrays, 5 bytes a slot; no Python object per
    rule) maps (table, class, key) to the first rule with that key (its offset in
    :class:`_Packed`, which sorts in list order), where the class
    is what decides whether a rule applies to a query at all (directory-only,
    perishable, side). A query looks the name up for each class that applies (once
    per distinct key length for the suffix tables), keeps the earliest position, then
    tries in order only the other rules placed before it. The answer is the one the
    plain loop gives.
    """

    __slots__ = ("classes", "fps", "generic", "length", "lengths", "packed", "size", "table")

    def __init__(self, packed: _Packed) -> None:
        self.packed = packed
        n = len(packed)
        self.length = len(packed.blob)  # past every offset: "no rule"
        self.generic = array("I")
        self.classes: set[int] = set()
        lengths: list[set[int]] = [set(), set(), set(), set(), set()]
        self.size = size = n + n // 4 + 1
        self.table = table = array("I", [0]) * size  # (from bytes: twice the memory)
        self.fps = fps = bytearray(size)
        for off in packed.offsets():
            fl, pattern = packed.flags_pattern(off)
            key = _index_key(fl, pattern)
            if key is None:
                self.generic.append(off)
                continue
            tbl, k = key
            cls = fl & _CLASS_BITS
            h = _slot_hash(tbl, cls, k)
            fp = (h >> 40) & 0xFF
            j = h % size
            while True:
                p = table[j]
                if not p:
                    table[j] = off + 1
                    fps[j] = fp
                    self.classes.add(cls)
                    lengths[tbl].add(len(k))
                    break
                if fps[j] == fp and self._key_at(p - 1) == (tbl, cls, k):
                    break  # an earlier rule has this key: it always wins
                j += 1
                if j == size:
                    j = 0
        self.lengths = [sorted(x) for x in lengths]

    def _key_at(self, off: int) -> tuple[int, int, bytes] | None:
        fl, pattern = self.packed.flags_pattern(off)
        key = _index_key(fl, pattern)
        return None if key is None else (key[0], fl & _CLASS_BITS, key[1])

    def _lookup(self, tbl: int, cls: int, key: bytes) -> int:
        h = _slot_hash(tbl, cls, key)
        fp = (h >> 40) & 0xFF
        size = self.size
        table = self.table
        fps = self.fps
        j = h % size
        while True:
            p = table[j]
            if not p:
                return self.length
            if fps[j] == fp and self._key_at(p - 1) == (tbl, cls, key):
                return p - 1
            j += 1
            if j == size:
                j = 0

    def first_indexed(
        self,
        path: bytes,
        *,
        is_dir: bool,
        want: int | None,
        ignore_perishable: bool,
    ) -> int:
        """Position of the first indexed rule that matches ``path`` (``length``: none)."""
        best = self.length
        name = path[1:] if path.startswith(b"/") else path
        if not name:
            return best
        base = name[name.rfind(b"/") + 1 :]
        n = len(name)
        nb = len(base)
        queries: list[tuple[int, bytes]] = [(_TBL_BASE, base), (_TBL_EQ, name)]
        queries.extend(
            (_TBL_TAIL, name[n - length :])
            for length in self.lengths[_TBL_TAIL]
            if length == n or (length < n and name[n - length - 1] == 0x2F)
        )
        queries.extend(
            (_TBL_SUFFIX, base[nb - length :])
            for length in self.lengths[_TBL_SUFFIX]
            if length <= nb
        )
        queries.extend(
            (_TBL_PREFIX, base[:length]) for length in self.lengths[_TBL_PREFIX] if length <= nb
        )
        for cls in self.classes:
            if (
                (ignore_perishable and cls & _I.PERISHABLE)
                or (want is not None and cls & _I_SIDES and not cls & want)
                or (cls & _I.DIRECTORY and not is_dir)
            ):
                continue
            for tbl, key in queries:
                if tbl >= _TBL_TAIL or self.lengths[tbl]:
                    best = min(best, self._lookup(tbl, cls, key))
        return best


class _Target:
    """Where parsed rules go: a list's local part, in front of its inherited part."""

    __slots__ = ("inherited", "local")

    def __init__(self, local: _Packed, inherited: list[_Entry]) -> None:
        self.local = local
        self.inherited = inherited

    def entries(self) -> list[_Entry]:
        return [*self.local, *self.inherited]


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
        self._main = _Target(_Packed(), [])
        self._active: list[_MergeSlot | None] = []
        self._cvs: _Target | None = None
        self._dirbuf = b""  # rsync's dirbuf: "" until the walk starts
        self._parent_dirscan = False
        self._merge_depth = 0
        self._drop_sides: RuleFlag | None = None
        self._per_dir = False
        self._index: _Index | None = None

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

    def wire_reader(
        self, *, protocol: int | None = None, max_alloc: int = DEFAULT_MAX_ALLOC
    ) -> FilterListReader:
        """A reader that adds the client's filter list to this list as it arrives.

        :meth:`add_received` over :func:`decode_filter_list`, without holding the list's
        texts or its wire bytes: a million-rule list costs what its rules cost.
        """
        return FilterListReader(
            self, protocol=self.protocol if protocol is None else protocol, max_alloc=max_alloc
        )

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
        for i in index.generic:
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
        for e in entries:
            if ignore_perishable and e.perishable:
                continue
            if e.slot is not None:
                sub = e.slot.entries
            elif e.kind == _CVS:
                sub = self._cvs.entries() if self._cvs is not None else []
            else:
                if want is not None and e.sides and not e.sides & want:
                    continue
                if e.matches(path, is_dir=is_dir, xattr=xattr, root_rel=root_rel):
                    return e.rule
                continue
            if sub:
                found = self._check(
                    sub,
                    path,
                    is_dir=is_dir,
                    want=want,
                    ignore_perishable=ignore_perishable,
                    xattr=xattr,
                    root_rel=root_rel,
                )
                if found is not None:
                    return found
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
                target = _Target(_Packed(), inherited)
                if slot.needs_setup:
                    slot.needs_setup = False
                    if self._setup_merge(slot, target, read_file):
                        self._set_dir(dirpath)
                path = self._dirbuf + slot.name
                data = read_file(self._callback_path(path))
                if data is not None:
                    self._add_file(
                        target,
                        data,
                        slot.rule.flags,
                        _XFLG_ANCHORED2ABS,
                        self._callback_path(path).decode("utf-8", "backslashreplace"),
                    )
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

    def _merge_name(self, name: bytes) -> bytes:
        """rsync: exclude.c:parse_merge_name()."""
        if not self._parent_dirscan and not name.startswith(b"/") and b"/" not in name:
            return name
        fn = _clean_fname(name)
        if not fn.startswith(b"/"):
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
            self._add_parsed(target, flags, pat, xflags)

    def _add_parsed(self, target: _Target, flags: int, pat: bytes, xflags: int) -> None:
        if len(pat) >= _MAXPATHLEN:
            _log.warning("discarding over-long filter (%d bytes)", len(pat))
            return
        if flags & _I.CLEAR_LIST:
            self._clear(target)
            return
        if flags & _I.MERGE_FILE:
            if not pat:
                pat = b".cvsignore"
            if flags & _I.EXCLUDE_SELF:
                self._append(target, pat[pat.rfind(b"/") + 1 :], 0, 0)
                flags &= ~_I.EXCLUDE_SELF
            if flags & _I.PERDIR_MERGE:
                self._per_dir = True
                if self._parent_dirscan:
                    self._append(target, self._merge_name(pat), flags, 0)
                    return
            else:
                self._read_merge(target, self._merge_name(pat), RuleFlag(flags))
                return
        self._append(target, pat, flags, xflags)
        if flags & _I.CVS_IGNORE and not flags & _I.MERGE_FILE:
            self._get_cvs_excludes(RuleFlag(flags))

    def _append(self, target: _Target, pat: bytes, flags: int, xflags: int) -> None:
        """rsync: exclude.c:add_rule() (the list and merge-slot half)."""
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
            slot = _MergeSlot(FilterRule(flags=_rule_flag(fl), pattern=pattern))
            self._active.append(slot)
        target.local.append(fl, pattern, slot)

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
        target.local = _Packed()
        target.inherited = []

    def _read_merge(self, target: _Target, name: bytes, tmpl: RuleFlag) -> None:
        """A ``.`` rule: read and merge the file now (rsync: parse_filter_file(FATAL))."""
        shown = name.decode("utf-8", "backslashreplace")
        if self._merge_depth >= _MAX_MERGE_DEPTH:
            msg = f"merge-file include depth limit ({_MAX_MERGE_DEPTH}) exceeded at {shown}"
            raise FilterError(msg, exit_code=ExitCode.FILEIO)
        data = None if self._reader is None else self._reader(self._callback_path(name))
        if data is None:
            kind = "include" if tmpl & _F.INCLUDE else "exclude"
            msg = f"failed to open {kind} file {shown}"
            raise FilterError(msg, exit_code=ExitCode.FILEIO)
        self._add_file(target, data, tmpl, _XFLG_FATAL_ERRORS, shown)

    def _add_file(
        self, target: _Target, data: bytes, tmpl: RuleFlag, xflags: int, name: str
    ) -> None:
        """rsync: exclude.c:parse_filter_file() (after the open)."""
        self._merge_depth += 1
        try:
            word_split = bool(tmpl & _F.WORD_SPLIT)
            for number, line in _split_lines(data, word_split=word_split, from0=self.from0):
                self._add_text(target, line, tmpl, xflags, origin=_Origin(name, number))
        finally:
            self._merge_depth -= 1

    def _get_cvs_excludes(self, flags: RuleFlag) -> None:
        """rsync: exclude.c:get_cvs_excludes() (once per list)."""
        if self._cvs is not None:
            return
        self._cvs = cvs = _Target(_Packed(), [])
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
        x = self._merge_name(slot.name)
        if not x.startswith(b"/"):
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
                    self._add_file(
                        target,
                        data,
                        slot.rule.flags,
                        _XFLG_ANCHORED2ABS,
                        path.decode("utf-8", "backslashreplace"),
                    )
                if slot.rule.flags & _F.NO_INHERIT:
                    self._deactivate(target.local.slots.values())
                    target.local = _Packed()
                    target.inherited = []
                else:
                    target.inherited = target.entries()
                    target.local = _Packed()
                cur = cur + comp + b"/"
        finally:
            self._parent_dirscan = False
            self._dirbuf = dirbuf
        return True


def _as_bytes(value: bytes | str) -> bytes:
    return value.encode("utf-8", "surrogateescape") if isinstance(value, str) else value
