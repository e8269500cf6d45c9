"""``dont compress`` and ``--skip-compress``: real rsync pulls from pyrsyncd with ``-z``.

A file that matches goes at zlib level 0 (stored deflate blocks: the bytes on the wire
are about its size), one that does not is compressed; both arrive intact. rsync 3.5's
daemon acts only on ``dont compress = *`` (its per-file code is disabled); there both
daemons send everything uncompressed. See rsync_wire.proto.skipcompress.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest

from harness.daemon import DaemonModule
from harness.proc import run

if TYPE_CHECKING:
    from pathlib import Path

    from harness.daemon import RealDaemonFactory
    from harness.tools import RealRsync

pytestmark = pytest.mark.interop

SIZE = 400_000


def _module(tmp_path: Path) -> Path:
    mod = tmp_path / "mod"
    mod.mkdir()
    text = b"".join(b"line %06d of a very compressible file\n" % i for i in range(10_000))
    for name in ("big.dat", "big.txt", "BIG.GZ"):
        (mod / name).write_bytes(text[:SIZE])
    return mod


def _pull(real_rsync: RealRsync, url: str, dest: Path, *options: str) -> tuple[int, str]:
    """Pull one file with -z; (bytes received by the client, its output)."""
    dest.mkdir(exist_ok=True)
    code, out, err = run(real_rsync.argv("-z", "--stats", *options, url, f"{dest}/"))
    assert code == 0, err
    found = re.search(r"Total bytes received: ([\d,]+)", out)
    assert found, out
    return int(found.group(1).replace(",", "")), out


@pytest.mark.timeout(180)
@pytest.mark.parametrize(("choice", "protocol"), [("zlib", 29), ("zlib", 32), ("zlibx", 32)])
def test_matching_files_go_at_level_0(
    our_daemon: RealDaemonFactory,
    real_rsync: RealRsync,
    tmp_path: Path,
    choice: str,
    protocol: int,
) -> None:
    mod = _module(tmp_path)
    daemon = our_daemon([DaemonModule("m", mod, options={"dont compress": "*.DAT other*"})])
    options = [f"--protocol={protocol}"]
    if protocol >= 30:  # below 30 the method is always zlib
        options.append(f"--compress-choice={choice}")
    sent = {}
    for name in ("big.dat", "big.txt", "BIG.GZ"):
        dest = tmp_path / f"dest-{name}"
        sent[name], _ = _pull(real_rsync, daemon.url("m", name), dest, *options)
        assert (dest / name).read_bytes() == (mod / name).read_bytes()
    assert sent["big.dat"] > SIZE  # stored: the file plus framing
    assert sent["big.txt"] < SIZE // 10
    # the module sets its own list: rsync's default suffixes (gz...) no longer apply
    assert sent["BIG.GZ"] < SIZE // 10


@pytest.mark.timeout(180)
def test_the_clients_skip_compress_adds_to_the_default_list(
    our_daemon: RealDaemonFactory, real_rsync: RealRsync, tmp_path: Path
) -> None:
    mod = _module(tmp_path)
    daemon = our_daemon({"m": mod})
    zlib = "--compress-choice=zlib"
    sent = {}
    for name in ("big.dat", "big.txt", "BIG.GZ"):
        dest = tmp_path / f"dest-{name}"
        sent[name], _ = _pull(
            real_rsync, daemon.url("m", name), dest, zlib, "--skip-compress=t[xy]t"
        )
        assert (dest / name).read_bytes() == (mod / name).read_bytes()
    assert sent["big.txt"] > SIZE
    assert sent["BIG.GZ"] > SIZE  # unset "dont compress": rsync's default list, gz in it
    assert sent["big.dat"] < SIZE // 10


@pytest.mark.timeout(180)
def test_a_lone_star_sends_everything_stored_as_rsyncs_daemon(
    our_daemon: RealDaemonFactory,
    real_daemon: RealDaemonFactory,
    real_rsync: RealRsync,
    tmp_path: Path,
) -> None:
    mod = _module(tmp_path)
    module = DaemonModule("m", mod, options={"dont compress": "*"})
    for name, factory in (("rsync", real_daemon), ("ours", our_daemon)):
        daemon = factory([module])
        dest = tmp_path / f"dest-{name}"
        sent, _ = _pull(real_rsync, daemon.url("m", "big.txt"), dest, "--compress-choice=zlib")
        assert sent > SIZE, name
        assert (dest / "big.txt").read_bytes() == (mod / "big.txt").read_bytes()
