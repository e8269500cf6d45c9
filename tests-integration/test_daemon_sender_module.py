"""What a daemon module imposes on the sender, seen by a real rsync 3.5 client.

The module parameters reach the sender in ``ModuleContext``. These tests hand one to
``run_server`` directly: the ``-e`` shim starts a small script (written below) that serves
one session on standard input and output with the module given in an environment
variable, so a real rsync client pulls from a sender with exactly that module. Where
rsync's own daemon has the same parameter, the client's result is compared with it.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from typing import TYPE_CHECKING

import pytest

from harness.daemon import DaemonModule
from harness.proc import run

if TYPE_CHECKING:
    from pathlib import Path

    from harness.daemon import RealDaemonFactory
    from harness.shim import ShimFactory
    from harness.tools import RealRsync

pytestmark = pytest.mark.interop

SERVER = """
import json, logging, os, sys
import anyio, msgspec
from rsync_wire.pipes import FdReceiveStream, FdSendStream
from rsync_wire.proto.args import parse_server_args
from rsync_wire.roles.server import ModuleContext, run_server
from rsync_wire.stream import WireStream

handler = logging.FileHandler(os.environ["SENDER_TEST_LOG"])
handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
logging.getLogger("rsync_wire").addHandler(handler)
logging.getLogger("rsync_wire").setLevel(logging.INFO)
module = msgspec.json.decode(os.environ["SENDER_TEST_MODULE"].encode(), type=ModuleContext)
parsed = parse_server_args(sys.argv[1:])

async def main():
    ws = WireStream(FdReceiveStream(os.dup(0)), FdSendStream(os.dup(1)))
    return await run_server(ws, parsed, module=module)

sys.exit(anyio.run(main))
"""


@pytest.fixture
def module_server(
    rsh_shim_factory: ShimFactory, tmp_path: Path
) -> tuple[Path, Path, dict[str, str]]:
    """(shim, log, env): ``rsync -e SHIM host:mod/...`` pulls from a sender with a module."""
    script = tmp_path / "module_server.py"
    script.write_text(SERVER)
    shim = rsh_shim_factory([sys.executable, str(script)])
    log = tmp_path / "sender.log"
    log.write_text("")
    return shim, log, dict(os.environ, SENDER_TEST_LOG=str(log))


def _pull(
    rsync: RealRsync,
    server: tuple[Path, Path, dict[str, str]],
    module: dict[str, object],
    src: str,
    dest: Path,
    *args: str,
) -> tuple[int, str, str]:
    shim, _log, env = server
    env = dict(env, SENDER_TEST_MODULE=json.dumps(module))
    return run(rsync.argv("-e", str(shim), *args, f"host:{src}", str(dest)), env=env, timeout=60)


def _modes(root: Path) -> dict[str, int]:
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            p = os.path.join(dirpath, name)
            out[os.path.relpath(p, root)] = stat.S_IMODE(os.lstat(p).st_mode)
    return out


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    mod = tmp_path / "mod"
    (mod / "sub").mkdir(parents=True)
    (mod / "a.txt").write_text("alpha\n" * 100)
    (mod / "x.sh").write_text("#!/bin/sh\n")
    (mod / "x.sh").chmod(0o755)
    (mod / "sub" / "b.txt").write_text("beta\n")
    (mod / "sub").chmod(0o750)
    (mod / "link").symlink_to("/rsyncd-munged/a.txt")
    return mod


@pytest.mark.parametrize("rule", ["Fo-r,Dg+s", "F600,D711", "a+X,go-w", "u=rwX,g=u,o="])
def test_outgoing_chmod_as_rsyncs_daemon(
    real_rsync: RealRsync,
    real_daemon: RealDaemonFactory,
    module_server: tuple[Path, Path, dict[str, str]],
    tree: Path,
    tmp_path: Path,
    rule: str,
) -> None:
    daemon = real_daemon([DaemonModule("mod", tree, options={"outgoing chmod": rule})])
    theirs = tmp_path / "theirs"
    code, _, err = run(real_rsync.argv("-rp", daemon.url("mod", ""), str(theirs)), timeout=60)
    assert code == 0, err
    ours = tmp_path / "ours"
    module = {"name": "mod", "path": str(tree), "outgoing_chmod": rule}
    code, _, err = _pull(real_rsync, module_server, module, "mod/", ours, "-rp")
    assert code == 0, err
    assert _modes(ours) == _modes(theirs)
    assert _modes(ours) != _modes(tree)


def test_munged_symlinks_travel_unmunged(
    real_rsync: RealRsync,
    real_daemon: RealDaemonFactory,
    module_server: tuple[Path, Path, dict[str, str]],
    tree: Path,
    tmp_path: Path,
) -> None:
    daemon = real_daemon([DaemonModule("mod", tree, options={"munge symlinks": "yes"})])
    theirs = tmp_path / "theirs"
    code, _, err = run(real_rsync.argv("-rl", daemon.url("mod", ""), str(theirs)), timeout=60)
    assert code == 0, err
    ours = tmp_path / "ours"
    module = {"name": "mod", "path": str(tree), "munge_symlinks": True}
    code, _, err = _pull(real_rsync, module_server, module, "mod/", ours, "-rl")
    assert code == 0, err
    assert os.readlink(ours / "link") == os.readlink(theirs / "link") == "a.txt"
    plain = tmp_path / "plain"
    module = {"name": "mod", "path": str(tree)}
    code, _, err = _pull(real_rsync, module_server, module, "mod/", plain, "-rl")
    assert code == 0, err
    assert os.readlink(plain / "link") == "/rsyncd-munged/a.txt"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_ignore_nonreadable_leaves_out_silently(
    real_rsync: RealRsync,
    module_server: tuple[Path, Path, dict[str, str]],
    tree: Path,
    tmp_path: Path,
) -> None:
    (tree / "locked").write_text("no\n")
    (tree / "locked").chmod(0)
    dest = tmp_path / "d"
    module = {"name": "mod", "path": str(tree), "ignore_nonreadable": True}
    code, out, err = _pull(real_rsync, module_server, module, "mod/", dest, "-r")
    assert code == 0, err
    assert not (dest / "locked").exists()
    assert (dest / "a.txt").exists()
    assert "locked" not in out + err


def test_transfer_log_lines(
    real_rsync: RealRsync,
    module_server: tuple[Path, Path, dict[str, str]],
    tree: Path,
    tmp_path: Path,
) -> None:
    dest = tmp_path / "d"
    module = {
        "name": "mod",
        "path": str(tree),
        "transfer_logging": True,
        "log_format": "%o %h [%a] %m (%u) %f %l %i %B%%",
        "peer_host": "client.example",
        "peer_addr": "192.0.2.7",
        "auth_user": "alice",
    }
    code, _, err = _pull(real_rsync, module_server, module, "mod/", dest, "-rlp")
    assert code == 0, err
    lines = sorted(
        line.removeprefix("rsync_wire.xferlog ")
        for line in module_server[1].read_text().splitlines()
        if line.startswith("rsync_wire.xferlog ")
    )
    assert lines == [
        "send client.example [192.0.2.7] mod (alice) a.txt 600 <f+++++++++ rw-r--r--%",
        "send client.example [192.0.2.7] mod (alice) sub/b.txt 5 <f+++++++++ rw-r--r--%",
        "send client.example [192.0.2.7] mod (alice) x.sh 10 <f+++++++++ rwxr-xr-x%",
    ]


@pytest.mark.parametrize(
    ("refuse", "args", "refused"),
    [
        ("checksum", ["-rc"], "--checksum (-c)"),
        ("c*", ["-rc"], "--checksum (-c)"),
        ("c* !checksum", ["-rc"], None),
        ("a", ["-a"], "--links (-l)"),
        ("archive", ["-rt"], "--times (-t)"),
        ("* !r", ["-rn"], None),
        ("*", ["-r", "--inplace"], "--recursive (-r)"),
        ("inplace", ["-r", "--inplace"], "--inplace"),
        ("copy-*", ["-rL"], "--copy-links (-L)"),
        ("hard-links", ["-rH"], "--hard-links (-H)"),
    ],
)
def test_refuse_options_as_rsyncs_daemon(
    request: pytest.FixtureRequest,
    real_rsync: RealRsync,
    tree: Path,
    tmp_path: Path,
    refuse: str,
    args: list[str],
    refused: str | None,
) -> None:
    for kind in ("our_daemon", "real_daemon"):
        daemon = request.getfixturevalue(kind)(
            [DaemonModule("mod", tree, options={"refuse options": refuse})]
        )
        dest = tmp_path / kind
        code, _, err = run(real_rsync.argv(*args, daemon.url("mod", ""), str(dest)), timeout=60)
        if refused is None:
            assert code == 0, (kind, err)
        else:
            assert f"rsync: The server is configured to refuse {refused}\n" in err, (kind, err)
            assert code != 0
            assert not (dest / "a.txt").exists()


def test_copy_devices_is_taken(
    real_rsync: RealRsync, our_daemon: RealDaemonFactory, tree: Path, tmp_path: Path
) -> None:
    """--copy-devices reaches the sending module (devices: test_copy_devices.py)."""
    daemon = our_daemon([DaemonModule("mod", tree)])
    code, _, err = run(
        real_rsync.argv("-r", "--copy-devices", daemon.url("mod", "a.txt"), str(tmp_path / "d")),
        timeout=60,
    )
    assert code == 0, err
    assert (tmp_path / "d").read_bytes() == (tree / "a.txt").read_bytes()


def test_remove_source_files_refused_by_a_read_only_module(
    request: pytest.FixtureRequest, real_rsync: RealRsync, tree: Path, tmp_path: Path
) -> None:
    seen = {}
    for kind in ("our_daemon", "real_daemon"):
        daemon = request.getfixturevalue(kind)([DaemonModule("mod", tree)])
        code, _, err = run(
            real_rsync.argv(
                "-r", "--remove-source-files", daemon.url("mod", ""), str(tmp_path / kind)
            ),
            timeout=60,
        )
        seen[kind] = (code, [ln for ln in err.splitlines() if "ERROR" in ln])
    assert seen["our_daemon"] == seen["real_daemon"]
    assert seen["our_daemon"][1] == [
        "ERROR: --remove-source-files cannot be used with a read-only module"
    ]
    assert (tree / "a.txt").exists()


def test_remove_source_files_as_rsyncs_sender(
    real_rsync: RealRsync, rsh_shim: Path, tmp_path: Path
) -> None:
    """Over a remote shell (no daemon sandbox), the files sent are removed as rsync's are."""
    results = []
    for k, program in enumerate(("rsync", f"{sys.executable} -m rsync_daemon")):
        src = tmp_path / f"src{k}"
        (src / "sub").mkdir(parents=True)
        (src / "a").write_text("a\n")
        (src / "sub" / "b").write_text("b\n")
        dest = tmp_path / f"dest{k}"
        code, _, err = run(
            real_rsync.argv(
                "-r",
                "--remove-source-files",
                "-e",
                str(rsh_shim),
                f"--rsync-path={program}",
                f"host:{src}/",
                str(dest),
            ),
            timeout=60,
        )
        left = sorted(str(p.relative_to(src)) for p in src.rglob("*"))
        got = sorted(str(p.relative_to(dest)) for p in dest.rglob("*"))
        results.append((code, err, left, got))
    assert results[0] == results[1]
    assert results[1][2] == ["sub"]
