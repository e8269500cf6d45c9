"""``--stop-at`` and ``--stop-after``: when the client gives up (exit 30).

:func:`parse_time` reads rsync's ``[[[YYYY-]MM-]DD]T[HH:]MM`` forms the way rsync does:
missing parts come from today, and a time that has passed moves to the next day, month or
year (whichever part was left out), or the next hour when only minutes were given.

rsync: options.c parse_time(), parse_arguments() (OPT_STOP_AT, OPT_STOP_AFTER); io.c
perform_io() ("stopping at requested limit").
"""

from __future__ import annotations

import time

__all__ = ["parse_stop_after", "parse_time"]


def _mktime(t: list[int]) -> float | None:
    """C's mktime() on ``[tm_year, tm_mon, tm_mday, tm_hour, tm_min]`` (normalized in place)."""
    try:
        val = time.mktime((t[0] + 1900, t[1] + 1, t[2], t[3], t[4], 0, 0, 0, -1))
    except (OverflowError, ValueError):
        return None
    lt = time.localtime(val)
    t[:] = [lt.tm_year - 1900, lt.tm_mon - 1, lt.tm_mday, lt.tm_hour, lt.tm_min]
    return val


def _fields(arg: str) -> tuple[list[int], int] | None:
    """The numbers of ``arg`` as ``[year, mon, mday, hour, min]`` (-1: absent) and in_date."""
    year = mon = mday = hour = minute = -1
    i = 0
    if arg[:1] in ("T", "t", ":"):
        in_date = 0 if arg[0] == ":" else -1
        i = 1
    else:
        in_date = 1
    while True:
        if i >= len(arg) or not arg[i].isdigit():
            return None
        n = 0
        while i < len(arg) and arg[i].isdigit():
            n = n * 10 + int(arg[i])
            i += 1
        c = arg[i] if i < len(arg) else ""
        if c == ":":
            in_date = 0
        if in_date > 0:
            if year != -1:
                return None
            year, mon, mday = mon, mday, n
            if not c:
                break
            if c in ("T", "t"):
                if i + 1 >= len(arg):
                    break
                in_date = -1
            elif c not in ("-", "/"):
                return None
            i += 1
            continue
        if hour != -1:
            return None
        hour, minute = minute, n
        if not c:
            if in_date < 0:
                return None
            break
        if c != ":":
            return None
        in_date = 0
        i += 1
    return [year, mon, mday, hour, minute], in_date


def parse_time(arg: str, now: float | None = None) -> float | None:
    """The moment ``arg`` names (seconds since the epoch), or ``None`` if it is malformed."""
    if now is None:
        now = time.time()
    got = _fields(arg)
    if got is None:
        return None
    (year, mon, mday, hour, minute), _ = got
    today = time.localtime(now)
    in_date = 0
    if year < 0:
        year = today.tm_year - 1900
        in_date = 1
    elif year < 100:
        while year < today.tm_year - 1900:
            year += 100
    else:
        year -= 1900
    if mon < 0:
        mon = today.tm_mon - 1
        in_date = 2
    else:
        mon -= 1
    if mday < 0:
        mday = today.tm_mday
        in_date = 3
    step = 0
    if minute < 0:
        hour = minute = 0
    elif hour < 0:
        if in_date != 3:
            return None
        in_date = 0
        hour = today.tm_hour
        step = 60 * 60
    old_mday = mday
    if hour > 23 or minute > 59 or not 0 <= mon < 12 or not 1 <= mday <= 31:
        return None
    t = [year, mon, mday, hour, minute]
    val = _mktime(t)
    if val is None:
        return None
    while in_date and (val <= now or t[2] < old_mday):
        if in_date == 3:
            t[2] += 1
            old_mday = t[2]
        elif in_date == 2:
            if t[2] < old_mday:
                t[2] = old_mday  # the month already moved on
            else:
                t[1] += 1
                if t[1] == 12:
                    t[1] = 0
                    t[0] += 1
        else:
            if t[2] < old_mday:  # 29 February moved to 1 March
                if t[1] != 2 or old_mday != 29:
                    return None
                t[1], t[2] = 1, 29
            t[0] += 1
        val = _mktime(t)
        if val is None:
            return None
    if step:
        while val <= now:
            val += step
    return val


def parse_stop_after(arg: str, now: float | None = None) -> float | None:
    """``--stop-after=MINS``: the moment, or ``None`` for a count that is not positive.

    rsync reads the number with atol(): leading digits count, the rest is ignored.
    """
    if now is None:
        now = time.time()
    digits = arg.strip()
    sign = -1 if digits.startswith("-") else 1
    digits = digits.lstrip("+-")
    n = 0
    for ch in digits:
        if not ch.isdigit():
            break
        n = n * 10 + int(ch)
    minutes = sign * n
    if minutes <= 0:
        return None
    return now + minutes * 60
