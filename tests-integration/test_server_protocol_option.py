"""``--protocol=N`` on the far side: a remote-shell server or a daemon speaks at most N.

rsync users force an older protocol on the far side this way (rsync: options.c
``protocol_version``, compat.c setup_protocol()); pyrsync's server refused the option.
Each case runs beside real rsync 3.5 as the server, with real rsync as the client.
"""

from __future__ import annotations

import os
import shlex
import sys
from typing import TYPE_CHECKING

import pytest

from harness.proc import run

if TYPE_CHECKING:
    from pathlib import Path

    from harness.shim import ShimFactory
    from harness.tools import RealRsync

PYRSYNC = (sys.executable, "-m", "rsync_client")
SERVERS = {"ours": PYRSYNC, "rsync": ("rsync",)}


def _tree(root: Path) -> None:
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "file").write_text("content\n")
    (root / "top").write_text("top\n")


@pytest.mark.parametrize("direction", ["push", "pull"])
@pytest.mark.parametrize("server", sorted(SERVERS))
@pytest.mark.parametrize("protocol", [27, 29, 30])
def test_the_server_speaks_at_most_the_protocol_it_is_given(
    direction: str,
    server: str,
    protocol: int,
    real_rsync: RealRsync,
    rsh_shim_factory: ShimFactory,
    tmp_path: Path,
) -> None:
    src = tmp_path / "src"
    _tree(src)
    dst = tmp_path / "dst"
    shim = rsh_shim_factory([*SERVERS[server], f"--protocol={protocol}"], name=server)
    pair = (f"{src}/", f"host:{dst}/") if direction == "push" else (f"host:{src}/", f"{dst}/")
    code, out, err = run(real_rsync.argv("-a", "--debug=proto", "-e", str(shim), *pair), timeout=60)
    assert code == 0, err
    assert f"(Client) Protocol versions: remote={protocol}, negotiated={protocol}" in out
    assert (dst / "sub" / "file").read_text() == "content\n"
    assert (dst / "top").read_text() == "top\n"


@pytest.mark.parametrize(
    ("value", "ends"),
    [
        ("33", 0),  # announced as 33, then the client's 32 is spoken
        ("99", 2),  # the client refuses the number: "protocol version mismatch"
        ("19", 2),  # below what the server speaks: refused after the exchange
    ],
)
def test_a_protocol_out_of_range_ends_as_with_rsync(
    value: str, ends: int, real_rsync: RealRsync, rsh_shim_factory: ShimFactory, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    _tree(src)
    for server, program in SERVERS.items():
        shim = rsh_shim_factory([*program, f"--protocol={value}"], name=f"bad-{server}")
        dst = tmp_path / server
        code, _out, err = run(
            real_rsync.argv("-a", "-e", str(shim), f"{src}/", f"host:{dst}/"), timeout=60
        )
        assert code == ends, (server, err)
        assert ("protocol version mismatch" in err) == (value != "33"), (server, err)
        assert (dst / "top").exists() == (ends == 0)


@pytest.mark.parametrize("server", sorted(SERVERS))
def test_a_daemon_given_protocol_greets_with_it(
    server: str, real_rsync: RealRsync, tmp_path: Path
) -> None:
    # RSYNC_CONNECT_PROG='rsync --config=FILE --daemon --protocol=29', as rsync's own
    # suite runs its daemon tests with --protocol
    src = tmp_path / "src"
    _tree(src)
    conf = tmp_path / "rsyncd.conf"
    conf.write_text(f"use chroot = no\n[m]\npath = {src}\n")
    program = shlex.join([*SERVERS[server], f"--config={conf}", "--daemon", "--protocol=29"])
    dst = tmp_path / "dst"
    code, out, err = run(
        real_rsync.argv("-a", "--debug=proto", "rsync://localhost/m/", f"{dst}/"),
        env={**os.environ, "RSYNC_CONNECT_PROG": program},
        timeout=60,
    )
    assert code == 0, err
    assert "(Client) Protocol versions: remote=29, negotiated=29" in out
    assert (dst / "sub" / "file").read_text() == "content\n"
