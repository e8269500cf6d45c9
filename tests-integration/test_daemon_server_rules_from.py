"""``-M--exclude-from=FILE`` and ``-M--include-from=FILE``: a file the daemon reads in the module.

rsync's daemon takes these as its own options: the file is read relative to the module
(an absolute name too, sanitized into it), one bare pattern a line. Against the real
rsync client, beside rsync's own daemon.
"""

from __future__ import annotations

import subprocess
from typing import TYPE_CHECKING

import pytest

from harness.confd import ConfDaemons
from harness.daemon import LOOPBACK

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from harness.tools import RealRsync

pytestmark = pytest.mark.interop


@pytest.fixture
def daemons(
    real_rsync: RealRsync, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ConfDaemons]:
    started = ConfDaemons(real_rsync, tmp_path_factory.mktemp("rules-from"))
    yield started
    started.stop_all()


@pytest.mark.parametrize("daemon", ["ours", "rsync"])
@pytest.mark.parametrize(
    ("option", "expected"),
    [
        ("--exclude-from=lists/excl", ["a.txt", "lists"]),
        ("--exclude-from=/lists/excl", ["a.txt", "lists"]),
        ("--include-from=lists/excl", ["a.txt", "b.log", "lists"]),
    ],
)
def test_the_daemon_reads_the_rules_file_inside_the_module(
    daemons: ConfDaemons,
    real_rsync: RealRsync,
    tmp_path: Path,
    daemon: str,
    option: str,
    expected: list[str],
) -> None:
    module = tmp_path / "mod"
    (module / "lists").mkdir(parents=True)
    (module / "a.txt").write_text("a\n")
    (module / "b.log").write_text("b\n")
    (module / "lists" / "excl").write_text("# a comment\n*.log\n+ excl\n")
    port = daemons.start(daemon, f"[m]\npath = {module}\n")
    dst = tmp_path / "dst"
    proc = subprocess.run(
        real_rsync.argv("-r", f"-M{option}", f"rsync://{LOOPBACK}:{port}/m/", f"{dst}/"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in dst.iterdir()) == expected
    assert (dst / "lists" / "excl").exists()


@pytest.mark.parametrize("daemon", ["ours", "rsync"])
def test_a_rules_file_outside_the_module_is_not_read(
    daemons: ConfDaemons, real_rsync: RealRsync, tmp_path: Path, daemon: str
) -> None:
    module = tmp_path / "mod"
    module.mkdir()
    (module / "a.txt").write_text("a\n")
    outside = tmp_path / "outside-excl"
    outside.write_text("*.txt\n")
    port = daemons.start(daemon, f"[m]\npath = {module}\n")
    dst = tmp_path / "dst"
    proc = subprocess.run(
        real_rsync.argv(
            "-r", f"-M--exclude-from={outside}", f"rsync://{LOOPBACK}:{port}/m/", f"{dst}/"
        ),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # rsync's daemon ends (the client reports the lost connection, 12); pyrsyncd says why
    assert proc.returncode in (11, 12), proc.stderr
    assert not (dst / "a.txt").exists()
