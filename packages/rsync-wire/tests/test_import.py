from __future__ import annotations

import importlib.metadata

SIBLINGS = ("rsync-delta", "rsync-wire", "rsync-sandbox", "rsync-daemon", "rsync-client")


def test_installed_version_moves_in_lockstep_with_its_siblings() -> None:
    versions = {name: importlib.metadata.version(name) for name in SIBLINGS}
    assert len(set(versions.values())) == 1, versions
