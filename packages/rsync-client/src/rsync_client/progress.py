r"""``--progress`` and ``--info=progress2``: a live display on a terminal, rsync's lines otherwise.

On a terminal the display is a rich progress bar (per file, or for the whole
transfer with ``progress2``); when standard output is not a terminal it writes
rsync's own progress lines (``\\r`` updates, one final line per file with
``xfr#`` and ``to-chk``), so that logs look like rsync's.

rsync: progress.c rprint_progress(), show_progress(), end_progress().
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Protocol

from rsync_client.output import escape_name, human_num

if TYPE_CHECKING:
    from rsync_client.options import ClientOptions
    from rsync_client.output import Output

__all__ = ["LinesProgress", "Progress", "RichProgress", "make_progress", "progress_line"]


class Progress(Protocol):
    """A progress display."""

    def update(
        self, name: bytes, done: int, total: int, *, final: bool, to_check: int, count: int
    ) -> None:
        """``done`` of ``total`` bytes of ``name``; ``final`` when the file is complete."""

    def pause(self) -> None:
        """Make room for a normal output line."""

    def close(self) -> None:
        """The transfer is over."""


def progress_line(done: int, total: int, rate_kib: float, remain: float, tail: str) -> str:
    r"""One rsync progress line (without the leading ``\\r``).

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
        secs = int(remain)
        rem = f"{secs // 3600:4d}:{secs // 60 % 60:02d}:{secs % 60:02d}"
    pct = 100 if done == total else int(100.0 * done / total) if total else 0
    return f"{human_num(done):>15} {pct:3d}% {rate:7.2f}{units} {rem}{tail}"


class LinesProgress:
    """rsync's plain progress lines (what a log file or a pipe gets)."""

    def __init__(self, output: Output, *, whole: bool) -> None:
        self.output = output
        self.whole = whole
        self.start = 0.0
        self.last = 0.0
        self.xfr = 0
        self.total_done = 0
        self.current: bytes | None = None

    def update(
        self, name: bytes, done: int, total: int, *, final: bool, to_check: int, count: int
    ) -> None:
        """Write an update (at most one a second) or a file's final line."""
        now = time.monotonic()
        if name != self.current:
            self.current = name
            self.start = now
        elapsed = max(now - self.start, 0.001)
        out = self.output.out
        if final:
            self.xfr += 1
            self.total_done += done
            rate = done / elapsed / 1024
            tail = f" (xfr#{self.xfr}, to-chk={to_check}/{count})"
            if self.whole:
                out.write(
                    "\r"
                    + progress_line(self.total_done, max(self.total_done, 1), rate, elapsed, "  ")
                )
                self.output.needs_newline = True
            else:
                out.write("\r" + progress_line(done, total, rate, elapsed, tail) + "\n")
                self.output.needs_newline = False
            out.flush()
            self.current = None
            return
        if now - self.last < 1.0:
            return
        self.last = now
        rate = done / elapsed / 1024
        remain = (total - done) / (rate * 1024) if rate else 0.0
        out.write("\r" + progress_line(done, total, rate, remain, "  "))
        out.flush()
        self.output.needs_newline = True

    def pause(self) -> None:
        """Nothing to do: the next line starts after a newline."""

    def close(self) -> None:
        """End an open progress line."""
        if self.output.needs_newline:
            self.output.out.write("\n")
            self.output.needs_newline = False


class RichProgress:
    """A rich progress bar for terminals."""

    def __init__(self, output: Output, *, whole: bool) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )
        from rich.progress import Progress as Bar

        self.output = output
        self.whole = whole
        self.bar = Bar(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=Console(file=output.out),
            transient=True,
        )
        self.bar.start()
        self.task = self.bar.add_task("", total=None)
        self.whole_done = 0

    def update(
        self, name: bytes, done: int, total: int, *, final: bool, to_check: int, count: int
    ) -> None:
        """Move the bar (the description shows how many files remain to check)."""
        if self.whole:
            self.bar.update(
                self.task,
                description=f"total, to-chk={to_check}/{count}",
                completed=self.whole_done + done,
            )
            if final:
                self.whole_done += done
            return
        self.bar.update(
            self.task, description=escape_name(name)[-40:], completed=done, total=total or None
        )

    def pause(self) -> None:
        """Rich keeps its bar below printed lines by itself."""

    def close(self) -> None:
        """Remove the bar."""
        self.bar.stop()


def make_progress(opts: ClientOptions, output: Output) -> Progress:
    """The display for this run: rich on a terminal, rsync's lines otherwise."""
    whole = opts.progress2
    if output.to_stdout and sys.stdout.isatty():
        return RichProgress(output, whole=whole)
    return LinesProgress(output, whole=whole)
