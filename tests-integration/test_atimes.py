"""``-U``/``--atimes`` and ``--open-noatime`` as rsync 3.5 does them, in every seat.

``-U`` gives each received non-directory the sender's access time (whole seconds), and
itemizes a file whose access time alone differs as ``.f......u..``. ``--open-noatime``
(and ``-UU``) read the source with ``O_NOATIME``, so that the transfer leaves its access
times as they were. Every run of pyrsync is compared with rsync's in the same seat: local
copies, pyrsync pushing to and pulling from ``rsync --server`` over the ``-e`` shim, and
real rsync as the client of pyrsync's server. The client's forwarding is checked in the
shim's log of the server's command line.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

import pytest

from harness.client import pyrsync_argv
from harness.compare import assert_trees_equal
from harness.proc import run
from harness.shim import shim_log

if TYPE_CHECKING:
    from pathlib import Path

    from harness.shim import ShimFactory
    from harness.tools import RealRsync

pytestmark = pytest.mark.interop

OLD = 1_600_000_000
ATIMES = {"foo": 981_220_662, "dir/bar": 1_012_756_662, "empty": 1_044_292_662}
MODES = ["local", "push", "pull", "push-to-ours", "pull-from-ours"]


def _source(base: Path) -> Path:
    src = base / "src"
    (src / "dir").mkdir(parents=True)
    (src / "foo").write_text("content\n")
    (src / "dir" / "bar").write_text("more content\n" * 100)
    (src / "empty").write_bytes(b"")
    (src / "link").symlink_to("foo")
    _pin(src)
    return src


def _pin(src: Path) -> None:
    for rel, atime in ATIMES.items():
        os.utime(src / rel, (atime, OLD))
    for d in (src / "dir", src):
        os.utime(d, (OLD, OLD))


def _atimes(root: Path) -> dict[str, int]:
    return {rel: (root / rel).stat().st_atime_ns // 1_000_000_000 for rel in ATIMES}


def _shims(factory: ShimFactory) -> dict[str, Path]:
    return {
        "ours": factory([sys.executable, "-m", "rsync_client"], name="ours"),
        "theirs": factory(name="theirs"),
    }


def _argv(
    mode: str, who: str, real_rsync: RealRsync, shims: dict[str, Path], src: Path, dest: Path
) -> list[str]:
    client = pyrsync_argv() if who == "ours" else real_rsync.argv()
    if mode == "local":
        return [*client, f"{src}/", f"{dest}/"]
    if mode == "push":
        return [*client, "-e", str(shims["theirs"]), f"{src}/", f"host:{dest}/"]
    if mode == "pull":
        return [*client, "-e", str(shims["theirs"]), f"host:{src}/", f"{dest}/"]
    shim = shims[who]
    if mode == "push-to-ours":
        return [*real_rsync.argv(), "-e", str(shim), f"{src}/", f"host:{dest}/"]
    return [*real_rsync.argv(), "-e", str(shim), f"host:{src}/", f"{dest}/"]


def _with(argv: list[str], *options: str) -> list[str]:
    return [*argv[:-2], *options, *argv[-2:]]


@pytest.mark.parametrize("mode", MODES)
def test_atimes_as_rsync(
    real_rsync: RealRsync, rsh_shim_factory: ShimFactory, tmp_path: Path, mode: str
) -> None:
    src = _source(tmp_path)
    shims = _shims(rsh_shim_factory)
    changes = []
    for who in ("ours", "theirs"):
        _pin(src)
        dest = tmp_path / who
        argv = _argv(mode, who, real_rsync, shims, src, dest)
        code, _out, err = run(_with(argv, "-a", "-U"), timeout=60)
        assert code == 0, (who, err)
        assert _atimes(dest) == ATIMES, who
        # the access time alone changed: set again, itemized as "u"
        os.utime(src / "foo", (ATIMES["foo"] + 86_400, OLD))
        code, out, err = run(_with(argv, "-a", "-U", "-i"), timeout=60)
        assert code == 0, (who, err)
        assert (dest / "foo").stat().st_atime_ns // 1_000_000_000 == ATIMES["foo"] + 86_400
        changes.append(sorted(line for line in out.splitlines() if line.startswith(".f")))
    assert_trees_equal(tmp_path / "ours", tmp_path / "theirs")
    if mode in ("local", "pull", "pull-from-ours"):  # the client itemizes what it receives
        assert changes[0] == changes[1]
        assert ".f......u.. foo" in changes[0]


def _reading_sets_atime(tmp_path: Path) -> bool:
    probe = tmp_path / "probe"
    probe.write_text("x")
    os.utime(probe, (ATIMES["foo"], OLD + 10))
    probe.read_text()
    return probe.stat().st_atime_ns // 1_000_000_000 != ATIMES["foo"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("option", ["--open-noatime", "-UU"])
def test_open_noatime_keeps_source_atimes(
    real_rsync: RealRsync,
    rsh_shim_factory: ShimFactory,
    tmp_path: Path,
    mode: str,
    option: str,
) -> None:
    if not hasattr(os, "O_NOATIME"):
        pytest.skip("no O_NOATIME on this system")
    if not _reading_sets_atime(tmp_path):
        pytest.skip("reading a file does not change its access time here (noatime mount)")
    src = _source(tmp_path)
    shims = _shims(rsh_shim_factory)
    for who in ("ours", "theirs"):
        _pin(src)
        dest = tmp_path / who
        argv = _argv(mode, who, real_rsync, shims, src, dest)
        code, _out, err = run(_with(argv, "-a", option), timeout=60)
        assert code == 0, (who, err)
        assert _atimes(src) == ATIMES, who
        if option == "-UU":
            assert _atimes(dest) == ATIMES, who
    assert_trees_equal(tmp_path / "ours", tmp_path / "theirs")  # (reading sets atimes)


@pytest.mark.parametrize(
    ("options", "cluster", "long"),
    [(["-U"], "U", False), (["-UU"], "UU", False), (["-U", "--open-noatime"], "U", True)],
)
@pytest.mark.parametrize("direction", ["push", "pull"])
def test_client_forwards_as_rsync(
    real_rsync: RealRsync,
    rsh_shim_factory: ShimFactory,
    tmp_path: Path,
    options: list[str],
    cluster: str,
    long: bool,
    direction: str,
) -> None:
    """The server's command line: ``-U`` in the cluster, ``--open-noatime`` unless -UU."""
    src = _source(tmp_path)
    lines = []
    for who in ("ours", "theirs"):
        shim = rsh_shim_factory(name=f"shim-{who}")
        client = pyrsync_argv() if who == "ours" else real_rsync.argv()
        dest = tmp_path / who
        ends = [f"{src}/", f"host:{dest}/"] if direction == "push" else [f"host:{src}/", f"{dest}/"]
        code, _out, err = run([*client, "-a", *options, "-e", str(shim), *ends], timeout=60)
        assert code == 0, (who, err)
        lines.append(shim_log(shim).read_text())
    for line in lines:
        words = line.split()
        letters = next(w for w in words if w.startswith("-") and not w.startswith("--"))
        assert cluster in letters.partition("e")[0]
        assert ("U" * (len(cluster) + 1)) not in letters
        assert ("--open-noatime" in words) == long
