"""``pyrsync -V``/``-VV``: rsync's capability report, in rsync's shape, and true.

Scripts and rsync's own test suite read ``-VV``'s JSON to decide what to run, so the
report must parse like rsync's (same keys, same layout) and must not claim what pyrsync
cannot do: every capability that is ``true`` is exercised here with a local copy, every
``false`` one tied to an option is checked to be refused, and every listed checksum and
compression is used against real rsync. The probes rsync's suite makes (``--version``
says "protocol version", ``--help`` says "Usage", an option pyrsync lacks says "unknown
option" and exits 1) are checked too.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from typing import TYPE_CHECKING, Any

import pytest

from rsync_client.capabilities import algorithm_lists, render_json, render_text
from rsync_client.cli import PLATFORM_REFUSALS, main
from rsync_wire.proto.optable import OPTIONS, Arg

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

REAL_RSYNC = shutil.which("rsync")
needs_rsync = pytest.mark.skipif(REAL_RSYNC is None, reason="real rsync is not installed")

# Options behind the capabilities that pyrsync either implements or refuses.
OPTION_OF: dict[str, list[str]] = {
    "atimes": ["--atimes"],
    "batchfiles": ["--write-batch=BATCH"],
    "inplace": ["--inplace"],
    "append": ["--append"],
    "ACLs": ["--acls"],
    "xattrs": ["--xattrs"],
    "secluded_args": ["--secluded-args"],
    "iconv": ["--iconv=UTF-8"],
    "prealloc": ["--preallocate"],
    "stop_at": ["--stop-at=2999-12-31T23:59"],
    "crtimes": ["--crtimes"],
}


def pyrsync(
    *args: str | os.PathLike[str], cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run pyrsync as its own process (a local copy confines the process it runs in)."""
    return subprocess.run(
        [sys.executable, "-m", "rsync_client", *(os.fspath(a) for a in args)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=cwd,
    )


def report(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    assert main(list(args)) == 0
    data: dict[str, Any] = json.loads(capsys.readouterr().out)
    return data


# -- the probes --------------------------------------------------------------------------------


@pytest.mark.parametrize("args", [["-VV"], ["-V", "-V"], ["--version", "--version"], ["-vVV"]])
def test_vv_is_json(capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    data = report(capsys, *args)
    assert data["program"] == "pyrsync"
    assert data["protocol"] == "32.0"
    assert set(data) == {
        "program",
        "version",
        "protocol",
        "capabilities",
        "optimizations",
        "checksum_list",
        "compress_list",
        "daemon_auth_list",
    }


@pytest.mark.parametrize("args", [["-V"], ["--version"], ["-v", "--version", "src", "dst"]])
def test_v_is_text(capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    assert main(args) == 0
    out = capsys.readouterr().out
    assert out.startswith("pyrsync  version ")
    assert "  protocol version 32\n" in out
    assert "Capabilities:\n" in out
    assert not out.lstrip().startswith("{")


def test_help_says_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "Usage" in capsys.readouterr().out


def test_missing_option_is_unknown(capsys: pytest.CaptureFixture[str]) -> None:
    # rsync's suite probes "OPTION --version": exit 1 and "unknown option" mean "absent".
    # That holds for a typo and for each rsync option pyrsync refuses.
    # (--server and --daemon first on the line are pyrsyncd's; main() hands them over.)
    refused = sorted(
        f"--{name}"
        for option in OPTIONS
        if not option.client and option.arg is Arg.NONE
        for name in (option.long, *option.aliases)
        if name and name not in ("server", "daemon")
    )
    for option in ["--frobnicate", "-Q", *refused]:
        assert main([option, "--version"]) == 1, option
        err = capsys.readouterr().err
        # an option the platform cannot carry out has rsync's own refusal instead
        wanted = PLATFORM_REFUSALS.get(option.lstrip("-"), "unknown option")
        assert wanted in err, option
        assert "rsync error: syntax or usage error (code 1)" in err


def test_known_option_then_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--no-inc-recursive", "--version"]) == 0
    assert "protocol version" in capsys.readouterr().out


# -- rsync's shape -----------------------------------------------------------------------------


def _real(*args: str) -> str:
    assert REAL_RSYNC is not None
    return subprocess.run(
        [REAL_RSYNC, *args], capture_output=True, text=True, check=True, timeout=30
    ).stdout


def _sections_of_text(text: str) -> tuple[list[tuple[str, list[str]]], list[tuple[str, list[str]]]]:
    """rsync -V's word sections and algorithm lists."""
    sections: list[tuple[str, list[str]]] = []
    lists: list[tuple[str, list[str]]] = []
    current: list[str] | None = None
    for line in text.splitlines():
        if line.endswith(":") and not line.startswith(" "):
            current = []
            title = line[:-1]
            (lists if title.endswith("list") else sections).append((title, current))
        elif line.startswith("    ") and current is not None:
            if lists and current is lists[-1][1]:
                current += line.split()
            else:
                current += [w.strip() for w in line.split(",") if w.strip()]
        else:
            current = None
    return sections, lists


@needs_rsync
def test_layout_is_rsyncs_line_for_line() -> None:
    # Fed real rsync's own words, the renderers print exactly what rsync prints.
    text = _real("-V")
    sections, lists = _sections_of_text(text)
    theirs = _real("-VV")
    data = json.loads(theirs)
    head = [(k, data[k]) for k in ("program", "version", "protocol", "copyright", "url")]
    tail = [(k, data[k]) for k in ("license", "caveat")]
    assert render_json(head, sections, lists, tail) == theirs
    lines = text.splitlines()
    start = lines.index("Capabilities:")
    end = lines.index("Daemon auth list:") + 2
    rendered = render_text(lines[0], lines[1:start], sections, lists)
    assert rendered == "\n".join(lines[:end]) + "\n"


@needs_rsync
def test_same_keys_as_rsync(capsys: pytest.CaptureFixture[str]) -> None:
    ours = report(capsys, "-VV")
    theirs = json.loads(_real("-VV"))
    for section in ("capabilities", "optimizations"):
        ours_keys = list(ours[section])
        theirs_keys = list(theirs[section])
        # rsync newer than 3.5.0 adds "IDN" at the end; pyrsync reports it.
        assert [k for k in ours_keys if k != "IDN"] == theirs_keys
    for key in ("file_bits", "inum_bits", "timestamp_bits", "long_int_bits"):
        assert ours["capabilities"][key] == 64
    caps = ours["capabilities"]
    assert all(
        isinstance(v, bool) for k, v in caps.items() if "bits" not in k and k != "secluded_args"
    )
    # -s works now: "optional", as rsync says it (a string, not a flag)
    assert caps["secluded_args"] == theirs["capabilities"]["secluded_args"] == "optional"
    assert set(ours) <= set(theirs)


def test_lists_are_what_the_command_line_takes(capsys: pytest.CaptureFixture[str]) -> None:
    data = report(capsys, "-VV")
    for name in data["checksum_list"]:
        assert main(["--checksum-choice", name, "-V"]) == 0
    for name in data["compress_list"]:
        assert main(["--compress-choice", name, "-V"]) == 0
    capsys.readouterr()
    titles = [title for title, _ in algorithm_lists()]
    assert titles == ["Checksum list", "Compress list", "Daemon auth list"]
    assert data["compress_list"][-1] == "none"


# -- honesty: what is claimed works, what is not is refused ------------------------------------


@pytest.fixture
def caps(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    capabilities: dict[str, Any] = report(capsys, "-VV")["capabilities"]
    return capabilities


def _works_inplace(tmp_path: Path) -> None:
    (tmp_path / "src" / "f").write_bytes(b"x" * 10000)
    (tmp_path / "dst").mkdir()
    (tmp_path / "dst" / "f").write_bytes(b"y" * 10000)
    os.utime(tmp_path / "dst" / "f", (1_600_000_000, 1_600_000_000))  # not up to date
    inode = os.stat(tmp_path / "dst" / "f").st_ino
    result = pyrsync("-r", "--inplace", f"{tmp_path}/src/", tmp_path / "dst")
    assert result.returncode == 0, result.stderr
    assert os.stat(tmp_path / "dst" / "f").st_ino == inode
    assert (tmp_path / "dst" / "f").read_bytes() == b"x" * 10000


def _works_atimes(tmp_path: Path) -> None:
    (tmp_path / "src" / "f").write_text("x")
    os.utime(tmp_path / "src" / "f", ns=(10**18, 2 * 10**18))
    result = pyrsync("-rtU", f"{tmp_path}/src/", tmp_path / "dst")
    assert result.returncode == 0, result.stderr
    assert os.stat(tmp_path / "dst" / "f").st_atime_ns == 10**18


def _works_xattrs(tmp_path: Path) -> None:
    (tmp_path / "src" / "f").write_text("x")
    os.setxattr(tmp_path / "src" / "f", "user.pyrsync", b"value")
    result = pyrsync("-rX", f"{tmp_path}/src/", tmp_path / "dst")
    assert result.returncode == 0, result.stderr
    assert os.getxattr(tmp_path / "dst" / "f", "user.pyrsync") == b"value"


WORKS: dict[str, Callable[[Path], None]] = {
    "inplace": _works_inplace,
    "atimes": _works_atimes,
    "xattrs": _works_xattrs,
}


@pytest.mark.parametrize("cap", sorted(OPTION_OF))
def test_option_capability_as_claimed(cap: str, caps: dict[str, Any], tmp_path: Path) -> None:
    """A false capability's option is refused; a true one's does what it says."""
    (tmp_path / "src").mkdir()
    if caps[cap] is False:
        result = pyrsync("-r", *OPTION_OF[cap], f"{tmp_path}/src/", tmp_path / "dst", cwd=tmp_path)
        assert result.returncode == 1, result.stderr
        # "unknown option", or rsync's own refusal where the platform cannot do it
        assert "unknown option" in result.stderr or "This rsync does not support" in result.stderr
    elif cap in WORKS:
        WORKS[cap](tmp_path)
    else:
        (tmp_path / "src" / "f").write_text("x")
        result = pyrsync("-r", *OPTION_OF[cap], f"{tmp_path}/src/", tmp_path / "dst", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert (tmp_path / "dst" / "f").read_text() == "x"


def test_links_and_hard_links_as_claimed(caps: dict[str, Any], tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "file").write_text("data")
    os.symlink("file", src / "sym")
    os.utime(src / "sym", ns=(10**18, 10**18), follow_symlinks=False)
    os.link(src / "sym", src / "sym2", follow_symlinks=False)
    os.mkfifo(src / "fifo")
    os.link(src / "fifo", src / "fifo2")
    result = pyrsync("-aH", f"{src}/", tmp_path / "dst")
    assert result.returncode == 0, result.stderr
    dst = tmp_path / "dst"
    sym = os.lstat(dst / "sym")
    assert stat.S_ISLNK(sym.st_mode) == caps["symlinks"]
    if caps["symtimes"]:
        assert sym.st_mtime_ns == 10**18
    if caps["hardlinks"]:
        assert os.stat(dst / "file").st_nlink == 1
    same_symlink = sym.st_ino == os.lstat(dst / "sym2").st_ino
    assert same_symlink == caps["hardlink_symlinks"]
    same_fifo = os.stat(dst / "fifo").st_ino == os.stat(dst / "fifo2").st_ino
    assert same_fifo == caps["hardlink_specials"]
    assert stat.S_ISFIFO(os.stat(dst / "fifo2").st_mode)


@needs_rsync
def test_every_listed_algorithm_works_with_real_rsync(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data = report(capsys, "-VV")
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_bytes(bytes(range(256)) * 400)
    shim = tmp_path / "shim"
    shim.write_text('#!/bin/sh\nshift\nexec "$@"\n')  # drop the host, run the command here
    shim.chmod(0o700)
    runs = [("--checksum-choice", name) for name in data["checksum_list"]]
    runs += [("-z", f"--compress-choice={name}") for name in data["compress_list"]]
    for k, (flag, value) in enumerate(runs):
        dst = tmp_path / f"dst{k}"
        result = pyrsync(
            "-r", flag, value, "-e", shim, f"--rsync-path={REAL_RSYNC}", f"h:{src}/", dst
        )
        assert result.returncode == 0, f"{flag} {value}: {result.stderr}"
        assert (dst / "f").read_bytes() == (src / "f").read_bytes()
