"""``--info=stats3``: the C heap's statistics, as each role of rsync prints them at the end.

rsync prints glibc's ``mallinfo()`` figures once per process (sender, receiver,
generator) when ``STATS`` is at level 3 (``--info=stats3``, or ``--stats`` with ``-vv``).
pyrsync asks glibc the same question through ``mallinfo2()`` (or ``mallinfo()`` on a
glibc older than 2.33): the figures are this process's C heap, which holds CPython's
large objects and buffers (its small objects live in pymalloc arenas that glibc does not
count). Each role prints the heap of the process it runs in, so the roles that share a
process (a local copy, a receiving side) show that one heap. Without glibc nothing is
printed, as rsync built without ``mallinfo`` prints nothing.

rsync: main.c show_malloc_stats().
"""

from __future__ import annotations

import os
import sys
from typing import Final

__all__ = ["heap_lines"]

_FIELDS: Final = (
    "arena",
    "ordblks",
    "smblks",
    "hblks",
    "hblkhd",
    "usmblks",
    "fsmblks",
    "uordblks",
    "fordblks",
    "keepcost",
)
_SHOWN: Final = (
    ("arena", "bytes from sbrk"),
    ("ordblks", "chunks not in use"),
    ("smblks", "free fastbin blocks"),
    ("hblks", "chunks from mmap"),
    ("hblkhd", "bytes from mmap"),
    ("allmem", "bytes from sbrk + mmap"),
    ("usmblks", "always 0"),
    ("fsmblks", "bytes in freed fastbin blocks"),
    ("uordblks", "bytes used"),
    ("fordblks", "bytes free"),
    ("keepcost", "bytes in releasable chunk"),
)


def _mallinfo() -> dict[str, int] | None:
    """Glibc's heap figures, or ``None`` where there is no glibc ``mallinfo``."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        libc = ctypes.CDLL(None)
    except (ImportError, OSError):
        return None
    for name, kind in (("mallinfo2", ctypes.c_size_t), ("mallinfo", ctypes.c_int)):
        func = getattr(libc, name, None)
        if func is None:
            continue

        class _Info(ctypes.Structure):
            _fields_ = [(field, kind) for field in _FIELDS]

        func.argtypes = []
        func.restype = _Info
        info = func()
        values = {field: int(getattr(info, field)) for field in _FIELDS}
        values["allmem"] = values["arena"] + values["hblkhd"]
        return values
    return None


def heap_lines(who: str) -> list[str]:
    """The lines of one role's heap statistics (empty without glibc).

    Args:
        who: the role as rsync names it, with its ``server ``/``daemon `` prefix
            (``"sender"``, ``"server receiver"``, ``"server daemon generator"``).

    rsync: main.c show_malloc_stats().
    """
    info = _mallinfo()
    if info is None:
        return []
    lines = ["", f"rsync[{os.getpid()}] ({who}) heap statistics:"]
    lines += [f"  {name + ':':<11}{info[name]:>10}   ({descr})" for name, descr in _SHOWN]
    return lines
