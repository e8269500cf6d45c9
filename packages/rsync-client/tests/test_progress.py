r"""rsync's progress lines, driven by a clock of the test's own (rsync: progress.c).

The expected lines are rsync's format, computed by hand from progress.c for the given
times: updates at most once a second, rates over the last five seconds of updates, the
last line of a file with the time it took, progress2's padded whole-transfer line.
"""

from __future__ import annotations

import io

from rsync_client.options import ClientOptions
from rsync_client.output import Output
from rsync_client.progress import ProgressDisplay, progress_line

FIRST = "\r              0   0%    0.00kB/s    0:00:00  "


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def display(
    *, whole: bool = False, foreground: bool = True
) -> tuple[ProgressDisplay, io.StringIO, Clock]:
    out = io.StringIO()
    output = Output(ClientOptions(progress=True), stdout=out, stderr=io.StringIO())
    clock = Clock()
    shown = ProgressDisplay(output, whole=whole, clock=clock, foreground=lambda: foreground)
    output.progress_display = shown
    return shown, out, clock


def test_line_format() -> None:
    assert progress_line(0, 10, 0.0, 0.0, "  ") == "              0   0%    0.00kB/s    0:00:00  "
    assert (
        progress_line(1048576, 1048576, 2048.0, 0.5, " (xfr#1, to-chk=0/1)")
        == "      1,048,576 100%    2.00MB/s    0:00:00 (xfr#1, to-chk=0/1)"
    )
    assert progress_line(5, 10, 3 * 1024 * 1024.0, 3725.0, "", 0).endswith(
        "50%    3.00GB/s    1:02:05"
    )
    assert progress_line(5, 10, 1.0, 9999 * 3600 + 1, "").endswith("kB/s   ??:??:??")
    assert progress_line(1234567, 2469134, 1.0, 0, "", 2).startswith("          1.23M  50%")


def test_file_updates_once_a_second_and_ends_at_100_percent() -> None:
    shown, out, clock = display()
    shown.update(b"f", 0, 4096 * 1024, final=False)
    clock.now += 0.5
    shown.update(b"f", 1024 * 1024, 4096 * 1024, final=False)  # too soon: not shown
    clock.now += 0.5
    shown.update(b"f", 2048 * 1024, 4096 * 1024, final=False)
    clock.now += 1.0
    shown.update(b"f", 4096 * 1024, 4096 * 1024, final=True, to_check=3, count=10, xferred=2)
    assert out.getvalue() == (
        FIRST
        # 2 MiB in the second since the first update; 2 MiB left at 2 MiB/s: rsync's formula
        # (bytes / kB/s / 1000) says 1 s
        + "\r      2,097,152  50%    2.00MB/s    0:00:01  "
        # the last line: the rate and time over the whole file (2 s)
        + "\r      4,194,304 100%    2.00MB/s    0:00:02 (xfr#2, to-chk=3/10)\n"
    )
    shown.close()
    assert out.getvalue().endswith(")\n")  # nothing more: the last line had its newline


def test_a_file_started_just_after_the_last_counts_from_its_last_update() -> None:
    shown, out, clock = display()
    shown.update(b"a", 0, 100, final=False)
    clock.now += 1.0
    shown.update(b"a", 50, 100, final=False)
    clock.now += 0.2
    shown.update(b"a", 100, 100, final=True, to_check=1, count=2, xferred=1)
    clock.now += 0.8  # within 1.5 s of a's last update: b's data started then
    shown.update(b"b", 512, 1024, final=False)
    assert out.getvalue().endswith("\n\r            512  50%    0.50kB/s    0:00:01  ")
    shown.update(b"b", 1024, 1024, final=True, to_check=0, count=3, xferred=2)
    clock.now += 2.0  # long after b's last update: c starts now
    shown.update(b"c", 512, 1024, final=False)
    assert out.getvalue().endswith("\n\r            512  50%    0.00kB/s    0:00:00  ")


def test_empty_file_and_background_process() -> None:
    shown, out, clock = display(foreground=False)
    shown.update(b"e", 0, 0, final=True, to_check=0, count=1, xferred=1)
    assert out.getvalue() == "\r              0 100%    0.00kB/s    0:00:00 (xfr#1, to-chk=0/1)\n"
    shown.update(b"f", 0, 10, final=False)  # in the background: no update ...
    clock.now += 2
    shown.update(b"f", 10, 10, final=True, to_check=0, count=1, xferred=2)  # ... but the end
    assert out.getvalue().endswith(
        "\n\r             10 100%    0.00kB/s    0:00:02 (xfr#2, to-chk=0/1)\n"
    )


def test_progress2_is_one_line_for_the_transfer_padded_when_shorter() -> None:
    shown, out, clock = display(whole=True)
    shown.update(b"a", 0, 1000, final=False, transferred_size=1000, total_size=3000)
    clock.now += 1
    shown.update(
        b"a",
        1000,
        1000,
        final=True,
        to_check=10,
        count=12,
        xferred=1,
        transferred_size=1000,
        total_size=3000,
    )
    clock.now += 1
    shown.update(
        b"b",
        2000,
        2000,
        final=True,
        to_check=0,
        count=12,
        xferred=2,
        transferred_size=3000,
        total_size=3000,
        flist_eof=False,
    )
    shown.phase_done(to_check=0, count=12, xferred=2, transferred_size=3000, total_size=3000)
    shown.close()
    assert out.getvalue() == (
        FIRST
        + "\r          1,000  33%    0.98kB/s    0:00:01 (xfr#1, to-chk=10/12)"
        + "\r          3,000 100%    1.46kB/s    0:00:02 (xfr#2, ir-chk=0/12) "
        + "\r          3,000 100%    1.46kB/s    0:00:02 (xfr#2, to-chk=0/12)"
        + "\n"
    )


def test_output_lines_and_errors_end_an_open_progress_line_first() -> None:
    out, err = io.StringIO(), io.StringIO()
    output = Output(ClientOptions(progress=True), stdout=out, stderr=err)
    clock = Clock()
    output.progress_display = ProgressDisplay(
        output, whole=False, clock=clock, foreground=lambda: True
    )
    output.progress(b"f", 0, 10, final=False)
    output.info("a message")
    output.progress(b"f", 0, 10, final=False)
    clock.now += 1
    output.progress(b"f", 5, 10, final=False)
    output.error("rsync: trouble")
    # 5 bytes in 1 s, 5 to go: rsync's formula gives 1 s
    assert (
        out.getvalue()
        == FIRST + "\na message\n" + "\r              5  50%    0.00kB/s    0:00:01  "
    )
    assert err.getvalue() == "\nrsync: trouble\n"  # rsync ends the line on the message's stream


def test_progress_options_combine_as_rsyncs() -> None:
    from rsync_client.cli import parse_args

    def levels(*args: str) -> tuple[bool, int]:
        opts, _ = parse_args([*args, "src"])
        return opts.progress, opts.progress_level

    assert levels("--progress") == (True, 1)
    assert levels("-P") == (True, 1)
    assert levels("--info=progress") == (False, 1)  # no names: only --progress adds them
    assert levels("--info=progress2") == (False, 2)
    assert levels("-P", "--info=progress2") == (True, 2)  # the level given wins, in any order
    assert levels("--info=progress2", "-P") == (True, 2)
    assert levels("--progress", "--info=progress0") == (True, 0)
    assert levels("--progress", "--no-progress") == (False, 0)


def test_file_list_counted_by_the_hundred_with_progress_only() -> None:
    for opts, expected in (
        (
            ClientOptions(progress=True, recursive=True),
            "receiving file list ... \n 100 files...\r 200 files...\r250 files to consider\n",
        ),
        (ClientOptions(verbose=2, recursive=True), "receiving file list ... done\n"),
    ):
        out = io.StringIO()
        output = Output(opts, stdout=out, stderr=io.StringIO())
        output.file_list_started()
        output.file_list_progress(100)
        output.file_list_progress(200)
        output.file_list_done(250)
        assert out.getvalue() == expected
