"""``--append``/``--append-verify``: the receiver adds to what it has, the sender skips it.

A destination holding prefixes of the source files (and one file longer than its source,
which ``--append`` leaves alone, and one whose "prefix" differs: ``--append`` keeps the
difference, ``--append-verify`` notices and sends the file again whole) is updated by ours
and by rsync in the same seat: a local copy, a pull from ``rsync --server``, and real
rsync pushing to ``pyrsync --server``. Trees and the verification warnings must be equal.
"""

from __future__ import annotations

import os
import random
import sys
from typing import TYPE_CHECKING

import pytest

from harness.client import pyrsync_argv
from harness.compare import assert_trees_equal
from harness.proc import run

if TYPE_CHECKING:
    from pathlib import Path

    from harness.shim import ShimFactory
    from harness.tools import RealRsync

pytestmark = pytest.mark.interop

T = 1_600_000_000


def _source(base: Path) -> Path:
    rng = random.Random(5)  # noqa: S311 - test data
    src = base / "src"
    (src / "d").mkdir(parents=True)
    (src / "big").write_bytes(rng.randbytes(300_000))
    (src / "d" / "small").write_bytes(b"hello\n" * 50)
    (src / "short").write_text("short\n")
    (src / "changed").write_bytes(rng.randbytes(50_000))
    (src / "new").write_text("new\n")
    for path in (src / "big", src / "d" / "small", src / "short", src / "changed", src / "new"):
        os.utime(path, (T, T))
    return src


def _dest(dest: Path, src: Path) -> None:
    (dest / "d").mkdir(parents=True)
    (dest / "big").write_bytes((src / "big").read_bytes()[:123_457])
    (dest / "d" / "small").write_bytes((src / "d" / "small").read_bytes()[:7])
    (dest / "short").write_text("short and longer than the source\n")
    (dest / "changed").write_bytes(bytes(20_000))  # not a prefix: only -verify notices
    for path in (dest / "big", dest / "d" / "small", dest / "short", dest / "changed"):
        os.utime(path, (T - 10, T - 10))


def _warnings(err: str) -> list[str]:
    return sorted(ln for ln in err.splitlines() if "verification" in ln)


@pytest.mark.parametrize("option", ["--append", "--append-verify"])
@pytest.mark.parametrize("mode", ["local", "pull", "push-to-ours"])
def test_append_as_rsync(
    real_rsync: RealRsync,
    rsh_shim_factory: ShimFactory,
    tmp_path: Path,
    mode: str,
    option: str,
) -> None:
    src = _source(tmp_path)
    ours_server = rsh_shim_factory([sys.executable, "-m", "rsync_client"], name="ours")
    rsync_server = rsh_shim_factory(name="theirs")
    warnings = []
    for who in ("ours", "theirs"):
        dest = tmp_path / who
        _dest(dest, src)
        if mode == "push-to-ours":
            shim = ours_server if who == "ours" else rsync_server
            argv = [*real_rsync.argv(), "-e", str(shim), f"{src}/", f"host:{dest}/"]
        elif mode == "pull":
            client = pyrsync_argv() if who == "ours" else real_rsync.argv()
            argv = [*client, "-e", str(rsync_server), f"host:{src}/", f"{dest}/"]
        else:
            client = pyrsync_argv() if who == "ours" else real_rsync.argv()
            argv = [*client, f"{src}/", f"{dest}/"]
        code, _out, err = run([*argv[:-2], "-a", option, *argv[-2:]], timeout=60)
        assert code == 0, (who, err)
        warnings.append(_warnings(err))
    assert_trees_equal(tmp_path / "ours", tmp_path / "theirs")
    assert warnings[0] == warnings[1]
    ours = tmp_path / "ours"
    assert (ours / "big").read_bytes() == (src / "big").read_bytes()
    assert (ours / "short").read_text().startswith("short and longer")  # left alone
    changed_ok = (ours / "changed").read_bytes() == (src / "changed").read_bytes()
    assert changed_ok == (option == "--append-verify")


@pytest.mark.parametrize("args", [["--append", "-W"], ["--append", "--partial-dir=.p"]])
def test_refusals_are_rsyncs(real_rsync: RealRsync, tmp_path: Path, args: list[str]) -> None:
    src = _source(tmp_path)
    results = []
    for argv in (pyrsync_argv(), real_rsync.argv()):
        code, _out, err = run([*argv, "-a", *args, f"{src}/", f"{tmp_path}/d/"])
        results.append((code, err.splitlines()[0]))
    assert results[0] == results[1]
    assert results[0][0] == 1
