"""``--debug=CMD`` and ``--debug=FLIST`` at level 1 (both implied by ``-vv``), beside rsync.

* CMD: "opening connection using: ..." (the remote-shell command, words with other
  characters quoted), "protected args: ..." (``-s``), "sending daemon args: ..." (a
  daemon), each with its count of words;
* CONNECT: "opening tcp connection to HOST port PORT" (or "Using RSYNC_CONNECT_PROG
  instead of ..." with "Running socket program: ..."), "connection via http proxy ...";
* FLIST: "delta-transmission enabled", or "disabled for local transfer or --whole-file",
  from the receiving side (a server's comes to the client; ``--list-only`` too).

The ``-e`` letters of the server's option cluster are each program's own, so they are
masked before the lines are compared.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

import pytest

from harness.client import pyrsync_argv
from harness.proc import run

if TYPE_CHECKING:
    from pathlib import Path

    from harness.daemon import RealDaemonFactory
    from harness.shim import ShimFactory
    from harness.tools import RealRsync

pytestmark = pytest.mark.interop

_LINES = re.compile(
    r"^(opening connection using:|protected args:|sending daemon args:|delta-transmission "
    r"|opening tcp connection to |Using RSYNC_CONNECT_PROG |connection via http proxy "
    r"|Running socket program: )"
)


def _lines(out: str, base: Path, who: str) -> list[str]:
    shown = [line for line in out.splitlines() if _LINES.match(line)]
    shown = [line.replace(f"{base}/{who}", "DEST").replace(str(base), "BASE") for line in shown]
    return [re.sub(r"e\.[A-Za-z]+", "e.X", line) for line in shown]


def _source(base: Path) -> Path:
    src = base / "src"
    src.mkdir(parents=True)
    (src / "f").write_text("f\n")
    return src


@pytest.mark.parametrize(
    ("env", "expect"),
    [
        ({"RSYNC_PROXY": "user:pw@127.0.0.1:1"}, "connection via http proxy 127.0.0.1 port 1"),
        ({"RSYNC_CONNECT_PROG": "exit 3"}, 'Running socket program: "exit 3"'),
    ],
)
def test_proxy_and_connect_program_lines_are_rsyncs(
    real_rsync: RealRsync, tmp_path: Path, env: dict[str, str], expect: str
) -> None:
    seen = {}
    for who, argv in (("ours", pyrsync_argv()), ("theirs", real_rsync.argv())):
        code, out, _err = run(
            [*argv, "-r", "--debug=cmd,connect", "rsync://localhost/m/", f"{tmp_path}/d/"],
            env={**os.environ, **env},
        )
        assert code != 0, who
        seen[who] = _lines(out, tmp_path, who)
    assert seen["ours"] == seen["theirs"]
    assert expect in seen["ours"]


@pytest.mark.parametrize(
    "args",
    [
        ["-rvv"],
        ["-rvv", "-s"],
        ["-rv", "--debug=cmd,flist", "--append"],
        ["-rvv", "--list-only"],
    ],
)
@pytest.mark.parametrize("direction", ["pull", "push", "local"])
def test_remote_shell_and_local_lines_are_rsyncs(
    real_rsync: RealRsync,
    tmp_path: Path,
    rsh_shim_factory: ShimFactory,
    args: list[str],
    direction: str,
) -> None:
    if "--list-only" in args and direction == "push":
        pytest.skip("--list-only lists a source")
    src = _source(tmp_path)
    # rsync is the far side for both (the server's own lines are rsync's)
    shim = rsh_shim_factory(name="theirs")
    seen = {}
    for who, argv in (("ours", pyrsync_argv()), ("theirs", real_rsync.argv())):
        dest = tmp_path / who
        ends = {
            "pull": ["-e", f"{shim} -o 'Opt=a b'", f"localhost:{src}/", f"{dest}/"],
            "push": ["-e", str(shim), f"{src}/", f"localhost:{dest}/"],
            "local": [f"{src}/", f"{dest}/"],
        }[direction]
        if "--list-only" in args:
            ends = ends[:-1]
        code, out, err = run([*argv, *args, *ends], cwd=tmp_path)
        assert code == 0, (who, err)
        seen[who] = _lines(out, tmp_path, who)
    assert seen["ours"] == seen["theirs"]
    # a server's FLIST comes from its -v: a push with one -v gets no such line from it
    if direction != "push" or "-rvv" in args:
        assert any(line.startswith("delta-transmission") for line in seen["ours"])
    if direction != "local":
        assert seen["ours"][0].startswith("opening connection using: ")


def test_daemon_args_are_rsyncs(
    real_rsync: RealRsync, tmp_path: Path, real_daemon: RealDaemonFactory
) -> None:
    src = _source(tmp_path)
    daemon = real_daemon({"m": src})
    seen = {}
    for who, argv in (("ours", pyrsync_argv()), ("theirs", real_rsync.argv())):
        lines = []
        for extra in ([], ["-s"]):
            dest = tmp_path / f"{who}{len(extra)}"
            url = f"rsync://127.0.0.1:{daemon.port}/m/"
            code, out, err = run([*argv, "-rvv", *extra, url, f"{dest}/"], cwd=tmp_path)
            assert code == 0, (who, err)
            lines += _lines(out, tmp_path, who)
        seen[who] = lines
    assert seen["ours"] == seen["theirs"]
    assert "protected args: . m/  (2 args)" in seen["ours"]
    assert f"opening tcp connection to 127.0.0.1 port {daemon.port}" in seen["ours"]
