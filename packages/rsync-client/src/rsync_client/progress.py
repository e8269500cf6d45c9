r"""``--progress`` and ``--info=progress2``: rsync's progress lines, on a terminal or not.

rsync prints the same text wherever its output goes: a line per update that starts
with ``\r`` (so a terminal overwrites it in place), and per file a last line that
ends at 100% with ``(xfr#N, to-chk=M/T)`` and a newline, which stays. With
``--info=progress2`` there is one line for the whole transfer, never ended by a
newline until the transfer is over. Scripts parse this text, so it is reproduced
exactly: the same fields, widths, rates (over the last five seconds of updates), at
most one update a second, none while the process is in the background of its
terminal, and the same lines at the end of each transfer phase.

A terminal gets nothing else (no bar, no colours): a display of its own would not be
rsync's output, and the terminal is where users compare the two.

rsync: progress.c show_progress(), end_progress(), rprint_progress().
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Final

from rsync_client.output import human_num

if TYPE_CHECKING:
    from collections.abc import Callable

    from rsync_client.options import ClientOptions
    from rsync_client.output import Output

__all__ = ["ProgressDisplay", "make_progress", "progress_line"]

HISTORY_SECS: Final = 5
"""Updates a rate is averaged over (one a second). rsync: progress.c PROGRESS_HISTORY_SECS."""


def _ms(start: float, now: float) -> int:
    """Whole milliseconds from ``start`` to ``now`` (rsync: progress.c msdiff())."""
    return int((now - start) * 1000)


def progress_line(
    ofs: int, size: int, rate_kib: float, remain: float, eol: str, human: int = 1
) -> str:
    r"""One progress line without its leading ``\r``: bytes, percent, rate, time, ``eol``.

    ``rate_kib`` is in KiB/s; ``remain`` in seconds (the time left, or on a last line the
    time taken).

    rsync: progress.c rprint_progress().
    """
    if rate_kib > 1024 * 1024:
        rate, units = rate_kib / (1024 * 1024), "GB/s"
    elif rate_kib > 1024:
        rate, units = rate_kib / 1024, "MB/s"
    else:
        rate, units = rate_kib, "kB/s"
    if remain < 0 or remain > 9999 * 3600:
        rem = "  ??:??:??"
    else:
        rem = f"{int(remain / 3600):4d}:{int(remain / 60) % 60:02d}:{int(remain) % 60:02d}"
    pct = 100 if ofs == size else int(100.0 * ofs / size) if size else 0
    return f"{human_num(ofs, human):>15} {pct:3d}% {rate:7.2f}{units} {rem}{eol}"


def _foreground() -> bool:
    """Whether this process is in the foreground of the terminal on standard output.

    rsync: progress.c show_progress() (getpgrp() against tcgetpgrp(STDOUT_FILENO)).
    """
    try:
        return os.tcgetpgrp(1) == os.getpgrp()
    except OSError:  # not a terminal: always shown
        return True


class ProgressDisplay:
    """rsync's progress lines, written to ``output``.

    ``output.needs_newline`` is rsync's ``output_needs_newline``: set while an update is
    on screen without its newline, so that the next line of any kind starts a new line.

    Args:
        output: where the lines go.
        whole: ``--info=progress2``: the whole transfer on one line.
        clock: seconds, monotonic (tests pass their own).
        foreground: whether intermediate lines may be shown now (not while the process
            is in the background of its terminal).
    """

    def __init__(
        self,
        output: Output,
        *,
        whole: bool,
        clock: Callable[[], float] = time.monotonic,
        foreground: Callable[[], bool] = _foreground,
    ) -> None:
        self.output = output
        self.whole = whole
        self.clock = clock
        self.foreground = foreground
        self.start: tuple[float, int] | None = None  # ph_start (None: not started)
        self.history: list[tuple[float, int] | None] = [None] * HISTORY_SECS  # ph_list
        self.newest = 0
        self.oldest = 0
        self.last_len = 0  # the length of the last progress2 tail

    # -- what Output calls -----------------------------------------------------------------

    def update(
        self,
        name: bytes,
        done: int,
        total: int,
        *,
        final: bool,
        to_check: int = 0,
        count: int = 0,
        xferred: int = 0,
        transferred_size: int = 0,
        total_size: int = 0,
        flist_eof: bool = True,
    ) -> None:
        """``done`` of the ``total`` bytes of the current file (the last line if ``final``).

        The other values are the transfer's counts (see ``Reporter.progress``).
        """
        del name  # rsync prints the name itself (the -v line), not in the progress line
        if final:
            self.end(
                total,
                to_check=to_check,
                count=count,
                xferred=xferred,
                transferred_size=transferred_size,
                total_size=total_size,
                flist_eof=flist_eof,
            )
        else:
            self.show(done, total, transferred_size=transferred_size, total_size=total_size)

    def phase_done(
        self,
        *,
        to_check: int,
        count: int,
        xferred: int,
        transferred_size: int,
        total_size: int,
        flist_eof: bool = True,
    ) -> None:
        """A transfer phase ended: progress2 shows the whole line again (rsync: recv_files())."""
        if self.whole:
            self.end(
                0,
                to_check=to_check,
                count=count,
                xferred=xferred,
                transferred_size=transferred_size,
                total_size=total_size,
                flist_eof=flist_eof,
            )

    def close(self) -> None:
        """The transfer is over: end an open line (rsync: main.c, after handle_stats())."""
        if self.output.needs_newline:
            self.output.out.write("\n")
            self.output.out.flush()
            self.output.needs_newline = False

    # -- rsync's progress.c ----------------------------------------------------------------

    def show(self, ofs: int, size: int, *, transferred_size: int = 0, total_size: int = 0) -> None:
        """An update: printed at once for a new file, then at most once a second.

        rsync: progress.c show_progress().
        """
        now = self.clock()
        if self.whole:
            ofs = transferred_size - size + ofs
            size = total_size
        if self.start is None:
            # the sender may have started on this file with the last one's data: a recent
            # update of the last file counts as this one's start (rsync guesses the same)
            last = self.history[self.newest]
            if last is not None and _ms(last[0], now) <= 1500:
                self.start = (last[0], 0)
            else:
                self.start = (now, ofs)
            self.history = [self.start] * HISTORY_SECS
        else:
            newest = self.history[self.newest]
            if newest is not None and _ms(newest[0], now) < 1000:
                return
            self.newest = self.oldest
            self.oldest = (self.oldest + 1) % HISTORY_SECS
            self.history[self.newest] = (now, ofs)
        if not self.foreground():
            return
        self._print(ofs, size, now, None)

    def end(
        self,
        size: int,
        *,
        to_check: int,
        count: int,
        xferred: int,
        transferred_size: int = 0,
        total_size: int = 0,
        flist_eof: bool = True,
    ) -> None:
        """A file's last line (100%, with its ``xfr#``/``to-chk`` tail).

        rsync: progress.c end_progress().
        """
        now = self.clock()
        tail = f" (xfr#{xferred}, {'to' if flist_eof else 'ir'}-chk={to_check}/{count})"
        if self.whole:
            self._print(transferred_size, total_size, now, tail)
        else:
            self._print(size, size, now, tail)
            self.start = None

    def _print(self, ofs: int, size: int, now: float, tail: str | None) -> None:
        """rsync: progress.c rprint_progress() (``tail`` given: the last line)."""
        is_last = tail is not None
        if tail is not None:
            if self.whole:
                # no newline: the next update overwrites the line, so a tail shorter than
                # the last one is padded to cover it
                eol = tail.ljust(self.last_len)
                self.last_len = len(tail)
                is_last = False
            else:
                eol = tail + "\n"
            start = self.start
            diff = _ms(start[0], now) if start is not None else 1
            diff = diff or 1
            rate = (ofs - (start[1] if start is not None else 0)) * 1000.0 / diff / 1024.0
            remain = diff / 1000.0  # the last line shows the time the file took
        else:
            eol = "  "
            oldest = self.history[self.oldest]
            assert oldest is not None  # noqa: S101 - show() filled the history
            diff = _ms(oldest[0], now) or 1
            rate = (ofs - oldest[1]) * 1000.0 / diff / 1024.0
            remain = (size - ofs) / rate / 1000.0 if rate else 0.0
        output = self.output
        output.needs_newline = False
        output.out.write("\r" + progress_line(ofs, size, rate, remain, eol, output.human))
        output.needs_newline = not is_last
        output.out.flush()


def make_progress(opts: ClientOptions, output: Output) -> ProgressDisplay:
    """The display for this run (the same lines on a terminal, a pipe or a file)."""
    foreground = _foreground if output.to_stdout else (lambda: True)
    return ProgressDisplay(output, whole=opts.progress_level >= 2, foreground=foreground)
