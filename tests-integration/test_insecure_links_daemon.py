"""A daemon module's ``insecure links``: rsync 3.5's administrator opt-out, beside rsync's daemon.

By default a symlink in a module never leads out of it, whoever planted it. A module
with ``insecure links = yes`` (served without chroot) follows its symlinks wherever they
lead, at every place a path is resolved (a ``--copy-dirlinks`` listing, an explicit
``mod/link/`` path in a pull or a push, ``-K``, ``--compare-dest``), as rsync did before
3.5; links a client uploads are still sanitized. A client can never ask for it: a daemon
refuses ``--insecure-links``. Each case runs against pyrsyncd and rsync's daemon on the
same rsyncd.conf, with real rsync as the client, and the outcomes must agree.
"""

from __future__ import annotations

import os
import subprocess
from typing import TYPE_CHECKING

import pytest

from harness.confd import ConfDaemons
from harness.daemon import LOOPBACK
from harness.ourd import pyrsyncd_argv

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from harness.tools import RealRsync

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(os.geteuid() != 0, reason="planting another user's symlink needs root"),
]

DAEMONS = ("ours", "rsync")
OUTSIDE_TEXT = "OUTSIDE-THE-MODULE\n"
PWNED = "WRITTEN-THROUGH-THE-LINK\n"
ATTACKER = 65534


@pytest.fixture
def start_conf(
    real_rsync: RealRsync, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[str, str], int]]:
    """``start_conf(daemon, body)`` starts a daemon on an rsyncd.conf; returns its port."""
    daemons = ConfDaemons(real_rsync, tmp_path_factory.mktemp("insecure"))
    yield lambda daemon, body: daemons.start(daemon, body, head=True)
    daemons.stop_all()


def _rsync(real_rsync: RealRsync, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        real_rsync.argv(*args), capture_output=True, text=True, timeout=120, check=False
    )


def _plant(link: Path, target: str) -> None:
    """A symlink another user owns (the threat: an attacker with write access inside)."""
    os.symlink(target, link)
    os.lchown(link, ATTACKER, ATTACKER)


def _modules(base: Path, *, writable: bool) -> str:
    """Two modules on one tree: ``safe`` (the default) and ``open`` (the opt-out)."""
    ro = "no" if writable else "yes"
    return (
        f"[safe]\npath = {base / 'mod'}\nread only = {ro}\n"
        f"[open]\npath = {base / 'mod'}\nread only = {ro}\ninsecure links = yes\n"
    )


def _tree(base: Path) -> None:
    (base / "mod" / "realdir").mkdir(parents=True)
    (base / "mod" / "realdir" / "tgtfile").write_text(OUTSIDE_TEXT)
    (base / "outside").mkdir()
    (base / "outside" / "tgtfile").write_text(OUTSIDE_TEXT)


def test_a_copy_dirlinks_pull_follows_only_with_the_opt_out(
    real_rsync: RealRsync, start_conf: Callable[[str, str], int], tmp_path: Path
) -> None:
    seen = {}
    for daemon in DAEMONS:
        base = tmp_path / daemon
        _tree(base)
        _plant(base / "mod" / "evil", "../outside")
        port = start_conf(daemon, _modules(base, writable=False))
        for module in ("safe", "open"):
            dest = base / f"dest-{module}"
            dest.mkdir()
            proc = _rsync(
                real_rsync,
                "-r",
                "--copy-dirlinks",
                f"rsync://{LOOPBACK}:{port}/{module}/",
                f"{dest}/",
            )
            through = dest / "evil" / "tgtfile"
            seen[daemon, module] = (proc.returncode, through.is_file())
    # rsync's opendir of the planted link fails (23); the opt-out lists what it leads to
    assert seen["ours", "safe"] == seen["rsync", "safe"] == (23, False)
    assert seen["ours", "open"] == seen["rsync", "open"] == (0, True)


def _vector(real_rsync: RealRsync, base: Path, url: str, vector: str) -> bool:
    """Run one way of reaching the planted ``evil`` link; whether it was followed."""
    if vector == "read-plain":  # a pull of mod/evil/
        dest = base / "dest"
        dest.mkdir()
        _rsync(real_rsync, "-r", f"{url}evil/", f"{dest}/")
        return (dest / "tgtfile").is_file()
    src = base / "src"
    src.mkdir()
    if vector == "write-plain":  # a push into mod/evil/
        (src / "pwned").write_text(PWNED)
        _rsync(real_rsync, "-r", f"{src}/", f"{url}evil/")
        return (base / "outside" / "pwned").is_file()
    if vector == "keep-dirlinks":  # a push of evil/pwned with -K
        (src / "evil").mkdir()
        (src / "evil" / "pwned").write_text(PWNED)
        _rsync(real_rsync, "-r", "--keep-dirlinks", f"{src}/", url)
        return (base / "outside" / "pwned").is_file()
    # --compare-dest=/evil: a push of a file the basis through the link already has is
    # skipped only when the daemon followed the link
    (src / "tgtfile").write_text(OUTSIDE_TEXT)
    _rsync(real_rsync, "-r", "--checksum", "--compare-dest=/evil", f"{src}/", url)
    return not (base / "mod" / "tgtfile").exists()


@pytest.mark.parametrize("vector", ["read-plain", "write-plain", "keep-dirlinks", "compare-dest"])
@pytest.mark.parametrize("module", ["safe", "open"])
def test_every_site_follows_the_link_only_with_the_opt_out(
    real_rsync: RealRsync,
    start_conf: Callable[[str, str], int],
    tmp_path: Path,
    module: str,
    vector: str,
) -> None:
    followed = {}
    for daemon in DAEMONS:
        base = tmp_path / daemon
        _tree(base)
        _plant(base / "mod" / "evil", str(base / "outside"))  # absolute, out of the module
        port = start_conf(daemon, _modules(base, writable=True))
        followed[daemon] = _vector(real_rsync, base, f"rsync://{LOOPBACK}:{port}/{module}/", vector)
        if vector != "read-plain":
            assert (base / "outside" / "tgtfile").read_text() == OUTSIDE_TEXT
    assert followed["ours"] == followed["rsync"] == (module == "open")


def test_an_uploaded_link_is_sanitized_even_with_the_opt_out(
    real_rsync: RealRsync, start_conf: Callable[[str, str], int], tmp_path: Path
) -> None:
    """Only links already on disk lead out: one a client uploads loses its leading ``..``."""
    stored = {}
    for daemon in DAEMONS:
        base = tmp_path / daemon
        _tree(base)
        body = (
            f"[open]\npath = {base / 'mod'}\nread only = no\ninsecure links = yes\n"
            "munge symlinks = no\n"
        )
        port = start_conf(daemon, body)
        up = base / "up"
        up.mkdir()
        os.symlink("../outside", up / "evil")
        proc = _rsync(real_rsync, "-rl", f"{up}/", f"rsync://{LOOPBACK}:{port}/open/")
        assert proc.returncode == 0, proc.stderr
        src = base / "src"
        src.mkdir()
        (src / "pwned").write_text(PWNED)
        _rsync(real_rsync, "-r", f"{src}/", f"rsync://{LOOPBACK}:{port}/open/evil/")
        stored[daemon] = (os.readlink(base / "mod" / "evil"), (base / "outside" / "pwned").exists())
    assert stored["ours"] == stored["rsync"]
    assert stored["ours"][1] is False


def test_a_client_cannot_ask_a_daemon_for_insecure_links(
    real_rsync: RealRsync, start_conf: Callable[[str, str], int], tmp_path: Path
) -> None:
    for daemon in DAEMONS:
        base = tmp_path / daemon
        _tree(base)
        _plant(base / "mod" / "evil", "../outside")
        port = start_conf(daemon, _modules(base, writable=False))
        dest = base / "dest"
        dest.mkdir()
        proc = _rsync(
            real_rsync,
            "-r",
            "--copy-dirlinks",
            "-M--insecure-links",
            f"rsync://{LOOPBACK}:{port}/safe/",
            f"{dest}/",
        )
        assert proc.returncode != 0
        assert "The server is configured to refuse --insecure-links" in proc.stderr
        assert not list(dest.iterdir())


def test_the_namespace_sandbox_cannot_serve_the_opt_out(tmp_path: Path) -> None:
    _tree(tmp_path)
    conf = tmp_path / "rsyncd.conf"
    conf.write_text(f"use chroot = no\n{_modules(tmp_path, writable=False)}")
    proc = subprocess.run(
        pyrsyncd_argv("--daemon", "--no-detach", f"--config={conf}", "--sandbox=namespace"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode != 0
    assert "module 'open': 'insecure links = yes' follows links anywhere" in proc.stderr
