"""Implementations that crash, hang, write outside their destination or never start.

Each one is a real program (a shell script described by a TOML file, as a user would add
one with ``--impl``): the matrix must finish, show it as a red cell with its output, and
leave no process behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from harness import proc
from harness.proc import run
from interop.impls import ImplementationError, builtins, load_implementation
from interop.matrix import Config, run_matrix

if TYPE_CHECKING:
    from harness.tools import RealRsync

pytestmark = pytest.mark.interop

INTEROP = Path(__file__).resolve().parent / "interop"


def _script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def _toml(path: Path, **roles: list[str]) -> Path:
    lines = [f"{role} = [{', '.join(repr(w) for w in argv)}]" for role, argv in roles.items()]
    path.write_text("\n".join(lines) + "\nprotocol = 32\n")
    return path


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status  # a zombie is dead, only not reaped by its parent


@pytest.mark.timeout(300)
def test_bad_implementations_are_red_cells(real_rsync: RealRsync, tmp_path: Path) -> None:
    # Services of session fixtures (sshd) may already run: only the matrix's own must end.
    before = {service.pid for service in proc.running_services()}
    pids = tmp_path / "hang.pids"
    crash = _script(tmp_path / "crash", 'echo "about to crash" >&2\nkill -SEGV $$\n')
    hang = _script(
        tmp_path / "hang",
        f"echo $$ >> {pids}\nsleep 600 &\necho $! >> {pids}\nwait\n",
    )
    outside = _script(
        tmp_path / "outside",
        'for last; do :; done\nmkdir -p "$last"\necho escaped > "$last/../escaped.txt"\n',
    )
    impls = {"rsync": builtins()["rsync"]}
    for name, toml in {
        "crash": _toml(tmp_path / "crash.toml", client=[str(crash)], server=[str(crash)]),
        "hang": _toml(tmp_path / "hang.toml", client=[str(hang)]),
        "outside": _toml(tmp_path / "outside.toml", client=[str(outside)]),
        "nodaemon": _toml(tmp_path / "nodaemon.toml", daemon=["/bin/false"]),
    }.items():
        impls[name] = load_implementation(f"{name}={toml}")

    config = Config(
        implementations=impls,
        transports=("daemon", "rsh", "local"),
        directions=("pull",),
        protocols=(32,),
        scenarios=("initial",),
        jobs=2,
        timeout=5,
        work=tmp_path / "work",
    )
    result = run_matrix(config)
    cells = {c.spec.id: c for c in result.cells}

    crashed = cells["local/crash/p32/initial"]
    assert (crashed.status, crashed.reason) == ("failed", "killed by SIGSEGV")
    assert crashed.run is not None
    assert "about to crash" in crashed.run.stderr

    server_crash = cells["rsh/pull/rsync>crash/p32/initial"]
    assert server_crash.status == "failed"
    assert server_crash.run is not None
    assert "about to crash" in server_crash.run.stderr

    hung = cells["local/hang/p32/initial"]
    assert hung.status == "hung"
    assert hung.reason == "killed at the timeout"
    started = [int(p) for p in pids.read_text().split()]
    assert started
    assert len(started) % 2 == 0  # each run: the script and its sleep
    assert not [pid for pid in started if _alive(pid)]

    escaped = cells["local/outside/p32/initial"]
    assert escaped.status == "failed"
    assert escaped.reason.startswith("wrote outside its destination")
    assert escaped.run is not None
    assert any("escaped.txt" in line for line in escaped.run.outside)

    no_daemon = cells["daemon/pull/rsync>nodaemon/p32/initial"]
    assert no_daemon.status == "failed"
    assert "did not start" in no_daemon.reason

    assert cells["local/rsync/p32/initial"].status == "identical"
    assert cells["daemon/pull/rsync>rsync/p32/initial"].status == "identical"
    assert [s for s in proc.running_services() if s.pid not in before] == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('client = ["x"]\nbogus = 1\n', "unknown key(s) bogus"),
        ("protocol = 32\n", "give at least one of client, server, daemon"),
        ('client = ["x"]\nprotocol = 99\n', "protocol must be a protocol number"),
        ('client = "x"\nmin_protocol = 31\nprotocol = 30\n', "min_protocol 31 is above"),
        ("client = [\n", "is not valid TOML"),
        ("client = []\n", "client must be a non-empty list of strings"),
    ],
)
def test_bad_toml_is_a_clear_error(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "impl.toml"
    path.write_text(text)
    with pytest.raises(ImplementationError, match=r"impl\.toml") as info:
        load_implementation(f"mine={path}")
    assert expected in str(info.value)


def test_cli_usage_errors_exit_2_without_traceback(tmp_path: Path) -> None:
    bad_toml = tmp_path / "bad.toml"
    bad_toml.write_text("server = 1\n")
    for args in (
        ["--impl", f"x={tmp_path / 'missing.toml'}"],
        ["--impl", f"x={bad_toml}"],
        ["--only", "nosuch"],
        ["--protocols", "26-40"],
        ["--transports", "carrier-pigeon"],
        ["--work", "/proc/no-such-dir", "--quick"],
    ):
        result = run([sys.executable, str(INTEROP), *args, "--out", tmp_path / "r"], timeout=60)
        assert result.returncode == 2, result.describe()
        assert "Traceback" not in result.stderr, result.describe()
        assert result.stderr.strip(), result.describe()
    assert not os.path.exists(tmp_path / "r")


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if text.encode() in cmdline and _alive(int(entry)):
            found.append(int(entry))
    return found


@pytest.mark.timeout(120)
def test_sigterm_stops_every_process(real_rsync: RealRsync, tmp_path: Path) -> None:
    pids = tmp_path / "hang.pids"
    hang = _script(tmp_path / "hang", f"echo $$ >> {pids}\nsleep 600 &\necho $! >> {pids}\nwait\n")
    toml = _toml(tmp_path / "hang.toml", client=[str(hang)])
    work = tmp_path / "work"
    cli = subprocess.Popen(
        [
            sys.executable,
            str(INTEROP),
            *("--impl", f"hang={toml}", "--only", "rsync,hang", "--transports", "daemon,local"),
            *("--directions", "pull", "--protocols", "32", "--scenarios", "initial"),
            *("--timeout", "300", "--work", str(work), "--out", str(tmp_path / "r"), "-q"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not (pids.exists() and len(pids.read_text().split()) >= 2):
            assert cli.poll() is None, cli.communicate()
            assert time.monotonic() < deadline, "the hanging client never started"
            time.sleep(0.1)
        assert _processes_mentioning(str(work))  # the daemon and the hanging client
        cli.send_signal(signal.SIGTERM)
        _out, err = cli.communicate(timeout=60)
    finally:
        if cli.poll() is None:
            os.killpg(cli.pid, signal.SIGKILL)
            cli.wait()
    assert cli.returncode == 130, err
    assert b"every process it started was stopped" in err
    assert b"Traceback" not in err
    started = [int(p) for p in pids.read_text().split()]
    assert not [pid for pid in started if _alive(pid)]
    assert not _processes_mentioning(str(work))
