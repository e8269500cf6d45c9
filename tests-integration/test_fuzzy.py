"""``-y``/``--fuzzy`` (and ``-yy``): a new file's basis is a similar file already there.

The destination holds older versions of the source's files under other names; the
source's files are new there. With ``-y`` each new file must take the same basis as
rsync's generator takes (a size-and-time match first, else the closest name with its
suffix weighed), which shows in equal literal and matched byte counts, equal itemized
lines and equal trees: pulled by pyrsync from rsync's daemon, uploaded by rsync to
pyrsyncd, each beside rsync in the same seat; ``-yy`` also looks in a ``--copy-dest``
directory.
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


def _blob(rng: random.Random, size: int) -> bytes:
    return rng.randbytes(size)


def _trees(base: Path) -> tuple[Path, dict[str, bytes]]:
    """The source, and the old files a destination holds (name -> content)."""
    rng = random.Random(9)  # noqa: S311 - test data
    src = base / "src"
    (src / "sub").mkdir(parents=True)
    tar = _blob(rng, 200_000)
    log = _blob(rng, 120_000)
    pdf = _blob(rng, 90_000)
    src_files = {
        "data-2.tar": tar + b"more",
        "app.log": log[:100_000] + _blob(rng, 5_000),
        "report-final.pdf": pdf,  # a rename: same size and time as report-draft.pdf
        "sub/notes-v3.txt": log[:50_000] + b"end",
        "brand-new.bin": _blob(rng, 30_000),
        "changing.dat": tar[:100_000] + b"x",
        "changing2.dat": tar[:100_000] + b"y",
    }
    for name, data in src_files.items():
        (src / name).write_bytes(data)
        os.utime(src / name, (OLD + 100, OLD + 100))
    os.utime(src / "report-final.pdf", (OLD, OLD))
    old = {
        "data-1.tar": tar,
        "data-1.tar.bak": tar[:150_000],
        "app.log.1": log,
        "report-draft.pdf": pdf,
        "sub/notes-v2.txt": log[:50_000],
        "sub/notes-v2.doc": log[60_000:110_000],
        "changing.dat": tar[:100_000],  # updated itself: no basis for changing2.dat then
        "empty.dat": b"",
    }
    for p in (src / "sub", src):
        os.utime(p, (OLD + 50, OLD + 50))
    return src, old


def _fill(dest: Path, files: dict[str, bytes]) -> None:
    (dest / "sub").mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (dest / name).write_bytes(data)
        os.utime(dest / name, (OLD, OLD))
    for p in (dest / "sub", dest):
        os.utime(p, (OLD, OLD))


def _lines(out: str) -> list[str]:
    return sorted(
        ln
        for ln in out.splitlines()
        if re.match(r"[<>ch.*][^ ]{8,} ", ln) or ln.startswith(("Literal data", "Matched data"))
    )


@pytest.mark.parametrize("delete", [[], ["--delete"], ["--delete-after"], ["--delete-delay"]])
def test_pull_fuzzy_equals_rsyncs(
    real_daemon: RealDaemonFactory, real_rsync: RealRsync, tmp_path: Path, delete: list[str]
) -> None:
    """With --delete (during) the old files go before the search, as in rsync."""
    src, old = _trees(tmp_path)
    d = real_daemon([DaemonModule("src", src)])
    outs = []
    for who, argv in (("ours", pyrsync_argv()), ("theirs", real_rsync.argv())):
        dest = tmp_path / who
        _fill(dest, old)
        code, out, err = run(
            [*argv, "-ai", "-y", "--stats", *delete, d.url("src") + "/", str(dest) + "/"],
            timeout=60,
        )
        assert code == 0, (who, err)
        outs.append(_lines(out))
    assert_trees_equal(tmp_path / "ours", tmp_path / "theirs", dir_times=True)
    assert outs[0] == outs[1]
    if delete != ["--delete"]:
        matched = next(ln for ln in outs[0] if ln.startswith("Matched"))
        assert int(re.sub(r"\D", "", matched)) > 400_000  # the bases were found


def test_pull_fuzzy_in_basis_dirs_equals_rsyncs(
    real_daemon: RealDaemonFactory, real_rsync: RealRsync, tmp_path: Path
) -> None:
    src, old = _trees(tmp_path)
    d = real_daemon([DaemonModule("src", src)])
    outs = []
    for who, argv in (("ours", pyrsync_argv()), ("theirs", real_rsync.argv())):
        base = tmp_path / who / "base"
        _fill(base, old)
        dest = tmp_path / who / "dest"
        dest.mkdir()
        code, out, err = run(
            [*argv, "-ai", "-yy", "--stats", "--copy-dest=../base", d.url("src") + "/",
             str(dest) + "/"],
            timeout=60,
        )  # fmt: skip
        assert code == 0, (who, err)
        outs.append(_lines(out))
    assert_trees_equal(tmp_path / "ours", tmp_path / "theirs")
    assert outs[0] == outs[1]


def test_upload_fuzzy_equals_rsyncs(
    our_daemon: RealDaemonFactory,
    real_daemon: RealDaemonFactory,
    real_rsync: RealRsync,
    tmp_path: Path,
) -> None:
    src, old = _trees(tmp_path)
    outs = []
    for who, factory in (("ours", our_daemon), ("theirs", real_daemon)):
        dest = tmp_path / who
        _fill(dest, old)
        d = factory([DaemonModule("up", dest, read_only=False)])
        code, out, err = run(
            real_rsync.argv("-ai", "-y", "--no-W", "--stats", f"{src}/", d.url("up") + "/"),
            timeout=60,
        )
        assert code == 0, (who, err)
        outs.append(_lines(out))
    assert_trees_equal(tmp_path / "ours", tmp_path / "theirs", dir_times=True)
    assert outs[0] == outs[1]


def test_local_fuzzy(tmp_path: Path) -> None:
    src, old = _trees(tmp_path)
    dest = tmp_path / "dest"
    _fill(dest, old)
    code, out, err = run(
        pyrsync_argv("-a", "-y", "--no-W", "--stats", f"{src}/", f"{dest}/"), timeout=60
    )
    assert code == 0, err
    for name in ("data-2.tar", "report-final.pdf", "sub/notes-v3.txt"):
        assert (dest / name).read_bytes() == (src / name).read_bytes()
    m = re.search(r"Matched data: ([\d,]+)", out)
    assert m
    assert int(m.group(1).replace(",", "")) > 400_000


def test_fuzzy_needs_protocol_29(
    real_daemon: RealDaemonFactory, real_rsync: RealRsync, tmp_path: Path
) -> None:
    src, _ = _trees(tmp_path)
    d = real_daemon([DaemonModule("src", src)])
    results = []
    for who, argv in (("ours", pyrsync_argv()), ("theirs", real_rsync.argv())):
        dest = tmp_path / who
        result = run([*argv, "-a", "-y", "--protocol=28", d.url("src") + "/", f"{dest}/"])
        lines = [ln for ln in result.stderr.splitlines() if "requires" in ln]
        results.append((result.returncode, lines[:1]))
    assert results[0] == results[1]
    assert results[0] == (2, ["--fuzzy requires protocol 29 or higher (negotiated 28)."])


def test_push_fuzzy_equals_rsyncs(
    real_daemon: RealDaemonFactory, real_rsync: RealRsync, tmp_path: Path
) -> None:
    """pyrsync pushing with ``-y`` shows and sends what rsync does (no ``=> name`` line)."""
    src, old = _trees(tmp_path)
    outs = []
    for who, argv in (("ours", pyrsync_argv()), ("theirs", real_rsync.argv())):
        dest = tmp_path / who
        _fill(dest, old)
        d = real_daemon([DaemonModule("up", dest, read_only=False)])
        code, out, err = run(
            [*argv, "-ai", "-y", "--stats", f"{src}/", d.url("up") + "/"], timeout=60
        )
        assert code == 0, (who, err)
        outs.append(_lines(out))
    assert_trees_equal(tmp_path / "ours", tmp_path / "theirs", dir_times=True)
    assert outs[0] == outs[1]
