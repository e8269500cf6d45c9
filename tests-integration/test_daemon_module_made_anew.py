"""A module directory removed and made anew while the daemon runs, against the real client.

rsync looks a module's path up for each connection (it changes into it every time), so
the next client after a replacement sees the new directory. pyrsyncd confines itself once,
before the first connection, with each module on a mount point of its own; a connection
asks the helper process started before confinement to bind the path as it is now (checked
through trusted symbolic links only, as at start-up) when it names another directory.
Run beside rsync's own daemon. Without root (Landlock alone) that cannot be done: the
daemon refuses such a connection and its log says why.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from harness.confd import ConfDaemons
from harness.confinement import descendants, wait_for
from harness.daemon import LOOPBACK, daemon_ready
from harness.ourd import pyrsyncd_argv
from harness.proc import run, start_service
from harness.tools import find_tool, unavailable
from rsync_sandbox import SandboxUnavailable, abi_version

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from harness.daemon import RealDaemonFactory
    from harness.tools import RealRsync

pytestmark = [
    pytest.mark.interop,
    pytest.mark.privileged,
    pytest.mark.skipif(os.geteuid() != 0, reason="the mount namespace needs root"),
]


@pytest.fixture
def start_conf(
    real_rsync: RealRsync, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[str, str], int]]:
    """``start_conf(body, daemon)`` starts a daemon on an rsyncd.conf; returns its port."""
    daemons = ConfDaemons(real_rsync, tmp_path_factory.mktemp("anew"))
    yield lambda body, daemon: daemons.start(daemon, body, head=True)
    daemons.stop_all()


def _rsync(real_rsync: RealRsync, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        real_rsync.argv(*args), capture_output=True, text=True, timeout=120, check=False
    )


def _alive(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie does not)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _make(path: Path, files: dict[str, str]) -> None:
    path.mkdir()
    for name, text in files.items():
        (path / name).write_text(text)


@pytest.mark.parametrize("daemon", ["ours", "rsync"])
def test_a_module_made_anew_is_the_new_directory_for_the_next_client(
    start_conf: Callable[[str, str], int], real_rsync: RealRsync, tmp_path: Path, daemon: str
) -> None:
    mod = tmp_path / "m"
    _make(mod, {"first": "first\n"})
    src = tmp_path / "src"
    _make(src, {"up": "upload\n"})
    port = start_conf(f"[m]\npath = {mod}\nread only = no\n", daemon)
    url = f"rsync://{LOOPBACK}:{port}/m/"
    pushed = _rsync(real_rsync, "-r", f"{src}/up", url)
    assert pushed.returncode == 0, pushed.stderr
    assert (mod / "up").read_text() == "upload\n"

    # removed and made anew: the old one is kept aside, to see that nothing goes there
    mod.rename(tmp_path / "m.old")
    _make(mod, {"second": "second\n"})
    pulled = _rsync(real_rsync, "-r", url, f"{tmp_path / 'dst'}/")
    assert pulled.returncode == 0, pulled.stderr
    assert sorted(os.listdir(tmp_path / "dst")) == ["second"]
    pushed = _rsync(real_rsync, "-r", f"{src}/up", url)
    assert pushed.returncode == 0, pushed.stderr
    assert sorted(os.listdir(mod)) == ["second", "up"]
    assert sorted(os.listdir(tmp_path / "m.old")) == ["first", "up"]

    # deleted outright: the next client gets rsync's refusal, and then it comes back
    shutil.rmtree(mod)
    gone = _rsync(real_rsync, "-r", url, f"{tmp_path / 'dst2'}/")
    assert gone.returncode == 5
    assert "@ERROR: chdir failed" in gone.stderr
    _make(mod, {"third": "third\n"})
    pushed = _rsync(real_rsync, "-r", f"{src}/up", url)
    assert pushed.returncode == 0, pushed.stderr
    pulled = _rsync(real_rsync, "-r", url, f"{tmp_path / 'dst3'}/")
    assert pulled.returncode == 0, pulled.stderr
    assert sorted(os.listdir(tmp_path / "dst3")) == ["third", "up"]


def test_a_read_only_module_made_anew_stays_read_only(
    start_conf: Callable[[str, str], int], real_rsync: RealRsync, tmp_path: Path
) -> None:
    """The new directory is bound read-only as the old one was: uploads are refused."""
    mod = tmp_path / "ro"
    _make(mod, {"old": "old\n"})
    port = start_conf(f"[ro]\npath = {mod}\n", "ours")
    url = f"rsync://{LOOPBACK}:{port}/ro/"
    shutil.rmtree(mod)
    _make(mod, {"new": "new\n"})
    pulled = _rsync(real_rsync, "-r", url, f"{tmp_path / 'dst'}/")
    assert pulled.returncode == 0, pulled.stderr
    assert sorted(os.listdir(tmp_path / "dst")) == ["new"]
    src = tmp_path / "src"
    _make(src, {"up": "upload\n"})
    refused = _rsync(real_rsync, "-r", f"{src}/", url)
    assert refused.returncode != 0
    assert "module is read only" in refused.stderr
    assert sorted(os.listdir(mod)) == ["new"]


def test_a_module_path_replaced_by_another_users_symlink_is_refused(
    start_conf: Callable[[str, str], int], real_rsync: RealRsync, tmp_path: Path
) -> None:
    """The path is checked for each connection as at start-up: a symlink that neither root
    nor the daemon's user owns is not followed (rsync: open_no_attacker_symlinks())."""
    mod = tmp_path / "m"
    _make(mod, {"mine": "module\n"})
    target = tmp_path / "target"
    _make(target, {"secret": "behind a planted link\n"})
    port = start_conf(f"[m]\npath = {mod}\n", "ours")
    url = f"rsync://{LOOPBACK}:{port}/m/"
    first = _rsync(real_rsync, "-r", url, f"{tmp_path / 'dst0'}/")
    assert first.returncode == 0, first.stderr
    shutil.rmtree(mod)
    mod.symlink_to(target)
    os.lchown(mod, 65534, 65534)
    proc = _rsync(real_rsync, "-r", url, f"{tmp_path / 'dst'}/")
    assert proc.returncode == 5
    assert "@ERROR: chdir failed" in proc.stderr
    assert not (tmp_path / "dst" / "secret").exists()


def test_an_unprivileged_daemon_refuses_a_module_made_anew_and_says_why(
    real_rsync: RealRsync, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    try:
        abi_version()
    except SandboxUnavailable:
        unavailable("Landlock is needed")
    setpriv = find_tool("setpriv")
    if setpriv is None:
        unavailable("setpriv (util-linux) is needed to run the daemon as uid 65534")
    prefix = [str(setpriv), "--reuid=65534", "--regid=65534", "--clear-groups"]
    probe = run([*prefix, sys.executable, "-c", "import rsync_daemon.supervisor"], timeout=60)
    if probe.returncode != 0:  # the interpreter lives where nobody cannot read it
        prefix += ["--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search"]
    mod = tmp_path / "m"
    _make(mod, {"old": "old\n"})
    tmp_path.chmod(0o755)
    out = tmp_path_factory.mktemp("nobody") / "pyrsyncd.out"
    service, port = start_service(
        lambda port: [
            *prefix,
            *pyrsyncd_argv("--listen", f"{LOOPBACK}:{port}", "--module", f"m={mod}"),
        ],
        output=out,
        ready=lambda _s, port: daemon_ready(LOOPBACK, port),
    )
    try:
        url = f"rsync://{LOOPBACK}:{port}/m/"
        first = _rsync(real_rsync, "-r", url, f"{tmp_path / 'dst'}/")
        assert first.returncode == 0, first.stderr
        shutil.rmtree(mod)
        _make(mod, {"new": "new\n"})
        refused = _rsync(real_rsync, "-r", url, f"{tmp_path / 'dst2'}/")
        assert refused.returncode == 5
        assert "@ERROR: chdir failed" in refused.stderr
    finally:
        service.stop(grace=2.0)
    assert "is another directory than at start-up" in service.output()
    assert "restart it" in service.output()


def test_without_its_helper_the_daemon_serves_the_directory_of_the_start_up(
    our_daemon: RealDaemonFactory, real_rsync: RealRsync, tmp_path: Path
) -> None:
    """The helper that binds module paths anew is a process of its own: if it is gone,
    connections are served from the directories the daemon started with, and the log says
    so (before the per-connection lookup, that was all pyrsyncd did)."""
    mod = tmp_path / "m"
    _make(mod, {"f": "served\n"})
    daemon = our_daemon({"m": mod})
    url = f"rsync://{daemon.host}:{daemon.port}/m/"
    first = _rsync(real_rsync, "-r", url, f"{tmp_path / 'dst'}/")
    assert first.returncode == 0, first.stderr
    # the helper: the daemon's child that leads a session of its own (os.setsid)
    helpers = [pid for pid in descendants(daemon.service.pid) if os.getsid(pid) == pid]
    assert len(helpers) == 1, helpers
    os.kill(helpers[0], 15)
    wait_for(lambda: None if _alive(helpers[0]) else helpers[0])
    again = _rsync(real_rsync, "-r", url, f"{tmp_path / 'dst2'}/")
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "dst2" / "f").read_text() == "served\n"
    assert "the daemon's helper is gone: serving the directory of the start-up" in daemon.log()
