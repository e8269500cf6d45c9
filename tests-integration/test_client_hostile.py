"""pyrsync against a hostile sender over a remote shell: a clear error, nothing touched outside.

The sender (``harness/client_hostile.py``) is built from our own codecs and reached through
the ``-e`` shim, so the whole client path runs: transport, negotiation, file list.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from harness.client import pyrsync_argv
from harness.client_hostile import ATTACKS, INC_ATTACKS, OUTSIDE_TARGET
from harness.proc import run

if TYPE_CHECKING:
    from harness.shim import ShimFactory

HOSTILE = Path(__file__).parent / "harness" / "client_hostile.py"


@pytest.mark.parametrize("attack", ATTACKS)
def test_hostile_sender_over_a_remote_shell(
    attack: str, rsh_shim_factory: ShimFactory, tmp_path: Path
) -> None:
    outside = Path(OUTSIDE_TARGET)
    shutil.rmtree(outside, ignore_errors=True)
    outside.mkdir()
    try:
        shim = rsh_shim_factory([sys.executable, str(HOSTILE), attack], name=f"hostile-{attack}")
        dest = tmp_path / "dest"
        dest.mkdir()
        (dest / "complete").write_text("complete before\n")
        result = run(pyrsync_argv("-a", "-e", str(shim), "host:/src/", dest))
        assert result.returncode in (2, 4), result.describe()
        assert "rsync error:" in result.stderr
        assert any(word in result.stderr for word in ("unsafe", "invalid path", "4096", "name"))
        assert list(outside.iterdir()) == []
        assert sorted(p.name for p in dest.iterdir()) == ["complete"]
        assert (dest / "complete").read_text() == "complete before\n"
        assert not (tmp_path / "escaped").exists()
        assert not Path("/tmp/escaped").exists()
    finally:
        shutil.rmtree(outside, ignore_errors=True)


@pytest.mark.parametrize("attack", INC_ATTACKS)
def test_hostile_incremental_lists(
    attack: str, rsh_shim_factory: ShimFactory, tmp_path: Path
) -> None:
    # the first list is honest (".", "d"); a later one is not: the session ends with a
    # protocol error before any file is written, and nothing outside the destination changes
    outside = Path(OUTSIDE_TARGET)
    shutil.rmtree(outside, ignore_errors=True)
    outside.mkdir()
    try:
        shim = rsh_shim_factory([sys.executable, str(HOSTILE), attack], name=f"hostile-{attack}")
        dest = tmp_path / "dest"
        dest.mkdir()
        (dest / "complete").write_text("complete before\n")
        result = run(pyrsync_argv("-a", "-e", str(shim), "host:/src/", dest))
        assert result.returncode in (2, 4), result.describe()
        assert "rsync error:" in result.stderr
        assert "Traceback" not in result.stderr
        assert any(
            word in result.stderr for word in ("invalid path", "invalid directory", "refusing")
        ), result.stderr
        assert list(outside.iterdir()) == []
        # at most the honest directory was made; no file arrived
        assert sorted(p.name for p in dest.iterdir()) in (["complete"], ["complete", "d"])
        assert not (dest / "d").exists() or list((dest / "d").iterdir()) == []
        assert (dest / "complete").read_text() == "complete before\n"
        assert not (dest / "x").exists()
        assert not (tmp_path / "elsewhere").exists()
    finally:
        shutil.rmtree(outside, ignore_errors=True)
