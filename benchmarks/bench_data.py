"""What the end-to-end benchmarks share: free ports, and the T1-T4 data sets.

T1: ``t1/big.bin`` of ``size_mib`` random MiB; T2: ``t2/big.bin``, the same file with 0.1%
changed in 64 places (and a newer mtime); T3: ``t3/``, ``files`` files of 1 KiB in 1,000
directories. Seeded, made once per size and reused.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import sys
import time
from pathlib import Path


def our_program(script: str, module: str) -> list[str]:
    """The installed console script beside this Python, else ``python -m``."""
    beside = Path(sys.executable).parent / script
    return [str(beside)] if beside.exists() else [sys.executable, "-m", module]


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children first found through /proc)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            kids = [int(x) for x in fh.read().split()]
    except OSError:
        return []
    out = list(kids)
    for k in kids:
        out.extend(descendants(k))
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    msg = f"daemon on port {port} did not start"
    raise SystemExit(msg)


def make_data(root: Path, size_mib: int, files: int) -> None:
    rng = random.Random(1)
    t1 = root / "t1"
    t2 = root / "t2"
    t3 = root / "t3"
    if not (t1 / "big.bin").exists() or (t1 / "big.bin").stat().st_size != size_mib << 20:
        t1.mkdir(parents=True, exist_ok=True)
        with open(t1 / "big.bin", "wb") as fh:
            for _ in range(size_mib):
                fh.write(rng.randbytes(1 << 20))
        os.utime(t1 / "big.bin", (1_600_000_000, 1_600_000_000))
        t2.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(t1 / "big.bin", t2 / "big.bin")
        size = size_mib << 20
        with open(t2 / "big.bin", "r+b") as fh:
            for i in range(64):
                fh.seek(i * (size // 64) + rng.randrange(size // 64 - 16384))
                fh.write(rng.randbytes(size // 1000 // 64))  # 0.1% in 64 places
        os.utime(t2 / "big.bin", (1_700_000_000, 1_700_000_000))
    marker = t3 / f".complete-{files}"
    if not marker.exists():
        shutil.rmtree(t3, ignore_errors=True)
        per_dir = max(1, files // 1000)
        for d in range(1000):
            sub = t3 / f"d{d:04d}"
            sub.mkdir(parents=True)
            for f in range(per_dir):
                (sub / f"f{f:03d}").write_bytes(rng.randbytes(1024))
        marker.write_text("")
