"""--delete never removes what the receiver's rules exclude, even inside a directory it deletes.

rsync builds the list of a doomed directory's contents with the filter rules applied
(rsync: delete.c delete_dir_contents(), get_dirlist()): an excluded file stays, and so do
the directories above it ("cannot delete non-empty directory"). pyrsync used to delete
such a directory with everything in it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from harness.client import normalize_output, pyrsync_argv
from harness.proc import run

if TYPE_CHECKING:
    from pathlib import Path

    from harness.daemon import RealDaemonFactory
    from harness.tools import RealRsync


def _make(root: Path) -> tuple[Path, Path]:
    src = root / "src"
    (src / "a").mkdir(parents=True)
    (src / "a" / "f").write_text("x\n")
    dst = root / "dst"
    (dst / "junk-dir" / "deeper").mkdir(parents=True)
    (dst / "junk-dir" / "deeper" / "junk.txt").write_text("keep me\n")
    (dst / "gone" / "sub").mkdir(parents=True)
    (dst / "gone" / "sub" / "g.c").write_text("delete me\n")
    (dst / "keep.txt").write_text("keep me too\n")
    return src, dst


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def _lines(out: str) -> list[str]:
    """The per-item lines of -v output (headers and totals differ between pull and push)."""
    skip = ("sending ", "receiving ", "building ", "sent <N>", "total size is")
    return [ln for ln in normalize_output(out).splitlines() if ln and not ln.startswith(skip)]


@pytest.mark.interop
@pytest.mark.parametrize("rule", [["--exclude=*.txt"], ["--filter=- *.txt"], ["-f", "-r *.txt"]])
def test_local_delete_keeps_excluded_files_like_rsync(
    real_rsync: RealRsync, tmp_path: Path, rule: list[str]
) -> None:
    src, ours = _make(tmp_path / "ours")
    _, theirs = _make(tmp_path / "theirs")
    args = ["-r", "-v", "--delete", *rule]
    mine = run(pyrsync_argv(*args, f"{src}/", f"{ours}/"), timeout=60)
    ref = run(real_rsync.argv(*args, f"{src}/", f"{theirs}/"), timeout=60)
    assert mine.returncode == ref.returncode == 0, (mine.describe(), ref.describe())
    assert (ours / "junk-dir" / "deeper" / "junk.txt").read_text() == "keep me\n"
    assert _tree(ours) == _tree(theirs)
    assert _lines(mine.stdout) == _lines(ref.stdout)


@pytest.mark.interop
def test_pull_delete_keeps_excluded_files_like_rsync(
    real_rsync: RealRsync, real_daemon: RealDaemonFactory, tmp_path: Path
) -> None:
    src, ours = _make(tmp_path / "ours")
    _, theirs = _make(tmp_path / "theirs")
    daemon = real_daemon({"src": src})
    args = ["-r", "-v", "--delete", "--exclude=*.txt"]
    mine = run(pyrsync_argv(*args, daemon.url("src"), f"{ours}/"), timeout=60)
    ref = run(real_rsync.argv(*args, daemon.url("src"), f"{theirs}/"), timeout=60)
    assert mine.returncode == ref.returncode == 0, (mine.describe(), ref.describe())
    assert _tree(ours) == _tree(theirs)
    assert "junk-dir/deeper/junk.txt" in _tree(ours)
    assert "gone" not in _tree(ours)
    assert _lines(mine.stdout) == _lines(ref.stdout)


def _make_merge(root: Path) -> tuple[Path, Path]:
    """A destination whose own per-directory merge files protect and exclude names."""
    src = root / "src"
    (src / "sub").mkdir(parents=True)
    (src / "kept").write_text("x\n")
    dst = root / "dst"
    (dst / "sub").mkdir(parents=True)
    (dst / "filters").write_text("P foo\n- bar\n")
    (dst / "sub" / "filters").write_text("P deep\n")
    for name in ("foo", "bar", "baz", "sub/deep", "sub/gone"):
        (dst / name).write_text("old\n")
    return src, dst


@pytest.mark.parametrize("where", ["local", "pull"])
def test_destination_merge_files_protect_from_delete_like_rsync(
    real_rsync: RealRsync, real_daemon: RealDaemonFactory, tmp_path: Path, where: str
) -> None:
    """``--filter=': filters'``: the receiver reads the destination's own merge files.

    rsync's generator loads each directory's merge file before deleting in it: ``P foo``
    there keeps foo through ``--delete-excluded``, ``- bar`` deletes bar, and a rule in
    ``sub/filters`` applies in sub (rsync: generator.c delete_in_dir()).
    """
    trees = {}
    for who in ("real", "ours"):
        src, dst = _make_merge(tmp_path / who)
        if where == "local":
            source = f"{src}/"
        else:
            daemon = real_daemon({"m": src})
            source = daemon.url("m") + "/"
        args = ["-r", "--exclude=baz", "--filter=: filters", "--delete-excluded", source, f"{dst}/"]
        r = run(real_rsync.argv(*args) if who == "real" else pyrsync_argv(*args))
        assert r.returncode == 0, r.stderr
        trees[who] = _tree(dst)
    assert trees["ours"] == trees["real"]
    assert "foo" in trees["ours"]
    assert "sub/deep" in trees["ours"]
    assert "bar" not in trees["ours"]
