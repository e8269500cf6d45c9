"""openat2's EAGAIN (a rename raced a ``..`` walk) is retried, never fatal.

Another process renames a directory back and forth while the test opens, many times, a
path that resolves ``..`` through a symlink inside a :class:`~rsync_wire.fs.Root`
(without the retry about 2% of these opens failed here). The loop is bounded by a count,
not by time.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from rsync_wire import fs
from rsync_wire.fs import Root

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

TRIES = 20_000


CHURN = """
import os, sys
a, b = sys.argv[1] + "/a", sys.argv[1] + "/b"
os.rename(a, b)
os.rename(b, a)
print("ready", flush=True)
while True:
    os.rename(a, b)
    os.rename(b, a)
"""


@pytest.fixture
def rename_load(tmp_path: Path) -> Iterator[None]:
    """Renames in another process (truly in parallel: no shared interpreter lock)."""
    spin = tmp_path / "spin"
    (spin / "a").mkdir(parents=True)
    proc = subprocess.Popen([sys.executable, "-c", CHURN, str(spin)], stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"ready\n"
        yield
    finally:
        proc.kill()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.mark.skipif(not fs._have_openat2(), reason="the kernel has no openat2")
@pytest.mark.usefixtures("rename_load")
def test_root_open_through_dotdot_under_rename_load(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "x" / "y").mkdir(parents=True)
    (tree / "z").mkdir()
    (tree / "z" / "f").write_bytes(b"data")
    os.symlink("../../z", tree / "x" / "y" / "up")
    with Root(os.fsencode(tree)) as root:
        for _ in range(TRIES):
            os.close(root.open(b"x/y/up/f"))
