"""pyrsyncd on loopback, for tests: the same modules and rsyncd.conf as rsync's own daemon gets.

The daemon under test reads the rsyncd.conf that ``daemon.render_rsyncd_conf`` writes for
rsync's own daemon, so a test can run one scenario against both and compare.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, TypeAlias

from harness.daemon import RealDaemon, start_daemon

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

    from harness.daemon import Modules

LOOPBACK = "127.0.0.1"

OurDaemon: TypeAlias = RealDaemon
"""A running pyrsyncd: the same record as rsync's daemon (``harness.daemon.RealDaemon``)."""


def pyrsyncd_argv(*args: str) -> list[str]:
    """The command that runs pyrsyncd from this interpreter's environment."""
    return [sys.executable, "-m", "rsync_daemon", *args]


def start_our_daemon(
    modules: Modules,
    *,
    workdir: Path,
    global_options: Mapping[str, str] | None = None,
    host: str = LOOPBACK,
) -> OurDaemon:
    """Start pyrsyncd serving ``modules`` on a free port; returns once it lists modules."""
    return start_daemon(
        pyrsyncd_argv(),
        modules,
        workdir=workdir,
        global_options=global_options,
        host=host,
        grace=2.0,
    )
