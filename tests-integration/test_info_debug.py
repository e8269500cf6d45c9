"""``--info``/``--debug`` words: rsync's help tables, its refusal of unknown words.

``--info=help`` and ``--debug=help`` print rsync's text and exit 0 (whatever follows);
an unknown word gets rsync's message (the word without its level) and exit code 1. A
``--debug`` word at level 0 (``--debug=all0,deltasum0``) is taken and the copy runs; an
item pyrsync does not write (or a level beyond what it writes) is refused by name. The
lines of the items it writes are compared with rsync's in test_info_debug_output.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from harness.client import mask_error_location, pyrsync_argv
from harness.compare import assert_trees_equal
from harness.proc import run

if TYPE_CHECKING:
    from pathlib import Path

    from harness.tools import RealRsync

pytestmark = pytest.mark.interop


@pytest.mark.parametrize("words", ["--info=help", "--debug=help", "--info=name2,HELP"])
def test_help_tables_are_rsyncs(real_rsync: RealRsync, words: str) -> None:
    ours = run([*pyrsync_argv(), words, "no-such-source", "dest"])
    theirs = run([*real_rsync.argv(), words, "no-such-source", "dest"])
    assert (
        (ours.returncode, ours.stdout) == (theirs.returncode, theirs.stdout) == (0, theirs.stdout)
    )
    assert "Use OPT or OPT1 for level 1 output" in ours.stdout


@pytest.mark.parametrize("words", ["--info=bogus", "--info=name,flist2,nosuch3", "--debug=what"])
def test_unknown_words_are_refused_as_rsync(
    real_rsync: RealRsync, tmp_path: Path, words: str
) -> None:
    results = []
    for argv in (pyrsync_argv(), real_rsync.argv()):
        code, _out, err = run([*argv, words, f"{tmp_path}/", f"{tmp_path}/d/"])
        results.append((code, mask_error_location(err).splitlines()[0]))
    assert results[0] == results[1]
    assert results[0][0] == 1


def test_debug_level_zero_copies(real_rsync: RealRsync, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_text("f\n")
    for who, argv in (("ours", pyrsync_argv()), ("theirs", real_rsync.argv())):
        code, _out, err = run(
            [*argv, "-a", "--debug=all0,deltasum0", f"{src}/", f"{tmp_path / who}/"]
        )
        assert code == 0, (who, err)
    assert_trees_equal(tmp_path / "ours", tmp_path / "theirs")
    code, _out, err = run([*pyrsync_argv(), "--debug=flist2", f"{src}/", f"{tmp_path}/x/"])
    assert code == 1
    assert "does not write --debug output for flist beyond level 1 (--debug=flist2)" in err
    code, _out, err = run([*pyrsync_argv(), "--debug=deltasum2", f"{src}/", f"{tmp_path}/x/"])
    assert code == 1
    assert "for deltasum beyond level 1 (--debug=deltasum2)" in err
    assert not (tmp_path / "x").exists()
