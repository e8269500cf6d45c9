"""``--confine-root`` outside a daemon: which operator paths it bounds, beside real rsync.

rsync 3.5 bounds the paths that must stay inside the root (a ``--files-from`` list, the
backup, partial, temp and basis directories) and reads the rest where they are: a local
copy's source arguments, ``--log-file``. A path pinned to a descriptor, as rsync's
``rrsync`` hands them over (``/proc/self/fd/N/...``), is judged by where the descriptor
leads. (rsync after 3.5.0 says ``failed to open files-from file PATH: Too many levels of
symbolic links``, exit 1, for a list outside; 3.5.0 itself still opens it and fails on
the names, exit 23: either way nothing is copied.)
"""

from __future__ import annotations

import os
import subprocess
from typing import TYPE_CHECKING

import pytest

from harness.client import pyrsync_argv

if TYPE_CHECKING:
    from pathlib import Path

    from harness.tools import RealRsync

pytestmark = pytest.mark.interop

PROGRAMS = ("ours", "rsync")


def _argv(real_rsync: RealRsync, who: str, *args: str) -> list[str]:
    return pyrsync_argv(*args) if who == "ours" else real_rsync.argv(*args)


def _tree(base: Path) -> tuple[Path, Path, Path]:
    src, dest, outside = base / "src", base / "dest", base / "outside"
    for d in (src, dest, outside):
        d.mkdir(parents=True)
    (src / "file").write_text("content\n")
    return src, dest, outside


def test_a_local_copy_sends_sources_outside_the_root(real_rsync: RealRsync, tmp_path: Path) -> None:
    for who in PROGRAMS:
        src, dest, _ = _tree(tmp_path / who)
        proc = subprocess.run(
            _argv(real_rsync, who, "-a", f"--confine-root={dest}", f"{src}/", f"{dest}/"),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 0, (who, proc.stderr)
        assert (dest / "file").read_text() == "content\n"


@pytest.mark.parametrize("pinned", [False, True])
def test_a_files_from_list_outside_the_root_is_refused(
    real_rsync: RealRsync, tmp_path: Path, pinned: bool
) -> None:
    for who in PROGRAMS:
        src, dest, outside = _tree(tmp_path / who)
        (outside / "list").write_text("file\n")
        fd = os.open(outside / "list", os.O_RDONLY)
        try:
            listed = f"/proc/self/fd/{fd}" if pinned else str(outside / "list")
            proc = subprocess.run(
                _argv(
                    real_rsync,
                    who,
                    "-a",
                    f"--confine-root={dest}",
                    f"--files-from={listed}",
                    f"{src}/",
                    f"{dest}/",
                ),
                pass_fds=(fd,),
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
        finally:
            os.close(fd)
        assert proc.returncode != 0, who
        assert not (dest / "file").exists(), who
        if who == "ours":
            assert proc.returncode == 1
            assert (
                f"rsync: failed to open files-from file {listed}: Too many levels of symbolic links"
                in proc.stderr
            )


def test_a_files_from_list_inside_the_root_is_read(real_rsync: RealRsync, tmp_path: Path) -> None:
    """The control: a pinned list inside the root is used (the sources inside it too: rsync
    3.5.0 also keeps a ``--files-from`` sender's names inside the root)."""
    for who in PROGRAMS:
        src, dest, _ = _tree(tmp_path / who)
        (dest / "list").write_text("file\n")
        fd = os.open(dest / "list", os.O_RDONLY)
        try:
            proc = subprocess.run(
                _argv(
                    real_rsync,
                    who,
                    "-a",
                    f"--confine-root={tmp_path / who}",
                    f"--files-from=/proc/self/fd/{fd}",
                    f"{src}/",
                    f"{dest}/",
                ),
                pass_fds=(fd,),
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
        finally:
            os.close(fd)
        assert proc.returncode == 0, (who, proc.stderr)
        assert (dest / "file").read_text() == "content\n"


def test_a_log_file_through_a_pinned_directory(real_rsync: RealRsync, tmp_path: Path) -> None:
    for who in PROGRAMS:
        src, dest, _ = _tree(tmp_path / who)
        fd = os.open(dest, os.O_RDONLY | os.O_DIRECTORY)
        try:
            proc = subprocess.run(
                _argv(
                    real_rsync,
                    who,
                    "-a",
                    f"--confine-root={dest}",
                    f"--log-file=/proc/self/fd/{fd}/transfer.log",
                    f"{src}/",
                    f"{dest}/",
                ),
                pass_fds=(fd,),
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
        finally:
            os.close(fd)
        assert proc.returncode == 0, (who, proc.stderr)
        assert (dest / "transfer.log").is_file()
        assert (dest / "file").read_text() == "content\n"
