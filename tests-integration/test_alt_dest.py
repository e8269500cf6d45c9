"""``--link-dest``, ``--copy-dest`` and ``--compare-dest`` give rsync's tree and output.

A "previous snapshot" directory holds some files unchanged, one with other permissions
and one with other contents; the transfer of the current tree with each option must give
the destination (and hard links into the snapshot) that rsync gives, with the same
itemized lines:

* pull: pyrsync (the receiver) from rsync's daemon, beside rsync pulling the same;
* upload: real rsync pushing into a pyrsyncd module, beside rsync's daemon.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

from harness.client import pyrsync_argv
from harness.compare import assert_trees_equal
from harness.daemon import DaemonModule
from harness.proc import run

if TYPE_CHECKING:
    from pathlib import Path

    from harness.daemon import RealDaemonFactory
    from harness.tools import RealRsync

pytestmark = pytest.mark.interop

T = 1_700_000_000


def _source(base: Path) -> Path:
    src = base / "src"
    (src / "d").mkdir(parents=True)
    for rel, text in (("same", "same\n"), ("d/same2", "same 2\n"), ("perm", "perm\n"),
                      ("changed", "new contents\n"), ("new", "brand new\n")):  # fmt: skip
        (src / rel).write_text(text)
        os.utime(src / rel, (T, T))
    os.chmod(src / "perm", 0o600)
    for d in (src / "d", src):
        os.utime(d, (T, T))
    return src


def _snapshot(base: Path) -> None:
    prev = base / "prev"
    (prev / "d").mkdir(parents=True)
    for rel, text in (("same", "same\n"), ("d/same2", "same 2\n"), ("perm", "perm\n"),
                      ("changed", "old contents!\n")):  # fmt: skip
        (prev / rel).write_text(text)
        os.utime(prev / rel, (T, T))
    os.chmod(prev / "perm", 0o644)
    for d in (prev / "d", prev):
        os.utime(d, (T - 100, T - 100))


def _links(dest: Path, prev: Path) -> set[str]:
    out = set()
    for p in dest.rglob("*"):
        q = prev / p.relative_to(dest)
        if p.is_file() and q.exists() and os.path.samefile(p, q):
            out.add(str(p.relative_to(dest)))
    return out


def _lines(out: str) -> list[str]:
    return sorted(ln for ln in out.splitlines() if ln and not ln.startswith(("sent ", "total ")))


KINDS = ["link-dest", "copy-dest", "compare-dest"]


@pytest.mark.parametrize("kind", KINDS)
def test_pull_with_a_basis_dir_equals_rsyncs(
    real_daemon: RealDaemonFactory, real_rsync: RealRsync, tmp_path: Path, kind: str
) -> None:
    src = _source(tmp_path)
    d = real_daemon([DaemonModule("src", src)])
    results = []
    for who, argv in (("ours", pyrsync_argv()), ("theirs", real_rsync.argv())):
        base = tmp_path / who
        _snapshot(base)
        dest = base / "new"
        code, out, err = run(
            [*argv, "-ai", f"--{kind}=../prev", d.url("src") + "/", str(dest) + "/"], timeout=60
        )
        assert code == 0, (who, err)
        results.append((_lines(out.replace(str(base), "BASE")), _links(dest, base / "prev")))
    assert_trees_equal(tmp_path / "ours", tmp_path / "theirs")
    assert results[0] == results[1]
    if kind == "link-dest":
        assert results[0][1] == {"same", "d/same2"}


@pytest.mark.parametrize("kind", KINDS)
def test_upload_with_a_basis_dir_equals_rsyncs(
    our_daemon: RealDaemonFactory,
    real_daemon: RealDaemonFactory,
    real_rsync: RealRsync,
    tmp_path: Path,
    kind: str,
) -> None:
    src = _source(tmp_path)
    results = []
    for who, factory in (("ours", our_daemon), ("theirs", real_daemon)):
        base = tmp_path / who
        _snapshot(base)
        d = factory([DaemonModule("up", base, read_only=False)])
        code, out, err = run(
            real_rsync.argv("-ai", f"--{kind}=../prev", str(src) + "/", d.url("up", "new") + "/"),
            timeout=60,
        )
        assert code == 0, (who, err)
        results.append((_lines(out), _links(base / "new", base / "prev")))
    assert_trees_equal(tmp_path / "ours", tmp_path / "theirs")
    assert results[0] == results[1]


@pytest.mark.parametrize("option", ["--link-dest", "--copy-dest", "--compare-dest"])
def test_specials_and_devices_from_a_basis_dir_as_rsync(
    tmp_path: Path, real_rsync: RealRsync, option: str
) -> None:
    """Fifos, symlinks, hard links (and devices, as root) found in the basis directory.

    rsync: generator.c try_dests_non().
    """
    src, prev = tmp_path / "src", tmp_path / "prev"
    for d in (src, prev):
        d.mkdir()
        os.mkfifo(d / "fifo")
        os.mkfifo(d / "fifo-perm", 0o600)
        if os.geteuid() == 0:
            os.mknod(d / "char", 0o600 | 0o020000, os.makedev(1, 3))
        os.symlink("target", d / "link")
        (d / "file").write_text("same\n")
        os.link(d / "file", d / "file-link")
    os.chmod(prev / "fifo-perm", 0o644)  # the same type, other permissions
    os.mkfifo(src / "fifo-new")
    for d in (src, prev):
        for entry in d.iterdir():
            os.utime(entry, (T, T), follow_symlinks=False)
    outputs = []
    for program in ("rsync", "pyrsync"):
        (tmp_path / program).mkdir()
        args = ["-aiiH", f"{option}={prev}", f"{src}/", "dest/"]
        argv = real_rsync.argv(*args) if program == "rsync" else pyrsync_argv(*args)
        result = run(argv, cwd=tmp_path / program)
        assert result.returncode == 0, result.describe()
        outputs.append(result.stdout.splitlines())
    assert outputs[1] == outputs[0]
    assert_trees_equal(tmp_path / "rsync" / "dest", tmp_path / "pyrsync" / "dest")
    if option == "--link-dest":
        linked = os.stat(tmp_path / "pyrsync" / "dest" / "fifo")
        assert linked.st_ino == os.stat(prev / "fifo").st_ino


@pytest.mark.parametrize("kind", ["compare-dest", "copy-dest", "link-dest"])
def test_a_basis_dir_linked_out_of_the_destination_as_rsync(
    real_rsync: RealRsync, tmp_path: Path, kind: str
) -> None:
    """A local copy with ``--KIND=snap``, ``dest/snap`` a link (owned by us) to a
    snapshot outside the destination: rsync follows it, and so does pyrsync, confined
    to what the command line names (the link's target was not readable under Landlock).
    """
    src = _source(tmp_path)
    _snapshot(tmp_path)
    results = []
    for who in ("real", "ours"):
        dest = tmp_path / who
        dest.mkdir()
        (dest / "snap").symlink_to(tmp_path / "prev")
        # made by the test in both trees, a second apart on a loaded machine: one time
        os.utime(dest / "snap", (T, T), follow_symlinks=False)
        args = ["-ai", f"--{kind}=snap", f"{src}/", f"{dest}/"]
        r = run(real_rsync.argv(*args) if who == "real" else pyrsync_argv(*args))
        assert r.returncode == 0, r.describe()
        results.append(sorted(line for line in r.stdout.splitlines() if line))
    assert results[1] == results[0]
    assert not (tmp_path / "ours" / "same").exists() or kind != "compare-dest"
    assert_trees_equal(tmp_path / "real", tmp_path / "ours")
