"""rsync's wildcard matcher for filter patterns (no I/O).

Semantics are those of rsync's ``lib/wildmatch.c``, which differ from POSIX
``fnmatch`` and from Python's :mod:`fnmatch`:

* ``?`` matches one byte other than ``/``;
* ``*`` matches any run of bytes without ``/``; two or more stars (``**``,
  ``***``) match any run of bytes including ``/``;
* ``[...]`` is a class of single bytes that never matches ``/``, even when
  negated with ``[!...]`` or ``[^...]``; it takes ranges (``a-z``), backslash
  escapes and the twelve POSIX ``[:name:]`` classes (ASCII meaning, as in the C
  locale); a ``]`` right after the opening bracket is literal;
* a backslash makes the next byte literal; a lone trailing backslash never
  matches;
* a malformed class (no closing ``]``, or an unknown ``[:name:]``) makes the
  whole pattern match nothing.

The meaning of a trailing ``***`` ("the directory and everything in it") is a
filter-rule matter and lives in :mod:`rsync_wire.proto.filters`.

How this works: a pattern is tokenised once (:func:`compile_wildmatch`, cached).
Patterns with at most one run of stars become a Python ``re`` pattern, for which
backtracking is at most linear in the text; patterns with several runs are
matched by an explicit-stack port of rsync's algorithm, whose two abort codes
(give up on everything; go back to the nearest ``**``) keep it from the
exponential blow-up that a regular expression with several ``.*`` would suffer on
hostile input. Both engines give the same answers; a Hypothesis test checks it.

This module does not know about rules, anchoring or directories.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "WildPattern",
    "compile_wildmatch",
    "has_wildcards",
    "wildmatch",
]

# -- tokens --------------------------------------------------------------------------------

# Token kinds. A token is a tuple (kind, value, table).
_LIT: Final = 0  # value: the byte, or -1 for "never matches" (a lone trailing backslash)
_ANY: Final = 1  # '?'
_CLASS: Final = 2  # table: 256 bytes, 1 where the byte is in the (final) set
_STAR: Final = 3  # value: 1 when the run had two or more stars ("special"), else 0
_BAD: Final = 4  # a malformed class: abort everything once reached

_Token = tuple[int, int, bytes]
_NO_TABLE: Final = b""
_BAD_TOKEN: Final[_Token] = (_BAD, 0, _NO_TABLE)

_TRUE: Final = 1
_FALSE: Final = 0
_ABORT_ALL: Final = -1
_ABORT_TO_STARSTAR: Final = -2

_SLASH: Final = 0x2F


def _ascii_set(pred: Callable[[int], bool]) -> frozenset[int]:
    return frozenset(c for c in range(128) if pred(c))


# The POSIX classes with their C-locale meaning; bytes >= 0x80 are in none of them.
_POSIX_CLASSES: Final[dict[bytes, frozenset[int]]] = {
    b"alnum": _ascii_set(lambda c: bytes([c]).isalnum()),
    b"alpha": _ascii_set(lambda c: bytes([c]).isalpha()),
    b"blank": frozenset(b" \t"),
    b"cntrl": _ascii_set(lambda c: c < 0x20 or c == 0x7F),
    b"digit": _ascii_set(lambda c: bytes([c]).isdigit()),
    b"graph": _ascii_set(lambda c: 0x21 <= c <= 0x7E),
    b"lower": _ascii_set(lambda c: bytes([c]).islower()),
    b"print": _ascii_set(lambda c: 0x20 <= c <= 0x7E),
    b"punct": _ascii_set(lambda c: 0x21 <= c <= 0x7E and not bytes([c]).isalnum()),
    b"space": frozenset(b" \t\n\v\f\r"),
    b"upper": _ascii_set(lambda c: bytes([c]).isupper()),
    b"xdigit": frozenset(b"0123456789abcdefABCDEF"),
}


def has_wildcards(pattern: bytes) -> bool:
    """Whether rsync would use wildcard matching for ``pattern`` (it has ``*``, ``?`` or ``[``).

    A pattern without any of them is compared literally, backslashes included.

    rsync: exclude.c:add_rule() (the FILTRULE_WILD test).
    """
    return b"*" in pattern or b"?" in pattern or b"[" in pattern


def _parse_class(p: bytes, i: int) -> tuple[_Token, int]:
    """Parse a class whose ``[`` is at ``p[i-1]``; return the token and the index after it.

    rsync: lib/wildmatch.c:dowild() (the '[' case).
    """
    n = len(p)
    members: set[int] = set()

    def at(k: int) -> int:
        return p[k] if k < n else 0

    ch = at(i)
    if ch == 0x5E:  # '^' is a synonym of '!'
        ch = 0x21
    negated = ch == 0x21
    if negated:
        i += 1
        ch = at(i)
    prev = 0
    while True:
        if ch == 0:
            return _BAD_TOKEN, n
        if ch == 0x5C:  # backslash: next byte literal
            i += 1
            ch = at(i)
            if ch == 0:
                return _BAD_TOKEN, n
            members.add(ch)
        elif ch == 0x2D and prev and at(i + 1) and at(i + 1) != 0x5D:  # a range "prev-x"
            i += 1
            ch = at(i)
            if ch == 0x5C:
                i += 1
                ch = at(i)
                if ch == 0:
                    return _BAD_TOKEN, n
            members.update(range(prev, ch + 1))
            ch = 0  # the next '-' cannot continue a range
        elif ch == 0x5B and at(i + 1) == 0x3A:  # "[:name:]"
            start = i + 2
            j = start
            while at(j) and at(j) != 0x5D:
                j += 1
            if not at(j):
                return _BAD_TOKEN, n
            if j - start - 1 < 0 or p[j - 1] != 0x3A:
                # No ":]": the '[' is an ordinary member and scanning resumes after it.
                members.add(0x5B)
                ch = 0x5B
            else:
                cls = _POSIX_CLASSES.get(p[start : j - 1])
                if cls is None:
                    return _BAD_TOKEN, n
                members.update(cls)
                i = j
                ch = 0
        else:
            members.add(ch)
        prev = ch
        i += 1
        ch = at(i)
        if ch == 0x5D:
            break
    table = bytearray(256)
    for c in range(1, 256):
        if (c in members) != negated and c != _SLASH:
            table[c] = 1
    return (_CLASS, 0, bytes(table)), i + 1


def _tokenize(p: bytes) -> list[_Token]:
    """Split a pattern into tokens; a malformed class ends the list with ``_BAD``."""
    toks: list[_Token] = []
    i, n = 0, len(p)
    while i < n:
        c = p[i]
        if c == 0x5C:  # backslash
            if i + 1 < n:
                toks.append((_LIT, p[i + 1], _NO_TABLE))
                i += 2
            else:
                toks.append((_LIT, -1, _NO_TABLE))
                i += 1
        elif c == 0x3F:
            toks.append((_ANY, 0, _NO_TABLE))
            i += 1
        elif c == 0x2A:
            j = i
            while j < n and p[j] == 0x2A:
                j += 1
            toks.append((_STAR, 1 if j - i > 1 else 0, _NO_TABLE))
            i = j
        elif c == 0x5B:
            tok, i = _parse_class(p, i + 1)
            toks.append(tok)
            if tok[0] == _BAD:
                break
        else:
            toks.append((_LIT, c, _NO_TABLE))
            i += 1
    return toks


# -- the interpreter (port of dowild with explicit frames) ---------------------------------


def _dowild(toks: list[_Token], text: bytes, start: int) -> int:
    """Match ``toks`` against ``text[start:]``; return TRUE, FALSE or an abort code.

    rsync: lib/wildmatch.c:dowild(). Recursion on each star run is replaced by a
    stack of frames ``[token index after the star, special, text position]``.
    """
    n_t = len(toks)
    n = len(text)
    frames: list[list[int]] = []
    pi, ti = 0, start
    while True:
        # Run from (pi, ti) until a result or a non-trailing star.
        result: int
        while True:
            if pi == n_t:
                result = _TRUE if ti == n else _FALSE
                break
            kind, value, table = toks[pi]
            if kind == _STAR:
                special = value == 1
                if pi + 1 == n_t:
                    result = _TRUE if special or text.find(b"/", ti) < 0 else _FALSE
                    break
                if ti == n:
                    result = _ABORT_ALL
                    break
                frames.append([pi + 1, 1 if special else 0, ti])
                pi += 1
                continue
            if ti == n:
                result = _ABORT_ALL
                break
            if kind == _BAD:
                result = _ABORT_ALL
                break
            ch = text[ti]
            if kind == _LIT:
                if ch != value:
                    result = _FALSE
                    break
            elif kind == _ANY:
                if ch == _SLASH:
                    result = _FALSE
                    break
            elif not table[ch]:  # _CLASS
                result = _FALSE
                break
            pi += 1
            ti += 1
        # Hand the result to the innermost star frame, which may try its next position.
        while True:
            if not frames:
                return result
            frame = frames[-1]
            special = frame[1] == 1
            if result != _FALSE and (not special or result != _ABORT_TO_STARSTAR):
                frames.pop()
                continue  # the frame returns this result to its parent
            pos = frame[2]
            if result == _FALSE and not special and text[pos] == _SLASH:
                frames.pop()
                result = _ABORT_TO_STARSTAR
                continue
            pos += 1
            if pos == n:
                frames.pop()
                result = _ABORT_ALL
                continue
            frame[2] = pos
            pi, ti = frame[0], pos
            break


# -- the regular-expression translation ---------------------------------------------------


def _class_regex(table: bytes) -> bytes:
    members = [c for c in range(256) if table[c]]
    if not members:
        return rb"(?!)"
    parts: list[bytes] = []
    k = 0
    while k < len(members):
        lo = members[k]
        hi = lo
        while k + 1 < len(members) and members[k + 1] == hi + 1:
            k += 1
            hi = members[k]
        if hi == lo:
            parts.append(b"\\x%02x" % lo)
        else:
            parts.append(b"\\x%02x-\\x%02x" % (lo, hi))
        k += 1
    return b"[" + b"".join(parts) + b"]"


def _to_regex(toks: list[_Token]) -> re.Pattern[bytes]:
    out: list[bytes] = []
    for kind, value, table in toks:
        if kind == _LIT:
            out.append(rb"(?!)" if value < 0 else re.escape(bytes([value])))
        elif kind == _ANY:
            out.append(rb"[^/]")
        elif kind == _CLASS:
            out.append(_class_regex(table))
        elif kind == _STAR:
            out.append(rb".*" if value == 1 else rb"[^/]*")
        else:  # pragma: no cover - _BAD patterns never reach the regex compiler
            out.append(rb"(?!)")
    return re.compile(b"".join(out), re.DOTALL)


class WildPattern:
    """A compiled rsync wildcard pattern.

    Build one with :func:`compile_wildmatch` (cached). All methods take the text
    as one byte string (rsync's "virtually joined" string arrays are joined by the
    caller) and never raise.
    """

    __slots__ = ("_never", "_regex", "_toks", "pattern")

    def __init__(self, pattern: bytes) -> None:
        self.pattern = pattern
        toks = _tokenize(pattern)
        self._toks = toks
        self._never = any(t[0] == _BAD for t in toks)
        runs = sum(1 for t in toks if t[0] == _STAR)
        self._regex: re.Pattern[bytes] | None = None
        if not self._never and runs <= 1:
            self._regex = _to_regex(toks)

    def __repr__(self) -> str:
        return f"WildPattern({self.pattern!r})"

    @property
    def uses_regex(self) -> bool:
        """Whether matching goes through Python's ``re`` (else the ported interpreter)."""
        return self._regex is not None

    def _result(self, text: bytes, start: int) -> int:
        if self._never:
            return _ABORT_ALL
        if self._regex is not None:
            return _TRUE if self._regex.fullmatch(text, start) else _FALSE
        return _dowild(self._toks, text, start)

    def match(self, text: bytes) -> bool:
        """Whether the pattern matches all of ``text``.

        rsync: lib/wildmatch.c:wildmatch().
        """
        return self._result(text, 0) == _TRUE

    def match_interpreted(self, text: bytes) -> bool:
        """Like :meth:`match` but always through the ported interpreter (for tests)."""
        if self._never:
            return False
        return _dowild(self._toks, text, 0) == _TRUE

    def match_tail(self, text: bytes, count: int) -> bool:
        """Whether the pattern matches the last ``count`` ``/``-separated elements of ``text``.

        When ``text`` has fewer than ``count`` elements nothing matches.

        rsync: lib/wildmatch.c:wildmatch_array() with where > 0 (trailing_N_elements()).
        """
        parts = text.rsplit(b"/", count)
        if len(parts) == count + 1:
            start = len(parts[0]) + 1
        elif len(parts) == count:
            start = 0
        else:
            return False
        return self._result(text, start) == _TRUE

    def match_any_start(self, text: bytes) -> bool:
        """Whether the pattern matches ``text`` from its start or from just after any ``/``.

        rsync: lib/wildmatch.c:wildmatch_array() with where < 0.
        """
        start = 0
        while True:
            r = self._result(text, start)
            if r == _TRUE:
                return True
            if r == _ABORT_ALL:
                return False
            start = text.find(b"/", start) + 1
            if start == 0:
                return False


@lru_cache(maxsize=4096)
def compile_wildmatch(pattern: bytes) -> WildPattern:
    """Compile (and cache) an rsync wildcard pattern.

    Args:
        pattern: the pattern bytes, backslash escapes included.

    Returns:
        The compiled pattern; compiling never fails (a malformed pattern matches nothing).
    """
    return WildPattern(pattern)


def wildmatch(pattern: bytes, text: bytes) -> bool:
    """Whether rsync's wildcard ``pattern`` matches all of ``text``.

    Args:
        pattern: an rsync wildcard pattern (see the module docstring).
        text: the name or path to test.

    Returns:
        True on a match.

    rsync: lib/wildmatch.c:wildmatch().
    """
    return compile_wildmatch(pattern).match(text)
