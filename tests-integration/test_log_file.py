"""``--log-file`` and ``--log-file-format`` on the client, beside rsync's own log.

Ours and rsync run the same command (a local copy, a pull from ``rsync --server``, a push
to it) with a log file each; after the time and the pid of each line are masked (and the
byte counts of the totals, which differ by implementation), the two logs must be equal
line for line: "building file list" or "receiving file list", the items in the log's
format, deletions, the messages, and the totals (``-v``'s two lines, ``--stats``, or the
log's own "sent ... total size" line).
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

import pytest

from harness.client import pyrsync_argv
from harness.proc import run

if TYPE_CHECKING:
    from pathlib import Path

    from harness.shim import ShimFactory
    from harness.tools import RealRsync

pytestmark = pytest.mark.interop

T = 1_600_000_000
_PREFIX = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[\d+\] ")
_NUMBERS = re.compile(
    r"^(sent) [\d,]+ (bytes  received) [\d,]+ (bytes  .*?)[\d,.]+( bytes/sec)?$|"
    r"^(Total bytes (?:sent|received)|File list size|Literal data|Matched data|"
    r"File list (?:generation|transfer) time): .*$"
)


def _source(base: Path) -> Path:
    src = base / "src"
    (src / "d").mkdir(parents=True)
    (src / "a").write_bytes(b"a" * 12_345)
    (src / "d" / "b").write_text("b\n")
    (src / "gone").write_text("soon deleted\n")
    (src / "ctl\x01name").write_text("x")
    os.symlink("a", src / "link")
    for path in (src / "a", src / "d" / "b", src / "gone", src / "ctl\x01name", src / "d", src):
        os.utime(path, (T, T))
    os.utime(src / "link", (T, T), follow_symlinks=False)
    return src


def _change(src: Path) -> None:
    (src / "gone").unlink()
    (src / "a").write_bytes(b"b" * 12_000)
    (src / "new").write_text("new\n")
    for path in (src / "a", src / "new", src):
        os.utime(path, (T + 10, T + 10))


def _masked(log: Path, who: str = "") -> list[str]:
    lines = []
    for line in log.read_text().splitlines():
        assert _PREFIX.match(line), line
        body = _PREFIX.sub("", line)
        if who:
            body = body.replace(f"/{who}/", "/WHO/")
        body = _NUMBERS.sub(lambda m: m.group(1) or m.group(5) or "", body)
        body = re.sub(r"  speedup is [\d,.]+", "  speedup is N", body)
        lines.append(body)
    return lines


def _where(mode: str, src: Path, dest: Path) -> list[str]:
    return {
        "local": [f"{src}/", f"{dest}/"],
        "pull": [f"host:{src}/", f"{dest}/"],
        "push": [f"{src}/", f"host:{dest}/"],
    }[mode]


OPTIONS = [
    [],
    ["-v"],
    ["--stats"],
    ["-ii"],
    ["-n"],
    ["--log-file-format=%o|%f|%n|%L|%l|%B|%'l|%-6l|"],
    ["--log-file-format="],
    ["--log-file-format=%n"],
]


@pytest.mark.parametrize("mode", ["local", "pull", "push"])
@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: " ".join(o) or "plain")
def test_log_file_is_rsyncs(
    real_rsync: RealRsync,
    rsh_shim_factory: ShimFactory,
    tmp_path: Path,
    mode: str,
    options: list[str],
) -> None:
    shim = rsh_shim_factory()
    logs: dict[str, list[str]] = {}
    outs: dict[str, str] = {}
    for who, argv in (("ours", pyrsync_argv()), ("theirs", real_rsync.argv())):
        src = _source(tmp_path / who)
        dest = tmp_path / who / "dest"
        log = tmp_path / who / "log"
        for step in (0, 1):
            if step:
                _change(src)
            code, out, err = run(
                [
                    *argv,
                    "-a",
                    "--delete",
                    "--no-i-r",
                    "-e",
                    shim,
                    f"--log-file={log}",
                    *options,
                    *_where(mode, src, dest),
                ],
                timeout=60,
            )
            assert code == 0, (who, err)
        outs[who] = out
        logs[who] = _masked(log, who)
    assert logs["ours"] == logs["theirs"]
    assert "building file list" in logs["ours"] or "receiving file list" in logs["ours"]


def test_log_file_gets_errors(real_rsync: RealRsync, tmp_path: Path) -> None:
    """A failed source is in the log, with rsync's closing error line (pid, version masked)."""
    logs = []
    for who, argv in (("ours", pyrsync_argv()), ("theirs", real_rsync.argv())):
        src = _source(tmp_path / who)
        log = tmp_path / who / "log"
        code, _out, _err = run(
            [*argv, "-a", f"--log-file={log}", f"{src}/", f"{src}/missing", f"{tmp_path}/{who}/d/"]
        )
        assert code == 23
        logs.append([re.sub(r" at \S+ \[\S+\]$", "", ln) for ln in _masked(log, who)])
    assert logs[0] == logs[1]
    assert any(ln.startswith("rsync error: some files/attrs") for ln in logs[0])


def test_a_log_that_cannot_be_opened_is_ignored(real_rsync: RealRsync, tmp_path: Path) -> None:
    """rsync says so and carries on: the copy is made, the exit code is 0."""
    results = []
    for who, argv in (("ours", pyrsync_argv()), ("theirs", real_rsync.argv())):
        src = _source(tmp_path / who)
        dest = tmp_path / who / "dest"
        code, out, err = run([*argv, "-a", f"--log-file={tmp_path}/no/such/log", f"{src}/", dest])
        assert (dest / "d" / "b").read_text() == "b\n"
        results.append((code, out, err.replace(str(tmp_path), "TMP")))
    assert results[0] == results[1]


def test_log_file_mode_and_append(tmp_path: Path) -> None:
    """The log is created 0644 (less the umask) and later runs append to it."""
    src = _source(tmp_path)
    log = tmp_path / "log"
    for _ in range(2):
        code, _out, err = run(
            [*pyrsync_argv(), "-a", f"--log-file={log}", f"{src}/", tmp_path / "d"]
        )
        assert code == 0, err
    assert log.stat().st_mode & 0o777 == 0o644 & ~_umask()
    assert _masked(log).count("building file list") == 2


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
