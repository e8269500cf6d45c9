"""``name converter``: a module's program maps user and group names, against real rsync.

rsync's daemon asks the module's name converter (one long-running program per
connection, a line per question: ``uid N``/``gid N`` answer a name, ``usr NAME``/``grp
NAME`` a number) instead of the local databases. pyrsyncd runs it from the helper
process forked before confinement and relays the lines. Beside rsync's own daemon.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import socket
import stat
import subprocess
import time
from typing import TYPE_CHECKING

import pytest

from harness.confd import ConfDaemons
from harness.daemon import LOOPBACK
from rsync_wire.proto.flist import FileEntry, FileListEncoder
from rsync_wire.proto.negotiate import Session
from rsync_wire.proto.options import TransferOptions

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from harness.tools import RealRsync

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(os.geteuid() != 0, reason="setting owners needs root"),
]

USER = pwd.getpwuid(1).pw_name  # "daemon" on Debian
GROUP = grp.getgrgid(4).gr_name  # "adm" on Debian
MAPPED_UID, MAPPED_GID = 4242, 4343


@pytest.fixture
def start_conf(
    real_rsync: RealRsync, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[str, str], int]]:
    """``start_conf(...)`` starts a daemon on an rsyncd.conf on loopback; returns its port."""
    daemons = ConfDaemons(real_rsync, tmp_path_factory.mktemp("namecvt"))
    yield lambda body, daemon: daemons.start(daemon, body, head=True)
    daemons.stop_all()


def _converter(tmp_path: Path) -> tuple[Path, Path]:
    """A converter that knows one user and one group under other numbers; logs questions."""
    asked = tmp_path / "asked"
    script = tmp_path / "namecvt.sh"
    script.write_text(
        "#!/bin/sh\n"
        "while read req arg; do\n"
        f'  echo "$req $arg" >> {asked}\n'
        '  case "$req $arg" in\n'
        f'    "usr {USER}") echo {MAPPED_UID} ;;\n'
        f'    "grp {GROUP}") echo {MAPPED_GID} ;;\n'
        f'    "uid {MAPPED_UID}") echo {USER} ;;\n'
        f'    "gid {MAPPED_GID}") echo {GROUP} ;;\n'
        "    *) echo ;;\n"
        "  esac\n"
        "done\n"
    )
    script.chmod(0o755)
    return script, asked


def _rsync(real_rsync: RealRsync, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        real_rsync.argv(*args), capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.parametrize("daemon", ["ours", "rsync"])
def test_the_converter_maps_names_both_ways(
    start_conf: Callable[[str, str], int], real_rsync: RealRsync, tmp_path: Path, daemon: str
) -> None:
    script, asked = _converter(tmp_path)
    module = tmp_path / "mod"
    module.mkdir()
    port = start_conf(
        f"[m]\npath = {module}\nread only = no\nname converter = {script}\nnumeric ids = no\n",
        daemon,
    )
    url = f"rsync://{LOOPBACK}:{port}/m/"
    src = tmp_path / "src"
    src.mkdir()
    (src / "up").write_text("upload\n")
    os.chown(src / "up", 1, 4)
    push = _rsync(real_rsync, "-rog", f"{src}/", url)
    assert push.returncode == 0, push.stderr
    st = (module / "up").stat()
    assert (st.st_uid, st.st_gid) == (MAPPED_UID, MAPPED_GID)
    # and back: the daemon's sender names MAPPED_UID/GID through the converter
    dst = tmp_path / "dst"
    pull = _rsync(real_rsync, "-rog", url, f"{dst}/")
    assert pull.returncode == 0, pull.stderr
    st = (dst / "up").stat()
    assert (st.st_uid, st.st_gid) == (1, 4)
    questions = set(asked.read_text().splitlines())
    assert {f"usr {USER}", f"grp {GROUP}", f"uid {MAPPED_UID}", f"gid {MAPPED_GID}"} <= questions


def _push_owner_name(port: int, name: bytes, *, read_for: float = 3.0) -> bytes:
    """Upload one empty file owned by uid 1 called ``name`` (protocol 29: the name travels in
    the uid list after the file list); returns what the daemon said until it closed, or
    ``read_for`` seconds of silence (the list of group names never comes)."""
    opts = TransferOptions(preserve_uid=True)
    session = Session(protocol=29)
    listing = bytearray()
    encoder = FileListEncoder(session, opts)
    entry = FileEntry(
        name=b"f", mode=stat.S_IFREG | 0o644, size=0, mtime=1_700_000_000, uid=1, user_name=name
    )
    encoder.encode_into(listing, entry)
    encoder.encode_end_into(listing)
    encoder.encode_id_lists_into(listing)
    encoder.encode_io_error_into(listing, 0)
    with socket.create_connection((LOOPBACK, port), timeout=read_for) as sock:
        f = sock.makefile("rb")
        f.readline()  # the daemon's greeting
        sock.sendall(b"@RSYNCD: 29.0\nm\n")
        line = f.readline()
        while line.strip() != b"@RSYNCD: OK":
            if not line or line.startswith(b"@ERROR"):
                return line
            line = f.readline()
        sock.sendall(b"--server\n-o\n.\nm/\n\n")  # below protocol 30: one per line
        f.read(4)  # the checksum seed
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(bytes(listing))
        chunks = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                data = f.read1(65536)
            except (TimeoutError, ConnectionResetError):
                break
            if not data:
                break
            chunks.append(data)
        return b"".join(chunks)


@pytest.mark.parametrize("daemon", ["ours", "rsync"])
def test_an_owner_name_with_a_newline_never_reaches_the_converter(
    start_conf: Callable[[str, str], int], tmp_path: Path, daemon: str
) -> None:
    """A sender's name with a control character would forge a line on the converter's pipe:
    the daemon refuses it with rsync's message, sent to the client as soon as it has the
    name, and logged (rsync: clientserver.c namecvt_call(), namecvt_safe_token())."""
    script, asked = _converter(tmp_path)
    module = tmp_path / "mod"
    module.mkdir()
    log = tmp_path / "module.log"
    port = start_conf(
        f"[m]\npath = {module}\nread only = no\nname converter = {script}\nnumeric ids = no\n"
        f"log file = {log}\n",
        daemon,
    )
    said = _push_owner_name(port, b"bad\nname")
    assert b"invalid name-converter token: bad\nname\n" in said
    questions = asked.read_text().splitlines() if asked.exists() else []
    assert not any("name" in q.split() for q in questions), questions
    assert "invalid name-converter token: bad\\#012name\n" in log.read_text()
