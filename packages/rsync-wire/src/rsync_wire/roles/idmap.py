"""``--usermap`` and ``--groupmap`` on the receiving side: which local id each sender id gets.

A map is a comma-separated list of ``FROM:TO`` items, tried in order, the first match
deciding: ``FROM`` is a number, a range ``LOW-HIGH``, a name, or a wildcard pattern
(``*``, ``?``, ``[...]``) matched against the sender's name (``""`` when it sent none,
so ``*`` matches every id); ``TO`` is a local name or number. A ``TO`` name unknown
here gets rsync's error and the item is dropped. An id no item matches is mapped as
without a map (by name, unless ``--numeric-ids``).

rsync: uidlist.c parse_name_map(), recv_add_id().
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from rsync_wire.errors import ExitCode, RsyncError
from rsync_wire.proto.wildmatch import wildmatch
from rsync_wire.roles import idnames

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["MapItem", "match_map", "parse_name_map"]


class MapItem(NamedTuple):
    """One ``FROM:TO`` item."""

    low: int  # the first id (numeric items)
    high: int  # the last id (equal to ``low`` for one number)
    name: bytes | None  # a name or pattern (name items), else None
    wild: bool
    target: int


def _local_id(text: str, *, users: bool) -> int | None:
    if text.isdigit():
        return int(text)
    raw = text.encode("utf-8", "surrogateescape")
    return idnames.uid_of(raw) if users else idnames.gid_of(raw)


def parse_name_map(text: str, *, users: bool, warn: Callable[[str], None]) -> tuple[MapItem, ...]:
    """The items of a ``--usermap`` (``users``) or ``--groupmap``.

    ``warn`` gets rsync's line for a ``TO`` name unknown here (the item is dropped).

    Raises:
        RsyncError: rsync's syntax errors (exit 1).
    """
    opt = "user" if users else "group"
    items = []
    for item in text.split(","):
        frm, colon, to = item.partition(":")
        if not colon:
            msg = f"No colon found in --{opt}map: {item}"
            raise RsyncError(msg, exit_code=ExitCode.SYNTAX)
        if not to:
            msg = f"No name found after colon --{opt}map: {item}"
            raise RsyncError(msg, exit_code=ExitCode.SYNTAX)
        if frm[:1].isdigit():
            low_text, dash, high_text = frm.partition("-")
            if not low_text.isdigit() or (dash and not high_text.isdigit()):
                msg = f"Invalid number in --{opt}map: {frm}"
                raise RsyncError(msg, exit_code=ExitCode.SYNTAX)
            low = int(low_text)
            high = int(high_text) if dash else low
            name, wild = None, False
        else:
            low = high = 0
            name = frm.encode("utf-8", "surrogateescape")
            wild = any(c in frm for c in "*?[")
        target = _local_id(to, users=users)
        if target is None:
            warn(f"Unknown --{opt}map name on receiver: {to}")
            continue
        items.append(MapItem(low, high, name, wild, target))
    return tuple(items)


def match_map(items: tuple[MapItem, ...], ident: int, name: bytes | None) -> int | None:
    """The local id the first matching item gives the sender's ``ident``, or ``None``."""
    shown = name or b""
    for item in items:
        if item.name is None:
            if item.low <= ident <= item.high:
                return item.target
        elif item.wild:
            if wildmatch(item.name, shown):
                return item.target
        elif item.name == shown:
            return item.target
    return None
