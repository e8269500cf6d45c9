"""``--info=del`` prints ``deleting NAME`` without ``-v``.

rsync: log.c log_delete() (``INFO_GTE(DEL, 1)``, or an stdout format, which ``-v``
sets). Each command runs with real rsync and
with pyrsync in the same seat, locally and through the ``-e`` shim both ways (rsync on
the far side); the deletion lines must be the same.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from harness.client import pyrsync_argv
from harness.proc import run

if TYPE_CHECKING:
    from pathlib import Path

    from harness.shim import ShimFactory
    from harness.tools import RealRsync

pytestmark = pytest.mark.interop


@pytest.mark.parametrize("where", ["local", "push", "pull"])
@pytest.mark.parametrize("levels", [["--info=del"], ["-v"], ["--info=del0"]])
def test_deletion_lines_follow_info_del(
    real_rsync: RealRsync,
    rsh_shim_factory: ShimFactory,
    tmp_path: Path,
    where: str,
    levels: list[str],
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "kept").write_text("k\n")
    shim = rsh_shim_factory([str(real_rsync.path)], name="real")
    lines = []
    for who in ("real", "ours"):
        dest = tmp_path / who
        dest.mkdir()
        (dest / "kept").write_text("k\n")
        (dest / "gone").write_text("g\n")
        (dest / "gone-dir").mkdir()
        if where == "local":
            tail = [f"{src}/", f"{dest}/"]
        elif where == "push":
            tail = ["-e", str(shim), f"{src}/", f"lh:{dest}/"]
        else:
            tail = ["-e", str(shim), f"lh:{src}/", f"{dest}/"]
        args = ["-r", "--delete", *levels, *tail]
        r = run(real_rsync.argv(*args) if who == "real" else pyrsync_argv(*args))
        assert r.returncode == 0, r.describe()
        assert not (dest / "gone").exists()
        lines.append(sorted(line for line in r.stdout.splitlines() if "deleting" in line))
    assert lines[1] == lines[0]
    assert bool(lines[0]) == (levels != ["--info=del0"])
