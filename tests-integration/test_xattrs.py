"""``-X``: extended attributes in every role, compared with what rsync 3.5 does.

Each case runs the same command with rsync and with pyrsync on one end (or pyrsyncd as
the daemon) into two destinations: first into an empty one, then again after the source's
attributes changed (a long value replaced, one removed, one added) and the destination
got one of its own. Both destinations must end with the same attributes as the source,
and both runs' ``-i`` lines (the ``x`` column) must be the same.

Long values (over 32 bytes) travel as digests, and the receiving side asks for them; the
second run changes one so that the request and the reply are exercised on a file that is
not transferred again.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

from harness.client import pyrsync_argv
from harness.daemon import DaemonModule
from harness.proc import run

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from harness.daemon import RealDaemonFactory
    from harness.tools import RealRsync

pytestmark = pytest.mark.interop

MTIME = 1_300_000_000
LONG = b"L" * 100
PROTOCOLS = ["--protocol=30", "--protocol=32"]


def _xattrs_of(root: Path) -> dict[str, dict[str, bytes]]:
    """Every file's and directory's user attributes, by path relative to ``root``."""
    out: dict[str, dict[str, bytes]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [".", *dirnames, *filenames]:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            names = sorted(os.listxattr(path, follow_symlinks=False))
            out[rel] = {
                n: os.getxattr(path, n, follow_symlinks=False)
                for n in names
                if n.startswith("user.")
            }
    return out


def _fixed_times(root: Path) -> None:
    for dirpath, dirnames, filenames in os.walk(root, topdown=False):
        for name in [*dirnames, *filenames]:
            os.utime(os.path.join(dirpath, name), (MTIME, MTIME), follow_symlinks=False)
    os.utime(root, (MTIME, MTIME))


def _source(root: Path) -> Path:
    (root / "d").mkdir(parents=True)
    (root / "f").write_bytes(b"one\n")
    (root / "d" / "g").write_bytes(b"two\n")
    (root / "same").write_bytes(b"three\n")
    os.setxattr(root / "f", "user.small", b"short")
    os.setxattr(root / "f", "user.long", LONG)
    os.setxattr(root / "d", "user.dir", b"dv")
    os.setxattr(root / "d" / "g", "user.gone", b"bye")
    os.setxattr(root / "same", "user.long", LONG)  # the same list as f's long value alone
    os.setxattr(root / "same", "user.small", b"short")
    _fixed_times(root)
    return root


def _change(src: Path, dests: list[Path]) -> None:
    os.setxattr(src / "f", "user.long", b"M" * 70)  # a new long value, the file unchanged
    os.removexattr(src / "d" / "g", "user.gone")
    os.setxattr(src / "d" / "g", "user.new", LONG)
    for dest in dests:
        os.setxattr(dest / "same", "user.extra", b"mine")  # to be removed
    _fixed_times(src)


def _lines(out: str) -> list[str]:
    return sorted(
        line
        for line in out.splitlines()
        if line[:1] in "<>.ch*" and line[11:12] == " " and not line.startswith("created ")
    )


def _compare(
    tmp_path: Path,
    sync: Callable[[str, Path, Path], tuple[int, str, str]],
) -> None:
    """Run ``sync(who, src, dest)`` for both programs, twice, and compare."""
    src = _source(tmp_path / "src")
    dests = {who: tmp_path / f"dest-{who}" for who in ("rsync", "ours")}
    outputs: dict[str, list[list[str]]] = {"rsync": [], "ours": []}
    for round_ in range(2):
        if round_:
            _change(src, list(dests.values()))
        for who, dest in dests.items():
            code, out, err = sync(who, src, dest)
            assert code == 0, (who, round_, err)
            outputs[who].append(_lines(out))
            assert _xattrs_of(dest) == _xattrs_of(src), (who, round_)
    assert outputs["ours"] == outputs["rsync"]
    assert any(line.startswith(".f") and "x" in line[:11] for line in outputs["rsync"][1])


@pytest.mark.timeout(180)
@pytest.mark.parametrize("proto", PROTOCOLS)
def test_local_copy(real_rsync: RealRsync, tmp_path: Path, proto: str) -> None:
    def sync(who: str, src: Path, dest: Path) -> tuple[int, str, str]:
        args = ("-aXi", proto, f"{src}/", f"{dest}/")
        return run(real_rsync.argv(*args) if who == "rsync" else pyrsync_argv(*args))

    _compare(tmp_path, sync)


@pytest.mark.timeout(180)
@pytest.mark.parametrize("proto", PROTOCOLS)
def test_pull_from_rsync_daemon(
    real_daemon: RealDaemonFactory, real_rsync: RealRsync, tmp_path: Path, proto: str
) -> None:
    daemon = None

    def sync(who: str, src: Path, dest: Path) -> tuple[int, str, str]:
        nonlocal daemon
        if daemon is None:
            daemon = real_daemon([DaemonModule("m", src)])
        args = ("-aXi", proto, daemon.url("m") + "/", f"{dest}/")
        return run(real_rsync.argv(*args) if who == "rsync" else pyrsync_argv(*args))

    _compare(tmp_path, sync)


@pytest.mark.timeout(180)
@pytest.mark.parametrize("proto", PROTOCOLS)
@pytest.mark.parametrize("direction", ["pull", "push"])
def test_rsync_server_over_shim(
    real_rsync: RealRsync, rsh_shim: Path, tmp_path: Path, proto: str, direction: str
) -> None:
    def sync(who: str, src: Path, dest: Path) -> tuple[int, str, str]:
        remote = ("--rsync-path", str(real_rsync.path), "-e", str(rsh_shim))
        if direction == "pull":
            ends = (f"localhost:{src}/", f"{dest}/")
        else:
            ends = (f"{src}/", f"localhost:{dest}/")
        args = ("-aXi", proto, *remote, *ends)
        return run(real_rsync.argv(*args) if who == "rsync" else pyrsync_argv(*args))

    _compare(tmp_path, sync)


@pytest.mark.timeout(180)
@pytest.mark.parametrize("proto", PROTOCOLS)
@pytest.mark.parametrize("direction", ["pull", "push"])
def test_rsync_client_with_pyrsyncd(
    real_daemon: RealDaemonFactory,
    our_daemon: RealDaemonFactory,
    real_rsync: RealRsync,
    tmp_path: Path,
    proto: str,
    direction: str,
) -> None:
    daemons: dict[str, object] = {}

    def sync(who: str, src: Path, dest: Path) -> tuple[int, str, str]:
        factory = real_daemon if who == "rsync" else our_daemon
        if who not in daemons:
            if direction == "pull":
                module = DaemonModule("m", src)
            else:
                dest.mkdir(exist_ok=True)
                module = DaemonModule("m", dest, read_only=False)
            daemons[who] = factory([module])
        url = daemons[who].url("m")  # type: ignore[attr-defined]
        ends = (url + "/", f"{dest}/") if direction == "pull" else (f"{src}/", url + "/")
        return run(real_rsync.argv("-aXi", proto, *ends))

    _compare(tmp_path, sync)


def test_xattrs_capability_is_listed() -> None:
    code, out, err = run(pyrsync_argv("-VV"))
    assert code == 0, err
    assert '"xattrs": true' in out


def _fake_source(root: Path) -> Path:
    """Files whose owner and mode live in ``user.rsync.%stat``, as rsync's --fake-super."""
    (root / "d").mkdir(parents=True)
    (root / "owned").write_bytes(b"a\n")
    (root / "d" / "plain").write_bytes(b"b\n")
    (root / "d" / "secret").write_bytes(b"c\n")
    os.chmod(root / "d" / "secret", 0o600)
    os.setxattr(root / "owned", "user.rsync.%stat", b"100640 0,0 5000:5002")
    os.setxattr(root / "d", "user.rsync.%stat", b"40750 0,0 5001:5003")
    os.setxattr(root / "owned", "user.kept", b"k")
    os.symlink("plain", root / "d" / "link")  # a file holding the target on the other side
    os.mkfifo(root / "d" / "fifo")  # an empty file and its %stat record there
    _fixed_times(root)
    return root


def _all_xattrs(root: Path) -> dict[str, tuple[int, dict[str, bytes]]]:
    out = {}
    for rel, attrs in _xattrs_of(root).items():
        path = root / rel
        out[rel] = (os.lstat(path).st_mode, attrs, path.read_bytes() if path.is_file() else b"")
    return out


@pytest.mark.timeout(180)
@pytest.mark.parametrize("opts", [["-a"], ["-aX"], ["-a", "--chmod=a="]])
def test_fake_super_local_copy(real_rsync: RealRsync, tmp_path: Path, opts: list[str]) -> None:
    """--fake-super: the sender reads the records, the receiver writes them, as rsync."""
    src = _fake_source(tmp_path / "src")
    results = {}
    for who in ("rsync", "ours"):
        dest = tmp_path / f"dest-{who}"
        args = (*opts, "-i", "--fake-super", f"{src}/", f"{dest}/")
        code, out, err = run(real_rsync.argv(*args) if who == "rsync" else pyrsync_argv(*args))
        assert code == 0, (who, err)
        results[who] = (_all_xattrs(dest), _lines(out))
        again = tmp_path / f"again-{who}"  # and back: the records read as what they stand for
        args = ("-a", "-i", "--fake-super", f"{dest}/", f"{again}/")
        code, out, err = run(real_rsync.argv(*args) if who == "rsync" else pyrsync_argv(*args))
        assert code == 0, (who, err)
        results[who] += (_all_xattrs(again), _lines(out))
    assert results["ours"] == results["rsync"]
    assert results["ours"][0]["d/link"][2] == b"plain"
    assert results["ours"][0]["owned"][1]["user.rsync.%stat"].endswith(b"5000:5002")


@pytest.mark.timeout(180)
def test_fake_super_push_to_server(real_rsync: RealRsync, rsh_shim: Path, tmp_path: Path) -> None:
    """--fake-super pushing to a ``-M--fake-super`` server: rsync's and ours, from each client."""
    src = _fake_source(tmp_path / "src")
    ours = " ".join([*pyrsync_argv()[:2], f'"{pyrsync_argv()[2]}"'])
    results = {}
    for server, path in (("rsync", str(real_rsync.path)), ("ours", ours)):
        for who in ("rsync", "ours"):
            dest = tmp_path / f"dest-{who}-to-{server}"
            remote = ("-e", str(rsh_shim), "-M--fake-super", "--rsync-path", path)
            args = ("-a", "--fake-super", *remote, f"{src}/", f"localhost:{dest}/")
            code, _, err = run(real_rsync.argv(*args) if who == "rsync" else pyrsync_argv(*args))
            assert code == 0, (who, server, err)
            results[who, server] = _all_xattrs(dest)
    expected = results["rsync", "rsync"]
    assert expected["owned"][1]["user.rsync.%stat"] == b"100640 0,0 5000:5002"
    assert all(got == expected for got in results.values())


@pytest.mark.timeout(180)
def test_fake_super_module(
    real_daemon: RealDaemonFactory,
    our_daemon: RealDaemonFactory,
    real_rsync: RealRsync,
    tmp_path: Path,
) -> None:
    """A module with ``fake super = yes``: uploads are recorded, downloads read back, as rsync's."""
    src = _fake_source(tmp_path / "src")
    results = {}
    for who, factory in (("rsync", real_daemon), ("ours", our_daemon)):
        up = tmp_path / f"mod-{who}"
        up.mkdir()
        module = DaemonModule("m", up, read_only=False, options={"fake super": "yes"})
        daemon = factory([module])
        code, _, err = run(real_rsync.argv("-a", "--fake-super", f"{src}/", daemon.url("m") + "/"))
        assert code == 0, (who, err)
        back = tmp_path / f"back-{who}"
        code, _, err = run(real_rsync.argv("-a", "--fake-super", daemon.url("m") + "/", f"{back}/"))
        assert code == 0, (who, err)
        results[who] = (_all_xattrs(up), _all_xattrs(back))
    assert results["ours"] == results["rsync"]
    assert results["ours"][0]["owned"][1]["user.rsync.%stat"] == b"100640 0,0 5000:5002"
