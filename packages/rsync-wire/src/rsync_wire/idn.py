"""Internationalized host names: the IDNA A-label form a resolver can take.

The client hands a daemon host to the resolver (or to a proxy's ``CONNECT``, or to the
remote shell of daemon-over-ssh) with its non-ASCII labels converted; the daemon folds
a non-ASCII ``hosts allow``/``hosts deny`` token the same way before comparing it with
the peer's name from reverse DNS, which is ASCII.

The conversion is UTS #46 non-transitional processing with NFC normalization, as rsync
asks libidn2 for, through the ``idna`` package. A label that is already ASCII is kept
byte for byte (an address, a mask, an ``xn--`` name and wildcards go through as typed).
A converted label is used only when it comes back as a bare A-label: the mapping folds
some characters onto ASCII ones (U+FF0A FULLWIDTH ASTERISK becomes ``*``), and a host
token must not gain a wildcard or a mask its author never typed. Any label that does not
convert leaves the whole name as it is, so it fails to match instead of matching more.

rsync: util1.c idn_to_ascii().
"""

from __future__ import annotations

import re

__all__ = ["idn_to_ascii"]

_A_LABEL = re.compile(r"[a-z0-9-]+")


def idn_to_ascii(name: str) -> str | None:
    """``name`` with each non-ASCII label as its A-label; None to keep ``name`` as it is.

    None means nothing needed converting (an ASCII name) or something could not be
    converted (then the name goes on unchanged, as in rsync).
    """
    if name.isascii():
        return None
    import idna  # its tables cost an ASCII host nothing

    out = []
    for label in name.split("."):
        if label.isascii():
            out.append(label)
            continue
        try:
            alabel = idna.encode(label, uts46=True, transitional=False).decode("ascii")
        except (idna.IDNAError, UnicodeError, ValueError):
            return None
        if not _A_LABEL.fullmatch(alabel):
            return None
        out.append(alabel)
    return ".".join(out)
