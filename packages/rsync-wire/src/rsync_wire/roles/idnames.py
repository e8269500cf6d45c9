"""User and group names of ids, and ids of names: the local databases or a name converter.

A daemon module with ``name converter = COMMAND`` answers these questions through that
program instead of ``/etc/passwd`` and ``/etc/group`` (rsync: a long-running child the
daemon asks one line at a time: ``uid N`` and ``gid N`` answer a name, ``usr NAME`` and
``grp NAME`` a number). The daemon installs the converter for its connection process
with `set_name_converter`; everything else uses the local databases.

No I/O of its own beyond those lookups; process-wide, since a process serves one
connection.

rsync: uidlist.c uid_to_user(), gid_to_group(), user_to_uid(), group_to_gid() through
clientserver.c namecvt_call().
"""

from __future__ import annotations

import grp
import pwd
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "NameConverter",
    "gid_of",
    "group_of",
    "refused_token",
    "set_name_converter",
    "uid_of",
    "user_of",
]

NameConverter: TypeAlias = "Callable[[str, str], str | None]"
"""``(request, argument) -> answer line`` (None: no answer); see the module docstring."""

_converter: list[NameConverter | None] = [None]


def set_name_converter(converter: NameConverter | None) -> None:
    """Answer every later lookup of this process through ``converter`` (None: locally)."""
    _converter[0] = converter


def _safe(name: str) -> bool:
    """rsync: clientserver.c namecvt_safe_token() (no control characters)."""
    return all(ord(c) >= 0x20 and ord(c) != 0x7F for c in name)


def refused_token(name: bytes) -> bytes | None:
    """Rsync's error line when the name converter in use must not be sent ``name``; else None.

    A name with a control character (a newline above all) would forge a request or an
    answer on the converter's line; rsync refuses it and keeps the sender's number.

    rsync: clientserver.c namecvt_call() ("invalid name-converter token").
    """
    if _converter[0] is None or _safe(name.decode("utf-8", "surrogateescape")):
        return None
    return b"invalid name-converter token: " + name + b"\n"


def _number(answer: str | None) -> int | None:
    """A converter's id answer: digits only, in range (an empty line is no answer)."""
    if not answer or not answer.isascii() or not answer.isdigit():
        return None
    value = int(answer)
    return value if value < 2**32 else None


def user_of(uid: int) -> bytes | None:
    """The user name of ``uid`` (None: unknown)."""
    convert = _converter[0]
    if convert is not None:
        answer = convert("uid", str(uid))
        return answer.encode("utf-8", "surrogateescape") if answer else None
    try:
        return pwd.getpwuid(uid).pw_name.encode()
    except KeyError:
        return None


def group_of(gid: int) -> bytes | None:
    """The group name of ``gid`` (None: unknown)."""
    convert = _converter[0]
    if convert is not None:
        answer = convert("gid", str(gid))
        return answer.encode("utf-8", "surrogateescape") if answer else None
    try:
        return grp.getgrgid(gid).gr_name.encode()
    except KeyError:
        return None


def uid_of(name: bytes) -> int | None:
    """The uid of user ``name`` (None: unknown)."""
    text = name.decode("utf-8", "surrogateescape")
    convert = _converter[0]
    if convert is not None:
        return _number(convert("usr", text)) if _safe(text) else None
    try:
        return pwd.getpwnam(text).pw_uid
    except (KeyError, UnicodeError, ValueError):
        return None


def gid_of(name: bytes) -> int | None:
    """The gid of group ``name`` (None: unknown)."""
    text = name.decode("utf-8", "surrogateescape")
    convert = _converter[0]
    if convert is not None:
        return _number(convert("grp", text)) if _safe(text) else None
    try:
        return grp.getgrnam(text).gr_gid
    except (KeyError, UnicodeError, ValueError):
        return None
