from __future__ import annotations

import importlib.metadata

import rsync_wire


def test_package_is_installed_with_its_version() -> None:
    assert importlib.metadata.version("rsync-wire") == "0.1.0"
    assert isinstance(rsync_wire.__all__, list)
