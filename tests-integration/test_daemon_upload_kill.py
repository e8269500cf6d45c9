"""A killed upload never harms the old file and leaves no temporary file behind.

Real rsync pushes a changed 64 MiB file into a ``read only = no`` module of pyrsyncd (on
tmpfs) that holds the old version, and is killed with SIGKILL when pyrsyncd's temporary
file reaches a random size. pyrsyncd sees the connection end: the file must be the old one
or (when all data had arrived before the kill) the new one, never torn, and the temporary
file gone once the connection process has finished. A last, complete
push leaves the new file and nothing else.

The kill points come from a seeded generator; nothing is asserted about time.
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from harness.daemon import DaemonModule
from harness.proc import run

if TYPE_CHECKING:
    from collections.abc import Iterator

    from harness.daemon import RealDaemonFactory
    from harness.tools import RealRsync

pytestmark = pytest.mark.interop

SIZE = 64 << 20
ROUNDS = 6
SHM = Path("/dev/shm")


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _temps(dest: Path) -> list[Path]:
    return [p for p in dest.iterdir() if p.name.startswith(".big.")]


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return -1


def _kill_at(argv: list[str], dest: Path, offset: int) -> int | None:
    """Run ``argv``; SIGKILL it once the daemon's temporary file holds ``offset`` bytes."""
    proc = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            if any(_size(t) >= offset for t in _temps(dest)):
                break
            time.sleep(0.001)
        if proc.poll() is not None:
            return proc.returncode
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
        return None
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)


def _settled(dest: Path, *, limit: float = 30.0) -> list[Path]:
    """The temporary files left once the daemon's connection has ended (it removes its own)."""
    deadline = time.monotonic() + limit
    while _temps(dest) and time.monotonic() < deadline:
        time.sleep(0.05)
    return _temps(dest)


@pytest.fixture
def scene() -> Iterator[tuple[Path, Path]]:
    if not SHM.is_dir() or not os.access(SHM, os.W_OK):
        pytest.skip("needs a writable /dev/shm (tmpfs)")
    base = SHM / f"pyrsyncd-upload-kill-{os.getpid()}"
    src, dest = base / "src", base / "mod"
    src.mkdir(parents=True)
    dest.mkdir()
    rng = random.Random(4321)  # noqa: S311 - test data, not secrets
    new = bytearray(rng.randbytes(SIZE))
    (src / "big").write_bytes(new)
    old = new
    for _ in range(64):
        at = rng.randrange(0, SIZE - 4096)
        old[at : at + 4096] = rng.randbytes(4096)
    (dest / "big").write_bytes(old)
    (base / "old").write_bytes(old)
    os.utime(dest / "big", (1_600_000_000, 1_600_000_000))
    yield src, dest
    subprocess.run(["rm", "-rf", str(base)], check=False)


@pytest.mark.timeout(900)
@pytest.mark.parametrize("whole", [False, True], ids=["delta", "whole-file"])
def test_kill_9_during_an_upload(
    our_daemon: RealDaemonFactory,
    real_rsync: RealRsync,
    scene: tuple[Path, Path],
    whole: bool,
) -> None:
    src, dest = scene
    old = _digest(dest / "big")
    new = _digest(src / "big")
    d = our_daemon([DaemonModule("up", dest, read_only=False)])
    argv = real_rsync.argv(
        "-t",
        "--whole-file" if whole else "--no-whole-file",
        str(src / "big"),
        d.url("up") + "/",  # type: ignore[attr-defined]
    )
    rng = random.Random(20261205 + whole)  # noqa: S311 - reproducible kill points
    killed = 0
    for _ in range(ROUNDS):
        code = _kill_at(argv, dest, rng.randrange(1, SIZE - (1 << 20)))
        if code is not None:  # it finished before the kill point: put the old file back
            assert code == 0
            (dest / "big").write_bytes((dest.parent / "old").read_bytes())
            os.utime(dest / "big", (1_600_000_000, 1_600_000_000))
            continue
        killed += 1
        assert _settled(dest) == []
        # the data may all have arrived before the kill: then the new file is complete
        now = _digest(dest / "big")
        assert now in (old, new)
        if now == new:
            (dest / "big").write_bytes((dest.parent / "old").read_bytes())
            os.utime(dest / "big", (1_600_000_000, 1_600_000_000))
    assert killed
    code, _, err = run(argv, timeout=300)
    assert code == 0, err
    assert _digest(dest / "big") == new
    assert _settled(dest) == []
