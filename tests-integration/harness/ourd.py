"""pyrsyncd on loopback, for tests: the same modules and rsyncd.conf as the real daemon gets.

The daemon under test reads the rsyncd.conf that ``daemon.render_rsyncd_conf`` writes for
rsync's own daemon, so a test can run one scenario against both and compare.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.daemon import (
    DaemonModule,
    Modules,
    daemon_ready,
    normalize_modules,
    render_rsyncd_conf,
)
from harness.proc import Service, start_service

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

LOOPBACK = "127.0.0.1"


def pyrsyncd_argv(*args: str) -> list[str]:
    """The command that runs pyrsyncd from this interpreter's environment."""
    return [sys.executable, "-m", "rsync_daemon", *args]


@dataclass
class OurDaemon:
    """A running pyrsyncd (see ``start_our_daemon``)."""

    host: str
    port: int
    config_path: Path
    log_path: Path
    modules: tuple[DaemonModule, ...]
    service: Service

    def url(self, module: str, path: str = "") -> str:
        """Return ``rsync://host:port/module/path``."""
        return f"rsync://{self.host}:{self.port}/{module}/{path}"

    def log(self) -> str:
        """Return the daemon's log so far."""
        text = (
            self.log_path.read_text("utf-8", "backslashreplace") if self.log_path.exists() else ""
        )
        return text + self.service.output()

    def stop(self) -> None:
        """Stop the daemon and its per-connection processes."""
        self.service.stop(grace=2.0)


def start_our_daemon(
    modules: Modules,
    *,
    workdir: Path,
    global_options: Mapping[str, str] | None = None,
    host: str = LOOPBACK,
) -> OurDaemon:
    """Start pyrsyncd serving ``modules`` on a free port; returns once it lists modules."""
    records = normalize_modules(modules)
    config = workdir / "rsyncd.conf"
    log_path = workdir / "pyrsyncd.log"
    config.write_text(
        render_rsyncd_conf(
            records,
            log_file=log_path,
            lock_file=workdir / "rsyncd.lock",
            global_options=global_options,
        )
    )
    service, port = start_service(
        lambda port: pyrsyncd_argv(
            "--daemon", "--no-detach", f"--config={config}", f"--port={port}", f"--address={host}"
        ),
        output=workdir / "pyrsyncd.out",
        ready=lambda _service, port: daemon_ready(host, port),
        host=host,
    )
    return OurDaemon(
        host=host,
        port=port,
        config_path=config,
        log_path=log_path,
        modules=records,
        service=service,
    )
