"""``-C``: rsync's CVS list, ``$HOME/.cvsignore`` and ``$CVSIGNORE``, on both sides.

pyrsync confines itself with Landlock before the transfer; ``$HOME/.cvsignore`` is read
before that, so that a destination that exists (which leaves the home directory outside
what the client may read) does not lose the user's own patterns.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

from harness.client import pyrsync_argv
from harness.proc import run

if TYPE_CHECKING:
    from pathlib import Path

    from harness.daemon import RealDaemonFactory
    from harness.tools import RealRsync

pytestmark = pytest.mark.interop


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def _setup(base: Path) -> tuple[Path, Path, dict[str, str]]:
    home = base / "home"
    home.mkdir(parents=True)
    (home / ".cvsignore").write_text("home-only\n")
    src = base / "src"
    (src / "s").mkdir(parents=True)
    for name in ("home-only", "env-only", "kept", "obj.o"):
        (src / "s" / name).write_text(name)
    dst = base / "dst"
    (dst / "s").mkdir(parents=True)
    (dst / "s" / "home-only").write_text("old")  # excluded: protected unless --delete-excluded
    (dst / "s" / "stale").write_text("old")
    env = dict(os.environ, HOME=str(home), CVSIGNORE="env-only")
    return src, dst, env


@pytest.mark.parametrize(
    "args",
    [["-a", "-C"], ["-a", "--delete", "-C"], ["-a", "-f:C", "-f-C", "--delete-excluded"]],
    ids=["C", "delete", "delete-excluded"],
)
@pytest.mark.parametrize("where", ["local", "pull"])
def test_cvs_exclude_reads_home_and_env_like_rsync(
    real_rsync: RealRsync,
    real_daemon: RealDaemonFactory,
    tmp_path: Path,
    args: list[str],
    where: str,
) -> None:
    """The same files are left out, kept and deleted as by rsync, destination existing."""
    trees = {}
    for who in ("real", "ours"):
        src, dst, env = _setup(tmp_path / who)
        source = f"{src}/" if where == "local" else real_daemon({"m": src}).url("m") + "/"
        argv = [*args, source, f"{dst}/"]
        r = run(real_rsync.argv(*argv) if who == "real" else pyrsync_argv(*argv), env=env)
        assert r.returncode == 0, r.stderr
        trees[who] = _tree(dst)
    assert trees["ours"] == trees["real"]
    assert "s/obj.o" not in trees["ours"]
    if where == "local":  # a daemon's sender reads its own environment, not the client's
        assert "s/env-only" not in trees["ours"]
