"""``--bwlimit`` in the client: parsed, rounded and forwarded as rsync does, and copies work.

* The remote command our client writes over ``-e`` carries the same ``--bwlimit=KiB``
  word as rsync's for the same rate (rsync rounds the rate to whole KiB and forwards the
  number; a zero rate is no limit and travels not at all).
* A rate rsync refuses is refused with rsync's message and exit code 1.
* A pull, a push and a local copy with a limit give rsync's destination tree.
"""

from __future__ import annotations

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
    (src / "d").mkdir(parents=True)
    (src / "a").write_bytes(b"a" * 3000)  # small: 700B is 1 KiB/s
    (src / "d" / "b").write_text("b\n")
    return src


def _bwlimit_words(log: Path) -> list[str]:
    return [w for w in log.read_text().split() if w.startswith("--bwlimit")]


@pytest.mark.parametrize("rate", ["100", "1.5M", "1000KB", "700B", "0", "1023b"])
def test_the_forwarded_rate_is_rsyncs(
    real_rsync: RealRsync, rsh_shim_factory: ShimFactory, tmp_path: Path, rate: str
) -> None:
    src = _source(tmp_path)
    words = []
    for who, argv in (("ours", pyrsync_argv()), ("theirs", real_rsync.argv())):
        shim = rsh_shim_factory(name=f"shim-{who}")
        dest = tmp_path / who
        code, _out, err = run(
            [*argv, "-a", "-e", shim, f"--bwlimit={rate}", f"{src}/", f"host:{dest}/"],
            timeout=60,
        )
        assert code == 0, (who, err)
        words.append(_bwlimit_words(shim_log(shim)))
        assert_trees_equal(src, dest)
    assert words[0] == words[1]


@pytest.mark.parametrize("rate", ["x", "100b", "1.5Q", "-5", "1e3"])
def test_a_bad_rate_is_refused_as_rsync_refuses_it(
    real_rsync: RealRsync, tmp_path: Path, rate: str
) -> None:
    src = _source(tmp_path)
    results = []
    for argv in (pyrsync_argv(), real_rsync.argv()):
        code, out, err = run([*argv, f"--bwlimit={rate}", f"{src}/", f"{tmp_path}/d/"])
        results.append((code, out, mask_error_location(err).replace("pyrsync", "main.c")))
    assert results[0][0] == results[1][0] == 1
    assert results[0][2].splitlines()[0] == results[1][2].splitlines()[0]
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize("mode", ["local", "pull"])
def test_a_limited_copy_gives_rsyncs_tree(
    real_rsync: RealRsync, rsh_shim_factory: ShimFactory, tmp_path: Path, mode: str
) -> None:
    src = _source(tmp_path)
    shim = rsh_shim_factory()
    for who, argv in (("ours", pyrsync_argv()), ("theirs", real_rsync.argv())):
        dest = tmp_path / who
        source = f"{src}/" if mode == "local" else f"host:{src}/"
        code, _out, err = run(
            [*argv, "-a", "-e", shim, "--bwlimit=2000", "--no-bwlimit", "--bwlimit=500", source,
             f"{dest}/"],
            timeout=60,
        )  # fmt: skip
        assert code == 0, (who, err)
    assert_trees_equal(tmp_path / "ours", tmp_path / "theirs")
    assert_trees_equal(src, tmp_path / "ours")
