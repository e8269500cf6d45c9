r"""pyrsync's ``--progress``, ``-P`` and ``--info=progress2`` beside the real rsync's, pulling
the same tree from a real rsync daemon, through a pipe and on a terminal (a pty).

rsync writes the same bytes wherever its output goes: ``\r``-started updates, and per
file a last line ending at 100% with ``(xfr#N, to-chk=M/T)``. Rates, times and how many
updates a second brings depend on the machine, so each output is compared as a terminal
leaves it (per line, the text after the last ``\r``), plus the parts that do not depend on
timing: the first update of a line (rsync prints one at a file's first data, ``0 0%``)
and every line that ends a file or a phase; rates and times are masked. Both recurse
incrementally (``ir-chk``).
"""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import sys
import time
from typing import TYPE_CHECKING, Final

import pytest

from harness.client import normalize_output, pyrsync_argv
from harness.proc import run
from harness.trees import update_tree

if TYPE_CHECKING:
    from pathlib import Path

    from harness.daemon import RealDaemonFactory
    from harness.tools import RealRsync
    from harness.trees import Tree, TreeFactory

pytestmark = pytest.mark.interop

_RATE_TIME: Final = re.compile(r"(?<=%) [ \d.]{7}[kMG]B/s (?:[ \d]{4}:\d\d:\d\d|  \?\?:\?\?:\?\?)")
"""A line's rate (``%7.2f`` and its unit) and time (``%4u:%02u:%02u``), after its percent."""
_MASKED: Final = " #######?B/s ##########"
PTY_TIMEOUT: Final = 120.0


def progress_view(data: bytes) -> list[str]:
    r"""What is compared: per line, its first ``\r`` update, every end-of-file or end-of-phase
    update and the last one, byte for byte but for the digits and unit of rates and times
    (and the summary's timings and byte counts, as ``normalize_output`` masks them)."""
    text = normalize_output(data.decode("utf-8", "backslashreplace").replace("\r\n", "\n"))
    view = []
    for line in text.split("\n"):
        parts = line.split("\r")
        kept = [parts[0]]
        for i, part in enumerate(parts[1:], 1):
            if i == 1 or "-chk=" in part or i == len(parts) - 1:
                kept.append(_RATE_TIME.sub(_MASKED, part))
        view.append("\r".join(kept))
    return view


def run_in_pty(argv: list[str], cwd: Path) -> tuple[int, bytes]:
    """Run ``argv`` with a pty as its controlling terminal (stdin, stdout, stderr); its output."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: exec at once
        try:
            os.chdir(cwd)
            os.execv(argv[0], argv)  # noqa: S606 - a test's own command, no shell
        finally:
            os._exit(127)
    chunks = []
    deadline = time.monotonic() + PTY_TIMEOUT
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                os.killpg(pid, signal.SIGKILL)
                pytest.fail(f"{argv} ran longer than {PTY_TIMEOUT} s on a pty")
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            try:
                data = os.read(fd, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    return os.waitstatus_to_exitcode(status), b"".join(chunks)


class Clients:
    """Runs one pull with both clients, each into ``<tmp>/<client>/dest`` (the first creates it)."""

    def __init__(self, real_rsync: RealRsync, tmp_path: Path) -> None:
        self.real_rsync = real_rsync
        self.tmp_path = tmp_path
        for client in ("rsync", "pyrsync"):
            (tmp_path / client).mkdir()

    def argv(self, client: str, *args: str) -> list[str]:
        if client == "rsync":
            return [str(a) for a in self.real_rsync.argv(*args, "dest")]
        return pyrsync_argv(*args, "dest")

    def pipe(self, *args: str) -> tuple[list[str], list[str], bytes]:
        """Both outputs through a pipe: rsync's view, pyrsync's view, pyrsync's bytes."""
        results = [
            run(self.argv(client, *args), cwd=self.tmp_path / client)
            for client in ("rsync", "pyrsync")
        ]
        theirs, ours = results
        assert ours.returncode == theirs.returncode, (theirs.describe(), ours.describe())
        assert ours.stderr == theirs.stderr, (theirs.describe(), ours.describe())
        outputs = [r.stdout.encode("utf-8", "surrogateescape") for r in results]
        return progress_view(outputs[0]), progress_view(outputs[1]), outputs[1]

    def terminal(self, *args: str) -> tuple[list[str], list[str], bytes]:
        """Both outputs on a terminal: rsync's view, pyrsync's view, pyrsync's bytes."""
        outputs = []
        for client in ("rsync", "pyrsync"):
            code, data = run_in_pty(self.argv(client, *args), self.tmp_path / client)
            assert code == 0, (client, data)
            outputs.append(data)
        return progress_view(outputs[0]), progress_view(outputs[1]), outputs[1]


@pytest.fixture
def clients(real_rsync: RealRsync, tmp_path: Path) -> Clients:
    return Clients(real_rsync, tmp_path)


@pytest.fixture
def served(tree_factory: TreeFactory, real_daemon: RealDaemonFactory) -> tuple[Tree, str]:
    tree = tree_factory()
    many = tree.root / "many"  # over 200 entries: --progress counts them by the hundred
    many.mkdir()
    for i in range(150):
        (many / f"f{i:03d}").write_text(f"{i}\n")
    daemon = real_daemon({"src": tree.root})
    return tree, daemon.url("src")


@pytest.mark.parametrize(
    "options",
    [
        ["--progress"],
        ["-P"],
        ["--info=progress2"],
        ["--info=progress"],  # the lines without the names --progress adds
        ["-P", "--info=progress2"],  # names, file-list counts and the whole-transfer line
        ["--progress", "--info=progress0"],  # names, no progress
        ["-v", "--progress", "--stats"],
    ],
)
def test_progress_through_a_pipe_is_rsyncs(
    clients: Clients, served: tuple[Tree, str], options: list[str]
) -> None:
    tree, url = served
    theirs, ours, raw = clients.pipe("-a", *options, url)
    assert ours == theirs
    assert b"\x1b" not in raw
    # nothing to do: progress2 still shows its line at the end of each phase, as rsync
    theirs, ours, _ = clients.pipe("-a", *options, url)
    assert ours == theirs
    # a delta transfer (matched blocks) after the tree changed
    update_tree(tree)
    theirs, ours, _ = clients.pipe("-a", *options, url)
    assert ours == theirs


# With incremental recursion rsync's own whole-transfer line interleaves with the names
# differently from run to run in a local copy (its sender lists while it sends): that case is
# compared with one list.
@pytest.mark.parametrize("options", [["--progress"], ["-P", "--info=progress2", "--no-i-r"]])
def test_local_copy_progress_is_rsyncs(
    clients: Clients, tree_factory: TreeFactory, options: list[str]
) -> None:
    # rsync's client is the sender here: "sending incremental file list", and a file's
    # first update after its first chunk was sent
    tree = tree_factory()
    theirs, ours, _ = clients.pipe("-a", *options, f"{tree.root}/")
    assert ours == theirs
    first = "building file list ... " if "--no-i-r" in options else "sending incremental file list"
    assert any(line.startswith(first) for line in ours)


def test_first_update_and_last_line_of_a_file(clients: Clients, served: tuple[Tree, str]) -> None:
    _, url = served
    _, _, raw = clients.pipe("-a", "--progress", url)
    text = raw.decode("utf-8", "surrogateescape")
    # a file with data starts with rsync's first update, before any data is counted ...
    first = "\r              0   0%    0.00kB/s    0:00:00  \r"
    # ... and ends with its size from the file list, at 100%
    last = re.compile(
        r"\r      1,048,583 100% [ \d.]{7}[kMG]B/s    0:00:\d\d \(xfr#\d+, to-chk=\d+/\d+\)\n"
    )
    assert first in text
    assert last.search(text), text


@pytest.mark.parametrize("option", ["--progress", "--info=progress2"])
def test_progress_on_a_terminal_is_rsyncs(
    clients: Clients, served: tuple[Tree, str], option: str
) -> None:
    tree, url = served
    theirs, ours, raw = clients.terminal("-a", option, url)
    assert ours == theirs
    assert b"\x1b" not in raw  # plain text, no cursor movement or colours
    update_tree(tree)
    theirs, ours, _ = clients.terminal("-a", option, url)
    assert ours == theirs


def test_error_after_a_partial_line_goes_to_stderr_after_a_newline(
    clients: Clients, served: tuple[Tree, str]
) -> None:
    _, url = served
    outputs = []
    for client in ("rsync", "pyrsync"):
        result = run(
            # one list, so that "receiving file list ... " is a partial line
            clients.argv(client, "-r", "--no-i-r", "--progress", url + "does-not-exist"),
            cwd=clients.tmp_path / client,
        )
        assert result.returncode == 23, result.describe()
        outputs.append(result)
    theirs, ours = outputs
    assert progress_view(ours.stdout.encode()) == progress_view(theirs.stdout.encode())
    assert ours.stdout.startswith("receiving file list ... ")
    assert ours.stderr.startswith("\nrsync: [sender] link_stat"), ours.stderr
    assert theirs.stderr.startswith("\nrsync: [sender] link_stat"), theirs.stderr


if sys.platform != "linux":  # pragma: no cover - pty and the daemon fixtures are Linux here
    pytestmark = [pytestmark, pytest.mark.skip(reason="Linux only")]
