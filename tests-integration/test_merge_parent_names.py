"""Merge-file names that go up (``dir-merge ../secret``, ``merge ../x``), as rsync 3.5 takes them.

A ``dir-merge ../NAME`` rule reads, in each directory, the file one level up (the
top directory's parent included); ``merge ../NAME`` and ``. ../NAME`` read the file
relative to the current directory at once, and one that does not open ends the run
with rsync's message and exit code 11. Ours and rsync run the same commands (a local
copy, a pull from rsync's server and from ours); trees, messages and exit codes agree.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

import pytest

from harness.client import pyrsync_argv
from harness.proc import run

if TYPE_CHECKING:
    from pathlib import Path

    from harness.shim import ShimFactory
    from harness.tools import RealRsync

pytestmark = pytest.mark.interop

RULES = [
    "dir-merge ../secret",
    ": ../secret",
    "dir-merge ../../secret",
    "dir-merge sub/../x",
    "merge ../secret",
    ". ../secret",
    "merge,+ ../secret",
    "merge top/../secret",
]


def _tree(base: Path) -> Path:
    top = base / "top"
    (top / "src" / "sub").mkdir(parents=True)
    (top / "secret").write_text("- a\n")
    (top / "src" / "x").write_text("- b\n")
    for name in ("a", "b", "c"):
        (top / "src" / name).write_text(name)
        (top / "src" / "sub" / name).write_text(name)
    return top


def _files(path: Path) -> list[str]:
    return sorted(
        os.path.relpath(os.path.join(d, f), path) for d, _, fs in os.walk(path) for f in fs
    )


@pytest.mark.parametrize("mode", ["local", "pull-rsync", "pull-ours"])
@pytest.mark.parametrize("rule", RULES)
def test_merge_names_that_go_up(
    real_rsync: RealRsync, rsh_shim_factory: ShimFactory, tmp_path: Path, mode: str, rule: str
) -> None:
    shim = (
        rsh_shim_factory([sys.executable, "-m", "rsync_daemon"])
        if mode == "pull-ours"
        else rsh_shim_factory()
    )
    results = []
    for who, argv in (("ours", pyrsync_argv()), ("theirs", real_rsync.argv())):
        top = _tree(tmp_path / who)
        dest = top / "dest"
        src = "src/" if mode == "local" else f"host:{top}/src/"
        code, out, err = run(
            [*argv, "-r", "-e", shim, f"--filter={rule}", src, f"{dest}/"], cwd=top
        )
        lines = [ln for ln in err.splitlines() if not ln.startswith("rsync error:")]
        results.append((code, out, lines, _files(dest) if dest.exists() else None))
    assert results[0] == results[1]
