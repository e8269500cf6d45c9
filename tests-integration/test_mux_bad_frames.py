"""A multiplexed frame no peer may send ends the session as rsync 3.5 ends it: exit 12.

rsync's reader of the multiplexed stream refuses a tag it does not know ("unexpected tag
N [ROLE]"), a known one it never takes from a peer or with the wrong size ("invalid
multi-message N:LEN [ROLE]") and text too long for its buffer ("multiplexing overflow
N:LEN [ROLE]"), each with RERR_STREAMIO (rsync: io.c read_a_msg()). pyrsync ended with
"unexpected tag N in multiplexed stream" and code 2, and took an MSG_ERROR_EXIT of 3 bytes.

The client side meets a fake server (the ``-e`` program: version, compat flags, seed and
then the frame); the server side gets the frame from a fake client on its standard input.
Each case runs rsync 3.5 and pyrsync alike and compares the line and the exit code.
"""

from __future__ import annotations

import re
import struct
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from harness.client import pyrsync_argv
from harness.proc import run

if TYPE_CHECKING:
    from pathlib import Path

    from harness.tools import RealRsync

pytestmark = pytest.mark.interop

MPLEX_BASE = 7

FAKE_SERVER = """
import os, struct, sys, time
proto, tag, length = (int(a) for a in sys.argv[1:4])
out = os.fdopen(1, "wb", buffering=0)
out.write(struct.pack("<i", proto))
os.read(0, 4)
if proto >= 30:
    out.write(b"\\0")  # compat flags: none (no name negotiation)
out.write(struct.pack("<i", 12345))  # the checksum seed
out.write(struct.pack("<I", ((7 + tag) << 24) | length) + b"\\0" * length)
time.sleep(5)
"""

FRAMES = [
    (50, 0, "unexpected tag 50"),
    (9, 4, "invalid multi-message 9:4"),  # MSG_REDO: rsync's generator's alone
    (86, 3, "invalid multi-message 86:3"),  # MSG_ERROR_EXIT of 3 bytes
    (4, 20000, "multiplexing overflow 4:20000"),
]


def _frame(tag: int, length: int) -> bytes:
    return struct.pack("<I", ((MPLEX_BASE + tag) << 24) | length) + b"\0" * length


def _lines(text: str) -> list[str]:
    """Lines without the exit line's source location and version."""
    return [
        re.sub(r"^(rsync error: .*\(code \d+\)) at .* \[(\w+)=[^]]*\]$", r"\1 [\2]", line)
        for line in text.splitlines()
    ]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("protocol", [29, 31])
@pytest.mark.parametrize(("tag", "length", "line"), FRAMES)
def test_a_client_ends_on_a_bad_frame_as_rsync(
    real_rsync: RealRsync,
    tmp_path: Path,
    protocol: int,
    tag: int,
    length: int,
    line: str,
) -> None:
    server = tmp_path / "fake_server.py"
    server.write_text(FAKE_SERVER)
    shell = f"{sys.executable} {server} {protocol} {tag} {length}"
    results = {}
    for label, argv in (("rsync", real_rsync.argv), ("ours", pyrsync_argv)):
        code, _, err = run(argv("-r", "-e", shell, "host:src/", f"{tmp_path / label}/"), timeout=60)
        results[label] = (code, _lines(err))
    theirs = results["rsync"]
    assert theirs[0] == 12
    assert theirs[1][0] == f"{line} [Receiver]"
    # the client's exit line names it "client" in pyrsync, "Receiver" in rsync
    assert results["ours"][0] == 12
    assert results["ours"][1][0] == theirs[1][0]
    assert results["ours"][1][1].startswith("rsync error: error in rsync protocol data stream")


def _server_says(stdout: bytes, protocol: int) -> list[str]:
    """The lines a server sent in MSG_ERROR frames after its version, flags and seed."""
    pos = 4 + (1 if protocol >= 30 else 0) + 4
    lines = []
    while pos + 4 <= len(stdout):
        header = struct.unpack_from("<I", stdout, pos)[0]
        tag, length = (header >> 24) - MPLEX_BASE, header & 0xFFFFFF
        if tag in (1, 3):
            lines += stdout[pos + 4 : pos + 4 + length].decode().splitlines()
        pos += 4 + length
    return lines


@pytest.mark.timeout(120)
@pytest.mark.parametrize("sender", [True, False], ids=["sender", "receiver"])
@pytest.mark.parametrize(("tag", "length", "line"), FRAMES)
def test_a_server_ends_on_a_bad_frame_as_rsync(
    real_rsync: RealRsync, tmp_path: Path, tag: int, length: int, line: str, *, sender: bool
) -> None:
    """rsync's remote-shell server says it on its standard error, pyrsync's in MSG_ERROR."""
    protocol = 31  # from 30 the client multiplexes what it sends to either role
    (tmp_path / "src").mkdir()
    (tmp_path / "dst").mkdir()
    role = ["--sender", "-r", ".", "src/"] if sender else ["-r", ".", "dst/"]
    feed = struct.pack("<i", protocol) + _frame(tag, length)
    results = {}
    for label, argv in (("rsync", real_rsync.argv), ("ours", pyrsync_argv)):
        # the server's output is binary: not harness.proc.run, which decodes it
        proc = subprocess.run(
            argv("--server", *role), input=feed, capture_output=True, cwd=tmp_path, timeout=60
        )
        said = _lines(proc.stderr.decode()) + _server_says(proc.stdout, protocol)
        results[label] = (proc.returncode, said)
    who = "sender" if sender else "Receiver"
    assert results["rsync"][0] == results["ours"][0] == 12
    assert results["rsync"][1][0] == results["ours"][1][0] == f"{line} [{who}]"
