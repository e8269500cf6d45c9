"""``--debug=DUP`` (and ``-vv``, which implies it): the receiver's duplicate names, as rsync.

The same source named twice gives every name twice; the receiver keeps one of each and
says "removing duplicate name N from file list (I)" with the index of the one it drops,
with and without incremental recursion, in a local copy and in a pull from rsync (only the
client prints: a server's debug output follows its ``-v``).
"""

from __future__ import annotations

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


def _dup_lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("removing duplicate name")]


@pytest.mark.parametrize(
    "args",
    [["--debug=DUP"], ["--debug=DUP", "--no-inc-recursive"], ["-vv"]],
)
def test_duplicate_names_are_rsyncs(
    real_rsync: RealRsync, tmp_path: Path, rsh_shim_factory: ShimFactory, args: list[str]
) -> None:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    names = ["a", "b"]
    if "--no-inc-recursive" in args:
        # with incremental recursion rsync's sender sends a directory named twice once
        # (FLAG_DUPLICATE), pyrsync's twice: the receivers then drop different entries
        names.append("sub/c")
    for name in names:
        (src / name).write_text(name)
    seen = {}
    # the far side is rsync's for both: pyrsync's server sender lists the two arguments'
    # names in another order, so that the receiver keeps the other one of each pair
    shim = rsh_shim_factory(name="theirs")
    for who, argv in (("ours", pyrsync_argv()), ("theirs", real_rsync.argv())):
        lines = []
        for kind, ends in (
            ("local", [f"{src}/", f"{src}/", f"{tmp_path / who}-local/"]),
            (
                "pull",
                [
                    "-e",
                    str(shim),
                    f"localhost:{src}/",
                    f"localhost:{src}/",
                    f"{tmp_path / who}-pull/",
                ],
            ),
        ):
            code, out, err = run([*argv, "-r", *args, *ends])
            assert code == 0, (who, kind, err)
            lines.append(_dup_lines(out))
        seen[who] = lines
        assert_trees_equal(src, tmp_path / f"{who}-local", times=False)
    assert seen["ours"] == seen["theirs"]
    assert seen["ours"][0]
    assert seen["ours"][1]
