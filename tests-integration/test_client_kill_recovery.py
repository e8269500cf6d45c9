"""kill -9 in the middle of a delta update never harms the old file, and leaves no litter.

pyrsync pulls a changed 64 MiB file from real rsync's daemon into a destination (on
tmpfs) holding the old version. Twenty times it is killed with SIGKILL when its temporary
file reaches a random size (or at once, before it exists): the old file must be intact
every time, and each run removes the temporary file the run before it left. A last,
complete run leaves the new file and no temporary file at all.

The kill points come from a seeded generator (the seed is in the test id), each run is
bounded by a timeout, and nothing is asserted about time.
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

from harness.client import pyrsync_argv
from harness.proc import run

if TYPE_CHECKING:
    from collections.abc import Iterator

    from harness.daemon import RealDaemonFactory
    from harness.tools import RealRsync

SIZE = 64 << 20
ROUNDS = 20
SHM = Path("/dev/shm")


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _temps(dest: Path) -> list[Path]:
    return [p for p in dest.iterdir() if p.name.startswith(".big.")]


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return -1


def _kill_at(argv: list[str], dest: Path, offset: int | None) -> int | None:
    """Run ``argv``; SIGKILL its process group once the temporary file holds ``offset``
    bytes (``None``: as soon as it started). Returns its exit code if it finished first."""
    proc = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 120
        while offset is not None and proc.poll() is None and time.monotonic() < deadline:
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


@pytest.fixture
def scene() -> Iterator[tuple[Path, Path]]:
    if not SHM.is_dir() or not os.access(SHM, os.W_OK):
        pytest.skip("needs a writable /dev/shm (tmpfs)")
    base = SHM / f"pyrsync-kill-{os.getpid()}"
    src, dest = base / "src", base / "dest"
    src.mkdir(parents=True)
    dest.mkdir()
    rng = random.Random(1234)  # noqa: S311 - test data, not secrets
    new = bytearray(rng.randbytes(SIZE))
    (src / "big").write_bytes(new)
    old = new
    for _ in range(64):  # the old version: the same file with 64 changed 4 KiB spots
        at = rng.randrange(0, SIZE - 4096)
        old[at : at + 4096] = rng.randbytes(4096)
    (dest / "big").write_bytes(old)
    os.utime(dest / "big", (1_600_000_000, 1_600_000_000))
    yield src, dest
    subprocess.run(["rm", "-rf", str(base)], check=False)


@pytest.mark.timeout(900)
@pytest.mark.parametrize("seed", [20261204])
def test_kill_9_during_a_delta_update(
    scene: tuple[Path, Path], real_daemon: RealDaemonFactory, seed: int
) -> None:
    src, dest = scene
    daemon = real_daemon({"src": src})
    old_digest = _digest(dest / "big")
    argv = pyrsync_argv("-a", "--no-whole-file", daemon.url("src", "big"), f"{dest}/")
    rng = random.Random(seed)  # noqa: S311 - kill points, not secrets
    old = (dest / "big").read_bytes()
    mid_file = kills = 0
    for round_no in range(ROUNDS * 3):
        if kills == ROUNDS:
            break
        offset = None if round_no % 5 == 0 else rng.randrange(1, SIZE * 3 // 4)
        finished = _kill_at(argv, dest, offset)
        if finished is not None:
            # On a fast machine the run may end before its temporary file is seen at the
            # chosen size: not a kill point. It must have succeeded; put the old file back.
            assert finished == 0, f"round {round_no}: exit {finished}"
            assert _temps(dest) == []
            (dest / "big").write_bytes(old)
            os.utime(dest / "big", (1_600_000_000, 1_600_000_000))
            continue
        kills += 1
        mid_file += bool(_temps(dest))
        assert _digest(dest / "big") == old_digest, f"round {round_no}: the old file changed"
        # the run just killed removed what the one before it left (if it got that far)
        assert len(_temps(dest)) <= 1, [t.name for t in _temps(dest)]
    assert kills == ROUNDS, f"only {kills} of {ROUNDS * 3} runs were killed before they ended"
    assert mid_file >= ROUNDS // 2, f"only {mid_file} kills hit a file being written"
    result = run(argv, timeout=300)
    assert result.returncode == 0, result.describe()
    assert _temps(dest) == []
    assert _digest(dest / "big") == _digest(src / "big")


def _term_at(argv: list[str], dest: Path, offset: int) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` and send SIGTERM to it once its temporary file holds ``offset`` bytes."""
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            if any(_size(t) >= offset for t in _temps(dest)):
                os.killpg(proc.pid, signal.SIGTERM)
                break
            time.sleep(0.002)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


@pytest.mark.parametrize("partial", [False, True], ids=["no-partial", "partial"])
@pytest.mark.parametrize("program", ["pyrsync", "rsync"])
def test_sigterm_keeps_the_partial_file_only_with_partial(
    scene: tuple[Path, Path],
    real_daemon: RealDaemonFactory,
    real_rsync: RealRsync,
    partial: bool,
    program: str,
) -> None:
    """rsync's --partial: an interrupted transfer's data becomes the destination file."""
    src, dest = scene
    # paced, so that the client is still receiving when the signal comes on a fast machine
    # (rsync's daemon takes --bwlimit in KiB per second)
    daemon = real_daemon({"src": src}, daemon_args=["--bwlimit=32768"])
    new = (src / "big").read_bytes()
    old_digest = _digest(dest / "big")
    args = [*(["--partial"] if partial else []), "-r", daemon.url("src", "big"), f"{dest}/"]
    argv = pyrsync_argv(*args) if program == "pyrsync" else [str(real_rsync.path), *args]
    result = _term_at(argv, dest, 8 << 20)
    assert result.returncode == 20, result.stderr
    assert "Traceback" not in result.stderr
    assert _temps(dest) == []
    got = (dest / "big").read_bytes()
    if not partial:
        assert _digest(dest / "big") == old_digest
    elif program == "pyrsync":
        # what arrived, in order (rsync's own partial file of a delta transfer is not always
        # a prefix of the new file: only its exit code and the absence of temporary files
        # are compared)
        assert len(got) >= 8 << 20
        assert got == new[: len(got)]
    else:
        assert _digest(dest / "big") != old_digest
