"""``-M``/``--remote-option``: words for the server's command line, as rsync passes them.

* Over ``-e`` the remote command ends with the ``-M`` words as rsync writes them (after
  every other option, before ``.``, escaped for the remote shell), for a pull and a push;
  the real server acts on them (``-M--exclude=PATTERN`` on a sending server leaves the
  file out), so both clients get the same tree.
* To rsync's daemon: ``-M--exclude`` reaches the module's server in the same way.
* A word without a leading dash is refused with rsync's message and exit code 1.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from harness.client import mask_error_location, pyrsync_argv
from harness.compare import assert_trees_equal
from harness.daemon import DaemonModule
from harness.proc import run
from harness.shim import shim_log

if TYPE_CHECKING:
    from pathlib import Path

    from harness.daemon import RealDaemonFactory
    from harness.shim import ShimFactory
    from harness.tools import RealRsync

pytestmark = pytest.mark.interop


def _source(base: Path) -> Path:
    src = base / "src"
    (src / "d").mkdir(parents=True)
    (src / "a").write_text("a\n")
    (src / "d" / "b").write_text("b\n")
    (src / "d" / "c").write_text("c\n")
    return src


def _tail(log: Path) -> str:
    """The remote command's end, from the first ``-M`` word up to the ``.`` (no paths)."""
    line = log.read_text().splitlines()[0]
    return line[line.index(" --exclude=b") : line.index(" . ") + 2]


@pytest.mark.parametrize("direction", ["pull", "push"])
def test_remote_options_reach_the_server_as_rsyncs(
    real_rsync: RealRsync, rsh_shim_factory: ShimFactory, tmp_path: Path, direction: str
) -> None:
    src = _source(tmp_path)
    tails = []
    for who, argv in (("ours", pyrsync_argv()), ("theirs", real_rsync.argv())):
        shim = rsh_shim_factory(name=f"shim-{who}")
        dest = tmp_path / who
        if direction == "pull":
            where = [f"host:{src}/", f"{dest}/"]
        else:
            where = [f"{src}/", f"host:{dest}/"]
        code, _out, err = run(
            [*argv, "-a", "-e", shim, "-M--exclude=b", "-M", "--log-format=%n x", *where],
            timeout=60,
        )
        assert code == 0, (who, err)
        tails.append(_tail(shim_log(shim)))
    assert tails[0] == tails[1]
    assert tails[0] == r" --exclude=b --log-format=%n\ x ."
    assert_trees_equal(tmp_path / "ours", tmp_path / "theirs")
    if direction == "pull":  # the sending server excluded it
        assert not (tmp_path / "ours" / "d" / "b").exists()
        assert (tmp_path / "ours" / "d" / "c").exists()


def test_remote_options_reach_rsyncs_daemon(
    real_daemon: RealDaemonFactory, real_rsync: RealRsync, tmp_path: Path
) -> None:
    src = _source(tmp_path)
    d = real_daemon([DaemonModule("src", src)])
    for who, argv in (("ours", pyrsync_argv()), ("theirs", real_rsync.argv())):
        code, _out, err = run(
            [*argv, "-a", "-M--exclude=c", d.url("src") + "/", f"{tmp_path / who}/"],
            timeout=60,
        )
        assert code == 0, (who, err)
    assert_trees_equal(tmp_path / "ours", tmp_path / "theirs")
    assert not (tmp_path / "ours" / "d" / "c").exists()
    assert (tmp_path / "ours" / "d" / "b").exists()


def test_a_remote_option_without_a_dash_is_refused(real_rsync: RealRsync, tmp_path: Path) -> None:
    src = _source(tmp_path)
    results = []
    for argv in (pyrsync_argv(), real_rsync.argv()):
        code, _out, err = run([*argv, "-a", "-M", "exclude=b", f"{src}/", f"{tmp_path}/d/"])
        results.append((code, mask_error_location(err).splitlines()[0]))
    assert results[0] == results[1] == (1, "rsync: Remote option must start with a dash: exclude=b")
    assert not (tmp_path / "d").exists()
