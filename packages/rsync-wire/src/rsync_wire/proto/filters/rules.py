"""One filter rule: its flags, its value type, and how its prefix is spelled (no I/O).

rsync: exclude.c (the ``FILTRULE_*`` flags, get_rule_prefix()).
"""

from __future__ import annotations

from collections.abc import Callable
from enum import IntFlag, StrEnum
from typing import Final, TypeAlias

import msgspec

from rsync_wire.errors import (
    ExitCode,
    RsyncError,
)

ReadFile: TypeAlias = Callable[[bytes], bytes | None]
"""The callback that loads a merge file: path in, contents out, None if missing."""

RULE_COST: Final = 16
"""Bytes a received rule holds once parsed, besides its text (its record's code byte and
NUL, and its share of the index's hash table; see :class:`_Packed` and :class:`_Index`):
what ``--max-alloc`` is charged with the rule's wire bytes."""

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
    FROM_FILE = 1 << 21  # FILTRULE_FROM_FILE (internal: text read from a file; never kept)


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
