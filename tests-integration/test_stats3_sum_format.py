"""``--info=stats3``'s heap statistics and ``%C`` without ``-c``, beside real rsync.

* ``--info=stats3`` (and ``--stats -vv``): each role prints the C heap's ``mallinfo``
  block ("rsync[PID] (WHO) heap statistics:" and eleven figures); the labels and the
  lines, numbers masked, are rsync's: a local copy (sender, server receiver, server
  generator), a pull and a push over a remote shell (our server prints its blocks too).
* ``--out-format='%C %n'`` without ``-c``: the whole-file checksum the sender sent after
  each file's data, spaces for a directory and for protocol 29's md4; a push that would
  need it is refused by name (the client sender does not keep it).
"""

from __future__ import annotations

import re
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

_HEAP = re.compile(r"^rsync\[\d+\] \((.*)\) heap statistics:$")
_FIGURE = re.compile(r"^  (\w+:) +\d+   (\(.*\))$")


def _source(base: Path) -> Path:
    src = base / "src"
    src.mkdir(parents=True)
    (src / "a").write_bytes(b"hello, checksum coverage\n")
    (src / "b").write_bytes(b"hello, checksum coverage\n!")
    return src


def _heap_blocks(out: str) -> tuple[list[str], list[str]]:
    """The roles that printed a block (sorted), and the figure lines with numbers masked."""
    whos = sorted(m[1] for line in out.splitlines() if (m := _HEAP.match(line)))
    figures = sorted({_FIGURE.sub(r"\1 N \2", line) for line in out.splitlines()} - {""})
    return whos, [line for line in figures if line.endswith(")") and " N (" in line]


def _servers(
    rsh_shim_factory: ShimFactory, real_rsync: RealRsync
) -> tuple[tuple[str, list[str], Path], ...]:
    return (
        ("ours", pyrsync_argv(), rsh_shim_factory([sys.executable, "-m", "rsync_client"])),
        ("theirs", real_rsync.argv(), rsh_shim_factory(name="theirs")),
    )


@pytest.mark.parametrize("words", [["--info=stats3"], ["--stats", "-vv"]])
def test_local_copy_heap_blocks_are_rsyncs(
    real_rsync: RealRsync, tmp_path: Path, words: list[str]
) -> None:
    src = _source(tmp_path)
    seen = {}
    for who, argv in (("ours", pyrsync_argv()), ("theirs", real_rsync.argv())):
        code, out, err = run([*argv, "-r", *words, f"{src}/", f"{tmp_path / who}/"])
        assert code == 0, err
        seen[who] = _heap_blocks(out)
        assert_trees_equal(src, tmp_path / who, times=False)
    assert seen["ours"] == seen["theirs"]
    assert seen["ours"][0] == ["sender", "server generator", "server receiver"]
    assert len(seen["ours"][1]) == 11


@pytest.mark.parametrize("direction", ["pull", "push"])
def test_remote_shell_heap_blocks_are_rsyncs(
    real_rsync: RealRsync, tmp_path: Path, rsh_shim_factory: ShimFactory, direction: str
) -> None:
    src = _source(tmp_path)
    seen = {}
    for who, argv, shim in _servers(rsh_shim_factory, real_rsync):
        dest = tmp_path / who
        ends = (
            [f"localhost:{src}/", f"{dest}/"]
            if direction == "pull"
            else [f"{src}/", f"localhost:{dest}/"]
        )
        code, out, err = run([*argv, "-r", "--info=stats3", "-e", str(shim), *ends])
        assert code == 0, err
        seen[who] = _heap_blocks(out)[0]
    assert seen["ours"] == seen["theirs"]
    assert len(seen["ours"]) == 3


@pytest.mark.parametrize("extra", [[], ["-c"], ["--protocol=29"]])
def test_sum_escape_without_c_is_rsyncs(
    real_rsync: RealRsync, tmp_path: Path, rsh_shim_factory: ShimFactory, extra: list[str]
) -> None:
    src = _source(tmp_path)
    outs = {}
    for who, argv, shim in _servers(rsh_shim_factory, real_rsync):
        local = tmp_path / f"{who}-local"
        pulled = tmp_path / f"{who}-pull"
        lines = []
        legs = [["-e", str(shim), f"localhost:{src}/", f"{pulled}/"]]
        if "--protocol=29" not in extra:  # pyrsync's local copy speaks its own protocol
            legs.insert(0, [f"{src}/", f"{local}/"])
        for ends in legs:
            code, out, err = run([*argv, "-r", *extra, "--out-format=%C %n", *ends])
            assert code == 0, err
            lines.append(sorted(out.splitlines()))
        outs[who] = lines
        assert_trees_equal(src, pulled, times=False)
    assert outs["ours"] == outs["theirs"]
    digests = [line[:-2].strip() for line in outs["ours"][-1] if line.endswith((" a", " b"))]
    if extra == ["--protocol=29"]:
        assert digests == ["", ""]  # md4 before protocol 30 is shown as spaces
    else:
        assert len(set(digests)) == 2


def test_sum_escape_in_a_push_is_refused(tmp_path: Path, rsh_shim_factory: ShimFactory) -> None:
    src = _source(tmp_path)
    shim = rsh_shim_factory([sys.executable, "-m", "rsync_client"])
    code, _out, err = run(
        [
            *pyrsync_argv(),
            "-r",
            "--out-format=%C %n",
            "-e",
            str(shim),
            f"{src}/",
            f"x:{tmp_path}/d/",
        ]
    )
    assert code == 1
    assert "does not support %C without -c when it sends" in err
    assert not (tmp_path / "d").exists()
