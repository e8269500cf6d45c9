"""pyrsyncd's answers to mistakes and attacks: listing, unknown module, refusals, traversal,
hostile bytes, idle clients, and many clients at once.

Exit codes are compared with rsync's own daemon serving the same rsyncd.conf.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from typing import TYPE_CHECKING

import pytest

from harness.compare import assert_trees_equal, first_difference
from harness.daemon import DaemonModule, list_modules
from harness.proc import run

if TYPE_CHECKING:
    from pathlib import Path

    from harness.daemon import RealDaemonFactory
    from harness.tools import RealRsync

pytestmark = pytest.mark.interop

DAEMONS = ["our_daemon", "real_daemon"]


@pytest.fixture
def module_tree(tmp_path: Path) -> Path:
    """A module with a file, a subdirectory and symlinks that point out of the module."""
    mod = tmp_path / "mod"
    (mod / "sub").mkdir(parents=True)
    (mod / "sub" / "file.txt").write_text("inside\n")
    (tmp_path / "outside.txt").write_text("SECRET outside the module\n")
    (mod / "abs").symlink_to(tmp_path / "outside.txt")
    (mod / "rel").symlink_to("../outside.txt")
    (mod / "updir").symlink_to("..")
    return mod


def _modules(mod: Path) -> list[DaemonModule]:
    return [
        DaemonModule("mod", mod, comment="my module"),
        DaemonModule("hidden", mod, options={"list": "no"}),
        DaemonModule("rw", mod, read_only=False),
    ]


def _no_secret(dest: Path) -> None:
    __tracebackhide__ = True
    if not dest.exists():
        return
    for dirpath, _dirs, files in os.walk(dest):
        for name in files:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                with open(path, "rb") as fh:
                    assert b"SECRET" not in fh.read(), f"{path} holds data from outside the module"


@pytest.mark.parametrize("daemon_kind", DAEMONS)
def test_module_listing(
    request: pytest.FixtureRequest, real_rsync: RealRsync, module_tree: Path, daemon_kind: str
) -> None:
    daemon = request.getfixturevalue(daemon_kind)(_modules(module_tree))
    code, out, _ = run(real_rsync.argv(f"rsync://{daemon.host}:{daemon.port}/"))
    assert code == 0
    assert out.splitlines() == ["mod            \tmy module", "rw             \t"]
    assert [line.split("\t")[0].strip() for line in list_modules(daemon.host, daemon.port)] == [
        "mod",
        "rw",
    ]


def test_errors_match_rsync(
    our_daemon: RealDaemonFactory,
    real_daemon: RealDaemonFactory,
    real_rsync: RealRsync,
    module_tree: Path,
    tmp_path: Path,
) -> None:
    """Unknown module, upload to a read-only module, missing path: same codes as rsync."""
    ours = our_daemon(_modules(module_tree))
    theirs = real_daemon(_modules(module_tree))
    scenarios = {
        "unknown module": lambda d: [d.url("nope"), str(tmp_path / "x1")],
        "read-only upload": lambda d: ["-a", str(module_tree) + "/", d.url("mod")],
        "missing source": lambda d: ["-a", d.url("mod", "no/such/file"), str(tmp_path / "x2")],
        "hidden module by name": lambda d: ["-a", d.url("hidden", "sub/"), str(tmp_path / "x3")],
    }
    for what, argv in scenarios.items():
        c1, _o1, e1 = run(real_rsync.argv(*argv(ours)))
        c2, _o2, e2 = run(real_rsync.argv(*argv(theirs)))
        assert c1 == c2, f"{what}: ours {c1} ({e1.strip()}), rsync {c2} ({e2.strip()})"
        if what == "unknown module":
            assert "@ERROR: Unknown module 'nope'" in e1
        if what == "read-only upload":
            assert "module is read only" in e1


def test_refused_option_is_named(
    our_daemon: RealDaemonFactory, real_rsync: RealRsync, module_tree: Path, tmp_path: Path
) -> None:
    # -A is implemented now: the module refuses it (no forwarded option is unimplemented)
    daemon = our_daemon([DaemonModule("mod", module_tree, options={"refuse options": "acls"})])
    code, _, err = run(real_rsync.argv("-aA", daemon.url("mod"), str(tmp_path / "d")))
    assert code != 0
    assert "acls" in err


def test_module_refuse_options(
    our_daemon: RealDaemonFactory, real_rsync: RealRsync, module_tree: Path, tmp_path: Path
) -> None:
    daemon = our_daemon([DaemonModule("mod", module_tree, options={"refuse options": "checksum"})])
    code, _, err = run(real_rsync.argv("-ac", daemon.url("mod"), str(tmp_path / "d")))
    assert code != 0
    assert "checksum" in err
    assert not (tmp_path / "d" / "sub").exists()


@pytest.mark.parametrize("daemon_kind", DAEMONS)
def test_path_traversal_stays_inside(
    request: pytest.FixtureRequest,
    real_rsync: RealRsync,
    module_tree: Path,
    tmp_path: Path,
    daemon_kind: str,
) -> None:
    daemon = request.getfixturevalue(daemon_kind)(_modules(module_tree))
    attempts = [
        ["-a", daemon.url("mod", "../outside.txt")],
        ["-a", daemon.url("mod", "sub/../../outside.txt")],
        ["-a", daemon.url("mod", "updir/outside.txt")],
        ["-aL", daemon.url("mod", "abs")],
        ["-aL", daemon.url("mod", "rel")],
        ["-aL", daemon.url("mod")],
        ["-a", "--copy-unsafe-links", daemon.url("mod")],
        ["-aK", daemon.url("mod", "updir/")],
    ]
    for i, argv in enumerate(attempts):
        dest = tmp_path / f"d{i}"
        run(real_rsync.argv(*argv, str(dest)), timeout=60)
        _no_secret(dest)


def test_daemon_never_modifies_the_module(
    our_daemon: RealDaemonFactory, real_rsync: RealRsync, module_tree: Path, tmp_path: Path
) -> None:
    before = {p: os.lstat(p) for p in module_tree.rglob("*")}
    daemon = our_daemon(_modules(module_tree))
    run(real_rsync.argv("-a", "--delete", str(tmp_path) + "/", daemon.url("mod")))
    run(real_rsync.argv("-a", "--remove-source-files", daemon.url("mod"), str(tmp_path / "d")))
    after = {p: os.lstat(p) for p in module_tree.rglob("*")}
    assert set(before) == set(after)
    for path, st in before.items():
        assert (st.st_mtime_ns, st.st_size, st.st_mode) == (
            after[path].st_mtime_ns,
            after[path].st_size,
            after[path].st_mode,
        ), path


def _raw(host: str, port: int, payload: bytes, *, read_for: float = 3.0) -> bytes:
    with socket.create_connection((host, port), timeout=read_for) as sock:
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        deadline = time.monotonic() + read_for
        while time.monotonic() < deadline:
            try:
                data = sock.recv(65536)
            except TimeoutError:
                break
            if not data:
                break
            chunks.append(data)
        return b"".join(chunks)


def test_hostile_input_ends_only_that_connection(
    our_daemon: RealDaemonFactory, real_rsync: RealRsync, module_tree: Path, tmp_path: Path
) -> None:
    daemon = our_daemon(_modules(module_tree))
    greeting = b"@RSYNCD: 32.0 sha512 sha256 sha1 md5 md4\n"
    hostile = [
        b"GET / HTTP/1.1\r\n\r\n",
        b"\x00" * 10000,
        greeting + b"A" * 100_000,  # a module line that never ends
        greeting + b"mod\n" + b"--server\0--sender\0-r\0.\0mod/\0\0" + os.urandom(5000),
        greeting
        + b"mod\n"
        + b"--server\0--sender\0-r\0.\0mod/\0\0"
        + b"\xff\xff\xff\x7f"
        + b"x" * 100,  # absurd filter-rule length
        greeting + b"mod\n" + b"--server\0--bogus-option\0.\0mod/\0\0",
        greeting + b"mod\n" + b"--server\0" * 5000,
        b"@RSYNCD: 31.0\n#early_input=99999\n",
    ]
    for payload in hostile:
        reply = _raw(daemon.host, daemon.port, payload)
        assert reply.startswith(b"@RSYNCD: 32.0"), reply[:200]
    # The daemon still serves a normal client afterwards.
    dest = tmp_path / "dest"
    code, _, err = run(real_rsync.argv("-a", daemon.url("mod", "sub/"), str(dest)))
    assert code == 0, err
    assert (dest / "file.txt").read_text() == "inside\n"
    assert "protocol startup error" in daemon.log() or "bad greeting" in daemon.log()


def test_idle_client_times_out(our_daemon: RealDaemonFactory, module_tree: Path) -> None:
    daemon = our_daemon(_modules(module_tree), global_options={"timeout": "2"})
    start = time.monotonic()
    with socket.create_connection((daemon.host, daemon.port), timeout=30) as sock:
        assert sock.recv(100).startswith(b"@RSYNCD:")
        while sock.recv(4096):
            pass
    assert time.monotonic() - start < 15


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_many_clients_and_a_killed_one(
    our_daemon: RealDaemonFactory, real_rsync: RealRsync, tmp_path: Path
) -> None:
    """16 clients fetch the same 128 MiB file at once; one killed mid-transfer disturbs nobody.

    PYRSYNC_IT_CONCURRENT_MIB changes the size (default 128: the killed client, held to 20 MB/s,
    is killed after half a second, well before its end).
    """
    size_mib = int(os.environ.get("PYRSYNC_IT_CONCURRENT_MIB", "128"))
    src = tmp_path / "src"
    src.mkdir()
    with open(src / "big.bin", "wb") as fh:
        block = os.urandom(1 << 20)
        for i in range(size_mib):
            fh.write(block[i % 4096 :] + block[: i % 4096])
    daemon = our_daemon({"big": src})
    procs = []
    for i in range(16):
        dest = tmp_path / f"d{i}"
        procs.append(
            subprocess.Popen(
                real_rsync.argv(
                    "-a", "--bwlimit=20m" if i == 0 else "-q", daemon.url("big"), str(dest)
                ),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
        )
    time.sleep(0.5)
    procs[0].kill()
    for i, proc in enumerate(procs):
        _, err = proc.communicate(timeout=600)
        if i:
            assert proc.returncode == 0, err.decode()
            assert first_difference(src / "big.bin", tmp_path / f"d{i}" / "big.bin") is None
            shutil.rmtree(tmp_path / f"d{i}")
    dest = tmp_path / "after"
    code, _, err = run(real_rsync.argv("-a", daemon.url("big"), str(dest)), timeout=120)
    assert code == 0, err
    assert_trees_equal(src, dest)


@pytest.mark.parametrize("daemon_kind", DAEMONS)
@pytest.mark.parametrize("protocol", [29, 32])
def test_file_vanishing_during_transfer(
    request: pytest.FixtureRequest,
    real_rsync: RealRsync,
    tmp_path: Path,
    daemon_kind: str,
    protocol: int,
) -> None:
    """A listed file deleted before its turn: a warning, exit 24, the rest complete."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "a_big.bin").write_bytes(os.urandom(24 << 20))
    (src / "b_gone.txt").write_text("soon gone\n")
    (src / "c_kept.txt").write_text("kept\n")
    daemon = request.getfixturevalue(daemon_kind)({"src": src})
    dest = tmp_path / "dest"
    proc = subprocess.Popen(
        real_rsync.argv(
            "-a", "--bwlimit=8m", f"--protocol={protocol}", daemon.url("src"), str(dest)
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    # Wait until the big file is being received (its temporary file exists): the list is
    # sent, and the sender is held back by --bwlimit before it reaches the next file.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if dest.is_dir() and any(p.name.startswith(".a_big.bin.") for p in dest.iterdir()):
            break
        time.sleep(0.02)
    (src / "b_gone.txt").unlink()
    out, err = proc.communicate(timeout=60)
    # Below protocol 30 the sender has no way to tell the client (rsync's own daemon neither).
    assert proc.returncode == (24 if protocol >= 30 else 0), err.decode()
    assert b"vanished" in out + err  # below protocol 30 a warning arrives as MSG_INFO
    assert (dest / "c_kept.txt").read_text() == "kept\n"
    assert first_difference(src / "a_big.bin", dest / "a_big.bin") is None
