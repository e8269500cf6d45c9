"""The sender as rsync's: --append, --inplace, empty lists, non-regular files, error lines.

Each scenario runs the real rsync 3.5 client against pyrsyncd (as a daemon, or as the
``--server`` a remote shell starts) and against rsync itself, and compares what the
client sees.
"""

from __future__ import annotations

import os
import re
import sys
from typing import TYPE_CHECKING

import pytest

from harness.daemon import DaemonModule
from harness.proc import run

if TYPE_CHECKING:
    from pathlib import Path

    from harness.daemon import RealDaemonFactory
    from harness.tools import RealRsync

pytestmark = pytest.mark.interop

DAEMONS = ["our_daemon", "real_daemon"]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    mod = tmp_path / "mod"
    (mod / "sub").mkdir(parents=True)
    (mod / "hello").write_text("hello world\n")
    (mod / "big").write_bytes(os.urandom(1 << 20))
    (mod / "sub" / "f").write_text("f\n")
    (mod / "ln").symlink_to("hello")
    os.mkfifo(mod / "fifo")
    return mod


def _daemon(request: pytest.FixtureRequest, kind: str, tree: Path) -> object:
    factory: RealDaemonFactory = request.getfixturevalue(kind)
    return factory([DaemonModule("mod", tree)])


@pytest.mark.parametrize("daemon_kind", DAEMONS)
@pytest.mark.parametrize("mode", ["--append", "--append-verify"])
def test_append_onto_shorter_file(
    request: pytest.FixtureRequest,
    real_rsync: RealRsync,
    tree: Path,
    tmp_path: Path,
    daemon_kind: str,
    mode: str,
) -> None:
    d = _daemon(request, daemon_kind, tree)
    dest = tmp_path / "d"
    dest.mkdir()
    (dest / "hello").write_text("hel")
    code, _, err = run(
        real_rsync.argv("-av", mode, d.url("mod", "hello"), str(dest) + "/"),  # type: ignore[attr-defined]
        timeout=60,
    )
    assert code == 0, err
    assert (dest / "hello").read_text() == "hello world\n"
    # a prefix that differs: --append keeps it, --append-verify finds it and resends
    (dest / "hello").write_text("xel")
    code, _, err = run(
        real_rsync.argv("-av", mode, d.url("mod", "hello"), str(dest) + "/"),  # type: ignore[attr-defined]
        timeout=60,
    )
    assert code == 0, err
    expected = "xello world\n" if mode == "--append" else "hello world\n"
    assert (dest / "hello").read_text() == expected
    # a destination longer than the source is left alone
    (dest / "hello").write_text("hello world and more\n")
    code, _, err = run(
        real_rsync.argv("-r", mode, d.url("mod", "hello"), str(dest) + "/"),  # type: ignore[attr-defined]
        timeout=60,
    )
    assert code == 0, err
    assert (dest / "hello").read_text() == "hello world and more\n"


@pytest.mark.parametrize("protocol", [29, 32])
def test_inplace_delta_verifies_first_time(
    request: pytest.FixtureRequest,
    real_rsync: RealRsync,
    tree: Path,
    tmp_path: Path,
    protocol: int,
) -> None:
    """Blocks moved backwards must not be copied from what the receiver already rewrote."""
    data = (tree / "big").read_bytes()
    stats = {}
    for kind in DAEMONS:
        d = _daemon(request, kind, tree)
        dest = tmp_path / kind
        dest.mkdir()
        # the basis: the source's halves swapped, so every block of the second half of
        # the new file lies behind the write offset in the basis
        half = len(data) // 2
        (dest / "big").write_bytes(data[half:] + data[:half])
        code, out, err = run(
            real_rsync.argv(
                "-I",
                "--inplace",
                "--no-W",
                "--stats",
                f"--protocol={protocol}",
                d.url("mod", "big"),  # type: ignore[attr-defined]
                str(dest) + "/",
            ),
            timeout=120,
        )
        assert code == 0, err
        assert "failed verification" not in out + err
        assert (dest / "big").read_bytes() == data
        stats[kind] = re.findall(r"(Literal|Matched) data: ([\d,]+)", out)
    assert stats["our_daemon"] == stats["real_daemon"]


def test_empty_list_with_incremental_recursion_ends(
    real_rsync: RealRsync, rsh_shim: Path, tmp_path: Path
) -> None:
    results = []
    for program in ("rsync", f"{sys.executable} -m rsync_daemon"):
        code, _, err = run(
            real_rsync.argv(
                "-a",
                "-e",
                str(rsh_shim),
                f"--rsync-path={program}",
                f"host:{tmp_path}/nonexistent",
                str(tmp_path / "d") + "/",
            ),
            timeout=60,
        )
        sender = [ln for ln in err.splitlines() if ln.startswith("rsync: [sender]")]
        results.append((code, sender))
    assert results[0] == results[1]
    assert results[1][0] == 23
    assert results[1][1] == [
        f'rsync: [sender] link_stat "{tmp_path}/nonexistent" failed: No such file or directory (2)'
    ]


@pytest.mark.parametrize("inc", [True, False], ids=["inc", "no-inc"])
def test_symlinks_and_fifos_listed_without_l_and_d(
    real_rsync: RealRsync, rsh_shim: Path, tree: Path, tmp_path: Path, inc: bool
) -> None:
    outputs = []
    for k, program in enumerate(("rsync", f"{sys.executable} -m rsync_daemon")):
        args = ["-rv", "--stats", "-e", str(rsh_shim), f"--rsync-path={program}"]
        if not inc:
            args.append("--no-inc-recursive")
        code, out, err = run(
            real_rsync.argv(*args, f"host:{tree}/", str(tmp_path / f"d{k}") + "/"), timeout=60
        )
        assert code == 0, err
        keep = ("skipping", "Number of files", "Total file size", "total size")
        outputs.append(sorted(ln for ln in out.splitlines() if ln.startswith(keep)))
    assert outputs[0] == outputs[1]
    assert 'skipping non-regular file "fifo"' in outputs[1]
    assert 'skipping non-regular file "ln"' in outputs[1]


@pytest.mark.parametrize("path", ["missing", "sub/missing", "nodir/x", "hello/", "sub/f/x"])
@pytest.mark.parametrize("relative", [False, True], ids=["plain", "R"])
def test_error_lines_name_role_and_module(
    request: pytest.FixtureRequest,
    real_rsync: RealRsync,
    tree: Path,
    tmp_path: Path,
    path: str,
    relative: bool,
) -> None:
    seen = {}
    for kind in DAEMONS:
        d = _daemon(request, kind, tree)
        args = ["-r", *(["-R"] if relative else [])]
        code, _, err = run(
            real_rsync.argv(*args, d.url("mod", path), str(tmp_path / kind)),  # type: ignore[attr-defined]
            timeout=60,
        )
        seen[kind] = (code, [ln for ln in err.splitlines() if ln.startswith("rsync: [sender]")])
    assert seen["our_daemon"] == seen["real_daemon"]
    if not (relative and path == "hello/"):  # -R hello/ is "hello", which exists
        assert seen["our_daemon"][0] == 23
        assert "(in mod)" in seen["our_daemon"][1][0]


@pytest.mark.parametrize("protocol", [29, 31, 32])
def test_byte_counts_leave_out_greeting_and_arguments(
    request: pytest.FixtureRequest,
    real_rsync: RealRsync,
    tmp_path: Path,
    protocol: int,
) -> None:
    mod = tmp_path / "plain"
    mod.mkdir()
    (mod / "a").write_text("a" * 1000)
    sent = {}
    for kind in DAEMONS:
        factory: RealDaemonFactory = request.getfixturevalue(kind)
        d = factory([DaemonModule("mod", mod)])
        code, out, err = run(
            real_rsync.argv(
                "-r",
                "--stats",
                f"--protocol={protocol}",
                d.url("mod", "a"),
                str(tmp_path / kind) + "/",
            ),
            timeout=60,
        )
        assert code == 0, err
        sent[kind] = re.findall(r"Total bytes sent: ([\d,]+)", out)
    assert sent["our_daemon"] == sent["real_daemon"]


@pytest.mark.parametrize("daemon_kind", DAEMONS)
def test_dangling_symlink_with_copy_links_reported_as_rsync(
    request: pytest.FixtureRequest,
    real_rsync: RealRsync,
    tree: Path,
    tmp_path: Path,
    daemon_kind: str,
) -> None:
    (tree / "sub" / "dangling").symlink_to("nowhere")
    d = _daemon(request, daemon_kind, tree)
    code, _, err = run(
        real_rsync.argv("-rL", d.url("mod", "sub"), str(tmp_path / "d")),  # type: ignore[attr-defined]
        timeout=60,
    )
    assert code == 23
    assert 'symlink has no referent: "sub/dangling" (in mod)' in err.splitlines()
