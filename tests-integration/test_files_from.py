"""``--files-from`` in every direction, beside rsync.

Each scenario runs the same command line with real rsync and with pyrsync in the same
seat, from identical trees; the destinations, the itemized lines and the exit codes must be
equal:

* local copies from a list file, from standard input (``-``) and NUL-separated (``-0``):
  the names are relative to the one source directory (a leading ``/`` and ``..`` cannot
  leave it), comment lines are skipped, ``-a`` does not recurse into listed directories
  and ``-r`` does, ``/./`` marks the part that is kept;
* a source directory that does not exist (exit 3), two sources (exit 1);
* a pull and a push with a local list, and with the list on the remote side
  (``host:FILE``), rsync or pyrsync serving over a remote shell; a local list forwarded
  to a sending server keeps its comment lines, as rsync's does.
"""

from __future__ import annotations

import os
import shutil
import sys
from typing import TYPE_CHECKING

import pytest

from harness.client import pyrsync_argv
from harness.compare import assert_trees_equal
from harness.proc import run

if TYPE_CHECKING:
    from pathlib import Path

    from harness.shim import ShimFactory
    from harness.tools import RealRsync

pytestmark = pytest.mark.interop

OLD = 1_600_000_000
NAMES = ["one", "d", "/d/e/three", "../d/two", "# a comment", "; another", "x/./y/z"]


def _source(base: Path) -> Path:
    src = base / "src"
    for d in ("d/e", "x/y", "skip"):
        (src / d).mkdir(parents=True)
    for name in ("one", "d/two", "d/e/three", "d/e/four", "x/y/z", "skip/no", "# a comment"):
        (src / name).write_text(name + "\n")
    for p in sorted(src.rglob("*"), reverse=True):
        os.utime(p, (OLD, OLD))
    return src


def _items(out: str) -> list[str]:
    return sorted(
        line
        for line in out.splitlines()
        if line[:1] in (">", "<", "c", "h", ".", "*") and not line.startswith("created ")
    )


def _compare(
    real_rsync: RealRsync,
    tmp_path: Path,
    make_args: object,
    *,
    stdin: bytes | None = None,
    times: bool = True,
) -> tuple[int, str]:
    """Run ``make_args(dest)`` with both programs; returns pyrsync's code and stderr."""
    results = []
    for who in ("real", "ours"):
        dest = tmp_path / who
        if dest.exists():
            shutil.rmtree(dest)
        assert callable(make_args)
        args = make_args(dest)
        argv = real_rsync.argv(*args) if who == "real" else pyrsync_argv(*args)
        r = run(argv, cwd=tmp_path, stdin=stdin)
        results.append((r.returncode, _items(r.stdout), r.stderr))
    real, ours = results
    assert ours[:2] == real[:2], (real, ours)
    if (tmp_path / "real").exists():
        for dest in (tmp_path / "real", tmp_path / "ours"):
            os.utime(dest, (OLD, OLD))
        assert_trees_equal(tmp_path / "real", tmp_path / "ours", dir_times=times)
    else:
        assert not (tmp_path / "ours").exists()
    return ours[0], ours[2]


@pytest.mark.parametrize(
    ("flags", "how"),
    [
        (["-ai"], "file"),
        (["-rti"], "file"),
        (["-ai"], "stdin"),
        (["-ai", "-0"], "stdin"),
        (["-ai", "--from0"], "file"),
        (["-ai", "--delete", "-r"], "file"),
        (["-ai", "--no-implied-dirs"], "file"),
    ],
    ids=["archive", "recursive", "stdin", "stdin-0", "file-0", "delete", "no-implied"],
)
def test_local_files_from(
    real_rsync: RealRsync, tmp_path: Path, flags: list[str], how: str
) -> None:
    src = _source(tmp_path)
    sep = "\0" if "-0" in flags or "--from0" in flags else "\n"
    data = (sep.join(NAMES) + sep).encode()
    listing = tmp_path / "list"
    listing.write_bytes(data)
    source = "-" if how == "stdin" else str(listing)
    code, _ = _compare(
        real_rsync,
        tmp_path,
        lambda dest: [*flags, f"--files-from={source}", str(src), f"{dest}/"],
        stdin=data if how == "stdin" else None,
        times="--no-implied-dirs" not in flags,
    )
    assert code == 0
    ours = tmp_path / "ours"
    assert (ours / "d" / "e" / "three").is_file()
    assert not (ours / "skip").exists()
    assert (ours / "y" / "z").is_file()  # x/./y/z keeps y/z
    assert (ours / "d" / "e" / "four").exists() == ("-r" in flags or "-rti" in flags)


def test_local_files_from_errors(real_rsync: RealRsync, tmp_path: Path) -> None:
    """A missing source directory: exit 3; two sources: exit 1; nothing made."""
    src = _source(tmp_path)
    listing = tmp_path / "list"
    listing.write_text("one\n")
    code, err = _compare(
        real_rsync,
        tmp_path,
        lambda dest: ["-a", f"--files-from={listing}", str(tmp_path / "nosuch"), f"{dest}/"],
    )
    assert code == 3
    assert f'change_dir "{tmp_path / "nosuch"}" failed: No such file or directory (2)' in err
    code, _ = _compare(
        real_rsync,
        tmp_path,
        lambda dest: ["-a", f"--files-from={listing}", str(src), str(src), f"{dest}/"],
    )
    assert code == 1


@pytest.mark.parametrize("far", ["rsync", "pyrsync"])
@pytest.mark.parametrize("where", ["local-list", "remote-list"])
def test_remote_files_from(
    real_rsync: RealRsync,
    rsh_shim_factory: ShimFactory,
    tmp_path: Path,
    far: str,
    where: str,
) -> None:
    """A pull and a push with the list here or on the remote side."""
    src = _source(tmp_path)
    listing = tmp_path / "list"
    listing.write_text("\n".join(NAMES) + "\n")
    if far == "rsync":
        shim = rsh_shim_factory([str(real_rsync.path)], name="real")
    else:
        shim = rsh_shim_factory([sys.executable, "-m", "rsync_daemon"], name="ours")
    ff = f"--files-from={listing}" if where == "local-list" else f"--files-from=host:{listing}"
    for direction in ("pull", "push"):

        def args(dest: Path, direction: str = direction) -> list[str]:
            if direction == "pull":
                return ["-ai", "-e", str(shim), ff, f"host:{src}", f"{dest}/"]
            return ["-ai", "-e", str(shim), ff, str(src), f"host:{dest}/"]

        # a list read for (or forwarded to) the other side keeps its comment lines:
        # "; another" does not exist (exit 23), "# a comment" names a file
        code, err = _compare(real_rsync, tmp_path, args)
        assert code in (0, 23), err
        assert (tmp_path / "ours" / "d" / "e" / "three").is_file()


@pytest.mark.parametrize("program", ["pyrsync", "pyrsyncd"])
def test_real_rsync_pulls_a_files_from_list_from_ours(
    real_rsync: RealRsync, rsh_shim_factory: ShimFactory, tmp_path: Path, program: str
) -> None:
    """rsync's client sends no ``-d`` for ``--files-from``: the sending server infers it.

    Listed directories (``.``, ``d``) are then transferred themselves, not skipped as
    "skipping directory" (rsync: options.c parse_arguments(), files_from -> xfer_dirs).
    """
    src = _source(tmp_path)
    listing = tmp_path / "list"
    listing.write_text(".\nd\none\n")
    module = "rsync_client" if program == "pyrsync" else "rsync_daemon"
    shim = rsh_shim_factory([sys.executable, "-m", module], name=program)
    results = {}
    for who, source in (("ours", f"lh:{src}"), ("real", str(src))):
        dest = tmp_path / who
        extra = ["-e", str(shim)] if who == "ours" else []
        r = run(real_rsync.argv("-ai", *extra, f"--files-from={listing}", source, f"{dest}/"))
        assert r.returncode == 0, r.stderr
        assert "skipping directory" not in r.stdout + r.stderr
        results[who] = _items(r.stdout)
    assert results["ours"] == results["real"]
    assert_trees_equal(tmp_path / "real", tmp_path / "ours")
