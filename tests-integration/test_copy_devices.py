"""``--copy-devices``: the sender sends a block device's contents as a regular file's.

The device is a loop device over a file of random bytes (the tests skip when this
machine cannot attach one); its node is copied into the source tree. Every seat is run
beside rsync 3.5: local copies, pyrsync pushing to and pulling from ``rsync --server``
over the ``-e`` shim, and real rsync pulling from pyrsync's server. The received file
must hold the device's bytes, and the client forwards the option only when the server
sends (rsync: options.c server_options()).
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from harness.client import pyrsync_argv
from harness.proc import run
from harness.shim import shim_log

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from harness.shim import ShimFactory
    from harness.tools import RealRsync

pytestmark = pytest.mark.interop


@pytest.fixture
def loop_device(tmp_path: Path) -> Iterator[tuple[str, bytes]]:
    """A loop device over 64 KiB of random bytes: its path and its contents."""
    data = os.urandom(65536)
    image = tmp_path / "image"
    image.write_bytes(data)
    done = subprocess.run(
        ["losetup", "-f", "--show", str(image)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot attach a loop device here: {done.stderr.strip()}")
    device = done.stdout.strip()
    try:
        yield device, data
    finally:
        subprocess.run(["losetup", "-d", device], check=False)


def _source(base: Path, device: str) -> Path:
    src = base / "src"
    src.mkdir()
    st = os.stat(device)
    os.mknod(src / "blk", st.st_mode, st.st_rdev)
    (src / "f").write_text("f\n")
    return src


def _seat(
    mode: str,
    who: str,
    real_rsync: RealRsync,
    shims: dict[str, Path],
    src: Path,
    dest: Path,
    *,
    pull_to_ours: bool,
) -> tuple[list[str], Path, list[str]]:
    """(client argv, shim, source and destination) for one program in one mode.

    ``local``, ``push`` and ``pull`` put pyrsync or rsync in the client's seat (rsync
    on the far side); the fourth mode puts real rsync in the client's seat against
    pyrsync or rsync on the far side, pulling (``pull_to_ours``) or pushing.
    """
    client = [str(a) for a in (pyrsync_argv() if who == "ours" else real_rsync.argv())]
    shim = shims["theirs"]
    if mode == "local":
        return client, shim, [f"{src}/", f"{dest}/"]
    if mode == "push":
        return client, shim, ["-e", str(shim), f"{src}/", f"host:{dest}/"]
    if mode == "pull":
        return client, shim, ["-e", str(shim), f"host:{src}/", f"{dest}/"]
    shim = shims[who]
    ends = [f"host:{src}/", f"{dest}/"] if pull_to_ours else [f"{src}/", f"host:{dest}/"]
    return [str(a) for a in real_rsync.argv()], shim, ["-e", str(shim), *ends]


@pytest.mark.parametrize("mode", ["local", "push", "pull", "pull-from-ours"])
def test_copy_devices_as_rsync(
    real_rsync: RealRsync,
    rsh_shim_factory: ShimFactory,
    loop_device: tuple[str, bytes],
    tmp_path: Path,
    mode: str,
) -> None:
    device, data = loop_device
    src = _source(tmp_path, device)
    shims = {
        "ours": rsh_shim_factory([sys.executable, "-m", "rsync_client"], name="ours"),
        "theirs": rsh_shim_factory(name="theirs"),
    }
    forwarded = []
    for who in ("ours", "theirs"):
        dest = tmp_path / who
        client, shim, ends = _seat(mode, who, real_rsync, shims, src, dest, pull_to_ours=True)
        shim_log(shim).unlink(missing_ok=True)
        code, _out, err = run([*client, "-r", "--copy-devices", *ends], timeout=60)
        assert code == 0, (who, err)
        got = dest / "blk"
        assert got.is_file(), who
        assert got.read_bytes() == data, who
        assert (dest / "f").read_text() == "f\n"
        if mode != "local":
            forwarded.append("--copy-devices" in shim_log(shim).read_text().split())
    if mode in ("push", "pull"):
        assert forwarded[0] == forwarded[1] == (mode == "pull")


@pytest.mark.parametrize("mode", ["local", "push", "pull", "push-to-ours"])
def test_write_devices_as_rsync(
    real_rsync: RealRsync,
    rsh_shim_factory: ShimFactory,
    loop_device: tuple[str, bytes],
    tmp_path: Path,
    mode: str,
) -> None:
    """``--write-devices``: a file's data is written into the device the destination has."""
    device, _data = loop_device
    src = tmp_path / "src"
    src.mkdir()
    payload = os.urandom(20_000)
    (src / "blk").write_bytes(payload)
    shims = {
        "ours": rsh_shim_factory([sys.executable, "-m", "rsync_client"], name="ours"),
        "theirs": rsh_shim_factory(name="theirs"),
    }
    st = os.stat(device)
    forwarded = []
    for who in ("ours", "theirs"):
        with open(device, "r+b") as dev:  # the device starts as zeros each time
            dev.write(bytes(65536))
        dest = tmp_path / who
        dest.mkdir()
        os.mknod(dest / "blk", st.st_mode, st.st_rdev)
        client, shim, ends = _seat(mode, who, real_rsync, shims, src, dest, pull_to_ours=False)
        shim_log(shim).unlink(missing_ok=True)
        code, _out, err = run([*client, "-r", "--write-devices", *ends], timeout=60)
        assert code == 0, (who, err)
        assert (dest / "blk").is_block_device(), who
        with open(device, "rb") as dev:
            got = dev.read(65536)
        assert got == payload + bytes(65536 - len(payload)), who
        if mode != "local":
            words = shim_log(shim).read_text().split()
            forwarded.append(("--write-devices" in words, "--inplace" in words))
    if mode in ("push", "pull"):
        assert forwarded[0] == forwarded[1] == (mode == "push", True)  # it implies --inplace


def test_write_devices_refusals_are_rsyncs(real_rsync: RealRsync, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for args in (["--partial-dir=p"], ["--delay-updates"]):
        said = []
        for client in (pyrsync_argv(), real_rsync.argv()):
            code, _out, err = run(
                [*client, "--write-devices", *args, f"{src}/", f"{tmp_path}/d/"], timeout=60
            )
            said.append((code, err.splitlines()[0]))
        assert said[0] == said[1]
        assert said[0][0] == 1
