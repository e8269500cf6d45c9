from __future__ import annotations

import importlib.metadata

import rsync_sandbox


def test_package_is_installed_with_its_version() -> None:
    assert importlib.metadata.version("rsync-sandbox") == "0.1.0"
    assert isinstance(rsync_sandbox.__all__, list)
