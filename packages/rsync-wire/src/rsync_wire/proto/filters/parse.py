"""Rule texts into rules: rsync's ``--filter``, ``--exclude`` and ``--include`` syntax.

rsync: exclude.c parse_rule_tok(), parse_filter_str().
"""

from __future__ import annotations

from typing import Final

from rsync_wire.proto.filters.rules import (
    _F,
    _I,
    _I_FROM_CONTAINER,
    _I_SIDES,
    _I_WILD_FLAGS,
    _NEWEST_PROTOCOL,
    _SPACE,
    _XFLG_ABS_IF_SLASH,
    _XFLG_ANCHORED2ABS,
    _XFLG_DIR2WILD3,
    _XFLG_OLD_PREFIXES,
    FilterAction,
    FilterError,
    FilterRule,
    RuleFlag,
)
from rsync_wire.proto.wildmatch import has_wildcards

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
    """Where rule text comes from, for messages (rsync: exclude.c rule_src_where()).

    Rule text read from a file is never shown, only where it came from: the peer may
    choose which file gets merged (a per-directory merge rule travels over the
    protocol, or lies in the tree it sends). A file whose own name came out of a file
    is not named either (``name`` is ``None``): its location is the rule that named
    it (``named_at``), or, for a per-directory merge read long after that file,
    "a file read earlier".
    """

    __slots__ = ("line", "name", "named_at")

    def __init__(self, name: str | None, line: int, named_at: str | None = None) -> None:
        self.name = name
        self.line = line
        self.named_at = named_at

    def where(self) -> str:
        if self.name is None:
            if self.named_at is None:
                return "a file read earlier"
            return f"a file named at {self.named_at}"
        return self.name if self.line < 0 else f"{self.name} line {self.line}"

    def rule_text(self) -> str:
        """What a message shows instead of the rule text (rsync: exclude.c rule_text_len())."""
        return f"<rule from {self.where()}>"


def rule_text(text: bytes, origin: _Origin | None) -> str:
    """Rule text as a message may show it: an argument's as is, a file's as its origin."""
    if origin is None:
        return text.decode("utf-8", "backslashreplace")
    return origin.rule_text()


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
    return FilterError(f"{msg}: {origin.rule_text()}")


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
    if origin is not None:
        flags |= _I.FROM_FILE  # the rule's own text (a merge file's name) is file content
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
