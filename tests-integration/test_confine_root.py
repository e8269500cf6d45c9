"""``--confine-root`` and ``--drop-D``: real rsync's client, ``pyrsync --server`` behind the shim.

A wrapper that restricts an ssh account to one directory (rsync's ``support/rrsync``)
starts the server with ``--confine-root=DIR``. Paths only the server sees must then stay
inside DIR: a per-directory merge file named ``../outside-secret`` is not read (so the
client cannot learn what it holds from which files arrive), and a ``--backup-dir``
reached through a symlink planted in the tree does not put files outside. Each case has
its control without the option, so that it shows the option at work. A path pinned to a
descriptor (``/proc/self/fd/N``, as rrsync writes them) is read through the pin.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from harness.proc import run

if TYPE_CHECKING:
    from pathlib import Path

    from harness.shim import ShimFactory
    from harness.tools import RealRsync

pytestmark = pytest.mark.interop

PYRSYNC = [sys.executable, "-m", "rsync_client"]


def _shim(factory: ShimFactory, root: Path | None, *extra: str) -> str:
    options = [f"--confine-root={root}"] if root is not None else []
    name = "confined" if root is not None else "plain"
    return str(factory([*PYRSYNC, *options, *extra], name=f"{name}{len(extra)}"))


@pytest.mark.parametrize("confined", [True, False])
def test_merge_file_outside_the_root_is_not_read(
    confined: bool, real_rsync: RealRsync, rsh_shim_factory: ShimFactory, tmp_path: Path
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "outside-secret").write_text("secretword\n")
    (root / "secretword").write_text("X")
    (root / "keep").write_text("X")
    shim = _shim(rsh_shim_factory, root if confined else None)
    dest = tmp_path / "dest"
    code, _, err = run(
        real_rsync.argv(
            "-r", "--filter=:-s ../outside-secret", "-e", shim, f"host:{root}/", f"{dest}/"
        ),
        timeout=60,
    )
    assert code == 0, err
    assert (dest / "keep").exists()
    # confined: the merge file outside was not read, so "secretword" was not excluded;
    # the control shows that the same command reads it without the option
    assert (dest / "secretword").exists() is confined
    assert "secretword" not in err


@pytest.mark.parametrize("confined", [True, False])
def test_backup_dir_through_a_planted_symlink_stays_inside(
    confined: bool, real_rsync: RealRsync, rsh_shim_factory: ShimFactory, tmp_path: Path
) -> None:
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "keys").write_text("ADMIN\n")
    (root / "keys").write_text("OLD\n")
    os.symlink("../outside", root / "pivot")
    src = tmp_path / "src"
    src.mkdir()
    (src / "keys").write_text("NEW\n")
    shim = _shim(rsh_shim_factory, root if confined else None)
    code, _, err = run(
        real_rsync.argv("-rbI", "--backup-dir=pivot", "-e", shim, f"{src}/keys", f"host:{root}/"),
        timeout=60,
    )
    if confined:
        # refused, as rsync refuses it: the file outside is untouched, the failure said
        assert (outside / "keys").read_text() == "ADMIN\n", err
        assert code == 11, err  # rsync: rsync.c finish_transfer() (a failed backup ends it)
        assert "keep_backup failed" in err
        assert (root / "keys").read_text() == "OLD\n"  # not replaced: it could not be kept
    else:
        assert code == 0, err
        assert (outside / "keys").read_text() == "OLD\n"  # the control: it went outside


def test_relative_confine_root_is_refused(
    real_rsync: RealRsync, rsh_shim_factory: ShimFactory, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_text("f\n")
    shim = str(rsh_shim_factory([*PYRSYNC, "--confine-root=relative/dir"], name="rel"))
    code, _, err = run(real_rsync.argv("-a", "-e", shim, f"host:{src}/", f"{tmp_path}/d/"))
    assert code != 0
    assert "--confine-root must be an absolute path" in err
    assert not (tmp_path / "d" / "f").exists()


def test_descriptor_pin_is_read_through(
    real_rsync: RealRsync, rsh_shim_factory: ShimFactory, tmp_path: Path
) -> None:
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "f").write_text("pinned\n")
    shim = _shim(rsh_shim_factory, root)
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        proc = subprocess.run(
            real_rsync.argv("-a", "-e", shim, f"host:/proc/self/fd/{fd}/sub", f"{tmp_path}/dest/"),
            pass_fds=(fd,),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(fd)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "dest" / "sub" / "f").read_text() == "pinned\n"


@pytest.mark.skipif(os.geteuid() != 0, reason="FIFOs in a push with -a need no root; devices do")
def test_drop_devices_creates_no_specials(
    real_rsync: RealRsync, rsh_shim_factory: ShimFactory, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "plain").write_text("plain\n")
    os.mkfifo(src / "fifo")
    dest = tmp_path / "dest"
    dest.mkdir()
    shim = str(rsh_shim_factory([*PYRSYNC, "--drop-D"], name="dropd"))
    code, _, err = run(real_rsync.argv("-a", "-e", shim, f"{src}/", f"host:{dest}/"), timeout=60)
    assert code == 0, err
    assert (dest / "plain").read_text() == "plain\n"
    assert not (dest / "fifo").exists()


@pytest.mark.parametrize("server", ["ours", "rsync"])
def test_an_absolute_backup_dir_inside_the_root_is_used(
    server: str, real_rsync: RealRsync, rsh_shim_factory: ShimFactory, tmp_path: Path
) -> None:
    """What rrsync hands over (a pin read as the absolute path it names) makes backups.

    The directories above the root were taken for ones to make, each one outside: every
    backup failed with ELOOP.
    """
    root = tmp_path / "root"
    (root / "backup" / "old").mkdir(parents=True)
    (root / "keys").write_text("OLD\n")
    src = tmp_path / "src"
    src.mkdir()
    (src / "keys").write_text("NEW\n")
    program = [*PYRSYNC] if server == "ours" else real_rsync.argv()
    shim = str(rsh_shim_factory([*program, f"--confine-root={root}"], name=f"bdir-{server}"))
    for backup_dir in (root / "backup", root / "backup" / "new" / "deeper"):
        (root / "keys").write_text("OLD\n")
        code, _, err = run(
            real_rsync.argv(
                "-rbI", f"--backup-dir={backup_dir}", "-e", shim, f"{src}/keys", f"host:{root}/"
            ),
            timeout=60,
        )
        assert code == 0, err
        assert (root / "keys").read_text() == "NEW\n"
        assert (backup_dir / "keys").read_text() == "OLD\n"


@pytest.mark.parametrize("server", ["ours", "rsync"])
def test_a_pinned_backup_dir_is_used_through_its_descriptor(
    server: str, real_rsync: RealRsync, rsh_shim_factory: ShimFactory, tmp_path: Path
) -> None:
    """rrsync pins the backup dir it made; the transfer cannot swap its name for a symlink.

    The push replaces the pinned directory ``a`` with a symlink out of the root before
    ``keys`` is backed up. The backup goes to the directory the descriptor holds (now
    unlinked, so it fails) and the message names the pin, as rsync 3.5's does; nothing
    outside the root is touched.
    """
    root = tmp_path / "root"
    (root / "a").mkdir(parents=True)
    (root / "keys").write_text("OLD\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keys").write_text("ADMIN\n")
    src = tmp_path / "src"
    src.mkdir()
    (src / "keys").write_text("NEW\n")
    os.symlink("../outside", src / "a")
    program = [*PYRSYNC] if server == "ours" else real_rsync.argv()
    shim = str(rsh_shim_factory([*program, f"--confine-root={root}"], name=f"pin-{server}"))
    fd = os.open(root / "a", os.O_RDONLY | os.O_DIRECTORY)
    try:
        proc = subprocess.run(
            real_rsync.argv(
                "-rlbI", f"--backup-dir=/proc/self/fd/{fd}", "-e", shim, f"{src}/", f"host:{root}/"
            ),
            pass_fds=(fd,),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(fd)
    assert (outside / "keys").read_text() == "ADMIN\n"
    assert os.readlink(root / "a") == "../outside"
    assert proc.returncode == 11, proc.stderr  # rsync: rsync.c finish_transfer()
    assert f'keep_backup failed: "{root}/keys" -> "/proc/self/fd/{fd}/keys": ' in proc.stderr
    assert (root / "keys").read_text() == "OLD\n"
