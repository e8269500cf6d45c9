"""``--early-input=FILE``: the client hands a daemon's ``early exec`` script the file's bytes.

rsync's daemon (started per connection through ``RSYNC_CONNECT_PROG``) runs an ``early
exec`` script that saves its standard input, which is what the client sent after the
greeting and before the module name. Ours and rsync run the same command; the script
must have read the same bytes, and the refusals (a missing file, one over 5120 bytes, a
symlink another user planted) must be rsync's messages and exit code 5.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

from harness.client import pyrsync_argv
from harness.proc import run

if TYPE_CHECKING:
    from pathlib import Path

    from harness.tools import RealRsync

pytestmark = pytest.mark.interop


def _daemon(real_rsync: RealRsync, tmp_path: Path) -> dict[str, str]:
    """The environment of a client that reaches rsync's daemon through a connect program."""
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    (src / "f").write_text("file\n")
    script = tmp_path / "early.sh"
    script.write_text(
        f'#!/bin/sh\ncat > {tmp_path}/got\necho "[$RSYNC_MODULE_NAME]" >> {tmp_path}/got\n'
    )
    script.chmod(0o755)
    conf = tmp_path / "rsyncd.conf"
    conf.write_text(
        f"use chroot = no\nuid = {os.getuid()}\ngid = {os.getgid()}\n"
        f"[mod]\npath = {src}\nread only = no\nearly exec = {script}\n"
    )
    env = dict(os.environ)
    env["RSYNC_CONNECT_PROG"] = f"{real_rsync.path} --config={conf} --daemon"
    return env


@pytest.mark.parametrize("content", [b"hello early\n", b"", b"\x00\xff" * 2560])
@pytest.mark.parametrize("direction", ["pull", "push"])
def test_early_input_reaches_the_early_exec_script(
    real_rsync: RealRsync, tmp_path: Path, content: bytes, direction: str
) -> None:
    env = _daemon(real_rsync, tmp_path)
    early = tmp_path / "early"
    early.write_bytes(content)
    got = []
    for who, argv in (("ours", pyrsync_argv()), ("theirs", real_rsync.argv())):
        (tmp_path / "got").unlink(missing_ok=True)
        dest = tmp_path / who
        dest.mkdir()
        where = (
            ["rsync://localhost/mod/", f"{dest}/"]
            if direction == "pull"
            else [f"{dest}/", f"rsync://localhost/mod/{who}/"]
        )
        code, _out, err = run([*argv, "-a", f"--early-input={early}", *where], env=env)
        assert code == 0, (who, err)
        got.append((tmp_path / "got").read_bytes())
    assert got[0] == got[1] == content + b"[mod]\n"


def _refusal(real_rsync: RealRsync, tmp_path: Path, value: str) -> None:
    env = _daemon(real_rsync, tmp_path)
    results = []
    for argv in (pyrsync_argv(), real_rsync.argv()):
        code, out, err = run([*argv, f"--early-input={value}", "rsync://localhost/mod/"], env=env)
        lines = [ln for ln in err.splitlines() if not ln.startswith("rsync error:")]
        last = err.splitlines()[-1]
        assert last.startswith("rsync error: error starting client-server protocol (code 5)")
        results.append((code, out, lines))
    assert results[0] == results[1]
    assert results[0][0] == 5
    assert not (tmp_path / "got").exists()


def test_a_missing_file_is_refused(real_rsync: RealRsync, tmp_path: Path) -> None:
    _refusal(real_rsync, tmp_path, str(tmp_path / "missing"))


def test_a_file_over_5120_bytes_is_refused(real_rsync: RealRsync, tmp_path: Path) -> None:
    (tmp_path / "big").write_bytes(b"x" * 5121)
    _refusal(real_rsync, tmp_path, str(tmp_path / "big"))


@pytest.mark.skipif(os.geteuid() != 0, reason="planting another user's symlink needs root")
def test_a_planted_symlink_is_refused(real_rsync: RealRsync, tmp_path: Path) -> None:
    (tmp_path / "secret").write_text("secret\n")
    link = tmp_path / "planted"
    os.symlink(tmp_path / "secret", link)
    os.lchown(link, 65534, 65534)
    _refusal(real_rsync, tmp_path, str(link))
