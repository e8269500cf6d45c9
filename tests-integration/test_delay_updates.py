"""``--delay-updates``: every file waits in the partial dir and all are renamed at the end.

Each scenario runs twice from the same starting point, once with ours and once with
rsync in the same seat; the destinations (backups included) and the itemized lines must
be equal, and no ``.~tmp~`` (or ``--partial-dir``) directory may be left:

* pull: pyrsync from rsync's daemon, alone, with ``--partial-dir``, with ``--backup``
  and with ``--delete``; an earlier run's file in ``.~tmp~`` is the basis;
* upload: real rsync pushing to pyrsyncd, beside rsync pushing to rsync's daemon;
* a local copy, where the files appear only after the whole transfer;
* ``--inplace`` with it is refused with rsync's words.
"""

from __future__ import annotations

import os
import random
import re
from typing import TYPE_CHECKING

import pytest

from harness.client import pyrsync_argv
from harness.compare import assert_trees_equal
from harness.daemon import DaemonModule
from harness.proc import run

if TYPE_CHECKING:
    from pathlib import Path

    from harness.daemon import RealDaemonFactory
    from harness.tools import RealRsync

pytestmark = pytest.mark.interop

OLD = 1_600_000_000
SIZE = 1 << 20


def _source(base: Path) -> tuple[Path, bytes]:
    data = random.Random(5).randbytes(SIZE)  # noqa: S311 - test data
    src = base / "src"
    (src / "d" / "e").mkdir(parents=True)
    (src / "big").write_bytes(data)
    (src / "a").write_text("new a\n")
    (src / "d" / "b").write_text("new b\n")
    (src / "d" / "e" / "c").write_text("new c\n")
    for p in (src / "d" / "e", src / "d", src):
        os.utime(p, (OLD + 50, OLD + 50))
    return src, data


def _old_dest(dest: Path, data: bytes, pdir: str) -> None:
    (dest / "d").mkdir(parents=True)
    (dest / "a").write_text("old a\n")
    (dest / "d" / "b").write_text("old b, longer\n")
    (dest / "gone").write_text("extra\n")
    # an earlier run left the first half of big in the partial dir
    (dest / pdir).mkdir()
    (dest / pdir / "big").write_bytes(data[: SIZE // 2])
    for p in (dest / "a", dest / "d" / "b", dest / "gone", dest / pdir / "big", dest / "d"):
        os.utime(p, (OLD, OLD))
    os.utime(dest / pdir, (OLD, OLD))
    os.utime(dest, (OLD, OLD))


def _lines(out: str) -> list[str]:
    """The itemized lines (the statistics differ in the bytes of the capability string)."""
    return sorted(ln for ln in out.splitlines() if re.match(r"[<>ch.*][^ ]{8,} ", ln))


def _literal(out: str) -> int:
    m = re.search(r"Literal data: ([\d,]+) bytes", out)
    assert m, out
    return int(m.group(1).replace(",", ""))


VARIANTS = {
    "alone": ["--delay-updates"],
    "partial-dir": ["--delay-updates", "--partial-dir=.part"],
    "backup": ["--delay-updates", "--backup", "--suffix=.bak"],
    "delete": ["--delay-updates", "--delete-after"],
    "delete-delay": ["--delay-updates", "--delete-delay"],
    "temp-dir": ["--delay-updates", "-T", ".tt"],
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_pull_delay_updates_equals_rsyncs(
    real_daemon: RealDaemonFactory, real_rsync: RealRsync, tmp_path: Path, variant: str
) -> None:
    src, data = _source(tmp_path)
    d = real_daemon([DaemonModule("src", src)])
    pdir = ".part" if variant == "partial-dir" else ".~tmp~"
    outs = []
    for who, argv in (("ours", pyrsync_argv()), ("theirs", real_rsync.argv())):
        dest = tmp_path / who
        _old_dest(dest, data, pdir)
        if variant == "temp-dir":
            (dest / ".tt").mkdir()
            os.utime(dest, (OLD, OLD))
        code, out, err = run(
            [*argv, "-ai", "--no-whole-file", "--stats", *VARIANTS[variant],
             d.url("src") + "/", str(dest) + "/"],
            timeout=60,
        )  # fmt: skip
        assert code == 0, (who, err)
        assert _literal(out) < SIZE * 3 // 4, who  # the partial half was the basis
        assert not (dest / pdir).exists(), who
        assert not (dest / "d" / pdir).exists(), who
        assert (dest / "big").read_bytes() == data
        outs.append(_lines(out))
    # --backup without --backup-dir implies --omit-dir-times; the temp dir's time is "now"
    assert_trees_equal(
        tmp_path / "ours", tmp_path / "theirs", dir_times=variant != "backup", exclude=[".tt"]
    )
    if variant == "temp-dir":
        assert list((tmp_path / "ours" / ".tt").iterdir()) == []
    assert outs[0] == outs[1]


def test_upload_delay_updates_equals_rsyncs(
    our_daemon: RealDaemonFactory,
    real_daemon: RealDaemonFactory,
    real_rsync: RealRsync,
    tmp_path: Path,
) -> None:
    src, data = _source(tmp_path)
    outs = []
    for who, factory in (("ours", our_daemon), ("theirs", real_daemon)):
        dest = tmp_path / who
        _old_dest(dest, data, ".~tmp~")
        d = factory([DaemonModule("up", dest, read_only=False)])
        code, out, err = run(
            real_rsync.argv("-ai", "--no-whole-file", "--stats", "--delay-updates", "--delete",
                            str(src) + "/", d.url("up") + "/"),
            timeout=60,
        )  # fmt: skip
        assert code == 0, (who, err)
        assert _literal(out) < SIZE * 3 // 4, who
        assert not (dest / ".~tmp~").exists(), who
        outs.append(_lines(out))
    assert_trees_equal(tmp_path / "ours", tmp_path / "theirs", dir_times=True)
    assert outs[0] == outs[1]


def test_local_delay_updates(tmp_path: Path) -> None:
    src, _ = _source(tmp_path)
    dest = tmp_path / "dest"
    code, _, err = run(pyrsync_argv("-a", "--delay-updates", f"{src}/", f"{dest}/"), timeout=60)
    assert code == 0, err
    assert_trees_equal(src, dest, dir_times=True)
    assert not list(dest.rglob(".~tmp~"))


def test_inplace_with_delay_updates_is_refused(real_rsync: RealRsync, tmp_path: Path) -> None:
    src, _ = _source(tmp_path)
    results = []
    for argv in (pyrsync_argv(), real_rsync.argv()):
        result = run([*argv, "-a", "--inplace", "--delay-updates", f"{src}/", f"{tmp_path}/x/"])
        results.append((result.returncode, result.stderr.splitlines()[0]))
    assert results[0] == results[1] == (1, "rsync: --inplace cannot be used with --delay-updates")


def test_pull_delay_updates_hard_links_equal_rsyncs(
    real_daemon: RealDaemonFactory, real_rsync: RealRsync, tmp_path: Path
) -> None:
    """Followers of a hard-link group are linked to the leader once it is in place."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "a").write_text("new content\n")
    os.link(src / "a", src / "b")
    os.link(src / "a", src / "c")
    os.utime(src / "a", (OLD + 100, OLD + 100))
    os.utime(src, (OLD + 50, OLD + 50))
    d = real_daemon([DaemonModule("src", src)])
    outs = []
    for who, argv in (("ours", pyrsync_argv()), ("theirs", real_rsync.argv())):
        dest = tmp_path / who
        dest.mkdir()
        os.utime(dest, (OLD, OLD))
        code, out, err = run(
            [*argv, "-aiH", "--delay-updates", d.url("src") + "/", str(dest) + "/"], timeout=60
        )
        assert code == 0, (who, err)
        assert (dest / "b").read_text() == "new content\n", who
        assert not (dest / ".~tmp~").exists(), who
        outs.append(_lines(out))
    assert_trees_equal(tmp_path / "ours", tmp_path / "theirs", hardlinks=True, dir_times=True)
    assert outs[0] == outs[1]


@pytest.mark.parametrize("option", ["--delay-updates", "--partial-dir=.part"])
def test_partial_dir_in_the_source_is_not_sent_as_by_rsync(
    real_daemon: RealDaemonFactory, real_rsync: RealRsync, tmp_path: Path, option: str
) -> None:
    """The client's implied ``-p DIR/`` rule: a source's own partial dirs stay behind."""
    src, _ = _source(tmp_path)
    pdir = ".part" if "partial-dir" in option else ".~tmp~"
    (src / pdir).mkdir()
    (src / pdir / "left").write_text("an interrupted run's\n")
    (src / "d" / pdir).mkdir()
    for p in (src / "d", src):
        os.utime(p, (OLD + 50, OLD + 50))
    d = real_daemon([DaemonModule("src", src)])
    outs = []
    for who, argv in (("ours", pyrsync_argv()), ("theirs", real_rsync.argv())):
        dest = tmp_path / who
        code, out, err = run([*argv, "-ai", option, d.url("src") + "/", f"{dest}/"], timeout=60)
        assert code == 0, (who, err)
        assert not (dest / pdir).exists(), who
        outs.append(_lines(out))
    assert_trees_equal(tmp_path / "ours", tmp_path / "theirs", dir_times=True)
    assert outs[0] == outs[1]
