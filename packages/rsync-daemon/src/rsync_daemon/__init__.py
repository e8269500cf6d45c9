"""rsync_daemon: see this package's README.md."""

from __future__ import annotations

__all__: list[str] = []
