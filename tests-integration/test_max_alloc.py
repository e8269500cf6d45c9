"""``--max-alloc`` in the client: checked and forwarded as rsync 3.5's source does.

A limit other than the default travels as ``--max-alloc=VALUE`` (the value as given) in
either direction, as rsync's client writes it; the default travels not at all. Sizes rsync
refuses are refused with its message; rsync 3.5's source (the suite's bar) refuses 0
("max-alloc must be greater than zero"), which the installed 3.5.0 still took as "no
limit", so that case is checked against the message alone. ``RSYNC_MAX_ALLOC`` counts when
the option is not given.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

from harness.client import mask_error_location, pyrsync_argv
from harness.compare import assert_trees_equal
from harness.proc import run
from harness.shim import shim_log

if TYPE_CHECKING:
    from pathlib import Path

    from harness.shim import ShimFactory
    from harness.tools import RealRsync

pytestmark = pytest.mark.interop


def _source(base: Path) -> Path:
    src = base / "src"
    src.mkdir()
    (src / "f").write_text("f\n")
    return src


@pytest.mark.parametrize("value", ["2g", "1m", "1GiB", "1073741824"])
@pytest.mark.parametrize("direction", ["pull", "push"])
def test_forwarded_as_rsync(
    real_rsync: RealRsync, rsh_shim_factory: ShimFactory, tmp_path: Path, value: str, direction: str
) -> None:
    src = _source(tmp_path)
    words = []
    for who, argv in (("ours", pyrsync_argv()), ("theirs", real_rsync.argv())):
        shim = rsh_shim_factory(name=f"shim-{who}")
        dest = tmp_path / who
        where = (
            [f"host:{src}/", f"{dest}/"] if direction == "pull" else [f"{src}/", f"host:{dest}/"]
        )
        code, _out, err = run([*argv, "-a", "-e", shim, f"--max-alloc={value}", *where], timeout=60)
        assert code == 0, (who, err)
        words.append([w for w in shim_log(shim).read_text().split() if "max-alloc" in w])
    assert words[0] == words[1]
    assert_trees_equal(tmp_path / "ours", tmp_path / "theirs")


@pytest.mark.parametrize("value", ["1k", "x", "-1"])
def test_bad_sizes_are_refused_as_rsync(real_rsync: RealRsync, tmp_path: Path, value: str) -> None:
    results = []
    for argv in (pyrsync_argv(), real_rsync.argv()):
        code, _out, err = run([*argv, f"--max-alloc={value}", f"{tmp_path}/", f"{tmp_path}/d/"])
        results.append((code, mask_error_location(err).splitlines()[0]))
    assert results[0] == results[1]
    assert results[0][0] == 1


def test_zero_is_refused_and_the_environment_counts(tmp_path: Path) -> None:
    src = _source(tmp_path)
    code, _out, err = run([*pyrsync_argv(), "--max-alloc=0", f"{src}/", f"{tmp_path}/d/"])
    assert code == 1
    assert "max-alloc must be greater than zero" in err
    env = {**os.environ, "RSYNC_MAX_ALLOC": "12"}
    code, _out, err = run([*pyrsync_argv(), f"{src}/", f"{tmp_path}/d/"], env=env)
    assert code == 1
    assert "--max-alloc=12 is too small" in err
    assert not (tmp_path / "d").exists()
