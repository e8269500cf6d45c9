"""``--debug=HLINK``: the hard-link lines beside real rsync's for the same command.

rsync's suite runs ``rsync -aHivv --debug=HLINK5`` (test ``hardlinks``); these cases run the
same kind of command with ours and with rsync 3.5, each from its own copy of one source
tree (the same inodes, so the same ``dev:inode`` numbers), and compare the debug lines as
sets (rsync's processes print them in an order that depends on timing):

* level 1: "[sender] #N hard-links #M (abbrev)" and the receiving side's lines ("Receiver"
  for the first list, "receiver" and "generator" for later ones);
* level 2: the generator's "hlink for N (NAME,GNUM): ..." (looking for a leader, waiting
  for, found flist match with the ``--link-dest`` directory, leader is);
* level 3: the sender's devices and the first member's ``dev:inode``;
* a pull and a push over a remote shell (only the client prints: --debug is not sent);
* protocol 29, where the receiver names each device instead.
"""

from __future__ import annotations

import os
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

OLD = 1_600_000_000
_DEBUG = re.compile(r"^(\[\w+\] |hlink for )")


def _source(base: Path) -> Path:
    """Three names of one file (one in a subdirectory: a later list), and a lone file."""
    src = base / "src"
    (src / "sub").mkdir(parents=True)
    (src / "name1").write_text("This is the file\n")
    os.link(src / "name1", src / "name2")
    os.link(src / "name1", src / "sub" / "name3")
    (src / "solo").write_text("alone\n")
    for path in (src / "sub", src):
        os.utime(path, (OLD, OLD))
    return src


def _debug_lines(stdout: str, base: Path) -> list[str]:
    return sorted(
        line.replace(str(base), "BASE") for line in stdout.splitlines() if _DEBUG.match(line)
    )


def _run(argv: list[str], args: list[str], cwd: Path) -> str:
    code, out, err = run([*argv, *args], cwd=cwd)
    assert code == 0, err
    return out


def test_local_copy_lines_are_rsyncs(real_rsync: RealRsync, tmp_path: Path) -> None:
    src = _source(tmp_path)
    seen: dict[str, list[list[str]]] = {}
    for who, argv in (("ours", pyrsync_argv()), ("theirs", real_rsync.argv())):
        dest = tmp_path / who
        runs = [_run(argv, ["-aHivv", "--debug=HLINK5", f"{src}/", f"{dest}/"], tmp_path)]
        with (dest / "name1").open("a") as f:
            f.write("extra extra\n")
        os.utime(dest / "name1", (OLD, OLD))
        runs.append(
            _run(
                argv,
                ["-aHivv", "--debug=HLINK5", "--no-whole-file", f"{src}/", f"{dest}/"],
                tmp_path,
            )
        )
        runs.append(
            _run(
                argv,
                ["-aHivv", "--debug=HLINK5", f"--link-dest={dest}", f"{src}/", f"{dest}-ld/"],
                tmp_path,
            )
        )
        runs.append(_run(argv, ["-aHv", "--debug=HLINK1", f"{src}/", f"{dest}-one/"], tmp_path))
        seen[who] = [_debug_lines(out, tmp_path) for out in runs]
        assert_trees_equal(src, dest)
    assert seen["ours"] == seen["theirs"]
    first, second, link_dest, level1 = seen["ours"]
    assert "[sender] #5 hard-links #4 (abbrev)" in first
    assert "[generator] #7 hard-links #4 (unabbrev)" in first
    assert any(re.match(r"\[sender\] dev:inode for #4 is \d+:\d+$", line) for line in first)
    assert "hlink for 7 (sub/name3,4): waiting for -1" in second
    assert "hlink for 3 (name2,4): found flist match (alt 0)" in link_dest
    assert not [line for line in level1 if "hlink for" in line or "dev:inode" in line]
    assert_trees_equal(tmp_path / "ours-ld", tmp_path / "theirs-ld")


@pytest.mark.parametrize("direction", ["pull", "push"])
def test_remote_shell_lines_are_rsyncs(
    real_rsync: RealRsync, tmp_path: Path, rsh_shim_factory: ShimFactory, direction: str
) -> None:
    src = _source(tmp_path)
    seen = {}
    for who, argv, shim in (
        (
            "ours",
            pyrsync_argv(),
            rsh_shim_factory([sys.executable, "-m", "rsync_client"], name="ours"),
        ),
        ("theirs", real_rsync.argv(), rsh_shim_factory(name="theirs")),
    ):
        dest = tmp_path / who
        ends = (
            [f"localhost:{src}/", f"{dest}/"]
            if direction == "pull"
            else [f"{src}/", f"localhost:{dest}/"]
        )
        out = _run(argv, ["-aHivv", "--debug=HLINK5", "-e", str(shim), *ends], tmp_path)
        seen[who] = _debug_lines(out, tmp_path)
        assert_trees_equal(src, dest)
    assert seen["ours"] == seen["theirs"]
    who = "Receiver" if direction == "pull" else "sender"
    assert f"[{who}] #5 hard-links #4 (abbrev)" in seen["ours"]


def test_protocol_29_receiver_names_devices(
    real_rsync: RealRsync, tmp_path: Path, rsh_shim_factory: ShimFactory
) -> None:
    src = _source(tmp_path)
    seen = {}
    for who, argv, shim in (
        (
            "ours",
            pyrsync_argv(),
            rsh_shim_factory([sys.executable, "-m", "rsync_client"], name="ours"),
        ),
        ("theirs", real_rsync.argv(), rsh_shim_factory(name="theirs")),
    ):
        dest = tmp_path / who
        args = ["-aHivv", "--debug=HLINK3", "--protocol=29", "-e", str(shim)]
        out = _run(argv, [*args, f"localhost:{src}/", f"{dest}/"], tmp_path)
        seen[who] = _debug_lines(out, tmp_path)
        assert_trees_equal(src, dest)
    assert seen["ours"] == seen["theirs"]
    assert [line for line in seen["ours"] if "created hashtable for dev" in line]
