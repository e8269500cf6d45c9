"""``--preallocate`` as rsync 3.5 does it: the receiver reserves each file's size first.

The content must arrive whole, the trees equal rsync's, and each file take the disk
blocks rsync's copy takes: with ``--sparse`` too (the preallocated zeros are punched
back out into holes), and in place over a shorter file. Every seat is run beside rsync:
local copies, pyrsync pushing to and pulling from ``rsync --server`` over the ``-e``
shim, and real rsync uploading to pyrsync's server. The client forwards
``--preallocate`` only when the server receives (rsync: options.c server_options()).
"""

from __future__ import annotations

import os
import random
import sys
from typing import TYPE_CHECKING

import pytest

from harness.client import pyrsync_argv
from harness.compare import assert_trees_equal
from harness.daemon import DaemonModule
from harness.proc import run
from harness.shim import shim_log

if TYPE_CHECKING:
    from pathlib import Path

    from harness.daemon import RealDaemonFactory
    from harness.shim import ShimFactory
    from harness.tools import RealRsync

pytestmark = pytest.mark.interop

OLD = 1_600_000_000


def _source(base: Path) -> Path:
    rng = random.Random(5)  # noqa: S311 - test data
    src = base / "src"
    src.mkdir()
    (src / "holey").write_bytes(rng.randbytes(4096) + bytes(2 << 20) + rng.randbytes(4096))
    (src / "dense").write_bytes(rng.randbytes(1_000_000))
    (src / "empty").write_bytes(b"")
    for f in src.iterdir():
        os.utime(f, (OLD, OLD))
    os.utime(src, (OLD, OLD))
    return src


def _blocks(root: Path) -> dict[str, int]:
    return {f.name: f.stat().st_blocks for f in sorted(root.iterdir())}


@pytest.mark.parametrize("mode", ["local", "push", "pull", "push-to-ours"])
@pytest.mark.parametrize("extra", [[], ["--sparse"], ["--inplace", "--no-W"]])
def test_preallocate_as_rsync(
    real_rsync: RealRsync,
    rsh_shim_factory: ShimFactory,
    tmp_path: Path,
    mode: str,
    extra: list[str],
) -> None:
    src = _source(tmp_path)
    shims = {
        "ours": rsh_shim_factory([sys.executable, "-m", "rsync_client"], name="ours"),
        "theirs": rsh_shim_factory(name="theirs"),
    }
    blocks = []
    for who in ("ours", "theirs"):
        dest = tmp_path / who
        dest.mkdir()
        if "--inplace" in extra:  # shorter and older: rewritten in place
            (dest / "dense").write_bytes(b"old" * 1000)
            os.utime(dest / "dense", (OLD - 5, OLD - 5))
        client = pyrsync_argv() if who == "ours" else real_rsync.argv()
        if mode == "local":
            argv = [*client, f"{src}/", f"{dest}/"]
        elif mode == "push":
            argv = [*client, "-e", str(shims["theirs"]), f"{src}/", f"host:{dest}/"]
        elif mode == "pull":
            argv = [*client, "-e", str(shims["theirs"]), f"host:{src}/", f"{dest}/"]
        else:
            argv = [*real_rsync.argv(), "-e", str(shims[who]), f"{src}/", f"host:{dest}/"]
        code, _out, err = run([*argv[:-2], "-a", "--preallocate", *extra, *argv[-2:]], timeout=60)
        assert code == 0, (who, err)
        blocks.append(_blocks(dest))
    assert_trees_equal(src, tmp_path / "ours")
    assert_trees_equal(tmp_path / "ours", tmp_path / "theirs")
    assert blocks[0] == blocks[1]


@pytest.mark.parametrize("direction", ["push", "pull"])
def test_client_forwards_only_to_a_receiver(
    real_rsync: RealRsync, rsh_shim_factory: ShimFactory, tmp_path: Path, direction: str
) -> None:
    src = _source(tmp_path)
    said = []
    for who in ("ours", "theirs"):
        shim = rsh_shim_factory(name=f"shim-{who}")
        client = pyrsync_argv() if who == "ours" else real_rsync.argv()
        dest = tmp_path / who
        ends = [f"{src}/", f"host:{dest}/"] if direction == "push" else [f"host:{src}/", f"{dest}/"]
        code, _out, err = run([*client, "-a", "--preallocate", "-e", str(shim), *ends], timeout=60)
        assert code == 0, (who, err)
        said.append("--preallocate" in shim_log(shim).read_text().split())
    assert said[0] == said[1] == (direction == "push")


def test_upload_to_pyrsyncd_preallocates(
    real_rsync: RealRsync, our_daemon: RealDaemonFactory, tmp_path: Path
) -> None:
    """Real rsync uploading with ``--preallocate``: pyrsyncd's receiver takes it."""
    src = _source(tmp_path)
    up = tmp_path / "up"
    up.mkdir()
    daemon = our_daemon([DaemonModule("up", up, read_only=False)])
    code, _out, err = run(
        real_rsync.argv("-a", "--preallocate", "--sparse", f"{src}/", daemon.url("up", "d")),
        timeout=60,
    )
    assert code == 0, err
    assert_trees_equal(src, up / "d")
    assert (up / "d" / "holey").stat().st_blocks * 512 < (src / "holey").stat().st_size
