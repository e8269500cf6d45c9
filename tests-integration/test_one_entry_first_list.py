"""A transfer whose first file list holds one entry (``pyrsync -a sub dest/``).

With incremental recursion the receiver reads the index after a one-entry first list
itself (to decide what the destination is); the receiver's later indexes are coded
relative to it, so both must read with one decoder. A directory holding only a
directory made the second negative index decode wrong ("invalid file index").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from harness.client import pyrsync_argv
from harness.compare import assert_trees_equal
from harness.proc import run

if TYPE_CHECKING:
    from pathlib import Path

    from harness.tools import RealRsync

pytestmark = pytest.mark.interop


def _tree(base: Path) -> Path:
    (base / "src" / "sub" / "deep" / "deeper").mkdir(parents=True)
    (base / "src" / "sub" / "deep" / "f2").write_text("f2\n")
    (base / "src" / "sub" / "deep" / "deeper" / "f3").write_text("f3\n")
    return base / "src" / "sub"


@pytest.mark.parametrize("how", ["local", "pull"])
def test_directory_of_directories_without_trailing_slash(
    how: str, real_rsync: RealRsync, rsh_shim: Path, tmp_path: Path
) -> None:
    sub = _tree(tmp_path)
    source = str(sub) if how == "local" else f"host:{sub}"
    extra = [] if how == "local" else ["-e", str(rsh_shim), f"--rsync-path={real_rsync.path}"]
    code, _, err = run([*pyrsync_argv(), "-a", *extra, source, f"{tmp_path}/ours/"], timeout=60)
    assert code == 0, err
    run([*real_rsync.argv(), "-a", str(sub), f"{tmp_path}/theirs/"], timeout=60).check()
    assert_trees_equal(tmp_path / "theirs", tmp_path / "ours")
