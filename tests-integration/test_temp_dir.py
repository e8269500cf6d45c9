"""``-T``/``--temp-dir``: temporary files in another directory, renamed or copied into place.

Each scenario runs twice from the same starting point, once with ours and once with
rsync in the same seat; the destinations and the itemized lines must be equal, and the
temp dir must be empty afterwards:

* pull: pyrsync from rsync's daemon, a temp dir inside the destination and one on
  another filesystem (``/dev/shm``: the content is copied across);
* upload: real rsync pushing to pyrsyncd, beside rsync pushing to rsync's daemon;
* a local copy;
* the errors: a temp dir that does not exist or is not a directory (exit 1), one
  reached through ``..`` (every file fails, exit 23), with rsync's messages.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import tempfile
from typing import TYPE_CHECKING

import pytest

from harness.client import mask_error_location, pyrsync_argv
from harness.compare import assert_trees_equal
from harness.daemon import DaemonModule
from harness.proc import run

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from harness.daemon import RealDaemonFactory
    from harness.tools import RealRsync

pytestmark = pytest.mark.interop

OLD = 1_600_000_000


def _source(base: Path) -> Path:
    rng = random.Random(11)  # noqa: S311 - test data
    src = base / "src"
    (src / "d").mkdir(parents=True)
    (src / "big").write_bytes(rng.randbytes(300_000))
    (src / "a").write_text("new a\n")
    (src / "d" / "b").write_text("new b\n")
    (src / ".hidden").write_text("h\n")
    os.chmod(src / "a", 0o640)
    os.utime(src / "d", (OLD + 50, OLD + 50))
    os.utime(src, (OLD + 50, OLD + 50))
    return src


def _old_dest(dest: Path, src: Path) -> None:
    (dest / "d").mkdir(parents=True)
    old = bytearray((src / "big").read_bytes())
    old[1000:2000] = bytes(1000)
    (dest / "big").write_bytes(old)
    (dest / "a").write_text("old a\n")
    for p in (dest / "big", dest / "a", dest / "d"):
        os.utime(p, (OLD, OLD))
    os.utime(dest, (OLD, OLD))


def _lines(out: str) -> list[str]:
    return sorted(ln for ln in out.splitlines() if ln and not ln.startswith(("sent ", "total ")))


@pytest.fixture
def shm_dir() -> Iterator[Path]:
    """A directory on another filesystem than the tests' (tmpfs), removed afterwards."""
    from pathlib import Path

    if not os.path.isdir("/dev/shm"):
        pytest.skip("no /dev/shm")
    path = Path(tempfile.mkdtemp(prefix="pyrsync-tempdir-", dir="/dev/shm"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.mark.parametrize("where", ["inside", "other-fs"])
def test_pull_temp_dir_equals_rsyncs(
    real_daemon: RealDaemonFactory,
    real_rsync: RealRsync,
    tmp_path: Path,
    shm_dir: Path,
    where: str,
) -> None:
    src = _source(tmp_path)
    d = real_daemon([DaemonModule("src", src)])
    outs = []
    for who, argv in (("ours", pyrsync_argv()), ("theirs", real_rsync.argv())):
        dest = tmp_path / who
        _old_dest(dest, src)
        if where == "inside":
            (dest / ".tmp").mkdir()
            os.utime(dest, (OLD, OLD))
            tdir = ".tmp"
            tpath = dest / ".tmp"
        else:
            tpath = shm_dir / who
            tpath.mkdir()
            tdir = str(tpath)
            assert os.stat(tpath).st_dev != os.stat(dest).st_dev
        code, out, err = run(
            [*argv, "-ai", "--no-whole-file", f"--temp-dir={tdir}", d.url("src") + "/",
             str(dest) + "/"],
            timeout=60,
        )  # fmt: skip
        assert code == 0, (who, err)
        assert list(tpath.iterdir()) == [], who
        outs.append(_lines(out))
    assert_trees_equal(tmp_path / "ours", tmp_path / "theirs")
    assert_trees_equal(src, tmp_path / "ours", exclude=[".tmp"])
    assert outs[0] == outs[1]


def test_upload_temp_dir_equals_rsyncs(
    our_daemon: RealDaemonFactory,
    real_daemon: RealDaemonFactory,
    real_rsync: RealRsync,
    tmp_path: Path,
) -> None:
    src = _source(tmp_path)
    outs = []
    for who, factory in (("ours", our_daemon), ("theirs", real_daemon)):
        dest = tmp_path / who
        _old_dest(dest, src)
        (dest / ".tmp").mkdir()
        os.utime(dest, (OLD, OLD))
        d = factory([DaemonModule("up", dest, read_only=False)])
        code, out, err = run(
            real_rsync.argv("-ai", "--no-whole-file", "-T", ".tmp", str(src) + "/",
                            d.url("up") + "/"),
            timeout=60,
        )  # fmt: skip
        assert code == 0, (who, err)
        assert list((dest / ".tmp").iterdir()) == [], who
        outs.append(_lines(out))
    assert_trees_equal(tmp_path / "ours", tmp_path / "theirs")
    assert outs[0] == outs[1]


def test_local_temp_dir_on_another_filesystem(tmp_path: Path, shm_dir: Path) -> None:
    src = _source(tmp_path)
    dest = tmp_path / "dest"
    _old_dest(dest, src)
    code, _, err = run(pyrsync_argv("-a", "-T", shm_dir, f"{src}/", f"{dest}/"), timeout=60)
    assert code == 0, err
    assert_trees_equal(src, dest)
    assert list(shm_dir.iterdir()) == []


@pytest.mark.parametrize("tdir", ["missing", "../notadir", "../tmpd", "../tmpd/", "LINK"])
def test_bad_temp_dir_as_rsync(real_rsync: RealRsync, tmp_path: Path, tdir: str) -> None:
    src = _source(tmp_path)
    (tmp_path / "notadir").write_text("x\n")
    (tmp_path / "tmpd").mkdir()
    if tdir == "LINK":
        # a symlink another user owns on the way to the temp dir is not followed
        if os.geteuid() != 0:
            pytest.skip("giving a symlink to another user needs root")
        os.symlink("tmpd", tmp_path / "link")
        os.chown(tmp_path / "link", 65534, 65534, follow_symlinks=False)
        tdir = str(tmp_path / "link")
    results = []
    for who, argv in (("ours", pyrsync_argv()), ("theirs", real_rsync.argv())):
        dest = tmp_path / who
        dest.mkdir()
        result = run([*argv, "-r", "-T", tdir, f"{src}/", f"{dest}/"], timeout=60)
        err = mask_error_location(result.stderr).replace(str(dest), "DEST")
        results.append((result.returncode, sorted(err.splitlines())))
        assert list((tmp_path / "tmpd").iterdir()) == []
    assert results[0] == results[1]
    assert results[0][0] in (1, 23)


def test_module_temp_dir_equals_rsyncs(
    our_daemon: RealDaemonFactory,
    real_daemon: RealDaemonFactory,
    real_rsync: RealRsync,
    tmp_path: Path,
) -> None:
    """A module's ``temp dir`` (absolute: from the module's root) serves every upload."""
    src = _source(tmp_path)
    outs = []
    for who, factory in (("ours", our_daemon), ("theirs", real_daemon)):
        mod = tmp_path / who
        (mod / ".tmp").mkdir(parents=True)
        dest = mod / "dest"
        _old_dest(dest, src)
        d = factory([DaemonModule("up", mod, read_only=False, options={"temp dir": "/.tmp"})])
        code, out, err = run(
            real_rsync.argv("-ai", "--no-whole-file", str(src) + "/", d.url("up") + "/dest/"),
            timeout=60,
        )
        assert code == 0, (who, err)
        assert list((mod / ".tmp").iterdir()) == [], who
        outs.append(_lines(out))
    assert_trees_equal(tmp_path / "ours", tmp_path / "theirs")
    assert outs[0] == outs[1]


def test_module_temp_dir_missing_as_rsync(
    our_daemon: RealDaemonFactory,
    real_daemon: RealDaemonFactory,
    real_rsync: RealRsync,
    tmp_path: Path,
) -> None:
    src = _source(tmp_path)
    results = []
    for who, factory in (("ours", our_daemon), ("theirs", real_daemon)):
        mod = tmp_path / who
        mod.mkdir()
        d = factory([DaemonModule("up", mod, read_only=False, options={"temp dir": "/nope"})])
        result = run(real_rsync.argv("-a", str(src) + "/", d.url("up") + "/"), timeout=60)
        lines = [ln for ln in result.stderr.splitlines() if "temp-dir" in ln]
        # the module's path as the daemon sees it (pyrsyncd's is its mount in the sandbox)
        results.append(
            (result.returncode, [re.sub(r": /.*/nope$", ": MOD/nope", ln) for ln in lines])
        )
        assert list(mod.iterdir()) == [], who
    assert results[0] == results[1] == (1, ["The temp-dir does not exist: MOD/nope"])


@pytest.mark.parametrize("option", ["--temp-dir=tmpx", "--backup-dir=tmpx", "-T/tmpx/../tmpx"])
def test_dir_hidden_by_the_module_is_rejected_as_by_rsync(
    our_daemon: RealDaemonFactory,
    real_daemon: RealDaemonFactory,
    real_rsync: RealRsync,
    tmp_path: Path,
    option: str,
) -> None:
    src = _source(tmp_path)
    results = []
    for who, factory in (("ours", our_daemon), ("theirs", real_daemon)):
        mod = tmp_path / who
        (mod / "tmpx").mkdir(parents=True)
        d = factory([DaemonModule("up", mod, read_only=False, options={"exclude": "tmpx/"})])
        result = run(real_rsync.argv("-a", option, f"{src}/", d.url("up") + "/"), timeout=60)
        results.append((result.returncode, result.stderr.splitlines()[:1]))
        assert sorted(p.name for p in mod.iterdir()) == ["tmpx"], who
    assert (
        results[0] == results[1] == (4, ["rsync: Your options have been rejected by the server."])
    )
