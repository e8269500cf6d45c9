"""``--copy-as=USER[:GROUP]`` beside real rsync: the side that writes becomes USER first.

As root (the test's ``privileged`` cases): a local copy, a pull over a remote shell and a
push to our server given ``-M--copy-as`` write files owned by ``nobody`` into a directory
``nobody`` owns, as rsync's do; an unknown user or group gets rsync's message and exit
code 1. As anyone else the switch fails at ``setgroups``, as rsync's does.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from harness.client import mask_error_location, pyrsync_argv
from harness.compare import assert_trees_equal
from harness.proc import run

if TYPE_CHECKING:
    from collections.abc import Iterator

    from harness.shim import ShimFactory
    from harness.tools import RealRsync

pytestmark = pytest.mark.interop

OLD = 1_600_000_000


def _nobody() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no user nobody")


@pytest.fixture
def open_tmp() -> Iterator[Path]:
    """A scratch directory every user can enter (pytest's own are root's alone)."""
    path = Path(tempfile.mkdtemp(prefix="pyrsync-copy-as-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


def _source(base: Path) -> Path:
    src = base / "src"
    (src / "sub").mkdir(parents=True)
    (src / "f").write_text("one\n")
    (src / "sub" / "g").write_text("two\n")
    for path in (src / "f", src / "sub" / "g", src / "sub", src):
        os.utime(path, (OLD, OLD))
    base.chmod(0o755)
    for path in (src, src / "sub"):
        path.chmod(0o755)
    return src


def _dest(base: Path, name: str, owner: pwd.struct_passwd) -> Path:
    dest = base / name
    dest.mkdir()
    os.chown(dest, owner.pw_uid, owner.pw_gid)
    os.utime(dest, (OLD, OLD))
    return dest


def _owners(root: Path) -> set[tuple[int, int]]:
    return {(p.lstat().st_uid, p.lstat().st_gid) for p in root.rglob("*")}


@pytest.mark.privileged
@pytest.mark.parametrize("how", ["local", "pull", "push-server"])
def test_files_are_written_as_the_user(
    real_rsync: RealRsync, open_tmp: Path, rsh_shim_factory: ShimFactory, how: str
) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    nobody = _nobody()
    tmp_path = open_tmp
    src = _source(tmp_path)
    ours_shim = rsh_shim_factory([sys.executable, "-m", "rsync_client"], name="ours")
    for who, argv, shim in (
        ("ours", pyrsync_argv(), ours_shim),
        ("theirs", real_rsync.argv(), rsh_shim_factory(name="theirs")),
    ):
        dest = _dest(tmp_path, who, nobody)
        if how == "local":
            args = ["-a", "--copy-as=nobody", f"{src}/", f"{dest}/"]
        elif how == "pull":
            args = ["-a", "--copy-as=nobody", "-e", str(shim), f"localhost:{src}/", f"{dest}/"]
        else:  # real rsync pushes; the server (ours or rsync's) switches
            argv = real_rsync.argv()
            args = ["-a", "-M--copy-as=nobody", "-e", str(shim), f"{src}/", f"localhost:{dest}/"]
        code, _out, err = run([*argv, *args])
        assert code == 0, (who, err)
        assert _owners(dest) == {(nobody.pw_uid, nobody.pw_gid)}, who
    assert_trees_equal(tmp_path / "ours", tmp_path / "theirs")


@pytest.mark.parametrize("spec", ["no-such-user-x", "nobody:no-such-group-x"])
def test_unknown_user_or_group_is_rsyncs_error(
    real_rsync: RealRsync, tmp_path: Path, spec: str
) -> None:
    _nobody()
    src = _source(tmp_path)
    results = []
    for who, argv in (("ours", pyrsync_argv()), ("theirs", real_rsync.argv())):
        code, _out, err = run([*argv, "-a", f"--copy-as={spec}", f"{src}/", f"{tmp_path / who}/"])
        results.append((code, mask_error_location(err).splitlines()[0]))
        assert not (tmp_path / who).exists()
    assert results[0] == results[1]
    assert results[0][0] == 1
    assert results[0][1].startswith("Invalid copy-as ")


def test_not_root_fails_at_setgroups(real_rsync: RealRsync, open_tmp: Path) -> None:
    nobody = _nobody()
    src = _source(open_tmp)
    prefix: list[str] = []
    if os.geteuid() == 0:  # run as nobody: the switch to nobody still needs root
        prefix = ["setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}"]
        prefix += ["--clear-groups", "--"]
        probe = subprocess.run([*prefix, *pyrsync_argv("--version")], capture_output=True)
        if probe.returncode:
            pytest.skip("pyrsync's interpreter is not readable by nobody")
    results = []
    for argv in (pyrsync_argv(), real_rsync.argv()):
        code, _out, err = run(
            [*prefix, *argv, "-a", "--copy-as=nobody", f"{src}/", "/nonexistent/"]
        )
        results.append((code, mask_error_location(err).splitlines()[0]))
    assert results[0] == results[1]
    assert results[0] == (1, "rsync: [Receiver] setgroups failed: Operation not permitted (1)")
