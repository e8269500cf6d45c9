"""Start pyrsyncd or rsync's daemon on one rsyncd.conf on loopback, for side-by-side tests."""

from __future__ import annotations

import os
import textwrap
from typing import TYPE_CHECKING

from harness.daemon import LOOPBACK, daemon_ready
from harness.ourd import pyrsyncd_argv
from harness.proc import Service, start_service

if TYPE_CHECKING:
    from pathlib import Path

    from harness.tools import RealRsync

__all__ = ["ConfDaemons"]


class ConfDaemons:
    """Daemons started on rsyncd.conf texts; `stop_all` ends them (call it in a fixture)."""

    def __init__(self, real_rsync: RealRsync, workdir: Path) -> None:
        self._real = real_rsync
        self._workdir = workdir
        self._started: list[Service] = []

    def start(self, daemon: str, body: str, *, head: bool = True) -> int:
        """Start ``"ours"`` or ``"rsync"`` on ``body``; returns the port once it answers.

        With ``head``, global lines come first: no chroot, no reverse lookup, a log and a
        lock file in the work directory, and as root ``uid``/``gid`` 0.
        """
        workdir = self._workdir / f"{daemon}-{len(self._started)}"
        workdir.mkdir()
        conf = workdir / "rsyncd.conf"
        text = textwrap.dedent(body)
        if head:
            text = (
                "use chroot = no\nreverse lookup = no\n"
                f"log file = {workdir / 'rsyncd.log'}\nlock file = {workdir / 'rsyncd.lock'}\n"
                + ("uid = 0\ngid = 0\n" if os.geteuid() == 0 else "")
                + text
            )
        conf.write_text(text)
        program = pyrsyncd_argv() if daemon == "ours" else self._real.argv()
        service, port = start_service(
            lambda port: [
                *program,
                "--daemon",
                "--no-detach",
                f"--config={conf}",
                f"--port={port}",
                f"--address={LOOPBACK}",
            ],
            output=workdir / "out",
            ready=lambda _s, port: daemon_ready(LOOPBACK, port),
        )
        self._started.append(service)
        return port

    def stop_all(self) -> None:
        """Stop every daemon started here."""
        for service in self._started:
            service.stop(grace=2.0)
        self._started.clear()
