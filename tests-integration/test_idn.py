"""Internationalized host names: A-labels out of the client, folded tokens in the daemon.

rsync built with libidn2 hands a daemon's host to the resolver, to an ``RSYNC_PROXY``'s
``CONNECT`` and to the remote shell of daemon-over-rsh as IDNA A-labels, leaves a
``host:path`` name to the user's ssh, and compares a non-ASCII ``hosts allow``/``hosts
deny`` token in its A-label form, never letting the mapping invent a wildcard or a mask
(rsync: util1.c idn_to_ascii(), access.c match_hostname(), socket.c, main.c do_cmd()).
Debian's rsync 3.5.0 predates that, so the client cases check pyrsync against what
rsync's code does; the daemon cases run the real rsync client against pyrsyncd.
"""

from __future__ import annotations

import os
import socket
import threading
from typing import TYPE_CHECKING

import pytest

from harness.client import pyrsync_argv
from harness.proc import run

if TYPE_CHECKING:
    from pathlib import Path

    from harness.daemon import RealDaemonFactory
    from harness.tools import RealRsync

UTF8 = {"LC_ALL": "C.UTF-8"}
IDN_HOST = "\u010ci\u010dku.example"
A_LABEL = "xn--iku-eqab.example"


def _recording_rsh(tmp_path: Path) -> tuple[Path, Path]:
    """A remote shell that writes its first argument (the host) and fails."""
    helper = tmp_path / "rsh.sh"
    out = tmp_path / "host"
    helper.write_text(f'#!/bin/sh\nprintf %s "$1" > {out}\nexit 1\n')
    helper.chmod(0o755)
    return helper, out


@pytest.mark.parametrize(
    ("host", "want"),
    [
        (IDN_HOST, A_LABEL),
        ("c\u030cic\u030cku.example", A_LABEL),
        ("\u010cI\u010cKU.Example", "xn--iku-eqab.Example"),
        ("XN--IKU-EQAB.Example", "XN--IKU-EQAB.Example"),
        ("\u200b.example", "\u200b.example"),
    ],
)
def test_daemon_over_rsh_gets_the_a_label(tmp_path: Path, host: str, want: str) -> None:
    helper, out = _recording_rsh(tmp_path)
    code, _, err = run(
        pyrsync_argv(f"--rsh={helper}", f"rsync://{host}/module/", f"{tmp_path}/d/"),
        env={**os.environ, **UTF8},
    )
    assert code != 0, err
    assert out.read_bytes().decode("utf-8") == want


def test_a_remote_shell_host_is_left_to_ssh(tmp_path: Path) -> None:
    helper, out = _recording_rsh(tmp_path)
    run(
        pyrsync_argv(f"--rsh={helper}", f"{IDN_HOST}:src/", f"{tmp_path}/d/"),
        env={**os.environ, **UTF8},
    )
    assert out.read_bytes().decode("utf-8") == IDN_HOST


@pytest.mark.timeout(60)
def test_proxy_connect_names_the_a_label(tmp_path: Path) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    got: list[bytes] = []

    def serve_one() -> None:
        conn, _ = listener.accept()
        conn.settimeout(10)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(4096)
            if not chunk:
                break
            data += chunk
        got.append(data)
        conn.sendall(b"HTTP/1.0 403 Forbidden\r\n\r\n")
        conn.close()

    thread = threading.Thread(target=serve_one, daemon=True)
    thread.start()
    port = listener.getsockname()[1]
    code, _, err = run(
        pyrsync_argv(f"rsync://{IDN_HOST}:873/m/", f"{tmp_path}/d/"),
        env={**os.environ, **UTF8, "RSYNC_PROXY": f"127.0.0.1:{port}"},
    )
    thread.join(timeout=15)
    listener.close()
    assert code == 10, err
    assert got[0].startswith(f"CONNECT {A_LABEL}:873 ".encode())


def _fullwidth(name: str) -> str:
    return "".join(chr(ord(c) - 0x21 + 0xFF01) if "!" <= c <= "~" and c != "." else c for c in name)


@pytest.mark.interop
@pytest.mark.timeout(120)
def test_daemon_folds_non_ascii_host_tokens(
    our_daemon: RealDaemonFactory, real_rsync: RealRsync, tmp_path: Path
) -> None:
    from harness.daemon import DaemonModule

    mod = tmp_path / "mod"
    mod.mkdir()
    (mod / "f").write_text("x\n")
    peer = socket.gethostbyaddr("127.0.0.1")[0]
    tokens = {
        "ascii": peer,
        "wide": _fullwidth(peer),
        "wide-upper": _fullwidth(peer.upper()),
        "other-idn": "\u010di\u010dku.example",
        "wide-star": "\uff0a",
        "wide-star-dom": "\uff0a.example",
        "wide-mask": "127.0.0.0\uff0f8",
        "bad-idn": "\u200b.example",
    }
    modules = [
        DaemonModule(name, mod, options={"hosts allow": tok, "forward lookup": "no"})
        for name, tok in tokens.items()
    ]
    modules.append(
        DaemonModule(
            "wide-deny", mod, options={"hosts deny": _fullwidth(peer), "forward lookup": "no"}
        )
    )
    daemon = our_daemon(modules, global_options={"reverse lookup": "yes"})

    def allowed(name: str) -> bool:
        code, _, _ = run(real_rsync.argv(daemon.url(name)))
        return code == 0

    if not allowed("ascii"):
        pytest.skip(f"pyrsyncd does not see its loopback peer as {peer!r}")
    assert {name: allowed(name) for name in [*tokens, "wide-deny"]} == {
        "ascii": True,
        "wide": True,
        "wide-upper": True,
        "other-idn": False,
        "wide-star": False,
        "wide-star-dom": False,
        "wide-mask": False,
        "bad-idn": False,
        "wide-deny": False,
    }
