"""rsync's ``--chmod`` syntax: parse a rule list once, apply it to modes.

Rules are comma-separated: ``[DF][ugoa]*[+-=][rwxXst]*`` or a copy of another class
(``g=u``), or an octal mode (``D755``, ``F644``). ``D``/``F`` limit a rule to directories or
to everything else. Used for a daemon module's ``outgoing chmod`` (the modes it lists) and
``incoming chmod``. Pure: the umask is a parameter.

rsync: chmod.c parse_chmod(), tweak_mode().
"""

from __future__ import annotations

import stat
from typing import Final, NamedTuple

__all__ = ["ChmodError", "ChmodRule", "option_rules", "parse_chmod", "tweak_mode"]

_CHMOD_BITS: Final = 0o7777
_X_KEEP: Final = 1
_DIRS_ONLY: Final = 2
_FILES_ONLY: Final = 4
_ADD, _SUB, _EQ, _SET = 1, 2, 3, 4


class ChmodError(ValueError):
    """A chmod rule list that rsync would reject."""


class ChmodRule(NamedTuple):
    """One rule, as rsync's chmod_mode_struct."""

    mode_and: int
    mode_or: int
    copy_src: int
    copy_dst: int
    copy_and: int
    op: int
    flags: int


def _special_bits(where: int) -> int:
    bits = 0
    if where & 0o100:
        bits |= stat.S_ISUID
    if where & 0o010:
        bits |= stat.S_ISGID
    if where & 0o001:
        bits |= stat.S_ISVTX
    return bits


def parse_chmod(text: str, *, umask: int = 0o022) -> list[ChmodRule]:
    """Parse a rule list.

    Args:
        text: the rules (``"Dg+s,ug+w,Fo-w,+X"``).
        umask: applied where a rule names no class (``+x`` means ``a+x`` less the umask).

    Raises:
        ChmodError: a rule rsync would reject.

    rsync: chmod.c parse_chmod().
    """
    rules: list[ChmodRule] = []
    for part in text.split(","):
        where = what = op = topbits = topoct = flags = copybits = 0
        state = 1  # 1: classes, 2: permissions, 3: octal
        for ch in part:
            if state == 1:
                if ch == "D" and not flags & _FILES_ONLY:
                    flags |= _DIRS_ONLY
                elif ch == "F" and not flags & _DIRS_ONLY:
                    flags |= _FILES_ONLY
                elif ch in "ugoa":
                    where |= {"u": 0o100, "g": 0o010, "o": 0o001, "a": 0o111}[ch]
                    topbits |= {"u": 0o4000, "g": 0o2000, "o": 0, "a": 0o6000}[ch]
                elif ch in "+-=":
                    op = {"+": _ADD, "-": _SUB, "=": _EQ}[ch]
                    state = 2
                elif ch.isdigit() and ch < "8" and not where:
                    op, state, where, what = _SET, 3, 1, int(ch)
                else:
                    break
            elif state == 2:
                if ch in "rwxXst" and copybits:
                    break
                if ch == "r":
                    what |= 4
                elif ch == "w":
                    what |= 2
                elif ch in "xX":
                    if ch == "X":
                        flags |= _X_KEEP
                    what |= 1
                elif ch == "s":
                    topoct = topoct | topbits if topbits else 0o4000
                elif ch == "t":
                    topoct |= 0o1000
                elif ch in "ugo":
                    if what or topoct or copybits:
                        break
                    copybits = {"u": 0o100, "g": 0o010, "o": 0o001}[ch]
                else:
                    break
            else:
                if not (ch.isdigit() and ch < "8"):
                    break
                what = what * 8 + int(ch)
                if what > _CHMOD_BITS:
                    break
        else:
            if op:
                rules.append(_rule(op, where, what, topbits, topoct, flags, copybits, umask))
                continue
        msg = f"invalid chmod rule {part!r} in {text!r}"
        raise ChmodError(msg)
    return rules


def option_rules(values: list[str], *, umask: int) -> list[ChmodRule]:
    """The rules of ``--chmod`` options, in order (each value parsed on its own).

    Raises:
        ChmodError: with rsync's message, "Invalid argument passed to --chmod (VALUE)".

    rsync: options.c (OPT_CHMOD).
    """
    rules: list[ChmodRule] = []
    for value in values:
        try:
            rules += parse_chmod(value, umask=umask)
        except ChmodError:
            msg = f"Invalid argument passed to --chmod ({value})"
            raise ChmodError(msg) from None
    return rules


def _rule(
    op: int, where: int, what: int, topbits: int, topoct: int, flags: int, copybits: int, umask: int
) -> ChmodRule:
    specified = where
    if where:
        bits = where * what
    else:
        where = 0o111
        bits = (where * what) & ~umask
    copy_and = _CHMOD_BITS if specified else ~umask & _CHMOD_BITS
    if op == _ADD:
        return ChmodRule(_CHMOD_BITS, bits + topoct, copybits, where, copy_and, op, flags)
    if op == _SUB:
        return ChmodRule(_CHMOD_BITS - bits - topoct, 0, copybits, where, copy_and, op, flags)
    if op == _EQ:
        mode_and = (
            _CHMOD_BITS
            - where * 7
            - (topbits if topoct else 0)
            - (_special_bits(where) if copybits else 0)
        )
        return ChmodRule(mode_and, bits + topoct, copybits, where, copy_and, op, flags)
    return ChmodRule(0, bits, 0, 0, _CHMOD_BITS, op, flags)


def _copy_bits(mode: int, rule: ChmodRule) -> int:
    bits = 0
    if rule.copy_src & 0o100:
        bits |= (mode >> 6) & 7
    if rule.copy_src & 0o010:
        bits |= (mode >> 3) & 7
    if rule.copy_src & 0o001:
        bits |= mode & 7
    return (rule.copy_dst * bits) & rule.copy_and


def tweak_mode(mode: int, rules: list[ChmodRule]) -> int:
    """Apply ``rules`` to ``mode`` (file type bits are kept).

    rsync: chmod.c tweak_mode().
    """
    is_x = mode & 0o111
    non_perm = mode & ~_CHMOD_BITS
    is_dir = stat.S_ISDIR(non_perm)
    for rule in rules:
        if rule.flags & _DIRS_ONLY and not is_dir:
            continue
        if rule.flags & _FILES_ONLY and is_dir:
            continue
        copy = _copy_bits(mode, rule)
        mode &= rule.mode_and
        if rule.flags & _X_KEEP and not is_x and not is_dir:
            mode |= rule.mode_or & ~0o111
        else:
            mode |= rule.mode_or
        if rule.op == _SUB:
            mode &= _CHMOD_BITS - copy
        else:
            mode |= copy
    return (mode & _CHMOD_BITS) | non_perm
