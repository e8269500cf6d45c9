"""Merge files outside the source tree, and what a bad rule read from a file reports.

A local copy reads per-directory merge files wherever their names point, as rsync
does (the client's Landlock rules allow it: rsync_client.confine), and a rule that
does not parse is reported by where it came from, never by its text: a merge file's
contents may be a file the peer chose (rsync 3.5: exclude.c rule_src_where()). Each
case runs real rsync and ours with the same command line: same exit code, same filter
message, the file's content nowhere in the output. A pull keeps the destination's merge
files inside the destination, unlike rsync (whose generator reads ``../secret``).
"""

from __future__ import annotations

import os
import re
import subprocess
from typing import TYPE_CHECKING

import pytest

from harness.client import pyrsync_argv

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from harness.tools import RealRsync

CONTENT = "NOT-A-FILTER-RULE-abc123"

# The filter error lines, without the "rsync: " prefix ours adds.
_FILTER_LINE = re.compile(r"^(?:rsync: )?((?:Unknown filter rule|failed to open).*)$", re.M)


def _run(argv: list[str]) -> tuple[int, str]:
    got = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    return got.returncode, got.stdout + got.stderr


def _filter_lines(out: str) -> list[str]:
    return _FILTER_LINE.findall(out)


def _tree(base: Path) -> tuple[Path, Path]:
    src = base / "src"
    src.mkdir(parents=True)
    (src / "f").write_text("hi\n")
    (base / "secret").write_text(CONTENT + "\n")
    dest = base / "dest"
    dest.mkdir()  # so that its parent, where the merge files lie, is not writable
    return src, dest


def _perdir_outside(base: Path, src: Path) -> list[str]:
    (src / ".rsync-filter").write_text(": ../secret\n")
    return ["-r", "-F"]


def _dot_merge(base: Path, src: Path) -> list[str]:
    (base / "rules").write_text(CONTENT + "\n")
    return ["-r", f"--filter=. {base}/rules"]


def _nested_merge(base: Path, src: Path) -> list[str]:
    (base / "outer").write_text(f". {base}/inner\n")
    (base / "inner").write_text(CONTENT + "\n")
    return ["-r", f"--filter=. {base}/outer"]


def _nested_missing(base: Path, src: Path) -> list[str]:
    (base / "outer").write_text(f". {base}/{CONTENT}\n")
    return ["-r", f"--filter=. {base}/outer"]


def _perdir_inside(base: Path, src: Path) -> list[str]:
    (src / ".rsync-filter").write_text(CONTENT + "\n")
    return ["-r", "-F"]


CASES: dict[str, tuple[Callable[[Path, Path], list[str]], int, str]] = {
    "per-dir merge outside the source": (
        _perdir_outside,
        1,
        "Unknown filter rule: <rule from a file read earlier>",
    ),
    "merge named by an argument": (
        _dot_merge,
        1,
        "Unknown filter rule: <rule from {base}/rules line 1>",
    ),
    "merge named in a merge file": (
        _nested_merge,
        1,
        "Unknown filter rule: <rule from a file named at {base}/outer line 1>",
    ),
    "missing merge named in a merge file": (
        _nested_missing,
        11,
        "failed to open exclude file <rule from {base}/outer line 1>",
    ),
    "per-dir merge in the source": (
        _perdir_inside,
        1,
        "Unknown filter rule: <rule from {base}/src/.rsync-filter line 1>",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_rule_from_a_file_says_where_not_what(
    real_rsync: RealRsync, tmp_path: Path, case: str
) -> None:
    setup, code, message = CASES[case]
    results: dict[str, tuple[int, list[str]]] = {}
    for who in ("rsync", "ours"):
        base = tmp_path / who
        src, dest = _tree(base)
        args = [*setup(base, src), f"{src}/", f"{dest}/"]
        rc, out = _run(real_rsync.argv(*args) if who == "rsync" else pyrsync_argv(*args))
        assert CONTENT not in out, (who, out)
        lines = [line.replace(str(base), "{base}") for line in _filter_lines(out)]
        results[who] = (rc, lines)
    assert results["rsync"] == (code, [message])  # what this case is about
    assert results["ours"] == results["rsync"]


def test_argument_rule_is_still_shown(real_rsync: RealRsync, tmp_path: Path) -> None:
    for who in ("rsync", "ours"):
        src, dest = _tree(tmp_path / who)
        args = ["-r", "--filter=Zbogus-rule-text", f"{src}/", f"{dest}/"]
        rc, out = _run(real_rsync.argv(*args) if who == "rsync" else pyrsync_argv(*args))
        assert (rc, _filter_lines(out)) == (1, ["Unknown filter rule: Zbogus-rule-text"]), who


def test_merge_files_outside_the_source_apply(real_rsync: RealRsync, tmp_path: Path) -> None:
    """-F's parent scan and a per-dir merge naming ``../rules`` take effect, as in rsync."""
    for who in ("rsync", "ours"):
        base = tmp_path / who
        src, dest = _tree(base)
        (src / "sub").mkdir()
        for name in ("drop.tmp", "drop.bak", "sub/drop.tmp", "sub/keep"):
            (src / name).write_text(name)
        (base / ".rsync-filter").write_text("- *.bak\n")  # a parent of the source
        (base / "rules").write_text("- *.tmp\n")
        (src / ".rsync-filter").write_text(": ../rules\n")
        args = ["-r", "-F", f"{src}/", f"{dest}/"]
        rc, out = _run(real_rsync.argv(*args) if who == "rsync" else pyrsync_argv(*args))
        assert rc == 0, (who, out)
    copied = {
        who: sorted(
            str(p.relative_to(tmp_path / who / "dest"))
            for p in (tmp_path / who / "dest").rglob("*")
        )
        for who in ("rsync", "ours")
    }
    assert copied["rsync"] == [".rsync-filter", "f", "sub", "sub/keep"]
    assert copied["ours"] == copied["rsync"]


def test_pull_reads_destination_merge_files_only_inside_it(
    real_rsync: RealRsync, rsh_shim: Path, tmp_path: Path
) -> None:
    """The server writes a pull's destination: its merge files cannot reach outside it.

    rsync's generator reads ``../outside`` here, and its rule would keep ``extra``; ours
    finds it unreadable, so a file outside the destination cannot steer deletions.
    """
    src, dest = _tree(tmp_path)
    (tmp_path / "outside").write_text("- extra\n")
    (dest / ".rsync-filter").write_text(": ../outside\n")
    (dest / "extra").write_text("x\n")
    remote = ["-e", str(rsh_shim), "--rsync-path", str(real_rsync.path)]
    rc, out = _run(pyrsync_argv("-r", "-F", "--delete", *remote, f"localhost:{src}/", f"{dest}/"))
    assert rc == 0, out
    assert CONTENT not in out
    assert sorted(p.name for p in dest.iterdir()) == ["f"]


def test_over_long_deferred_merge_name(real_rsync: RealRsync, tmp_path: Path) -> None:
    """A per-dir merge name that only overflows once joined to the directory.

    rsync: exclude.c parse_merge_name() and push_local_filters(): "merge-file name
    overflows", then "cannot add local filter rules in long-named directory" for each
    directory, exit 23, and the name (from a file) is never shown.
    """
    maxpath = os.pathconf(str(tmp_path), "PC_PATH_MAX")
    results: dict[str, tuple[int, list[str]]] = {}
    for who in ("rsync", "ours"):
        src = tmp_path / who / "src"
        (src / "sub").mkdir(parents=True)
        (src / "sub" / "f").write_text("x\n")
        dest = tmp_path / who / "dest"
        dest.mkdir()
        # the directory names are the same length for both, so this overflows for both
        pad = maxpath - len(str(tmp_path / "rsync" / "src")) - 12
        (src / ".rsync-filter").write_text(": sub/SECRET-NAME-" + "Q" * pad + "\n")
        args = ["-r", "-F", f"{src}/", f"{dest}/"]
        rc, out = _run(real_rsync.argv(*args) if who == "rsync" else pyrsync_argv(*args))
        assert "SECRET-NAME" not in out, (who, out)
        lines = [ln.removeprefix("rsync: ") for ln in out.splitlines() if "<rule from" in ln]
        results[who] = (rc, lines)
    assert results["rsync"] == (
        23,
        ["merge-file name overflows: <rule from a file read earlier>"]
        + ["cannot add local filter rules in long-named directory: <rule from a file read earlier>"]
        * 2,
    )
    assert results["ours"] == results["rsync"]
