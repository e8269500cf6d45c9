"""Whether a symlink's target climbs out of the transfer (``--safe-links`` & co).

rsync: util1.c unsafe_symlink().
"""

from __future__ import annotations

from typing import Final

__all__ = ["MUNGE_PREFIX", "unsafe_symlink"]

MUNGE_PREFIX: Final = b"/rsyncd-munged/"
"""What ``--munge-links`` (and a daemon's ``munge symlinks``) puts before a stored target.

rsync: rsync.h SYMLINK_PREFIX.
"""


def unsafe_symlink(dest: bytes | None, src: bytes) -> bool:
    """Whether the target ``dest`` of the link named ``src`` is unsafe.

    Absolute and empty targets are unsafe; so is a ``..`` anywhere but in a run at the
    start, a target ending in ``/..``, and one whose ``..`` climbs above the directory
    the transfer starts in (``src``'s depth counts: its ``..`` starts the count over).

    rsync: util1.c unsafe_symlink().
    """
    if not dest or dest.startswith(b"/"):
        return True
    rest = dest
    while rest.startswith(b"../"):
        rest = rest[3:].lstrip(b"/")
    if b"/../" in rest:
        return True
    if len(dest) > 3 and dest.endswith(b"/.."):
        return True
    depth = 0
    parts = src.split(b"/")
    for part in parts[:-1]:  # every component followed by a slash
        if not part:
            continue  # a doubled slash
        if part == b"..":
            depth = 0
        elif part != b".":
            depth += 1
    if parts[-1] == b"..":
        depth = 0
    parts = dest.split(b"/")
    for part in parts[:-1]:
        if not part:
            continue
        if part == b"..":
            depth -= 1
            if depth < 0:
                return True
        elif part != b".":
            depth += 1
    if parts[-1] == b"..":
        depth -= 1
    return depth < 0
