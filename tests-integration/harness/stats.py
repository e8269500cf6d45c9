"""Reading what ``rsync --stats`` prints (pure text parsing, no I/O)."""

from __future__ import annotations

import re
from typing import Final

_LINE: Final = re.compile(r"^([A-Z][A-Za-z ]*?):\s+([\d][\d,.']*)(?:\s|$)", re.MULTILINE)


def parse_stats(text: str) -> dict[str, int]:
    """Return the integer statistics of ``rsync --stats`` output, keyed as printed.

    For example ``{"Number of files": 45, "Literal data": 1234, "Matched data": 1098766}``.
    Thousands separators (``,``, ``.`` or ``'`` depending on version and locale) are dropped;
    the timing lines (``... time: 0.001 seconds``) are left out.
    """
    stats: dict[str, int] = {}
    for key, number in _LINE.findall(text):
        if key.endswith("time"):
            continue
        stats[key] = int(re.sub(r"\D", "", number))
    return stats
