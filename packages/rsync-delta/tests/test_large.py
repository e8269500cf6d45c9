"""Large-file runs through the CLI with bounded memory (marked slow).

The default size is 512 MiB (2.5 times the RSS limit); set RSYNC_DELTA_LARGE_GIB (e.g. 5)
for bigger runs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import TYPE_CHECKING

import numpy as np
import pytest

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.slow

GiB = 1 << 30
MiB = 1 << 20
RSS_LIMIT_MIB = 200
UNRELATED_MIB = 256

# Run one CLI command in a fresh interpreter and report its peak RSS. VmHWM belongs to
# the process's own address space, so unlike wait4's ru_maxrss it does not include the
# memory of the pytest process this child was forked from.
CHILD = """
import sys
from rsync_delta.cli import main
rc = main(sys.argv[1:])
with open("/proc/self/status") as f:
    hwm = next(line for line in f if line.startswith("VmHWM:"))
print(int(hwm.split()[1]) // 1024, file=sys.stderr)
sys.exit(rc)
"""


def run_measured(*args: str | Path) -> int:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, *map(str, args)],
        capture_output=True,
        check=False,
        timeout=1800,
    )
    assert proc.returncode == 0, proc.stderr
    return int(proc.stderr.decode().splitlines()[-1])


def write_sparse(path: Path, size: int, seed: int, *, changes: int = 0) -> None:
    """Zeros (a sparse file) with 1 MiB of random data every 64 MiB, plus `changes`."""
    rng = np.random.default_rng(seed)
    with path.open("wb") as f:
        f.truncate(size)
        for offset in range(0, size, 64 * MiB):
            f.seek(offset)
            f.write(rng.integers(0, 256, min(MiB, size - offset), dtype=np.uint8).tobytes())
        change_rng = np.random.default_rng(seed + 1)
        for _ in range(changes):
            f.seek(int(change_rng.integers(0, size - 20_000)))
            f.write(change_rng.integers(0, 256, 16_384, dtype=np.uint8).tobytes())


def same_files(a: Path, b: Path) -> bool:
    return subprocess.run(["cmp", "-s", str(a), str(b)], check=False).returncode == 0


def test_large_file_bounded_memory(tmp_path: Path) -> None:
    size = int(float(os.environ.get("RSYNC_DELTA_LARGE_GIB", "0.5")) * GiB)
    if os.statvfs(tmp_path).f_bavail * os.statvfs(tmp_path).f_frsize < 2 * size:
        pytest.skip("not enough free space for the patched copy")
    basis, new = tmp_path / "basis", tmp_path / "new"
    write_sparse(basis, size, 1)
    write_sparse(new, size, 1, changes=64)
    sig, dlt, out = tmp_path / "sig", tmp_path / "delta", tmp_path / "out"
    peaks = {
        "signature": run_measured("signature", basis, sig),
        "delta": run_measured("delta", sig, new, dlt),
        "patch": run_measured("patch", basis, dlt, out),
    }
    assert same_files(out, new)
    assert dlt.stat().st_size < 64 * 16_384 * 3
    # A new file sharing nothing: rolling search everywhere, a delta of literals only.
    unrelated = tmp_path / "unrelated"
    rng = np.random.default_rng(7)
    with unrelated.open("wb") as f:
        for _ in range(UNRELATED_MIB // 16):
            f.write(rng.integers(0, 256, 16 * MiB, dtype=np.uint8).tobytes())
    out.unlink()
    peaks["delta unrelated"] = run_measured("delta", sig, unrelated, dlt)
    peaks["patch unrelated"] = run_measured("patch", basis, dlt, out)
    assert same_files(out, unrelated)
    for step, peak in peaks.items():
        assert peak < RSS_LIMIT_MIB, f"{step} peaked at {peak} MiB"
