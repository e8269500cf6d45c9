"""pyrsyncd details found after issue 8 landed, each checked with the real rsync client.

- The daemon over a remote shell honours ``--config FILE`` (``pyrsyncd --config=FILE
  --server --daemon .`` and ``pyrsync --server --daemon --config=FILE .``), as rsync does.
- ``--daemon`` on a socket handed over on standard input (inetd, RSYNC_CONNECT_PROG) with
  no ``log file`` keeps its log lines off standard error (the client's), as rsync's syslog.
"""

from __future__ import annotations

import os
import re
import shlex
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


def _module(tmp_path: Path, name: str) -> Path:
    root = tmp_path / name
    root.mkdir()
    (root / "hello.txt").write_text(f"hello from {name}\n")
    os.chmod(root, 0o755)  # noqa: S103 - readable by the serving user on purpose
    os.chmod(root / "hello.txt", 0o644)
    return root


def _conf(tmp_path: Path, module: Path, *, log_file: Path | None = None) -> Path:
    conf = tmp_path / "rsyncd.conf"
    lines = ["use chroot = no", "uid = 0", "gid = 0"] if os.geteuid() == 0 else []
    if log_file is not None:
        lines.append(f"log file = {log_file}")
    lines += ["[given]", f"path = {module}", "comment = from --config", "read only = yes"]
    conf.write_text("\n".join(lines) + "\n")
    return conf


@pytest.fixture
def other_home(tmp_path: Path) -> Path:
    """An ``$XDG_CONFIG_HOME`` whose pyrsyncd.toml serves another module (must be ignored)."""
    home = tmp_path / "xdg"
    home.mkdir()
    other = _module(tmp_path, "other")
    (home / "pyrsyncd.toml").write_text(f'[modules.default]\npath = "{other}"\n')
    return home


def _wrapper(tmp_path: Path, name: str, xdg: Path, command: list[str]) -> Path:
    """A ``--rsync-path`` script running ``command`` with ``$XDG_CONFIG_HOME`` set."""
    path = tmp_path / name
    path.write_text(
        f"#!/bin/sh\nXDG_CONFIG_HOME={shlex.quote(str(xdg))} exec {shlex.join(command)}\n"
    )
    path.chmod(0o755)
    return path


@pytest.mark.parametrize("protocol", [29, 32])
@pytest.mark.parametrize("how", ["pyrsyncd", "pyrsync", "real-rsync"])
def test_daemon_over_remote_shell_reads_config(
    real_rsync: RealRsync,
    rsh_shim_factory: ShimFactory,
    other_home: Path,
    tmp_path: Path,
    protocol: int,
    how: str,
) -> None:
    """``--config FILE`` names the modules served over a remote shell, as rsync's daemon."""
    conf = _conf(tmp_path, _module(tmp_path, "given"))
    if how == "pyrsyncd":
        # what rsync runs for --rsync-path='pyrsyncd --config=FILE': the option comes first
        command = [sys.executable, "-m", "rsync_daemon", f"--config={conf}"]
        rsync_path = shlex.join(command)
    elif how == "pyrsync":
        # the client re-executes itself as pyrsyncd, arguments as given (--config after)
        argv = [sys.executable, "-m", "rsync_client", "--server", "--daemon", "--config", str(conf)]
        rsync_path = str(_wrapper(tmp_path, "pyrsync-wrapper", other_home, [*argv, "."]))
        rsync_path += " #"  # the wrapper gives the arguments; drop rsync's '--server --daemon .'
    else:
        rsync_path = shlex.join([str(real_rsync.path), f"--config={conf}"])
    shim = rsh_shim_factory()
    env = {**os.environ, "XDG_CONFIG_HOME": str(other_home)}
    args = [f"--protocol={protocol}", "-e", str(shim), f"--rsync-path={rsync_path}"]
    code, out, err = run(real_rsync.argv(*args, "localhost::"), env=env, timeout=60)
    assert code == 0, err
    assert out.split() == ["given", "from", "--config"]
    dest = tmp_path / "dest"
    code, _, err = run(
        real_rsync.argv("-a", *args, "localhost::given/", str(dest)), env=env, timeout=60
    )
    assert code == 0, err
    assert (dest / "hello.txt").read_text() == "hello from given\n"


def test_daemon_over_remote_shell_missing_config(
    real_rsync: RealRsync, rsh_shim_factory: ShimFactory, tmp_path: Path
) -> None:
    """A ``--config`` that cannot be read is an error the client sees, not an empty list."""
    missing = tmp_path / "missing.conf"
    rsync_path = shlex.join([sys.executable, "-m", "rsync_daemon", f"--config={missing}"])
    shim = rsh_shim_factory()
    args = ["-e", str(shim), f"--rsync-path={rsync_path}", "localhost::"]
    code, out, err = run(real_rsync.argv(*args), timeout=60)
    assert code != 0
    assert str(missing) in err
    assert "Traceback" not in err
    assert out == ""


@pytest.mark.parametrize("daemon", ["pyrsyncd", "real-rsync"])
@pytest.mark.parametrize("log_file", [False, True], ids=["no-log-file", "log-file"])
def test_connect_prog_daemon_keeps_log_off_stderr(
    real_rsync: RealRsync, tmp_path: Path, daemon: str, log_file: bool
) -> None:
    """``RSYNC_CONNECT_PROG='... --config=CONF --daemon'``: the client's stderr stays clean.

    The daemon's standard error is the client's. Without a ``log file`` rsync logs to
    syslog (nothing when there is none); with one, the lines go there.
    """
    log = tmp_path / "daemon.log"
    conf = _conf(tmp_path, _module(tmp_path, "given"), log_file=log if log_file else None)
    if daemon == "pyrsyncd":
        prog = shlex.join([sys.executable, "-m", "rsync_daemon", f"--config={conf}", "--daemon"])
    else:
        prog = shlex.join([str(real_rsync.path), f"--config={conf}", "--daemon"])
    env = {**os.environ, "RSYNC_CONNECT_PROG": prog}
    dest = tmp_path / "dest"
    code, out, err = run(
        real_rsync.argv("-a", "rsync://localhost/given/", str(dest)), env=env, timeout=60
    )
    assert (code, err) == (0, "")
    assert out == ""
    assert (dest / "hello.txt").read_text() == "hello from given\n"
    if log_file:
        assert "rsync on given/ from" in log.read_text()


@pytest.mark.parametrize("daemon", ["our_daemon", "real_daemon"])
@pytest.mark.parametrize("protocol", [27, 29])
def test_block_size_limit_follows_the_protocol(
    real_rsync: RealRsync,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    daemon: str,
    protocol: int,
) -> None:
    """``-B 256K`` below protocol 30 (where the limit is 512M, not 128K), as rsync's daemon.

    (From protocol 30 the real client refuses it itself, before it connects.)
    """
    src = _module(tmp_path, "src")
    (src / "big.bin").write_bytes(os.urandom(600_000))
    os.chmod(src / "big.bin", 0o644)
    started = request.getfixturevalue(daemon)({"src": src})
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "big.bin").write_bytes(b"x" * 600_000)  # an old version: the delta uses -B
    args = [f"--protocol={protocol}", "-r", "--no-whole-file", "-B262144", "-I"]
    got, _, err = run(real_rsync.argv(*args, started.url("src", ""), str(dest)), timeout=60)
    assert (got, err) == (0, "")
    assert (dest / "big.bin").read_bytes() == (src / "big.bin").read_bytes()


@pytest.mark.parametrize("daemon", ["our_daemon", "real_daemon"])
def test_many_daemon_arguments(
    real_rsync: RealRsync, request: pytest.FixtureRequest, tmp_path: Path, daemon: str
) -> None:
    """As many path arguments as the real client sends (it stops under 1,000), and a
    wildcard the daemon expands to 1,500 names, are served.

    (Past rsync's 16,000 lines, "too many daemon arguments": test_daemon_conf_directives,
    from a raw client, since rsync's own client cannot send that many.)
    """
    src = _module(tmp_path, "src")
    for i in range(1500):
        (src / f"f{i}").write_text(str(i))
        os.chmod(src / f"f{i}", 0o644)
    started = request.getfixturevalue(daemon)({"src": src})
    dest = tmp_path / "dest"
    urls = [started.url("src", f"f{i}") for i in range(990)]
    code, _, err = run(real_rsync.argv("-a", *urls, f"{dest}/"), timeout=120)
    assert (code, err) == (0, "")
    assert len(os.listdir(dest)) == 990
    globbed = tmp_path / "globbed"
    code, _, err = run(real_rsync.argv("-a", started.url("src", "f*"), f"{globbed}/"), timeout=120)
    assert (code, err) == (0, "")
    assert len(os.listdir(globbed)) == 1500


SCENARIOS = {
    "read-only": ("ro", [], True),
    "refused-option": ("nodel", ["--delete"], True),
    "refused-download": ("noz", ["-z"], False),
    "write-only": ("wo", [], False),
    "remove-from-read-only": ("ro", ["--remove-source-files"], False),
    # arguments the daemon cannot parse (rsync: clientserver.c rsync_module(), option_error())
    "unknown-option-download": ("ro", ["-M--bogus"], False),
    "unknown-option-upload": ("nodel", ["-M--bogus"], True),
}
# refused by the sender once it has read the filter list (rsync: main.c
# do_server_sender()): below protocol 31 rsync's daemon loses its line, pyrsyncd sends it
AFTER_FILTERS = {
    "write-only": "ERROR: module is write only",
    "remove-from-read-only": "ERROR: --remove-source-files cannot be used with a read-only module",
}


def _refusal(text: str) -> list[str]:
    """The client's lines, each exit line's source location and version masked (not its role).

    rsync's daemon names its source file and line (``at clientserver.c(1267)
    [Receiver=3.5.0]``), pyrsyncd ``at pyrsync [Receiver=0.1.0]``.
    """
    return [
        re.sub(r"^(rsync error: .*\(code \d+\)) at .* \[(\w+)=[^]]*\]$", r"\1 [\2]", line)
        for line in text.splitlines()
    ]


# 31 is where MSG_ERROR_EXIT starts, the boundary these refusals turn on
@pytest.mark.parametrize("protocol", [27, 30, 31, 32])
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_refusal_after_ok_reaches_the_client_as_rsync(
    real_rsync: RealRsync,
    real_daemon: RealDaemonFactory,
    our_daemon: RealDaemonFactory,
    tmp_path: Path,
    protocol: int,
    scenario: str,
) -> None:
    """A refusal after ``@RSYNCD: OK``: the same lines and exit code as from rsync's daemon.

    The daemon's exit line and, from protocol 31, MSG_ERROR_EXIT reach the client of an
    upload (a receiver flushes them), and of a download only once the daemon reads the
    client's input (after the filter list: a write-only module, or --remove-source-files
    from a read-only one). A download
    refused at once (an option) ends without them: the client reports the reset, exit 10,
    whatever the protocol (rsync: cleanup.c _exit_cleanup(), io_flush() only when
    !am_sender). Below protocol 31 the client of an upload learns of the end from the
    connection too.
    """
    name, options, upload = SCENARIOS[scenario]
    mod = _module(tmp_path, "mod")
    modules = [
        DaemonModule("ro", mod),
        DaemonModule("nodel", mod, read_only=False, options={"refuse options": "delete"}),
        DaemonModule("noz", mod, options={"refuse options": "compress"}),
        DaemonModule("wo", mod, read_only=False, options={"write only": "yes"}),
    ]
    up = _module(tmp_path, "up")
    results = {}
    for label, factory in (("real", real_daemon), ("ours", our_daemon)):
        started = factory(modules)
        url = started.url(name, "")
        where = [f"{up}/", url] if upload else [url, f"{tmp_path / label}/"]
        code, out, err = run(
            real_rsync.argv(f"--protocol={protocol}", "-r", *options, *where), timeout=60
        )
        results[label] = (code, out, _refusal(err))
    assert results["ours"][0] != 0
    if scenario in AFTER_FILTERS and protocol < 31:
        # rsync's daemon loses its own message here (the client reports 0 bytes received);
        # pyrsyncd's reaches the client, before the same closed connection and code.
        ours, real = results["ours"], results["real"]
        assert ours[0] == real[0] == 12
        assert ours[2][0] == AFTER_FILTERS[scenario]
        assert "connection unexpectedly closed" in ours[2][1]
        return
    assert results["ours"] == results["real"]


def test_daemon_over_remote_shell_logs_to_its_log_file(
    real_rsync: RealRsync, rsh_shim_factory: ShimFactory, tmp_path: Path
) -> None:
    """Over a remote shell the daemon logs where its configuration says, as rsync's."""
    log = tmp_path / "daemon.log"
    conf = _conf(tmp_path, _module(tmp_path, "given"), log_file=log)
    rsync_path = shlex.join([sys.executable, "-m", "rsync_daemon", f"--config={conf}"])
    shim = rsh_shim_factory()
    dest = tmp_path / "dest"
    args = ["-a", "-e", str(shim), f"--rsync-path={rsync_path}", "localhost::given/", str(dest)]
    code, _, err = run(real_rsync.argv(*args), timeout=60)
    assert (code, err) == (0, "")
    assert "rsync on given/ from" in log.read_text()
