"""Every failure of pyrsync ends as rsync's does: its lines, its exit code, no traceback.

Issue 9's cases, each beside the real rsync client: an auth module with no password and no
terminal, ports out of range or not numbers, an unknown host, a remote shell that cannot
reach its host, and the Python API's exception, which now carries rsync's lines.
"""

from __future__ import annotations

import contextlib
import sys
from typing import TYPE_CHECKING

import pytest

from harness.client import mask_error_location, pyrsync_argv
from harness.daemon import DaemonModule
from harness.proc import free_port, run
from harness.tools import require_tool

if TYPE_CHECKING:
    from pathlib import Path

    from harness.daemon import RealDaemonFactory
    from harness.proc import RunResult
    from harness.tools import RealRsync

pytestmark = pytest.mark.interop


def _no_traceback(result: RunResult) -> None:
    assert "Traceback" not in result.stderr, result.describe()
    assert "Error:" not in result.stderr.replace("rsync error:", ""), result.describe()


def _last_error(result: RunResult) -> str:
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("rsync error:")]
    return mask_error_location(lines[-1]) if lines else ""


@pytest.fixture
def module(tmp_path: Path) -> Path:
    path = tmp_path / "module"
    path.mkdir()
    (path / "file").write_text("data\n")
    return path


def test_auth_module_without_password_or_terminal(
    real_rsync: RealRsync, real_daemon: RealDaemonFactory, module: Path, tmp_path: Path
) -> None:
    secrets = tmp_path / "secrets"
    secrets.write_text("u:pw\n")
    secrets.chmod(0o600)
    daemon = real_daemon(
        [DaemonModule("auth", module, options={"auth users": "u", "secrets file": str(secrets)})]
    )
    setsid = require_tool("setsid")  # no controlling terminal: getpass() has no /dev/tty
    url = f"rsync://u@{daemon.host}:{daemon.port}/auth/"
    theirs = run([str(setsid), "-w", *real_rsync.argv(url, tmp_path / "d1")], stdin=b"")
    ours = run([str(setsid), "-w", *pyrsync_argv(url, tmp_path / "d2")], stdin=b"")
    assert theirs.returncode == 5, theirs.describe()
    assert ours.returncode == 5, ours.describe()
    _no_traceback(ours)
    for result in (theirs, ours):
        assert "Password: " in result.stderr
        assert "@ERROR: auth failed on module auth" in result.stderr
    assert _last_error(ours) == _last_error(theirs).replace("main.c(1954)", "")
    # A password on standard input (no terminal) is read as getpass() reads it.
    ours = run([str(setsid), "-w", *pyrsync_argv("-a", url, tmp_path / "d3")], stdin=b"pw\n")
    assert ours.returncode == 0, ours.describe()
    assert (tmp_path / "d3" / "file").read_text() == "data\n"


def test_port_above_65535_keeps_its_low_16_bits_as_rsync(
    real_rsync: RealRsync, real_daemon: RealDaemonFactory, module: Path, tmp_path: Path
) -> None:
    daemon = real_daemon({"mod": module})
    wrapped = daemon.port + 65536
    for args in (
        [f"rsync://{daemon.host}:{wrapped}/mod/"],
        [f"--port={wrapped}", f"{daemon.host}::mod/"],
    ):
        theirs = run(real_rsync.argv("-a", *args, tmp_path / "theirs"))
        ours = run(pyrsync_argv("-a", *args, tmp_path / "ours"))
        assert theirs.returncode == 0, theirs.describe()
        assert ours.returncode == 0, ours.describe()
        assert (tmp_path / "ours" / "file").read_text() == "data\n"


def test_refused_port_and_default_port(real_rsync: RealRsync, tmp_path: Path) -> None:
    port = free_port()
    for args in (
        [f"rsync://127.0.0.1:{port + 65536}/mod/"],
        [f"--port={port}", "127.0.0.1::mod/"],
    ):
        theirs = run(real_rsync.argv(*args, tmp_path / "d"))
        ours = run(pyrsync_argv(*args, tmp_path / "d"))
        assert (theirs.returncode, ours.returncode) == (10, 10), (theirs.describe(), ours)
        _no_traceback(ours)
        assert "failed to connect to 127.0.0.1 (127.0.0.1): Connection refused (111)" in (
            ours.stderr
        )
        assert _last_error(ours) == _last_error(theirs)
    theirs = run(real_rsync.argv("--port=notaport", "127.0.0.1::mod/", tmp_path / "d"))
    ours = run(pyrsync_argv("--port=notaport", "127.0.0.1::mod/", tmp_path / "d"))
    assert (theirs.returncode, ours.returncode) == (1, 1)
    assert ours.stderr.splitlines()[0] == theirs.stderr.splitlines()[0]


def test_unknown_host_says_name_or_service_not_known(real_rsync: RealRsync, tmp_path: Path) -> None:
    for url in ("nosuchhost.invalid::mod/", "rsync://nosuchhost.invalid/mod/"):
        theirs = run(real_rsync.argv(url, tmp_path / "d"))
        ours = run(pyrsync_argv(url, tmp_path / "d"))
        assert ours.returncode == theirs.returncode == 10, (theirs.describe(), ours.describe())
        _no_traceback(ours)
        assert "Unknown error" not in ours.stderr
        first = theirs.stderr.splitlines()[0]
        assert first.startswith("rsync: getaddrinfo: nosuchhost.invalid 873: ")
        assert ours.stderr.splitlines()[0] == first


def test_url_with_a_port_that_is_no_number_goes_to_the_remote_shell(
    real_rsync: RealRsync, tmp_path: Path
) -> None:
    # As rsync: "rsync://h:notaport/m/" is no URL, but host "rsync", path "//h:notaport/m/".
    shell = tmp_path / "fake-ssh"
    log = tmp_path / "fake-ssh.log"
    shell.write_text(
        f'#!/bin/sh\necho "$@" >> {log}\n'
        'echo "ssh: Could not resolve hostname rsync: Name or service not known" >&2\n'
        "exit 255\n"
    )
    shell.chmod(0o755)
    args = ["-e", shell, "rsync://127.0.0.1:notaport/mod/", tmp_path / "d"]
    theirs = run(real_rsync.argv(*args))
    ours = run(pyrsync_argv(*args))
    # rsync takes ssh's 255 when it reaps the shell before it exits, else 12 (a race)
    assert theirs.returncode in (12, 255), theirs.describe()
    assert ours.returncode == 255, ours.describe()
    _no_traceback(ours)
    assert "Could not resolve hostname rsync" in ours.stderr
    calls = log.read_text().splitlines()
    assert len(calls) == 2
    assert all(call.startswith("rsync rsync --server --sender") for call in calls), calls
    assert all(call.endswith("//127.0.0.1:notaport/mod/") for call in calls), calls


_API = r"""
import json, sys
from rsync_client import SyncError, sync
try:
    sync(sys.argv[1], sys.argv[2], archive=True)
except SyncError as exc:
    print(json.dumps({"code": exc.code, "output": exc.output, "message": str(exc)}))
else:
    print(json.dumps({"code": 0}))
"""


def test_api_exception_carries_rsyncs_lines(
    real_rsync: RealRsync, real_daemon: RealDaemonFactory, module: Path, tmp_path: Path
) -> None:
    import json

    daemon = real_daemon({"mod": module})
    cases = [
        (daemon.url("nosuch"), 5, "@ERROR: Unknown module 'nosuch'"),
        (f"rsync://127.0.0.1:{free_port()}/mod/", 10, "Connection refused (111)"),
        ("nosuchhost.invalid::mod/", 10, "rsync: getaddrinfo: nosuchhost.invalid 873: "),
        (daemon.url("mod", "missing"), 23, 'link_stat "missing" (in mod) failed'),
    ]
    for source, code, text in cases:
        result = run([sys.executable, "-c", _API, source, str(tmp_path / "d")])
        assert result.returncode == 0, result.describe()
        _no_traceback(result)
        got = json.loads(result.stdout)
        theirs = run(real_rsync.argv("-a", source, tmp_path / "theirs"))
        assert got["code"] == theirs.returncode == code, (got, theirs.describe())
        assert text in got["output"], got
        last = got["output"].splitlines()[-1]
        assert mask_error_location(last) == _last_error(theirs), got
        assert last in got["message"]


@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM", "SIGHUP"])
def test_signal_ends_with_rsyncs_single_line(
    real_rsync: RealRsync, tmp_path: Path, signame: str
) -> None:
    """Ctrl-C (or a kill) while the remote shell is starting: code 20 and one line."""
    import os
    import signal
    import subprocess
    import time

    results = {}
    for name, argv in (("theirs", real_rsync.argv), ("ours", pyrsync_argv)):
        started = tmp_path / f"{name}.started"
        shell = tmp_path / f"{name}-slow-shell"
        shell.write_text(f"#!/bin/sh\necho started > {started}\nexec sleep 60\n")
        shell.chmod(0o755)
        proc = subprocess.Popen(
            argv("-a", "-e", str(shell), "host:/x/", str(tmp_path / name)),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            while not started.exists() and proc.poll() is None:
                time.sleep(0.05)
            time.sleep(0.5)  # the client now waits for the remote side's first bytes
            os.kill(proc.pid, getattr(signal, signame))
            _out, err = proc.communicate(timeout=30)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # the session we started: the shell too
            proc.wait()
        results[name] = (proc.returncode, err.decode())
    assert results["ours"][0] == results["theirs"][0] == 20, results
    ours_lines = results["ours"][1].splitlines()
    theirs_lines = results["theirs"][1].splitlines()
    assert [mask_error_location(ln) for ln in ours_lines] == [
        mask_error_location(ln) for ln in theirs_lines
    ], results


@pytest.mark.parametrize(
    "args",
    [
        ["", "DEST"],
        ["-a", "SRC/", ""],
        ["--max-size=1e999", "SRC/", "DEST"],
        ["--max-size=nan", "SRC/", "DEST"],
        ["--timeout=abc", "SRC/", "DEST"],
        ["--modify-window=99999999999999999999", "SRC/", "DEST"],
        ["--checksum-seed=99999999999999999999", "SRC/", "DEST"],
        ["--port=99999999999", "127.0.0.1::m", "DEST"],
        ["--max-delete=abc", "SRC/", "DEST"],
        ["::m", "DEST"],
    ],
)
def test_bad_input_is_refused_in_rsyncs_words(
    real_rsync: RealRsync, module: Path, tmp_path: Path, args: list[str]
) -> None:
    def fill(name: str) -> list[str]:
        dest = str(tmp_path / name)
        return [a.replace("SRC", str(module)).replace("DEST", dest) for a in args]

    theirs = run(real_rsync.argv(*fill("theirs")))
    ours = run(pyrsync_argv(*fill("ours")))
    assert ours.returncode == theirs.returncode != 0, (theirs.describe(), ours.describe())
    _no_traceback(ours)
    assert ours.stderr.splitlines()[0] == theirs.stderr.splitlines()[0]
    assert _last_error(ours) == mask_error_location(theirs.stderr.splitlines()[-1])


def test_connect_failures_name_each_address_tried(real_rsync: RealRsync, tmp_path: Path) -> None:
    port = free_port()
    for args in (
        [f"rsync://localhost:{port}/m/"],
        ["-4", f"rsync://localhost:{port}/m/"],
        ["-6", f"rsync://127.0.0.1:{port}/m/"],  # no IPv6 address for an IPv4 literal
    ):
        theirs = run(real_rsync.argv(*args, tmp_path / "d"))
        ours = run(pyrsync_argv(*args, tmp_path / "d"))
        assert ours.returncode == theirs.returncode == 10, (theirs.describe(), ours.describe())
        assert ours.stderr.splitlines()[:-1] == theirs.stderr.splitlines()[:-1]
        assert _last_error(ours) == _last_error(theirs)


@pytest.mark.parametrize("flag", ["-4", "-6"])
def test_address_family_reaches_ssh_as_rsync_passes_it(
    real_rsync: RealRsync, tmp_path: Path, flag: str
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "ssh.log"
    fake_ssh = bin_dir / "ssh"  # rsync adds -4/-6 only when the shell is called ssh
    fake_ssh.write_text(f'#!/bin/sh\necho "$@" >> {log}\nexit 255\n')
    fake_ssh.chmod(0o755)
    args = [flag, "-e", f"{fake_ssh} -x", "user@host:/src/", tmp_path / "d"]
    theirs = run(real_rsync.argv(*args))
    ours = run(pyrsync_argv(*args))
    assert theirs.returncode in (12, 255)
    assert ours.returncode == 255, ours.describe()
    calls = log.read_text().splitlines()
    assert len(calls) == 2
    assert calls[0].split(" rsync ")[0] == calls[1].split(" rsync ")[0] == f"-x -l user {flag} host"


def test_output_reader_gone_does_not_stop_the_copy(real_rsync: RealRsync, tmp_path: Path) -> None:
    """``pyrsync -v ... | head -1``: rsync finishes the copy, exit 0, and so does pyrsync."""
    import subprocess

    src = tmp_path / "many"
    src.mkdir()
    for i in range(3000):
        (src / f"file_with_a_rather_long_name_{i:05}").write_text("x")
    for name, argv in (("theirs", real_rsync.argv), ("ours", pyrsync_argv)):
        dest = tmp_path / name
        proc = subprocess.Popen(
            argv("-rv", f"{src}/", f"{dest}/"),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert proc.stdout is not None
        proc.stdout.readline()
        proc.stdout.close()  # the reader goes away, as head -1 does
        _out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, (name, err.decode())
        assert "Traceback" not in err.decode()
        assert "Exception ignored" not in err.decode()
        assert len(list(dest.iterdir())) == 3000, name
