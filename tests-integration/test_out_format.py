"""``--out-format``: each item's line in rsync's escapes, as rsync's client prints it.

Ours and rsync run the same command (a local copy, a pull from ``rsync --server``, a push
to it) with the same format; their standard output must be equal, line for line. The
formats cover names (``%n``, ``%f`` with the sender's directory, ``%L``), itemizing
(``%i``, and ``%%i`` which is no itemizing), sizes with widths and ``'``, times, modes,
ids, ``%o`` and escapes only a daemon fills (left as written). ``-c`` with ``%C`` gives the
file-list checksum. ``-8`` leaves high-bit bytes of names alone.
"""

from __future__ import annotations

import os
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
FORMATS = [
    "%n",
    "100%% done %f",
    "%%i %n",
    "%i %n%L",
    "[%o][%f][%n][%L][%l][%'l][%8l|%-8l][%U][%G][%M][%B]",
    "[%h][%a][%m][%P][%u][%x][%p]",
    "%i %C %n",
]


def _source(base: Path) -> Path:
    src = base / "src"
    (src / "d").mkdir(parents=True)
    (src / "a").write_bytes(b"a" * 12_345)
    (src / "d" / "b").write_text("b\n")
    (src / "hi\xf9name".encode("latin-1").decode("utf-8", "surrogateescape")).write_text("x")
    os.symlink("a", src / "link")
    for path in (src / "a", src / "d" / "b", src / "d", src):
        os.utime(path, (T, T))
    os.utime(src / "link", (T, T), follow_symlinks=False)
    return src


def _masked(out: str, who: str) -> list[str]:
    lines = out.replace(f"/{who}", "/WHO").splitlines()
    return [ln.replace(f"[{ln.split('[')[-1]}", "[PID]") if "[%u]" in ln else ln for ln in lines]


# A push shows names, modes and flags: its items carry no sizes, times or ids yet.
CASES = [(m, f) for m in ("local", "pull") for f in FORMATS] + [
    ("push", f) for f in ("%n", "100%% done %f", "%%i %n", "%i %n%L", "[%o][%n][%L]")
]


@pytest.mark.parametrize(("mode", "fmt"), CASES)
def test_out_format_as_rsync(
    real_rsync: RealRsync, rsh_shim_factory: ShimFactory, tmp_path: Path, mode: str, fmt: str
) -> None:
    src = _source(tmp_path)
    shim = rsh_shim_factory()
    outs = []
    extra = ["-c"] if "%C" in fmt else []
    for who, argv in (("ours", pyrsync_argv()), ("theirs", real_rsync.argv())):
        dest = tmp_path / who
        where = {
            "local": [f"{src}/", f"{dest}/"],
            "pull": [f"host:{src}/", f"{dest}/"],
            "push": [f"{src}/", f"host:{dest}/"],
        }[mode]
        code, out, err = run(
            [*argv, "-a", "-8", "-e", shim, *extra, f"--out-format={fmt}", *where], timeout=60
        )
        assert code == 0, (who, err)
        outs.append(_masked(out, who))
    assert outs[0] == outs[1]


def test_unsupported_escapes_are_refused(tmp_path: Path) -> None:
    src = _source(tmp_path)
    code, _out, err = run(
        [*pyrsync_argv(), "-a", "--out-format=%b %n", f"{src}/", f"{tmp_path}/d/"]
    )
    assert code == 1
    assert "does not support %b or %c" in err
    assert not (tmp_path / "d").exists()
