"""``--chmod``: the client's sender or receiver tweaks the modes, as rsync's does.

rsync applies ``--chmod`` where the client sits: its sender tweaks the modes it lists (a
push, a local copy: only there, the local receiver does not apply them again), its
receiver the modes it reads (a pull). Each scenario runs with ours and with rsync from the
same source; the destination trees (modes included) must be equal.

* local copies, pulls from rsync's daemon and pushes to ``rsync --server`` over ``-e``,
  with rules that are not idempotent (``g=o,o=``), set-id bits (``a+s``, ``ug-s``),
  ``X`` and rules that depend on the umask (``D+w``), several ``--chmod`` in a row;
* pyrsync as the server: real rsync pulling from and pushing to ``pyrsync --server``
  with ``-M--chmod`` (the server applies it too);
* a bad rule is refused with rsync's message, exit code 1, nothing written.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

import pytest

from harness.client import mask_error_location, pyrsync_argv
from harness.compare import assert_trees_equal
from harness.daemon import DaemonModule
from harness.proc import run

if TYPE_CHECKING:
    from pathlib import Path

    from harness.daemon import RealDaemonFactory
    from harness.shim import ShimFactory
    from harness.tools import RealRsync

pytestmark = pytest.mark.interop

RULES = [
    ["ug-s,a+rX,D+w"],
    ["g=o,o="],
    ["a+s"],
    ["D755,F644"],
    ["Fu+x", "go-rwx", "Dg+s"],
]


def _source(base: Path) -> Path:
    src = base / "src"
    (src / "dir1" / "sub").mkdir(parents=True)
    (src / "dir2").mkdir()
    for name, mode in (("name1", 0o4700), ("name2", 0o647), ("dir1/x", 0o751), ("dir1/sub/y", 0)):
        (src / name).write_text(name + "\n")
        os.chmod(src / name, mode)
    os.symlink("name1", src / "link")
    os.chmod(src / "dir1", 0o700)
    os.chmod(src / "dir2", 0o2770)  # noqa: S103 - a test tree
    return src


def _chmods(rules: list[str]) -> list[str]:
    return [f"--chmod={r}" for r in rules]


@pytest.fixture(autouse=True)
def _umask_002() -> object:
    old = os.umask(0o002)  # D+w honours the umask; both programs run under the same one
    yield None
    os.umask(old)


@pytest.mark.parametrize("rules", RULES, ids=lambda r: ",".join(r))
@pytest.mark.parametrize("mode", ["local", "pull", "push"])
def test_chmod_gives_rsyncs_modes(
    real_daemon: RealDaemonFactory,
    real_rsync: RealRsync,
    rsh_shim_factory: ShimFactory,
    tmp_path: Path,
    mode: str,
    rules: list[str],
) -> None:
    src = _source(tmp_path)
    shim = rsh_shim_factory()
    where = {"local": f"{src}/", "push": f"{src}/"}
    if mode == "pull":
        where["pull"] = real_daemon([DaemonModule("src", src)]).url("src") + "/"
    for who, argv in (("ours", pyrsync_argv()), ("theirs", real_rsync.argv())):
        dest = tmp_path / who
        target = f"host:{dest}/" if mode == "push" else f"{dest}/"
        rsh = ["-e", str(shim)] if mode == "push" else []
        code, _out, err = run([*argv, "-a", *rsh, *_chmods(rules), where[mode], target], timeout=60)
        assert code == 0, (who, err)
    assert_trees_equal(tmp_path / "ours", tmp_path / "theirs")


@pytest.mark.parametrize("direction", ["pull", "push"])
def test_a_pyrsync_server_applies_chmod_as_rsync(
    real_rsync: RealRsync, rsh_shim_factory: ShimFactory, tmp_path: Path, direction: str
) -> None:
    """Real rsync's client with ``-M--chmod``: the server (ours or rsync) applies it."""
    src = _source(tmp_path)
    ours = rsh_shim_factory([sys.executable, "-m", "rsync_client"], name="ours")
    theirs = rsh_shim_factory(name="theirs")
    for who, shim in (("ours", ours), ("theirs", theirs)):
        dest = tmp_path / who
        where = (
            [f"host:{src}/", f"{dest}/"] if direction == "pull" else [f"{src}/", f"host:{dest}/"]
        )
        code, _out, err = run(
            [*real_rsync.argv(), "-a", "-e", shim, "-M--chmod=g=o,o=", "-M--chmod=Da+s", *where],
            timeout=60,
        )
        assert code == 0, (who, err)
    assert_trees_equal(tmp_path / "ours", tmp_path / "theirs")
    assert os.stat(tmp_path / "ours" / "name2").st_mode & 0o777 == 0o670


def test_a_bad_rule_is_refused_as_rsync_refuses_it(real_rsync: RealRsync, tmp_path: Path) -> None:
    src = _source(tmp_path)
    results = []
    for argv in (pyrsync_argv(), real_rsync.argv()):
        code, _out, err = run(
            [*argv, "-a", "--chmod=u+w", "--chmod=g=q", f"{src}/", f"{tmp_path}/d/"]
        )
        results.append((code, mask_error_location(err).splitlines()[0]))
    assert results[0] == results[1] == (1, "rsync: Invalid argument passed to --chmod (g=q)")
    assert not (tmp_path / "d").exists()
