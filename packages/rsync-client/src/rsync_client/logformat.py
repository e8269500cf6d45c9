"""rsync's ``--out-format``/``--log-file-format`` escapes: which ones a format has.

The client's options (what to forward, whether ``-i`` is implied) and its output (what
to print) both ask this, so it sits below both.

rsync: log.c log_format_has().
"""

from __future__ import annotations

from typing import Final

__all__ = ["FMT_WIDTH_MAX", "log_format_has"]

FMT_WIDTH_MAX: Final = 23  # rsync's fmt buffer (LOG_FMT_SIZE 32, less room for the rest)


def log_format_has(fmt: str | None, letter: str) -> bool:
    """Whether ``fmt`` has the escape ``%letter`` (``%%`` is a literal, not an escape).

    rsync: log.c log_format_has() (it stops at the same width as log_formatted()).
    """
    if not fmt:
        return False
    i = 0
    n = len(fmt)
    while True:
        i = fmt.find("%", i)
        if i < 0:
            return False
        i += 1
        while i < n and fmt[i] == "'":
            i += 1
        if i < n and fmt[i] == "-":
            i += 1
        digits = 0
        while i < n and fmt[i].isdigit() and digits < FMT_WIDTH_MAX:
            i += 1
            digits += 1
        while i < n and fmt[i] == "'":
            i += 1
        if i >= n:
            return False
        if fmt[i] == letter:
            return True
        if fmt[i] == "%":
            i += 1
