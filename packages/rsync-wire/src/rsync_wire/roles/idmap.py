"""``--usermap``/``--groupmap`` (and ``--chown``, which becomes them): a receiver's id rules.

A map is a comma-separated list of ``FROM:TO`` rules. ``FROM`` is a number, a range of
numbers (``100-199``), a name, or a wildcard pattern of names (``*``, ``web?``, ``[ab]*``);
``TO`` is a local name or number. The first rule that matches a sender's id (by its number
or by the name the sender gave for it; an id without a name matches patterns as ``""``)
gives the local id. A ``TO`` unknown here drops its rule with rsync's message.

rsync: uidlist.c parse_name_map(), recv_add_id(), id_parse().
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from rsync_wire.errors import ExitCode, RsyncError
from rsync_wire.proto.wildmatch import wildmatch
from rsync_wire.roles import idnames

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["IdMapError", "IdRule", "map_id", "parse_name_map"]

_WILD = 1
_NAME = 2
_ID_MAX = 2**32 - 1


class IdMapError(RsyncError):
    """A map rsync rejects; its message is printed as it is (no ``rsync:`` prefix)."""

    exit_code = ExitCode.SYNTAX
    bare = True


class IdRule(NamedTuple):
    """One ``FROM:TO`` rule: ``kind`` 0 (ids ``low``..``high``), _WILD or _NAME (``name``)."""

    kind: int
    name: bytes
    low: int
    high: int
    target: int


def _id_parse(text: str) -> int:
    """rsync: uidlist.c id_parse() (digits only, no overflow)."""
    if not text.isdigit() or not text.isascii() or int(text) > _ID_MAX:
        msg = f"Invalid ID number: {text}"
        raise IdMapError(msg)
    return int(text)


def _local_id(text: str, *, users: bool) -> int | None:
    if text.isascii() and text.isdigit():
        return _id_parse(text)
    name = text.encode("utf-8", "surrogateescape")
    return idnames.uid_of(name) if users else idnames.gid_of(name)


def parse_name_map(
    text: str, *, users: bool, warn: Callable[[str], None] | None = None
) -> list[IdRule]:
    """The rules of a ``--usermap`` (``users``) or ``--groupmap`` value, in order.

    Args:
        text: the map.
        users: a user map (else a group map), for the messages and the name lookups.
        warn: receives rsync's message for a rule whose ``TO`` is unknown here (the rule
            is dropped, the transfer goes on).

    Raises:
        IdMapError: rsync's message for a rule without a colon, without a name after it,
            or with a bad number (exit code 1).
    """
    kind_name = "user" if users else "group"
    rules: list[IdRule] = []
    for part in reversed(text.split(",")):  # rsync parses from the end: same messages first
        source, colon, target = part.partition(":")
        if not colon:
            msg = f"No colon found in --{kind_name}map: {part}"
            raise IdMapError(msg)
        if not target:
            msg = f"No name found after colon --{kind_name}map: {part}"
            raise IdMapError(msg)
        if source[:1].isdigit():
            first, dash, last = source.partition("-")
            if source.strip("0123456789-") or (dash and (not last or "-" in last)):
                msg = f"Invalid number in --{kind_name}map: {source}"
                raise IdMapError(msg)
            low = _id_parse(first)
            rule = IdRule(0, b"", low, _id_parse(last) if dash else low, 0)
        else:
            kind = _WILD if any(c in source for c in "*[?") else _NAME
            rule = IdRule(kind, source.encode("utf-8", "surrogateescape"), 0, 0, 0)
        local = _local_id(target, users=users)
        if local is None:
            if warn is not None:
                warn(f"Unknown --{kind_name}map name on receiver: {target}")
            continue
        rules.append(rule._replace(target=local))
    rules.reverse()
    return rules


def map_id(rules: list[IdRule], ident: int, name: bytes | None) -> int | None:
    """The local id the first matching rule gives the sender's ``ident`` (None: no rule).

    rsync: uidlist.c recv_add_id() (a range's ``max_id`` of 0 is a single id).
    """
    shown = name or b""
    for rule in rules:
        if rule.kind == _WILD:
            if not wildmatch(rule.name, shown):
                continue
        elif rule.kind == _NAME:
            if rule.name != shown:
                continue
        elif rule.high and rule.high != rule.low:
            if not rule.low <= ident <= rule.high:
                continue
        elif ident != rule.low:
            continue
        return rule.target
    return None
