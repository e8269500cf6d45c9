"""``pyrsync --server`` and ``pyrsync --daemon`` reach pyrsyncd, as rsync's own command lines do."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import pytest

from harness.compare import assert_trees_equal
from harness.daemon import daemon_ready, list_modules, normalize_modules, render_rsyncd_conf
from harness.proc import run, start_service

if TYPE_CHECKING:
    from pathlib import Path

    from harness.shim import ShimFactory
    from harness.tools import RealRsync

pytestmark = pytest.mark.interop

PYRSYNC = [sys.executable, "-m", "rsync_client"]


def _tree(root: Path) -> Path:
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "a.txt").write_text("hello\n")
    (root / "b.bin").write_bytes(bytes(range(256)) * 1000)
    return root


@pytest.mark.parametrize("protocol", [29, 32])
def test_real_rsync_pulls_through_pyrsync_server(
    real_rsync: RealRsync, rsh_shim_factory: ShimFactory, tmp_path: Path, protocol: int
) -> None:
    src = _tree(tmp_path / "src")
    shim = rsh_shim_factory(PYRSYNC)
    dest = tmp_path / "dest"
    run(
        real_rsync.argv(
            "-a", f"--protocol={protocol}", "-e", str(shim), f"localhost:{src}/", str(dest)
        ),
        timeout=60,
    ).check()
    assert_trees_equal(src, dest)


def test_pyrsync_daemon_serves_rsync_clients(real_rsync: RealRsync, tmp_path: Path) -> None:
    src = _tree(tmp_path / "src")
    conf = tmp_path / "rsyncd.conf"
    conf.write_text(
        render_rsyncd_conf(
            normalize_modules({"pub": src}),
            log_file=tmp_path / "d.log",
            lock_file=tmp_path / "d.lock",
        )
    )
    service, port = start_service(
        lambda port: [
            *PYRSYNC,
            "--daemon",
            "--no-detach",
            f"--config={conf}",
            f"--port={port}",
            "--address=127.0.0.1",
        ],
        output=tmp_path / "out.log",
        ready=lambda _s, port: daemon_ready("127.0.0.1", port),
    )
    try:
        assert [m.split("\t")[0].strip() for m in list_modules("127.0.0.1", port)] == ["pub"]
        dest = tmp_path / "dest"
        run(real_rsync.argv("-a", f"rsync://127.0.0.1:{port}/pub/", str(dest)), timeout=60).check()
        assert_trees_equal(src, dest)
    finally:
        service.stop(grace=2.0)


def test_a_sending_server_adds_home_cvsignore_and_cvsignore_to_a_c_rule(
    real_rsync: RealRsync,
    rsh_shim_factory: ShimFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``-f-C`` sent by the client: the server expands it with its own $HOME and $CVSIGNORE.

    rsync: exclude.c get_cvs_excludes() (rsync's test exclude-lsh).
    """
    src = tmp_path / "src"
    src.mkdir()
    for name in ("keep.txt", "a.o", "b.junk", "home-listed"):
        (src / name).write_text(name)
    home = tmp_path / "home"
    home.mkdir()
    (home / ".cvsignore").write_text("home-listed\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("CVSIGNORE", "*.junk")
    trees = []
    for server in (real_rsync.argv(), PYRSYNC):
        shim = rsh_shim_factory(server)
        dest = tmp_path / f"dest-{len(trees)}"
        run(
            real_rsync.argv("-r", "-f-C", "-e", str(shim), f"localhost:{src}/", str(dest)),
            timeout=60,
        ).check()
        trees.append(sorted(p.name for p in dest.iterdir()))
    assert trees[0] == trees[1] == ["keep.txt"]


@pytest.mark.parametrize("program", ["pyrsync", "pyrsyncd"])
@pytest.mark.parametrize("direction", ["pull", "push"])
def test_secluded_args_from_real_rsync(
    real_rsync: RealRsync,
    rsh_shim_factory: ShimFactory,
    tmp_path: Path,
    program: str,
    direction: str,
) -> None:
    """``rsync -s``: the server reads the ``.`` and the paths from its standard input.

    rsync keeps the options on the remote command line (``--server -s...``) and sends the
    rest NUL-separated before the protocol starts; names with spaces and shell characters
    arrive as typed (rsync: main.c read_args(), pipe.c send_protected_args()).
    """
    src = tmp_path / "A weird)name $x"
    _tree(src)
    (src / "skip me").write_text("excluded\n")
    module = "rsync_client" if program == "pyrsync" else "rsync_daemon"
    shim = rsh_shim_factory([sys.executable, "-m", module], name=program)
    dest = tmp_path / "dest dir"
    tail = [f"lh:{src}/", f"{dest}/"] if direction == "pull" else [f"{src}/", f"lh:{dest}/"]
    r = run(real_rsync.argv("-as", "--exclude=skip me", "-e", str(shim), *tail))
    assert r.returncode == 0, r.stderr
    expected = tmp_path / "expected"
    r = run(real_rsync.argv("-a", "--exclude=skip me", f"{src}/", f"{expected}/"))
    assert r.returncode == 0, r.stderr
    assert_trees_equal(expected, dest)
    assert not (dest / "skip me").exists()
