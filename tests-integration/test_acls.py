"""``-A``: POSIX ACLs in every role, compared with what rsync 3.5 does.

Each case runs the same command with rsync and with pyrsync on one end (or pyrsyncd as
the daemon) into two destinations: first into an empty one, then again after the source's
ACLs changed (a named entry added to a file, a directory's default ACL removed, a file's
extended entries removed) and the destination got an ACL of its own on an unchanged file.
Both destinations must end with the ACLs of the source (the kernel's attributes compared
byte for byte), and both runs' ``-i`` lines (the ``a`` column) must be the same.

The source names users and groups that exist here (root, nobody) and ids that have no
name (so a receiver keeps the number), and has a directory with a default ACL, a file
sharing another's ACL (sent once, then by index) and a FIFO with an ACL (``--specials``).
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
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

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(shutil.which("setfacl") is None, reason="setfacl (package acl) missing"),
]

MTIME = 1_300_000_000
PROTOCOLS = ["--protocol=30", "--protocol=32"]
ACCESS = "system.posix_acl_access"
DEFAULT = "system.posix_acl_default"
FAKE_ACCESS = "user.rsync.%aacl"
FAKE_DEFAULT = "user.rsync.%dacl"


def _setfacl(*args: str | Path) -> None:
    subprocess.run(["setfacl", *map(str, args)], check=True)


def _get(path: str, name: str) -> bytes | None:
    try:
        return os.getxattr(path, name, follow_symlinks=False)
    except OSError:
        return None


def _acls_of(root: Path, names: tuple[str, ...] = (ACCESS, DEFAULT)) -> dict[str, object]:
    """Every entry's mode and ACL attributes, by path relative to ``root``."""
    out: dict[str, object] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [".", *dirnames, *filenames]:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                continue
            out[rel] = (stat.S_IMODE(st.st_mode), *(_get(path, n) for n in names))
    return out


def _fixed_times(root: Path) -> None:
    for dirpath, dirnames, filenames in os.walk(root, topdown=False):
        for name in [*dirnames, *filenames]:
            os.utime(os.path.join(dirpath, name), (MTIME, MTIME), follow_symlinks=False)
    os.utime(root, (MTIME, MTIME))


def _source(root: Path) -> Path:
    (root / "d" / "sub").mkdir(parents=True)
    (root / "plain").mkdir()
    for rel in ("f", "twin", "same", "d/g", "d/sub/h", "none"):
        (root / rel).write_bytes(rel.encode() + b"\n")
    _setfacl("-m", "u:nobody:rw,u:4321:r,g:nogroup:r,g:4322:rw", root / "f")
    _setfacl("-m", "u:nobody:rw,u:4321:r,g:nogroup:r,g:4322:rw", root / "twin")
    _setfacl("-m", "u:0:rx,m::r", root / "d" / "g")  # a mask narrower than the entry
    _setfacl("-m", "u:4323:rwx,d:u:4323:rx,d:g:0:r,d:o::-", root / "d")
    _setfacl("-m", "d:u:nobody:rwx", root / "d" / "sub")
    _setfacl("-m", "g:4324:x", root / "plain")
    os.mkfifo(root / "fifo", 0o640)
    _setfacl("-m", "u:4325:rw", root / "fifo")
    os.symlink("f", root / "link")
    os.link(root / "twin", root / "d" / "twin-link")  # a hard-link follower carries its ACL
    _fixed_times(root)
    return root


def _change(src: Path, dests: list[Path]) -> None:
    _setfacl("-m", "u:4326:rwx", src / "f")  # a file unchanged but for its ACL
    _setfacl("-k", src / "d")  # the default ACL removed
    _setfacl("-b", src / "d" / "g")  # back to the mode alone
    for dest in dests:
        _setfacl("-m", "u:4327:r", dest / "same")  # to be removed
        os.utime(dest / "same", (MTIME, MTIME))
    _fixed_times(src)


def _lines(out: str) -> list[str]:
    return sorted(
        line
        for line in out.splitlines()
        if line[:1] in "<>.ch*" and line[11:12] == " " and not line.startswith("created ")
    )


def _compare(
    tmp_path: Path, sync: Callable[[str, Path, Path], tuple[int, str, str]], *, rounds: int = 2
) -> dict[str, list[list[str]]]:
    """Run ``sync(who, src, dest)`` for both programs, twice, and compare."""
    src = _source(tmp_path / "src")
    dests = {who: tmp_path / f"dest-{who}" for who in ("rsync", "ours")}
    outputs: dict[str, list[list[str]]] = {"rsync": [], "ours": []}
    for round_ in range(rounds):
        if round_:
            _change(src, list(dests.values()))
        for who, dest in dests.items():
            code, out, err = sync(who, src, dest)
            assert code == 0, (who, round_, err)
            outputs[who].append(_lines(out))
            assert _acls_of(dest) == _acls_of(src), (who, round_)
    assert outputs["ours"] == outputs["rsync"]
    if rounds > 1:
        changed = {line[12:] for line in outputs["rsync"][1] if line[9] == "a"}
        assert {"f", "d/", "d/g", "same"} <= changed, outputs["rsync"][1]
    return outputs


OPTION_SETS = [
    ["-aAi", "--specials"],
    ["-aAi", "--numeric-ids"],
    ["-aAi", "--no-inc-recursive"],
    ["-aAiH"],
]


@pytest.mark.timeout(180)
@pytest.mark.parametrize("proto", PROTOCOLS)
@pytest.mark.parametrize("opts", OPTION_SETS, ids=lambda o: o[-1])
def test_local_copy(real_rsync: RealRsync, tmp_path: Path, proto: str, opts: list[str]) -> None:
    def sync(who: str, src: Path, dest: Path) -> tuple[int, str, str]:
        args = (*opts, proto, f"{src}/", f"{dest}/")
        return run(real_rsync.argv(*args) if who == "rsync" else pyrsync_argv(*args))

    _compare(tmp_path, sync)


@pytest.mark.timeout(180)
@pytest.mark.parametrize("proto", PROTOCOLS)
@pytest.mark.parametrize("opts", OPTION_SETS[:2], ids=lambda o: o[-1])
def test_pull_from_rsync_daemon(
    real_daemon: RealDaemonFactory,
    real_rsync: RealRsync,
    tmp_path: Path,
    proto: str,
    opts: list[str],
) -> None:
    daemon = None

    def sync(who: str, src: Path, dest: Path) -> tuple[int, str, str]:
        nonlocal daemon
        if daemon is None:
            daemon = real_daemon([DaemonModule("m", src)])
        args = (*opts, proto, daemon.url("m") + "/", f"{dest}/")
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
        args = ("-aAi", "--specials", proto, *remote, *ends)
        return run(real_rsync.argv(*args) if who == "rsync" else pyrsync_argv(*args))

    _compare(tmp_path, sync)


@pytest.mark.timeout(180)
@pytest.mark.parametrize("proto", PROTOCOLS)
@pytest.mark.parametrize("direction", ["pull", "push"])
@pytest.mark.parametrize("client", ["rsync", "pyrsync"])
def test_pyrsyncd(
    real_daemon: RealDaemonFactory,
    our_daemon: RealDaemonFactory,
    real_rsync: RealRsync,
    tmp_path: Path,
    proto: str,
    direction: str,
    client: str,
) -> None:
    """rsync (or pyrsync) against pyrsyncd, beside rsync against rsync's daemon."""
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
        args = ("-aAi", "--specials", proto, *ends)
        if client == "pyrsync" and who == "ours":
            return run(pyrsync_argv(*args))
        return run(real_rsync.argv(*args))

    _compare(tmp_path, sync)


def test_acls_capability_is_listed() -> None:
    code, out, err = run(pyrsync_argv("-VV"))
    assert code == 0, err
    assert '"ACLs": true' in out
    assert '"ACL_at": true' in out


@pytest.mark.timeout(180)
def test_fake_super_records(real_rsync: RealRsync, rsh_shim: Path, tmp_path: Path) -> None:
    """``-M--fake-super``: the ACLs go into rsync's %aacl/%dacl records, and back out."""
    src = _source(tmp_path / "src")
    ours = " ".join([*pyrsync_argv()[:2], f'"{pyrsync_argv()[2]}"'])
    fake = (FAKE_ACCESS, FAKE_DEFAULT)
    results: dict[tuple[str, str], object] = {}
    for server, path in (("rsync", str(real_rsync.path)), ("ours", ours)):
        for who in ("rsync", "ours"):
            dest = tmp_path / f"dest-{who}-to-{server}"
            back = tmp_path / f"back-{who}-to-{server}"
            remote = ("-e", str(rsh_shim), "-M--fake-super", "--rsync-path", path)
            argv = real_rsync.argv if who == "rsync" else pyrsync_argv
            code, _, err = run(argv("-aA", *remote, f"{src}/", f"localhost:{dest}/"))
            assert code == 0, (who, server, err)
            # and read back by a --fake-super sender (the receiver records them again)
            code, _, err = run(argv("-aA", "--fake-super", f"{dest}/", f"{back}/"))
            assert code == 0, (who, server, err)
            results[who, server] = (_acls_of(dest, fake), _acls_of(back, fake))
    expected = results["rsync", "rsync"]
    assert all(got == expected for got in results.values())
    recorded = expected[0]  # type: ignore[index]
    assert recorded["f"][1] is not None  # an access record
    assert recorded["d"][2] is not None  # a default record
    assert expected[1] == expected[0]  # type: ignore[index]


@pytest.mark.timeout(120)
def test_protocol_29_refuses_acls(real_rsync: RealRsync, rsh_shim: Path, tmp_path: Path) -> None:
    """Below protocol 30 ``-A`` fails as rsync's does (rsync: compat.c setup_protocol())."""
    src = _source(tmp_path / "src")
    results = {}
    for who in ("rsync", "ours"):
        args = ("-aA", "--protocol=29", "-e", str(rsh_shim), f"{src}/")
        argv = real_rsync.argv if who == "rsync" else pyrsync_argv
        code, _, err = run(argv(*args, f"localhost:{tmp_path / who}/"))
        results[who] = (code, [ln for ln in err.splitlines() if "protocol" in ln][:1])
    assert results["ours"] == results["rsync"]
    assert results["rsync"][0] == 2, results


@pytest.mark.timeout(180)
@pytest.mark.parametrize("umask", ["077", "022"])
def test_new_entries_take_the_default_acl(
    real_rsync: RealRsync, tmp_path: Path, umask: str
) -> None:
    """Without ``-p`` a new entry's permissions come from its directory's default ACL.

    rsync: acls.c default_perms_for_dir() (with or without ``-A``).
    """
    src = tmp_path / "src"
    (src / "dir").mkdir(parents=True)
    (src / "file").write_bytes(b"f\n")
    (src / "program").write_bytes(b"#!/bin/sh\n")
    os.chmod(src / "dir", 0o777)  # noqa: S103 - what a default ACL then narrows
    os.chmod(src / "file", 0o666)  # noqa: S103
    os.chmod(src / "program", 0o777)  # noqa: S103
    results = {}
    for who in ("rsync", "ours"):
        top = tmp_path / who
        (top / "masked").mkdir(parents=True)
        (top / "plain").mkdir()
        _setfacl("-m", "d:u::7,d:g::7,d:o:5", top)
        _setfacl("-m", "d:u::7,d:u:0:7,d:g::7,d:m:5,d:o:0", top / "masked")
        _setfacl("-k", top / "plain")
        for sub in ("", "masked", "plain"):
            argv = real_rsync.argv if who == "rsync" else pyrsync_argv
            args = ("-r", f"{src}/dir", f"{src}/file", f"{src}/program", f"{top / sub}/to/")
            code, _, err = run(["sh", "-c", f'umask {umask}; exec "$@"', "sh", *argv(*args)])
            assert code == 0, (who, err)
        results[who] = {
            rel: mode
            for rel, (mode, *_acls) in _acls_of(top).items()  # type: ignore[misc]
        }
    assert results["ours"] == results["rsync"]
    assert results["ours"]["to/file"] == 0o664
    assert results["ours"]["masked/to/file"] == 0o640


@pytest.mark.timeout(180)
def test_fake_super_local_copy(real_rsync: RealRsync, tmp_path: Path) -> None:
    """``-M--fake-super`` reaches a local copy's receiving side, as rsync's forked server."""
    src = _source(tmp_path / "src")
    fake = (FAKE_ACCESS, FAKE_DEFAULT)
    results = {}
    for who in ("rsync", "ours"):
        dest = tmp_path / f"dest-{who}"
        argv = real_rsync.argv if who == "rsync" else pyrsync_argv
        code, out, err = run(argv("-aAi", "-M--fake-super", f"{src}/", f"{dest}/"))
        assert code == 0, (who, err)
        results[who] = (_acls_of(dest, (ACCESS, *fake)), _lines(out))
    assert results["ours"] == results["rsync"]
    assert results["ours"][0]["f"][2] is not None  # type: ignore[index]
    assert results["ours"][0]["f"][1] is None  # no real ACL: a record  # type: ignore[index]


@pytest.mark.timeout(120)
@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a ramfs needs root")
def test_file_system_without_acls(real_rsync: RealRsync, tmp_path: Path) -> None:
    """A destination without ACL support: rsync's messages (temporary names masked), exit 23."""
    src = _source(tmp_path / "src")
    mnt = tmp_path / "ramfs"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "ramfs", "ramfs", str(mnt)], check=True)
    try:
        results = {}
        for who in ("rsync", "ours"):
            argv = real_rsync.argv if who == "rsync" else pyrsync_argv
            code, _, err = run(argv("-rA", f"{src}/", f"{mnt / who}/"))
            lines = sorted(
                re.sub(r"\.[^/(,]+\.[A-Za-z0-9]{6},", ".TMP,", ln)
                for ln in err.splitlines()
                if "set_acl" in ln
            )
            results[who] = (code, lines)
    finally:
        subprocess.run(["umount", str(mnt)], check=True)
    assert results["ours"] == results["rsync"]
    assert results["rsync"][0] == 23


@pytest.mark.timeout(180)
def test_fake_super_module(
    real_daemon: RealDaemonFactory,
    our_daemon: RealDaemonFactory,
    real_rsync: RealRsync,
    tmp_path: Path,
) -> None:
    """A module with ``fake super = yes``: uploaded ACLs become records, and come back."""
    src = _source(tmp_path / "src")
    fake = (ACCESS, FAKE_ACCESS, FAKE_DEFAULT)
    results = {}
    for who, factory in (("rsync", real_daemon), ("ours", our_daemon)):
        up = tmp_path / f"mod-{who}"
        up.mkdir()
        module = DaemonModule("m", up, read_only=False, options={"fake super": "yes"})
        daemon = factory([module])
        code, out, err = run(real_rsync.argv("-aAi", f"{src}/", daemon.url("m") + "/"))
        assert code == 0, (who, err)
        back = tmp_path / f"back-{who}"
        code, _, err = run(real_rsync.argv("-aA", daemon.url("m") + "/", f"{back}/"))
        assert code == 0, (who, err)
        results[who] = (_acls_of(up, fake), _lines(out), _acls_of(back))
    assert results["ours"] == results["rsync"]
    assert results["ours"][2] == _acls_of(src)


def _sticky_source(root: Path) -> Path:
    """Sticky directories with a named entry: one with a user xattr, one without."""
    for name in ("xattr", "bare", "default"):
        (root / name).mkdir(parents=True)
        os.chmod(root / name, 0o1777)  # noqa: S103 - the sticky bit going on is the case
        _setfacl("-m", "u:0:rwx", root / name)
    _setfacl("-m", "d:u:0:rwx", root / "default")
    os.setxattr(root / "xattr", "user.case", b"sticky")
    os.setxattr(root / "default", "user.case", b"sticky+default")
    _fixed_times(root)
    return root


@pytest.mark.timeout(180)
@pytest.mark.parametrize("where", ["local", "rsync-daemon", "pyrsyncd"])
def test_sticky_directory_with_xattrs(
    real_daemon: RealDaemonFactory,
    our_daemon: RealDaemonFactory,
    real_rsync: RealRsync,
    tmp_path: Path,
    where: str,
) -> None:
    """``-aAX``: a new sticky directory's owning group keeps its access when it has xattrs.

    Setting the ACL while the sticky bit goes on leaves the group none (the mode set after
    it gives the mask); an item with xattrs goes on to the receiver, which sets the
    attributes again, ACL included, now that the bit is on: the group gets the mode's.
    Without xattrs that second pass does not happen and the group stays without access.

    rsync: acls.c change_sacl_perms(); receiver.c recv_files() (ITEM_REPORT_XATTR,
    set_file_attrs()).
    """
    src = _sticky_source(tmp_path / "src")
    results = {}
    for who in ("rsync", "ours"):
        dest = tmp_path / f"dest-{who}"
        args: tuple[str, ...] = ("-aAXi", f"{src}/", f"{dest}/")
        if where == "local":
            argv = real_rsync.argv(*args) if who == "rsync" else pyrsync_argv(*args)
        elif where == "rsync-daemon":  # pyrsync receiving from rsync's daemon
            url = real_daemon([DaemonModule("m", src)]).url("m")
            args = ("-aAXi", url + "/", f"{dest}/")
            argv = real_rsync.argv(*args) if who == "rsync" else pyrsync_argv(*args)
        else:  # rsync uploading to pyrsyncd (or to its own daemon)
            dest.mkdir()
            factory = real_daemon if who == "rsync" else our_daemon
            url = factory([DaemonModule("m", dest, read_only=False)]).url("m")
            argv = real_rsync.argv("-aAXi", f"{src}/", url + "/")
        code, _, err = run(argv)
        assert code == 0, (who, err)
        results[who] = _acls_of(dest)
    assert results["ours"] == results["rsync"]
    got = subprocess.run(
        ["getfacl", "-cp", "xattr", "bare"],
        cwd=tmp_path / "dest-ours",
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\n\n")
    assert "group::rwx" in got[0].splitlines(), got  # the second pass gave it
    assert "group::---" in got[1].splitlines(), got  # no xattrs: no second pass
