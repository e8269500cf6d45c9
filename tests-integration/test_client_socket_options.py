"""The client's connection and output options, each beside real rsync 3.5.

``--address`` (the daemon socket binds to it; one it cannot bind to ends in exit code
10 with nothing more said), ``--sockopts`` (rsync's option list; unknown names and
values given to options that take none are complained about, and the transfer goes
on), ``--outbuf`` (N, L or B; anything else is refused), ``--msgs2stderr`` (every
message on stderr, and forwarded either way as rsync's client forwards it),
``--skip-compress`` (forwarded to a sending server) and ``--trust-sender`` (the
receiving client takes names its own rules exclude).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from harness.client import pyrsync_argv
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
    (src / "f").write_text("f\n")
    (src / "d" / "g.gz").write_bytes(b"g" * 5000)
    return src


def _clients(real_rsync: RealRsync) -> dict[str, list[str]]:
    return {"ours": pyrsync_argv(), "theirs": real_rsync.argv()}


def _complaints(err: str) -> list[str]:
    """What stderr says, less rsync's "(code N) at FILE(LINE)" location."""
    return [line.split(" at ")[0] for line in err.splitlines() if line]


@pytest.mark.parametrize(
    "sockopts",
    ["SO_KEEPALIVE,SO_SNDBUF=8192", "NOSUCHOPT TCP_NODELAY", "IPTOS_LOWDELAY=1,SO_RCVBUF=x"],
)
def test_address_and_sockopts_as_rsync(
    real_daemon: RealDaemonFactory, real_rsync: RealRsync, tmp_path: Path, sockopts: str
) -> None:
    src = _source(tmp_path)
    d = real_daemon([DaemonModule("src", src)])
    said = []
    for who, client in _clients(real_rsync).items():
        dest = tmp_path / who
        code, _out, err = run(
            [
                *client,
                "-r",
                "--address=127.0.0.1",
                f"--sockopts={sockopts}",
                d.url("src") + "/",
                f"{dest}/",
            ],
            timeout=60,
        )
        assert code == 0, (who, err)
        said.append(_complaints(err))
    assert said[0] == said[1]
    assert_trees_equal(tmp_path / "ours", tmp_path / "theirs", times=False, perms=False)


def test_an_address_that_cannot_be_bound(
    real_daemon: RealDaemonFactory, real_rsync: RealRsync, tmp_path: Path
) -> None:
    src = _source(tmp_path)
    d = real_daemon([DaemonModule("src", src)])
    said = []
    for who, client in _clients(real_rsync).items():
        # TEST-NET-1: an address no interface of this machine has
        code, _out, err = run([*client, "--address=192.0.2.1", d.url("src") + "/"], timeout=60)
        assert code == 10, (who, err)
        said.append(_complaints(err))
    assert said[0] == said[1] == ["rsync error: error in socket IO (code 10)"]


@pytest.mark.parametrize(("mode", "ok"), [("N", True), ("line", True), ("B", True), ("X", False)])
def test_outbuf_as_rsync(
    real_daemon: RealDaemonFactory, real_rsync: RealRsync, tmp_path: Path, mode: str, ok: bool
) -> None:
    src = _source(tmp_path)
    d = real_daemon([DaemonModule("src", src)])
    results = []
    for client in _clients(real_rsync).values():
        code, out, err = run([*client, f"--outbuf={mode}", d.url("src") + "/"], timeout=60)
        results.append((code, sorted(line.split()[-1] for line in out.splitlines()), err))
    assert results[0][:2] == results[1][:2]
    assert (results[0][0] == 0) == ok
    if not ok:
        assert _complaints(results[0][2]) == _complaints(results[1][2])
        assert "Invalid --outbuf setting -- specify N, L, or B." in results[0][2]


@pytest.mark.parametrize("option", ["--msgs2stderr", "--no-msgs2stderr"])
@pytest.mark.parametrize("direction", ["push", "pull"])
def test_msgs2stderr_as_rsync(
    real_rsync: RealRsync,
    rsh_shim_factory: ShimFactory,
    tmp_path: Path,
    option: str,
    direction: str,
) -> None:
    src = _source(tmp_path)
    lines = []
    for who, client in _clients(real_rsync).items():
        shim = rsh_shim_factory(name=f"shim-{who}")
        dest = tmp_path / who
        ends = [f"{src}/", f"host:{dest}/"] if direction == "push" else [f"host:{src}/", f"{dest}/"]
        code, out, err = run([*client, "-rv", option, "-e", str(shim), *ends], timeout=60)
        assert code == 0, (who, err)
        words = shim_log(shim).read_text().split()
        lines.append([w for w in words if w.startswith("--") and "msgs2stderr" in w])
        if option == "--msgs2stderr":  # the client's own messages go to stderr too
            assert out == "", who
            assert "d/g.gz" in err, who
        else:
            assert "d/g.gz" in out, who
    assert lines[0] == lines[1] == [option]


@pytest.mark.parametrize("direction", ["push", "pull"])
def test_skip_compress_forwarded_as_rsync(
    real_rsync: RealRsync, rsh_shim_factory: ShimFactory, tmp_path: Path, direction: str
) -> None:
    src = _source(tmp_path)
    lines = []
    for who, client in _clients(real_rsync).items():
        shim = rsh_shim_factory(name=f"shim-{who}")
        dest = tmp_path / who
        ends = [f"{src}/", f"host:{dest}/"] if direction == "push" else [f"host:{src}/", f"{dest}/"]
        code, _out, err = run(
            [*client, "-rz", "--skip-compress=gz/txt", "-e", str(shim), *ends], timeout=60
        )
        assert code == 0, (who, err)
        lines.append([w for w in shim_log(shim).read_text().split() if w.startswith("--skip")])
    assert_trees_equal(tmp_path / "ours", tmp_path / "theirs", times=False, perms=False)
    assert lines[0] == lines[1] == ([] if direction == "push" else ["--skip-compress=gz/txt"])


@pytest.mark.parametrize("trust", [False, True])
def test_trust_sender_as_rsync(
    real_rsync: RealRsync, rsh_shim_factory: ShimFactory, tmp_path: Path, trust: bool
) -> None:
    """The server is told to include what the client excludes: the client rejects it."""
    src = _source(tmp_path)
    shim = rsh_shim_factory()
    results = []
    for who, client in _clients(real_rsync).items():
        dest = tmp_path / who
        extra = ["--trust-sender"] if trust else []
        ends = [f"host:{src}/", f"{dest}/"]
        code, _out, err = run(
            [*client, "-r", "--exclude=f", "-M--include=f", *extra, "-e", str(shim), *ends],
            timeout=60,
        )
        results.append((code, "ERROR: rejecting excluded file-list name: f" in err))
        if trust:
            assert (dest / "f").is_file(), who
    assert results[0] == results[1] == ((0, False) if trust else (4, True))
