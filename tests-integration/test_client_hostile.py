"""pyrsync against a hostile sender over a remote shell: a clear error, nothing touched outside.

The sender (``harness/client_hostile.py``) is built from our own codecs and reached through
the ``-e`` shim, so the whole client path runs: transport, negotiation, file list.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from harness.client import pyrsync_argv
from harness.client_hostile import ATTACKS, INC_ATTACKS
from harness.proc import run

if TYPE_CHECKING:
    from harness.proc import RunResult
    from harness.shim import ShimFactory

HOSTILE = Path(__file__).parent / "harness" / "client_hostile.py"


def _attack(attack: str, rsh_shim_factory: ShimFactory, tmp_path: Path) -> tuple[RunResult, Path]:
    """Pull with ``-a`` from the hostile sender into ``dest`` (holding one file)."""
    shim = rsh_shim_factory([sys.executable, str(HOSTILE), attack], name=f"hostile-{attack}")
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "complete").write_text("complete before\n")
    result = run(pyrsync_argv("-a", "-e", str(shim), "host:/src/", dest))
    assert result.returncode in (2, 4), result.describe()
    assert "rsync error:" in result.stderr
    assert "Traceback" not in result.stderr
    assert (dest / "complete").read_text() == "complete before\n"
    return result, dest


@pytest.fixture
def outside(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The directory a hostile sender aims at (one per test, so tests can run in parallel).

    The sender learns it from PYRSYNC_HOSTILE_OUTSIDE (else it aims at OUTSIDE_TARGET);
    each test checks that it stays empty.
    """
    path = tmp_path_factory.mktemp("outside")
    monkeypatch.setenv("PYRSYNC_HOSTILE_OUTSIDE", str(path))
    return path


@pytest.mark.parametrize("attack", ATTACKS)
def test_hostile_sender_over_a_remote_shell(
    attack: str, rsh_shim_factory: ShimFactory, tmp_path: Path, outside: Path
) -> None:
    result, dest = _attack(attack, rsh_shim_factory, tmp_path)
    assert any(word in result.stderr for word in ("unsafe", "invalid path", "4096", "name"))
    assert sorted(p.name for p in dest.iterdir()) == ["complete"]
    assert not (tmp_path / "escaped").exists()
    assert not Path("/tmp/escaped").exists()
    assert list(outside.iterdir()) == []


@pytest.mark.parametrize("attack", INC_ATTACKS)
def test_hostile_incremental_lists(
    attack: str, rsh_shim_factory: ShimFactory, tmp_path: Path, outside: Path
) -> None:
    # the first list is honest (".", "d"); a later one is not: the session ends with a
    # protocol error before any file is written, and nothing outside the destination changes
    result, dest = _attack(attack, rsh_shim_factory, tmp_path)
    assert any(
        word in result.stderr for word in ("invalid path", "invalid directory", "refusing")
    ), result.stderr
    # at most the honest directory was made; no file arrived
    assert sorted(p.name for p in dest.iterdir()) in (["complete"], ["complete", "d"])
    assert not (dest / "d").exists() or list((dest / "d").iterdir()) == []
    assert not (dest / "x").exists()
    assert not (tmp_path / "elsewhere").exists()
    assert list(outside.iterdir()) == []


def test_partial_dir_link_planted_in_the_destination_is_never_followed(
    rsh_shim_factory: ShimFactory, tmp_path: Path, outside: Path
) -> None:
    """A pull of ``host:.`` without ``-r`` has no implied rule (rsync checks no name
    then); the sender lists ``escape/victim`` where ``escape/.rsync-partial`` is a link
    out of the destination. The partial dir is no basis and nothing outside changes.

    rsync's suite: malicious-server-partial-basis-symlink-overwrite.
    """
    victim = outside / "victim"
    victim.write_text("outside\n")
    dest = tmp_path / "dest"
    (dest / "escape").mkdir(parents=True)
    (dest / "escape" / ".rsync-partial").symlink_to(outside)
    shim = rsh_shim_factory([sys.executable, str(HOSTILE), "partial-link"], name="hostile-pl")
    argv = ["-R", "--no-implied-dirs", "--partial-dir=.rsync-partial", "--no-whole-file"]
    result = run(pyrsync_argv(*argv, "-e", str(shim), "host:.", f"{dest}/"), timeout=60)
    assert "unrequested" not in result.stderr, result.describe()
    assert "Traceback" not in result.stderr
    assert victim.read_text() == "outside\n"
    assert sorted(p.name for p in outside.iterdir()) == ["victim"]
