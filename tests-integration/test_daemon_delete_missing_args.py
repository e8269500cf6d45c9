"""``--delete-missing-args`` in an upload: what the sender lacks is deleted in the module.

The client sends each missing argument as an entry of mode 0; pyrsyncd's receiver
deletes the file or directory of that name (a directory with its contents), as rsync's
does, and tells the client (``deleting ...`` with ``-v``/``-i``). A name the module's
rules hide is refused, never deleted. Compared with rsync's daemon, with the real client.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

from harness.daemon import DaemonModule
from harness.proc import run

if TYPE_CHECKING:
    from pathlib import Path

    from harness.daemon import RealDaemonFactory
    from harness.tools import RealRsync

pytestmark = pytest.mark.interop


def _snapshot(root: Path) -> dict[str, str]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            if os.path.isdir(path):
                out[rel] = "dir"
            else:
                with open(path) as f:
                    out[rel] = f.read()
    return out


def _module(base: Path) -> Path:
    mod = base / "mod"
    (mod / "ghostdir" / "deeper").mkdir(parents=True)
    (mod / "ghostdir" / "deeper" / "inner").write_text("delete-me-dir\n")
    (mod / "keep.txt").write_text("stale\n")
    (mod / "ghost.txt").write_text("delete-me-file\n")
    (mod / "hidden.txt").write_text("module rules hide it\n")
    return mod


@pytest.mark.timeout(120)
@pytest.mark.parametrize("how", ["files-from", "arguments", "arguments-no-inc"])
def test_missing_arguments_are_deleted_in_the_module(
    our_daemon: RealDaemonFactory,
    real_daemon: RealDaemonFactory,
    real_rsync: RealRsync,
    tmp_path: Path,
    how: str,
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "keep.txt").write_text("keep-me\n")
    names = ["keep.txt", "ghost.txt", "ghostdir", "hidden.txt"]
    if how == "files-from":
        listing = tmp_path / "files.lst"
        listing.write_text("".join(f"{n}\n" for n in names))
        args = ["-a", "--delete", f"--files-from={listing}", f"{src}/"]
    else:
        args = ["-a", "--delete"] + [f"{src}/{n}" for n in names]
        if how == "arguments-no-inc":
            args.insert(0, "--no-inc-recursive")
    results = []
    for name, factory in (("rsync", real_daemon), ("ours", our_daemon)):
        mod = _module(tmp_path / name)
        module = DaemonModule("m", mod, read_only=False, options={"exclude": "/hidden.txt"})
        daemon = factory([module])
        code, out, err = run(real_rsync.argv("-i", "--delete-missing-args", *args, daemon.url("m")))
        deleted = sorted(line for line in out.splitlines() if line.startswith("*deleting"))
        refused = 'ERROR: daemon refused to receive file "hidden.txt"' in err
        results.append((code, _snapshot(mod), deleted, refused))
    assert results[0] == results[1]
    code, tree, deleted, refused = results[1]
    assert code == 23  # the hidden name
    assert refused
    assert tree == {"keep.txt": "keep-me\n", "hidden.txt": "module rules hide it\n"}
    assert "*deleting   ghost.txt" in deleted
    assert "*deleting   ghostdir/" in deleted
