from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from rsync_delta.cli import main

if TYPE_CHECKING:
    from collections.abc import Callable

CLI = [sys.executable, "-m", "rsync_delta.cli"]


def run(*args: str | Path, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [*CLI, *map(str, args)], input=stdin, capture_output=True, check=False, timeout=60
    )


def one_line_error(proc: subprocess.CompletedProcess[bytes], code: int = 1) -> str:
    assert proc.returncode == code, proc.stderr
    text = proc.stderr.decode()
    assert "Traceback" not in text
    lines = text.splitlines()
    assert len(lines) == 1, text
    assert lines[0].startswith("rsync-delta: error: ")
    return lines[0]


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    rng = np.random.default_rng(1)
    basis = rng.integers(0, 256, 300_000, dtype=np.uint8).tobytes()
    new = basis[:100_000] + b"inserted" + basis[100_500:] + b"tail"
    paths = {"basis": tmp_path / "basis", "new": tmp_path / "new"}
    paths["basis"].write_bytes(basis)
    paths["new"].write_bytes(new)
    return paths


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


@pytest.mark.parametrize(
    "options",
    [
        [],
        ["--checksum", "md4"],
        ["--checksum", "md5", "--block-size", "1000"],
        ["--checksum", "xxh64", "--strong-length", "3"],
        ["--checksum", "sha1"],
        ["--checksum", "xxh3", "--block-size", "1"],
    ],
)
def test_roundtrip(files: dict[str, Path], tmp_path: Path, options: list[str]) -> None:
    sig, dlt, out = tmp_path / "sig", tmp_path / "delta", tmp_path / "out"
    assert run("signature", *options, files["basis"], sig).returncode == 0
    assert run("delta", sig, files["new"], dlt).returncode == 0
    proc = run("patch", files["basis"], dlt, out)
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes() == files["new"].read_bytes()
    if "1" not in options:  # 1-byte blocks match, but runs keep breaking
        assert dlt.stat().st_size < 20_000
    assert leftovers(tmp_path) == []


def test_standard_streams(files: dict[str, Path], tmp_path: Path) -> None:
    sig = tmp_path / "sig"
    proc = run("signature", files["basis"], "-")
    assert proc.returncode == 0
    sig.write_bytes(proc.stdout)
    dlt = run("delta", sig, "-", "-", stdin=files["new"].read_bytes())
    assert dlt.returncode == 0
    out = run("patch", files["basis"], "-", "-", stdin=dlt.stdout)
    assert out.returncode == 0
    assert out.stdout == files["new"].read_bytes()


def test_output_replaces_existing_file_with_default_mode(
    files: dict[str, Path], tmp_path: Path
) -> None:
    sig = tmp_path / "sig"
    sig.write_bytes(b"old")
    old_umask = os.umask(0o022)
    os.umask(old_umask)
    assert run("signature", files["basis"], sig).returncode == 0
    assert sig.read_bytes()[:4] == b"RSDS"
    assert sig.stat().st_mode & 0o777 == 0o666 & ~old_umask


def test_patch_refuses_a_delta_for_another_basis(files: dict[str, Path], tmp_path: Path) -> None:
    sig, dlt, out = tmp_path / "sig", tmp_path / "delta", tmp_path / "out"
    run("signature", files["basis"], sig)
    run("delta", sig, files["new"], dlt)
    other = tmp_path / "other"
    data = bytearray(files["basis"].read_bytes())
    data[5000] ^= 0xFF
    other.write_bytes(bytes(data))
    out.write_bytes(b"previous contents")
    line = one_line_error(run("patch", other, dlt, out))
    assert "sum mismatch" in line
    assert out.read_bytes() == b"previous contents"
    assert leftovers(tmp_path) == []
    other.write_bytes(bytes(data[:-1]))
    line = one_line_error(run("patch", other, dlt, out))
    assert "basis of 300000 bytes" in line
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(
    ("which", "mutate", "message"),
    [
        ("sig", lambda b: b[:-1], "truncated"),
        ("sig", lambda b: b[:40] + bytes([b[40] ^ 4]) + b[41:], "integrity"),
        ("sig", lambda b: b"RSDD" + b[4:], "bad magic"),
        ("sig", lambda b: b[:4] + b"\x07" + b[5:], "version 7"),
        ("delta", lambda b: b[:-5], "truncated"),
        ("delta", lambda b: b[:30], "truncated"),
        ("delta", lambda b: b[:-1] + bytes([b[-1] ^ 1]), "sum mismatch"),
        ("delta", lambda b: b"RSDS" + b[4:], "bad magic"),
        ("delta", lambda b: b[:4] + b"\x02" + b[5:], "version 2"),
        ("delta", lambda b: b"", "truncated delta header"),
    ],
)
def test_corrupt_inputs(
    files: dict[str, Path],
    tmp_path: Path,
    which: str,
    mutate: Callable[[bytes], bytes],
    message: str,
) -> None:
    sig, dlt, out = tmp_path / "sig", tmp_path / "delta", tmp_path / "out"
    run("signature", files["basis"], sig)
    run("delta", sig, files["new"], dlt)
    if which == "sig":
        sig.write_bytes(mutate(sig.read_bytes()))
        line = one_line_error(run("delta", sig, files["new"], out))
    else:
        dlt.write_bytes(mutate(dlt.read_bytes()))
        line = one_line_error(run("patch", files["basis"], dlt, out))
    assert message in line
    assert not out.exists()
    assert leftovers(tmp_path) == []


def test_file_errors(files: dict[str, Path], tmp_path: Path) -> None:
    line = one_line_error(run("signature", tmp_path / "missing", tmp_path / "sig"))
    assert "No such file" in line
    assert "missing" in line
    line = one_line_error(run("signature", files["basis"], tmp_path / "no" / "dir" / "sig"))
    assert "No such file" in line
    line = one_line_error(run("patch", "-", files["basis"], tmp_path / "out"))
    assert "seekable" in line
    line = one_line_error(run("delta", "-", "-", tmp_path / "d"))
    assert "both be standard input" in line


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["signature"],
        ["frobnicate", "a", "b"],
        ["signature", "--block-size", "0", "a", "b"],
        ["signature", "--block-size", "x", "a", "b"],
        ["signature", "--checksum", "crc32", "a", "b"],
        ["signature", "--strong-length", "17", "a", "b"],
        ["signature", "--checksum", "xxh64", "--strong-length", "9", "a", "b"],
        ["patch", "a", "b"],
    ],
)
def test_usage_errors_exit_2(args: list[str]) -> None:
    proc = run(*args)
    assert proc.returncode == 2
    assert b"Traceback" not in proc.stderr
    assert b"usage:" in proc.stderr


def test_version_and_in_process_main(files: dict[str, Path], tmp_path: Path) -> None:
    proc = run("--version")
    assert proc.returncode == 0
    assert proc.stdout.startswith(b"rsync-delta ")
    assert main(["signature", str(files["basis"]), str(tmp_path / "sig")]) == 0
    missing = str(tmp_path / "missing")
    assert main(["delta", str(tmp_path / "sig"), missing, str(tmp_path / "d")]) == 1


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "rsync-delta"
    if not script.exists():
        pytest.skip("no console script next to this interpreter")
    proc = subprocess.run([script, "--version"], capture_output=True, check=False, timeout=60)
    assert proc.returncode == 0


def test_patch_does_not_import_numpy(files: dict[str, Path], tmp_path: Path) -> None:
    run("signature", files["basis"], tmp_path / "sig")
    run("delta", tmp_path / "sig", files["new"], tmp_path / "d")
    code = (
        "import sys; from rsync_delta.cli import main; "
        f"rc = main(['patch', {str(files['basis'])!r}, {str(tmp_path / 'd')!r}, "
        f"{str(tmp_path / 'o')!r}]); "
        "sys.exit(rc or ('numpy' in sys.modules) * 3)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False, timeout=60).returncode == 0
