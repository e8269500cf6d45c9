"""Rarer options of rsync's manual, each beside real rsync: -N, --stderr, --old-dirs,
--fsync and --qsort.

rsync: options.c (crtimes without SUPPORT_CRTIMES, OPT_STDERR, xfer_dirs >= 4,
server_options() for --fsync), compat.c (use_qsort turns incremental recursion off).
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

    from harness.daemon import RealDaemonFactory
    from harness.shim import ShimFactory
    from harness.tools import RealRsync

pytestmark = pytest.mark.interop


def _tree(root: Path) -> list[str]:
    return sorted(
        os.path.relpath(os.path.join(dirpath, name), root)
        for dirpath, dirnames, filenames in os.walk(root)
        for name in dirnames + filenames
    )


def _source(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    (src / "a" / "b").mkdir(parents=True)
    (src / "c").mkdir()
    (src / "f").write_text("1\n")
    (src / "a" / "g").write_text("2\n")
    (src / "a" / "b" / "h").write_text("3\n")
    return src


def _both(real_rsync: RealRsync, *args: object) -> list[tuple[int, str, str]]:
    return [run(real_rsync.argv(*args)), run(pyrsync_argv(*args))]  # type: ignore[list-item]


def _plain(text: str) -> list[str]:
    return [re.sub(r" at \S+ \[client=[^]]*\]$", "", ln) for ln in text.splitlines()]


@pytest.mark.parametrize("option", ["-N", "--crtimes", "-aN"])
def test_crtimes_is_refused_as_rsync_on_linux_refuses_it(
    real_rsync: RealRsync, tmp_path: Path, option: str
) -> None:
    src = _source(tmp_path)
    (real, ours) = [
        (c, _plain(e)) for c, _, e in _both(real_rsync, option, f"{src}/", tmp_path / "d")
    ]
    assert real == (
        1,
        [
            "rsync: This rsync does not support --crtimes (-N)",
            "rsync error: syntax or usage error (code 1)",
        ],
    )
    assert ours == real
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize("mode", ["errors", "all", "a", "client", "c", "bogus", ""])
def test_stderr_mode_sends_messages_where_rsync_does(
    real_rsync: RealRsync, tmp_path: Path, mode: str
) -> None:
    src = _source(tmp_path)
    results = []
    for who, argv in (("real", real_rsync.argv), ("ours", pyrsync_argv)):
        code, out, err = run(argv("-rv", f"--stderr={mode}", f"{src}/", tmp_path / who))
        results.append(
            (code, len(out.splitlines()), _plain(err) if code else len(err.splitlines()))
        )
    assert results[1] == results[0]


def test_old_dirs_copies_one_level(real_rsync: RealRsync, tmp_path: Path) -> None:
    src = _source(tmp_path)
    for who, argv in (("real", real_rsync.argv), ("ours", pyrsync_argv)):
        code, _, err = run(argv("--old-dirs", f"{src}/", tmp_path / who))
        assert code == 0, err
    assert _tree(tmp_path / "real") == ["a", "c", "f"]
    assert _tree(tmp_path / "ours") == _tree(tmp_path / "real")


def test_fsync_is_forwarded_by_a_pushing_client(
    real_rsync: RealRsync, rsh_shim_factory: ShimFactory, tmp_path: Path
) -> None:
    """rsync's client sends --fsync to a receiving server (and keeps it for its own receiver)."""
    src = _source(tmp_path)
    log = tmp_path / "args"
    recorder = tmp_path / "record.sh"
    recorder.write_text(f'#!/bin/sh\necho "$@" >> {log}\nexec {real_rsync.path} "$@"\n')
    recorder.chmod(0o755)
    shim = str(rsh_shim_factory([str(recorder)], name="record"))
    for who, argv in (("real", real_rsync.argv), ("ours", pyrsync_argv)):
        code, _, err = run(argv("-r", "--fsync", "-e", shim, f"{src}/", f"host:{tmp_path}/{who}/"))
        assert code == 0, err
        assert _tree(tmp_path / who) == _tree(src)
    lines = log.read_text().splitlines()
    assert len(lines) == 2
    assert all("--fsync" in line.split() for line in lines), lines
    code, _, err = run(pyrsync_argv("-r", "--fsync", f"{src}/", tmp_path / "local"))
    assert code == 0, err
    assert _tree(tmp_path / "local") == _tree(src)


def test_qsort_pulls_without_incremental_recursion(
    real_rsync: RealRsync, real_daemon: RealDaemonFactory, tmp_path: Path
) -> None:
    """rsync's client would forward --use-qsort, which its server refuses; ours keeps it."""
    src = _source(tmp_path)
    daemon = real_daemon({"m": src})
    code, out, err = run(pyrsync_argv("-rv", "--qsort", daemon.url("m"), tmp_path / "d"))
    assert code == 0, err
    assert out.splitlines()[0] == "receiving file list ... done"  # not incremental
    assert _tree(tmp_path / "d") == _tree(src)
