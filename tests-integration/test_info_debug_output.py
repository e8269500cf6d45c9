"""The lines ``--info`` and ``--debug`` items print, beside real rsync's for the same command.

Each case runs one command with ours and with rsync 3.5 from the same starting tree and
compares the lines the item adds (the other lines, and timings, are not the point here):

* ``--info=backup``: "(new) backup_dir is D", "backed up X to Y" (beside the file, in a
  ``--backup-dir``, for a deletion), also in a push to our server (the server prints, the
  client shows it) and turned on by ``-vv``;
* ``--debug=backup``: "make_backup: HOW X successful." (rsync hard-links a replaced file
  into place where it can, pyrsync renames it: the word says what each did);
* ``--debug=del`` levels 1 to 3, ``--debug=fuzzy``, ``--debug=NSTR`` (the negotiated or
  chosen checksum and compressor, a local copy and a remote shell), ``--debug=deltasum``
  (and ``-vv``, which implies it, also from a server sender in a pull).
"""

from __future__ import annotations

import os
import re
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


def _tree(base: Path) -> tuple[Path, Path]:
    """A source and a destination whose files all differ (sizes too), with extra names."""
    src, dest = base / "src", base / "dest"
    (src / "deep").mkdir(parents=True)
    (dest / "deep" / "gone-dir" / "inner").mkdir(parents=True)
    (src / "deep" / "name1").write_text("new contents of name1\n")
    (src / "top").write_text("new top\n")
    (dest / "deep" / "name1").write_text("old\n")
    (dest / "top").write_text("old top, longer\n")
    (dest / "gone").write_text("extraneous\n")
    (dest / "deep" / "gone-dir" / "inner" / "f").write_text("f\n")
    os.symlink("nowhere", dest / "gone-link")
    for root in (src, dest):
        for path in sorted(root.rglob("*"), reverse=True):
            os.utime(path, (OLD, OLD), follow_symlinks=False)
        os.utime(root, (OLD, OLD))
    return src, dest


def _both(
    real_rsync: RealRsync, tmp_path: Path, args: list[str], *, prepare: bool = True
) -> dict[str, tuple[int, list[str], Path]]:
    """Run ``args`` SRC/ DEST/ with each client from a fresh tree; code, stdout lines, base."""
    out = {}
    for who, argv in (("ours", pyrsync_argv()), ("theirs", real_rsync.argv())):
        base = tmp_path / who
        if prepare:
            src, dest = _tree(base)
        else:
            src, dest = base / "src", base / "dest"
        words = [a.replace("BASE", str(base)) for a in args]
        code, stdout, err = run([*argv, *words, f"{src}/", f"{dest}/"], cwd=base)
        assert code == 0, (who, err)
        lines = [line.replace(str(base), "BASE") for line in stdout.splitlines()]
        out[who] = (code, lines, base)
    return out


def _lines(lines: list[str], pattern: str) -> list[str]:
    return [line for line in lines if re.match(pattern, line)]


_BACKUP = r"(\(new\) )?backup_dir is |backed up "


@pytest.mark.parametrize(
    "args",
    [
        ["-ai", "--info=backup", "--backup"],
        ["-ai", "--info=backup", "--backup", "--suffix=.bak", "--delete"],
        ["-ai", "--info=backup", "--delete-delay", "--backup", "--backup-dir=BASE/bak"],
        ["-ai", "--info=backup", "--delete", "--backup", "--backup-dir=rel-bak"],
        ["-avv", "--backup", "--delete"],  # -vv turns BACKUP on
        ["-av", "--backup", "--delete"],  # -v does not
    ],
)
def test_info_backup_lines_are_rsyncs(
    real_rsync: RealRsync, tmp_path: Path, args: list[str]
) -> None:
    result = _both(real_rsync, tmp_path, args)
    ours, theirs = (sorted(_lines(result[w][1], _BACKUP)) for w in ("ours", "theirs"))
    assert ours == theirs
    assert ("-av" in args) == (not theirs)
    assert_trees_equal(tmp_path / "ours", tmp_path / "theirs")


def test_debug_backup_says_how(real_rsync: RealRsync, tmp_path: Path) -> None:
    """rsync hard-links a replaced file (HLINK) and renames a deleted one; pyrsync renames."""
    args = ["-a", "--debug=backup", "--delete", "--backup", "--backup-dir=BASE/bak"]
    result = _both(real_rsync, tmp_path, args)
    # the generator's backups (deletions) and the receiver's (transfers) interleave freely
    ours = sorted(_lines(result["ours"][1], "make_backup: "))
    theirs = sorted(_lines(result["theirs"][1], "make_backup: "))
    assert ours == sorted(line.replace("HLINK", "RENAME") for line in theirs)
    assert "make_backup: RENAME gone successful." in ours
    assert "make_backup: RENAME top successful." in ours


def test_debug_backup_copies_across_filesystems(real_rsync: RealRsync, tmp_path: Path) -> None:
    """A backup directory on another filesystem: the file is copied, a symlink made anew."""
    shm = "/dev/shm"
    if not os.path.isdir(shm) or os.stat(shm).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("no second filesystem at /dev/shm")
    bak = {}
    for who in ("ours", "theirs"):
        bak[who] = os.path.join(shm, f"pyrsync-bak-{os.getpid()}-{who}")
        shutil.rmtree(bak[who], ignore_errors=True)
    try:
        results = {}
        for who, argv in (("ours", pyrsync_argv()), ("theirs", real_rsync.argv())):
            src, dest = _tree(tmp_path / who)
            os.symlink("target-new", src / "link")
            os.symlink("target-old", dest / "link")
            code, stdout, err = run(
                [
                    *argv,
                    "-rl",
                    "--debug=backup",
                    "-b",
                    f"--backup-dir={bak[who]}",
                    f"{src}/",
                    f"{dest}/",
                ]
            )
            assert code == 0, (who, err)
            results[who] = sorted(_lines(stdout.splitlines(), "make_backup: "))
        assert results["ours"] == results["theirs"]
        assert "make_backup: COPY top successful." in results["ours"]
        assert "make_backup: SYMLINK link successful." in results["ours"]
        assert os.readlink(os.path.join(bak["ours"], "link")) == "target-old"
    finally:
        for path in bak.values():
            shutil.rmtree(path, ignore_errors=True)


@pytest.mark.parametrize("level", ["del", "del2", "del3"])
@pytest.mark.parametrize("mode", ["--delete", "--delete-before", "--delete-after"])
def test_debug_del_lines_are_rsyncs(
    real_rsync: RealRsync, tmp_path: Path, level: str, mode: str
) -> None:
    result = _both(real_rsync, tmp_path, ["-a", mode, f"--debug={level}"])
    pattern = r"deleting in |delete_in_dir\(|delete_item\(|delete_dir_contents\("
    ours, theirs = (_lines(result[w][1], pattern) for w in ("ours", "theirs"))
    assert ours == theirs
    # level 1 is "deleting in" of a --delete-before/after pass only
    assert bool(theirs) == (level != "del" or mode != "--delete")
    assert_trees_equal(tmp_path / "ours" / "dest", tmp_path / "theirs" / "dest")


@pytest.mark.parametrize("level", ["FUZZY", "fuzzy2"])
@pytest.mark.parametrize("same_size_and_time", [False, True])
def test_debug_fuzzy_names_the_basis(
    real_rsync: RealRsync, tmp_path: Path, level: str, *, same_size_and_time: bool
) -> None:
    """Level 1 names the basis chosen; level 2 each candidate's score (or the quick match)."""
    for who in ("ours", "theirs"):
        src, dest = tmp_path / who / "src", tmp_path / who / "dest"
        (src / "d").mkdir(parents=True)
        (dest / "d").mkdir(parents=True)
        body = b"".join(b"line %d of the archive\n" % i for i in range(20000))
        (src / "d" / "archive-v2.tar").write_bytes(body)
        (dest / "d" / "archive-v1.tar").write_bytes(body[:300000] + b"older tail")
        (dest / "d" / "archive-old.tar").write_bytes(body[:200000])
        other = dest / "d" / "other.dat"
        other.write_bytes(b"unrelated" * (len(body) // 9 if same_size_and_time else 100))
        if same_size_and_time:
            other.write_bytes(other.read_bytes().ljust(len(body), b"u"))
            os.utime(src / "d" / "archive-v2.tar", (OLD, OLD))
            os.utime(other, (OLD, OLD))
    result = _both(
        real_rsync,
        tmp_path,
        ["-a", "--fuzzy", "--no-whole-file", f"--debug={level}"],
        prepare=False,
    )
    ours, theirs = (_lines(result[w][1], "fuzzy ") for w in ("ours", "theirs"))
    assert ours == theirs
    chosen = "d/other.dat" if same_size_and_time else "d/archive-v1.tar"
    assert ours[-1] == f"fuzzy basis selected for d/archive-v2.tar: {chosen}"
    assert len(ours) == (1 if level == "FUZZY" else 2 if same_size_and_time else 4)


@pytest.mark.parametrize(
    "args",
    [
        ["-a"],
        ["-az"],
        ["-az", "--compress-choice=zlib"],
        ["-az", "--compress-choice=zlibx", "--compress-level=9"],
        ["-az", "--compress-choice=lz4"],
        ["-a", "--compress-choice=zstd", "--compress-level=5"],
        ["-a", "--checksum-choice=md5"],
        ["-ac", "--checksum-choice=xxh64", "-z"],
    ],
)
def test_debug_nstr_lines_are_rsyncs(
    real_rsync: RealRsync, tmp_path: Path, args: list[str]
) -> None:
    result = _both(real_rsync, tmp_path, [*args, "--debug=NSTR"])
    ours, theirs = (_lines(result[w][1], "Client ") for w in ("ours", "theirs"))
    assert ours == theirs
    assert_trees_equal(tmp_path / "ours" / "dest", tmp_path / "theirs" / "dest")


@pytest.mark.parametrize("args", [["-az"], ["-a", "--checksum-choice=md5"], ["-a"]])
def test_debug_nstr_over_a_remote_shell(
    real_rsync: RealRsync, tmp_path: Path, rsh_shim: Path, args: list[str]
) -> None:
    """A pull from rsync's server: the client says what the two sides agreed on."""
    src, _ = _tree(tmp_path / "src-side")
    lines = {}
    for who, argv in (("ours", pyrsync_argv()), ("theirs", real_rsync.argv())):
        code, stdout, err = run(
            [
                *argv,
                *args,
                "--debug=NSTR",
                "-e",
                str(rsh_shim),
                f"--rsync-path={real_rsync.path}",
                f"localhost:{src}/",
                f"{tmp_path / who}/",
            ]
        )
        assert code == 0, (who, err)
        lines[who] = _lines(stdout.splitlines(), "Client ")
    assert lines["ours"] == lines["theirs"]
    assert lines["ours"]


def test_info_backup_from_the_server_of_a_push(
    real_rsync: RealRsync, tmp_path: Path, rsh_shim_factory: ShimFactory
) -> None:
    """The client forwards --info=backup; the receiving server says it, the client shows it."""
    ours_server = rsh_shim_factory([sys.executable, "-m", "rsync_client"], name="ours")
    lines = {}
    for who, argv, shim in (
        ("ours", pyrsync_argv(), ours_server),
        ("theirs", real_rsync.argv(), rsh_shim_factory(name="theirs")),
    ):
        src, dest = _tree(tmp_path / who)
        code, stdout, err = run(
            [
                *argv,
                "-a",
                "--info=backup",
                "--delete",
                "-b",
                "-e",
                str(shim),
                f"{src}/",
                f"localhost:{dest}/",
            ]
        )
        assert code == 0, (who, err)
        lines[who] = sorted(_lines(stdout.splitlines(), _BACKUP))
    assert lines["ours"] == lines["theirs"]
    assert "backed up gone to gone~" in lines["ours"]
    assert_trees_equal(tmp_path / "ours" / "dest", tmp_path / "theirs" / "dest")


def _changed_file(base: Path) -> tuple[Path, Path]:
    src, dest = base / "src", base / "dest"
    src.mkdir(parents=True)
    dest.mkdir(parents=True)
    body = b"".join(b"%08d some text that repeats with a counter\n" % i for i in range(30000))
    (dest / "f").write_bytes(body)
    (src / "f").write_bytes(body)
    os.utime(dest / "f", (OLD, OLD))
    return src, dest


@pytest.mark.parametrize(
    "args",
    [
        ["-a", "--debug=deltasum"],  # a local copy sends whole files: nothing matched
        ["-a", "-I", "--no-whole-file", "--debug=deltasum1"],  # every block matches
        ["-avv"],  # -vv implies DELTASUM1
    ],
)
def test_debug_deltasum_total_is_rsyncs(
    real_rsync: RealRsync, tmp_path: Path, args: list[str]
) -> None:
    lines = {}
    for who, argv in (("ours", pyrsync_argv()), ("theirs", real_rsync.argv())):
        src, dest = _changed_file(tmp_path / who)
        code, stdout, err = run([*argv, *args, f"{src}/", f"{dest}/"])
        assert code == 0, (who, err)
        lines[who] = _lines(stdout.splitlines(), "total: ")
    assert lines["ours"] == lines["theirs"]
    assert len(lines["ours"]) == 1


def test_debug_deltasum_total_of_a_server_sender(
    real_rsync: RealRsync, tmp_path: Path, rsh_shim_factory: ShimFactory
) -> None:
    """In a pull the sender is the server: its -vv prints the line, sent as MSG_INFO."""
    ours_server = rsh_shim_factory([sys.executable, "-m", "rsync_client"], name="ours")
    src, _ = _changed_file(tmp_path / "src-side")
    lines = {}
    for who, argv, shim in (
        ("ours", pyrsync_argv(), ours_server),
        ("theirs", real_rsync.argv(), rsh_shim_factory(name="theirs")),
    ):
        code, stdout, err = run(
            [*argv, "-avv", "-e", str(shim), f"localhost:{src}/", f"{tmp_path / who}/"]
        )
        assert code == 0, (who, err)
        lines[who] = _lines(stdout.splitlines(), "total: ")
    assert lines["ours"] == lines["theirs"]
    assert lines["ours"] == ["total: matches=0  hash_hits=0  false_alarms=0 data=1410000"]


@pytest.mark.parametrize(
    ("args", "push"),
    [
        (["--info=name2"], False),
        (["--info=name2", "-v"], False),
        (["-v", "--info=backup2,name,progress,flist0", "-b"], True),
        (["--info=all2,stats1"], False),
        (["--info=all0", "--debug=fuzzy,del2"], True),
    ],
)
def test_what_the_server_is_told(
    real_rsync: RealRsync,
    tmp_path: Path,
    rsh_shim_factory: ShimFactory,
    args: list[str],
    *,
    push: bool,
) -> None:
    """The -v count and the --info items reach the server as rsync sends them; --debug not."""
    src, dest = _tree(tmp_path / "tree")
    told = {}
    for who, argv in (("ours", pyrsync_argv()), ("theirs", real_rsync.argv())):
        shim = rsh_shim_factory([real_rsync.path], name=who)
        ends = [f"{src}/", f"localhost:{dest}/"] if push else [f"localhost:{src}/", f"{dest}/"]
        code, _out, err = run([*argv, "-a", *args, "-e", str(shim), *ends])
        assert code == 0, (who, err)
        line = shim.with_name(shim.name + ".log").read_text().splitlines()[0]
        # the capability letters and --log-format=X differ between the clients, not here
        told[who] = re.sub(r"e\.\w+| --log-format=X", "", line.split(" ", 1)[1])
    assert told["ours"] == told["theirs"]
