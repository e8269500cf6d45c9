"""pyrsync's exit codes (and error lines) beside the real rsync client's, scenario by scenario."""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

import pytest

from harness.client import mask_error_location, pyrsync_argv
from harness.daemon import DaemonModule
from harness.proc import free_port, run

if TYPE_CHECKING:
    from pathlib import Path

    from harness.daemon import RealDaemonFactory
    from harness.proc import RunResult
    from harness.tools import RealRsync

pytestmark = pytest.mark.interop


def both(
    real_rsync: RealRsync, *args: object, cwd: Path | None = None
) -> tuple[RunResult, RunResult]:
    theirs = run(real_rsync.argv(*(str(a) for a in args)), cwd=cwd)
    ours = run(pyrsync_argv(*args), cwd=cwd)
    assert ours.returncode == theirs.returncode, (theirs.describe(), ours.describe())
    return theirs, ours


def last_error(result: RunResult) -> str:
    lines = [line for line in result.stderr.splitlines() if line.startswith("rsync error:")]
    return mask_error_location(lines[-1]) if lines else ""


@pytest.fixture
def module_dir(tmp_path: Path) -> Path:
    path = tmp_path / "module"
    (path / "sub").mkdir(parents=True)
    (path / "file").write_text("data\n")
    (path / "sub" / "inner").write_text("inner\n")
    return path


def test_unknown_module(
    real_rsync: RealRsync, real_daemon: RealDaemonFactory, module_dir: Path, tmp_path: Path
) -> None:
    daemon = real_daemon({"mod": module_dir})
    theirs, ours = both(real_rsync, "-a", daemon.url("nosuch"), tmp_path / "d")
    assert ours.returncode == 5
    assert "@ERROR: Unknown module 'nosuch'" in ours.stderr
    assert last_error(ours) == last_error(theirs)


def test_missing_source(
    real_rsync: RealRsync, real_daemon: RealDaemonFactory, module_dir: Path, tmp_path: Path
) -> None:
    daemon = real_daemon({"mod": module_dir})
    theirs, ours = both(real_rsync, "-a", daemon.url("mod", "missing"), tmp_path / "d")
    assert ours.returncode == 23
    assert 'link_stat "missing" (in mod) failed' in ours.stderr
    assert last_error(ours) == last_error(theirs)


def test_refused_option(
    real_rsync: RealRsync, real_daemon: RealDaemonFactory, module_dir: Path, tmp_path: Path
) -> None:
    daemon = real_daemon(
        [DaemonModule("mod", module_dir, options={"refuse options": "checksum compress"})]
    )
    # rsync's daemon closes right after its refusal: the client sees the end of the stream
    # (exit 10) or a reset (12) depending on timing, rsync's own client as much as ours.
    for option in ("-ac", "-az"):
        dest = tmp_path / option
        theirs = run(real_rsync.argv(option, daemon.url("mod"), str(dest)))
        ours = run(pyrsync_argv(option, daemon.url("mod"), dest))
        assert theirs.returncode in (10, 12), theirs.describe()
        assert ours.returncode in (10, 12), ours.describe()
        refused = "checksum" if option == "-ac" else "compress"
        assert f"configured to refuse --{refused}" in theirs.stderr
        assert f"configured to refuse --{refused}" in ours.stderr, ours.describe()


def test_connection_refused(real_rsync: RealRsync, tmp_path: Path) -> None:
    port = free_port()
    theirs, ours = both(real_rsync, "-a", f"rsync://127.0.0.1:{port}/mod/", tmp_path / "d")
    assert ours.returncode == 10
    assert "Connection refused (111)" in ours.stderr
    assert last_error(ours) == last_error(theirs)


def test_auth_failed_and_ok(
    real_rsync: RealRsync,
    real_daemon: RealDaemonFactory,
    module_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secrets = tmp_path / "secrets"
    secrets.write_text("alice:s3cret\n")
    secrets.chmod(0o600)
    daemon = real_daemon(
        [
            DaemonModule(
                "sec", module_dir, options={"auth users": "alice", "secrets file": str(secrets)}
            )
        ]
    )
    url = f"rsync://alice@{daemon.host}:{daemon.port}/sec/"
    monkeypatch.setenv("RSYNC_PASSWORD", "wrong")
    _, ours = both(real_rsync, "-a", url, tmp_path / "d")
    assert ours.returncode == 5
    assert "@ERROR: auth failed on module sec" in ours.stderr
    monkeypatch.setenv("RSYNC_PASSWORD", "s3cret")
    both(real_rsync, "-a", url, tmp_path / "d")
    assert (tmp_path / "d" / "sub" / "inner").read_text() == "inner\n"
    monkeypatch.delenv("RSYNC_PASSWORD")
    pwfile = tmp_path / "pw"
    pwfile.write_text("s3cret\n")
    pwfile.chmod(0o600)
    both(real_rsync, "-a", f"--password-file={pwfile}", url, tmp_path / "d3")
    assert (tmp_path / "d3" / "file").exists()
    pwfile.chmod(0o644)
    _theirs, ours = both(real_rsync, "-a", f"--password-file={pwfile}", url, tmp_path / "d4")
    assert "other-accessible" in ours.stderr
    if os.geteuid() != 0:
        return
    # A symlink another user planted is not followed (it would send the file it names
    # as the password); one of ours is (rsync: authenticate.c getpassf()).
    pwfile.chmod(0o600)
    planted = tmp_path / "planted"
    planted.symlink_to(pwfile)
    os.lchown(planted, 65534, 65534)
    _theirs, ours = both(real_rsync, "-a", f"--password-file={planted}", url, tmp_path / "d5")
    assert ours.returncode == 1
    assert "refusing to follow a symlink owned by an untrusted user" in ours.stderr
    assert not (tmp_path / "d5").exists()
    os.lchown(planted, 0, 0)
    both(real_rsync, "-a", f"--password-file={planted}", url, tmp_path / "d6")
    assert (tmp_path / "d6" / "file").exists()


def test_unknown_and_unsupported_options(real_rsync: RealRsync, tmp_path: Path) -> None:
    theirs, ours = both(real_rsync, "--no-such-option", "a", "b")
    assert ours.returncode == 1
    assert ours.stderr.splitlines()[0] == theirs.stderr.splitlines()[0]
    result = run(pyrsync_argv("--crtimes", "a", "b"))
    assert result.returncode == 1
    assert "--crtimes" in result.stderr
    theirs, ours = both(real_rsync, "--max-size=zz", "a", "b")
    assert ours.stderr.splitlines()[0] == theirs.stderr.splitlines()[0]


def test_push_to_a_closed_port_fails_as_rsync(real_rsync: RealRsync, tmp_path: Path) -> None:
    """A push is no longer refused: it fails where rsync fails (no daemon listening)."""
    theirs, ours = both(real_rsync, "-a", str(tmp_path), "rsync://127.0.0.1:9/mod/")
    assert theirs.returncode == 10
    assert ours.returncode == theirs.returncode, ours.stderr


def test_remote_command_not_found(
    real_rsync: RealRsync, rsh_shim: Path, module_dir: Path, tmp_path: Path
) -> None:
    theirs, ours = both(
        real_rsync,
        "-a",
        "-e",
        rsh_shim,
        "--rsync-path=/no/such/rsync",
        f"host:{module_dir}/",
        tmp_path / "d",
    )
    assert ours.returncode == 127
    # rsync's code is 127 once it reaped the shell, 12 when it saw the EOF first (a busy
    # machine): its words are compared when it says what we say
    assert theirs.returncode in (127, 12), theirs
    if theirs.returncode == 127:
        assert last_error(ours) == last_error(theirs)


def test_remote_shell_fails_to_start(
    real_rsync: RealRsync, module_dir: Path, tmp_path: Path
) -> None:
    args = ["-a", "-e", tmp_path / "no-such-shell", f"host:{module_dir}/", tmp_path / "d"]
    theirs = run(real_rsync.argv(*args))
    ours = run(pyrsync_argv(*args))
    # rsync forks first: its code is 14 (exec failed) or 12 (EOF seen before the child
    # was reaped); pyrsync does not fork, so it knows at once.
    assert theirs.returncode in (12, 14)
    assert ours.returncode == 14
    assert "Failed to exec" in ours.stderr


def test_missing_source_over_shell(
    real_rsync: RealRsync, rsh_shim: Path, module_dir: Path, tmp_path: Path
) -> None:
    _theirs, ours = both(
        real_rsync, "-a", "-e", rsh_shim, f"host:{module_dir}/nosuch/", tmp_path / "d"
    )
    assert ours.returncode == 23
    assert re.search(r'change_dir ".*nosuch" failed', ours.stderr)


def test_destination_errors(real_rsync: RealRsync, module_dir: Path, tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    _theirs, ours = both(real_rsync, "-a", f"{module_dir}/", afile)
    assert ours.returncode == 3
    assert "destination must be a directory" in ours.stderr
    both(real_rsync, "-a", module_dir / "file", tmp_path / "single")
    assert (tmp_path / "single").read_text() == "data\n"
    both(real_rsync, "-r", f"{module_dir}/", f"{afile}/")


def test_local_missing_source(real_rsync: RealRsync, tmp_path: Path) -> None:
    theirs, ours = both(real_rsync, "-a", tmp_path / "nosuch", tmp_path / "d")
    assert ours.returncode == 23
    assert last_error(ours) == last_error(theirs)
