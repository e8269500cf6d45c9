"""Wildcards in a daemon's path arguments, expanded as rsync's daemon expands them.

``rsync://host/mod/*.txt`` names every matching entry of the module; a component with
``*``, ``?`` or ``[`` is matched against the directory's names (never ``.`` or ``..``),
and a name the module's rules hide is never matched, so a wildcard cannot reveal it. An
argument that matches nothing is kept as written (it then fails as a missing name).
Entries are read through :class:`~rsync_wire.fs.Root`, so nothing outside the module is
listed.

rsync: util1.c glob_expand(), glob_match(), call_glob_match() (read_args() in io.c calls
them for a daemon).
"""

from __future__ import annotations

import stat
from typing import TYPE_CHECKING

from rsync_wire.proto.wildmatch import has_wildcards, wildmatch

if TYPE_CHECKING:
    from rsync_wire.fs import Root
    from rsync_wire.roles.daemon_rules import DaemonRules

__all__ = ["glob_expand"]

_MAX_MATCHES = 100_000


def glob_expand(root: Root, arg: bytes, rules: DaemonRules | None) -> list[bytes]:
    """The arguments ``arg`` (already sanitized) stands for.

    rsync: util1.c glob_expand().
    """
    if not has_wildcards(arg):
        return [arg]
    out: list[bytes] = []
    _match(root, arg, b"", None, rules, out)
    return out or [arg]


def _match(
    root: Root,
    arg: bytes,
    prefix: bytes,
    filt: bytes | None,
    rules: DaemonRules | None,
    out: list[bytes],
) -> None:
    """rsync: util1.c glob_match()."""
    while arg.startswith(b"./"):
        if filt is None:
            filt = prefix  # the rules see the path without the "./" markers
        prefix += b"./"
        arg = arg[2:]
    comp, slash, rest = arg.partition(b"/")
    more = rest if slash else None
    if has_wildcards(comp):
        try:
            names = [name for name, _ in root.list_dir(prefix or b".")]
        except OSError:
            return
        for name in names:
            if len(out) >= _MAX_MATCHES:
                return
            if wildmatch(comp, name):
                _call(root, name, more, prefix, filt, rules, out, from_glob=True)
    else:
        _call(root, comp, more, prefix, filt, rules, out, from_glob=False)


def _call(
    root: Root,
    name: bytes,
    rest: bytes | None,
    prefix: bytes,
    filt: bytes | None,
    rules: DaemonRules | None,
    out: list[bytes],
    *,
    from_glob: bool,
) -> None:
    """rsync: util1.c call_glob_match()."""
    path = prefix + name
    fpath = filt + name if filt is not None else path
    if from_glob or (rest is not None and name):
        try:
            st = root.stat(path)
        except OSError:
            return
        is_dir = stat.S_ISDIR(st.st_mode)
        if rest is not None and not is_dir:
            return
        if rules is not None and rules.hides(fpath, is_dir=is_dir):
            return
    if rest is not None:
        _match(root, rest, path + b"/", None if filt is None else fpath + b"/", rules, out)
    else:
        out.append(path)
