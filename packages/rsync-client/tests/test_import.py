"""The public interface of rsync_client (the shared checker: the repository's conftest.py)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import rsync_client

if TYPE_CHECKING:
    from collections.abc import Callable

README = Path(__file__).resolve().parents[1] / "README.md"


def test_public_interface(check_public_interface: Callable[..., None]) -> None:
    check_public_interface(rsync_client, README, "rsync-client")
