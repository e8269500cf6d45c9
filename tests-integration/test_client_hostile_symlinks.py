"""A destination behind another user's symlink: pyrsync refuses as rsync 3.5 does.

Root runs ``rsync -a src/sub/ dest/sub/`` where an unprivileged user planted ``dest/sub``
(or ``dest``) as a symlink to somewhere else. rsync 3.5 follows symlinks in the
destination's path only when root or the running user owns them, and otherwise stops
with "refusing to follow a symlink owned by an untrusted user", exit 3. The operator's
own symlinked destination (``/backup -> /mnt/disk``) still works.

rsync: testsuite symlink-race-dest, symlink-race-relative-dest.
"""

from __future__ import annotations

import os
import pwd
from typing import TYPE_CHECKING

import pytest

from harness.client import pyrsync_argv
from harness.proc import run

if TYPE_CHECKING:
    from pathlib import Path

    from harness.tools import RealRsync

REFUSAL = "refusing to follow a symlink owned by an untrusted user"


def _attacker_uid() -> int:
    if os.geteuid() != 0:
        pytest.skip("needs root to plant a symlink owned by another user")
    for name in ("nobody", "nfsnobody", "daemon"):
        try:
            uid = pwd.getpwnam(name).pw_uid
        except KeyError:
            continue
        if uid not in (0, os.geteuid()):
            return uid
    pytest.skip("no untrusted user to own the planted symlink")


def _scene(base: Path, *, relative: bool, owner: int) -> tuple[Path, Path]:
    src = base / "src"
    (src / "sub").mkdir(parents=True)
    for i in range(4):
        (src / "sub" / f"f{i}").write_text("payload\n")
    outside = base / "outside"
    outside.mkdir()
    dest = base / "dest"
    if relative:
        os.symlink(outside, dest)
        os.lchown(dest, owner, owner)
    else:
        dest.mkdir()
        os.symlink(outside, dest / "sub")
        os.lchown(dest / "sub", owner, owner)
    return src, outside


@pytest.mark.parametrize("relative", [False, True], ids=["absolute-dest", "relative-dest"])
@pytest.mark.parametrize("program", ["pyrsync", "rsync"])
def test_untrusted_symlink_in_the_destination_is_refused(
    tmp_path: Path, real_rsync: RealRsync, relative: bool, program: str
) -> None:
    uid = _attacker_uid()
    _scene(tmp_path, relative=relative, owner=uid)
    args = (
        ["-a", "src/", "dest/"]
        if relative
        else ["-a", f"{tmp_path}/src/sub/", f"{tmp_path}/dest/sub/"]
    )
    argv = pyrsync_argv(*args) if program == "pyrsync" else [str(real_rsync.path), *args]
    result = run(argv, cwd=tmp_path, timeout=60)
    assert result.returncode == 3, result.describe()
    assert REFUSAL in result.stderr
    assert "failed: Too many levels of symbolic links (40)" in result.stderr
    assert list((tmp_path / "outside").iterdir()) == []


@pytest.mark.parametrize("relative", [False, True], ids=["absolute-dest", "relative-dest"])
def test_the_operators_own_symlinked_destination_is_followed(
    tmp_path: Path, relative: bool
) -> None:
    _scene(tmp_path, relative=relative, owner=os.geteuid())
    args = (
        ["-a", "src/", "dest/"]
        if relative
        else ["-a", f"{tmp_path}/src/sub/", f"{tmp_path}/dest/sub/"]
    )
    result = run(pyrsync_argv(*args), cwd=tmp_path, timeout=60)
    assert result.returncode == 0, result.describe()
    landed = tmp_path / "outside" / ("sub/f0" if relative else "f0")
    assert landed.read_text() == "payload\n"
