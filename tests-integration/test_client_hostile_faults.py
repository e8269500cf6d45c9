"""Faults on the far side while pyrsync pulls from real rsync's daemon.

While a 64 MiB file is being received, the test changes the source under the sender (a
later file vanishes; the file being sent shrinks or grows) or kills the daemon's
connection process with SIGKILL at random points. pyrsync must end with rsync's exit code
for what happened, without a traceback, leave no temporary file, and never leave a
destination file that is neither its old content nor a version the sender sent.

Each fault is triggered when the temporary file reaches a given size; every run is bounded
by a timeout and nothing is asserted about time.
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

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from harness.daemon import RealDaemon, RealDaemonFactory

SIZE = 64 << 20
SHM = Path("/dev/shm")


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _temps(dest: Path) -> list[str]:
    return [p.name for p in dest.iterdir() if p.name.startswith(".")]


def _run_with_fault(
    argv: list[str], dest: Path, at: int, fault: Callable[[], None]
) -> subprocess.CompletedProcess[str]:
    """Run ``argv``; call ``fault()`` once a temporary file holds ``at`` bytes."""
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    fired = False
    deadline = time.monotonic() + 120
    try:
        while proc.poll() is None and time.monotonic() < deadline and not fired:
            for name in _temps(dest):
                try:
                    size = (dest / name).stat().st_size
                except FileNotFoundError:
                    continue
                if size >= at:
                    fault()
                    fired = True
                    break
            time.sleep(0.002)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)
    assert fired, f"the transfer ended before the fault: {err}"
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


@pytest.fixture
def scene() -> Iterator[tuple[Path, Path]]:
    if not SHM.is_dir() or not os.access(SHM, os.W_OK):
        pytest.skip("needs a writable /dev/shm (tmpfs)")
    base = SHM / f"pyrsync-faults-{os.getpid()}"
    src, dest = base / "src", base / "dest"
    src.mkdir(parents=True)
    dest.mkdir()
    yield src, dest
    subprocess.run(["rm", "-rf", str(base)], check=False)


def _connection_children(daemon: RealDaemon) -> list[int]:
    pid = daemon.service.pid
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def _no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr, result.stderr
    assert "BrokenResourceError" not in result.stderr, result.stderr


def test_a_later_file_vanishes(scene: tuple[Path, Path], real_daemon: RealDaemonFactory) -> None:
    src, dest = scene
    big = os.urandom(SIZE)
    (src / "big").write_bytes(big)
    (src / "z-later").write_bytes(b"gone soon\n")
    daemon = real_daemon({"src": src})
    argv = pyrsync_argv("-r", daemon.url("src"), f"{dest}/")
    result = _run_with_fault(argv, dest, 1 << 20, (src / "z-later").unlink)
    _no_traceback(result)
    assert result.returncode == 24, result.stderr
    assert 'file has vanished: "z-later" (in src)' in result.stderr
    assert _sha((dest / "big").read_bytes()) == _sha(big)
    assert not (dest / "z-later").exists()
    assert _temps(dest) == []


@pytest.mark.parametrize("change", ["shrink", "grow"])
def test_the_file_being_sent_changes(
    scene: tuple[Path, Path], real_daemon: RealDaemonFactory, real_rsync: object, change: str
) -> None:
    src, dest = scene
    big = os.urandom(SIZE)
    old = b"the old version\n"
    daemon = real_daemon({"src": src})

    def fault() -> None:
        with (src / "big").open("r+b") as f:
            if change == "shrink":
                f.truncate(SIZE // 2)
            else:
                f.seek(0, os.SEEK_END)
                f.write(b"more" * 1024)

    codes = []
    for program in ("pyrsync", "rsync"):
        (src / "big").write_bytes(big)
        (dest / "big").write_bytes(old)
        args = ["-r", daemon.url("src"), f"{dest}/"]
        argv = pyrsync_argv(*args) if program == "pyrsync" else [str(real_rsync.path), *args]  # type: ignore[attr-defined]
        result = _run_with_fault(argv, dest, 1 << 20, fault)
        _no_traceback(result)
        codes.append(result.returncode)
        assert _temps(dest) == [], (program, _temps(dest))
        got = (dest / "big").read_bytes()
        # the old file, or a version the sender sent: its first SIZE bytes when it grew; when
        # it shrank, the redo of the short file (rsync too), or zeros after a short read
        half = big[: SIZE // 2]
        assert got in (old, big, half, half + bytes(SIZE - SIZE // 2)), program
    assert codes[0] == codes[1], f"pyrsync exit {codes[0]}, rsync exit {codes[1]}"


@pytest.mark.parametrize("seed", [7, 8, 9])
def test_the_sender_is_killed(
    scene: tuple[Path, Path], real_daemon: RealDaemonFactory, seed: int
) -> None:
    src, dest = scene
    rng = random.Random(seed)  # noqa: S311 - a kill point, not a secret
    new = rng.randbytes(SIZE)
    old = bytearray(new)
    old[SIZE // 3 : SIZE // 3 + 4096] = bytes(4096)
    (src / "big").write_bytes(new)
    (dest / "big").write_bytes(old)
    os.utime(dest / "big", (1_600_000_000, 1_600_000_000))
    # the daemon's --bwlimit paces the file (about 2 s) so that no kill point can be outrun
    # by a transfer that finishes between two looks at the temporary file
    daemon = real_daemon({"src": src}, daemon_args=["--bwlimit=32768"])

    def fault() -> None:
        for pid in _connection_children(daemon):
            os.kill(pid, signal.SIGKILL)

    argv = pyrsync_argv("-r", "--no-whole-file", daemon.url("src"), f"{dest}/")
    result = _run_with_fault(argv, dest, rng.randrange(1, SIZE * 3 // 4), fault)
    _no_traceback(result)
    assert result.returncode in (12, 10), result.stderr
    assert "rsync error:" in result.stderr
    # the sender runs ahead of the writes: it may have sent the whole file before it died
    assert (dest / "big").read_bytes() in (bytes(old), new)
    assert _temps(dest) == []
