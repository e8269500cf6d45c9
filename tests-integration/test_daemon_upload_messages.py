"""What a receiving pyrsyncd says when it cannot write, beside rsync's daemon.

Both daemons drop to ``nobody`` and are given a module directory only root may write: every
write of an upload fails, and each failure reaches the client as rsync's daemon words it,
the name relative to the module followed by ``(in MODULE)`` (rsync: util1.c full_fname()).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from harness.daemon import DaemonModule
from harness.proc import run

if TYPE_CHECKING:
    from harness.daemon import RealDaemonFactory
    from harness.tools import RealRsync

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(os.geteuid() != 0, reason="the daemons switch to nobody as root only"),
]

_TEMP = re.compile(rb'"(\.[^"/]+)\.[A-Za-z0-9_]{6}"')


def _lines(stderr: str) -> list[str]:
    masked = _TEMP.sub(rb'"\1.XXXXXX"', stderr.encode("utf-8", "surrogateescape"))
    return sorted(masked.decode("utf-8", "surrogateescape").splitlines())


def test_write_errors_name_the_module_as_rsyncs_daemon(
    our_daemon: RealDaemonFactory,
    real_daemon: RealDaemonFactory,
    real_rsync: RealRsync,
    tmp_path: Path,
) -> None:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "file").write_text("data\n")
    (src / "sub" / "inner").write_text("inner\n")
    results = []
    for name, factory in (("theirs", real_daemon), ("ours", our_daemon)):
        dest = tmp_path / name
        dest.mkdir(mode=0o755)
        daemon = factory(
            [DaemonModule("up", dest, read_only=False)],
            global_options={"uid": "nobody", "gid": "nogroup"},
        )
        code, _, err = run(real_rsync.argv("-r", f"{src}/", daemon.url("up")), timeout=60)
        results.append((code, _lines(err)))
        assert sorted(p.name for p in dest.iterdir()) == []
    (their_code, theirs), (our_code, ours) = results
    assert our_code == their_code == 23
    assert any("(in up) failed: Permission denied" in line for line in theirs), theirs
    assert ours == theirs


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to serve as another user")
def test_top_directory_times_refused_as_rsync(
    real_rsync: RealRsync,
    real_daemon: RealDaemonFactory,
    our_daemon: RealDaemonFactory,
    tmp_path: Path,
) -> None:
    """A module directory the daemon's user may not touch: the same lines as rsync's.

    rsync says ``[generator] failed to set times on "." (in m)`` (rsync.c
    set_file_attrs(), full_fname()); pyrsyncd said ``failed to set times on ""``. It says
    it when it touches the directories up, after the files, so the lines are compared
    in sorted order, with the temporary names masked.
    """
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_text("data\n")
    os.utime(src, (1_300_000_000, 1_300_000_000))
    said = {}
    for name, factory in (("rsync", real_daemon), ("ours", our_daemon)):
        # a directory the serving user (nobody) can enter but not write, outside tmp_path
        # (which only root may enter)
        mod = Path(tempfile.mkdtemp(prefix="pyrsync-times-"))
        try:
            mod.chmod(0o755)
            module = DaemonModule(
                "m", mod, read_only=False, options={"uid": "nobody", "gid": "nogroup"}
            )
            daemon = factory([module])
            result = run(real_rsync.argv("-rt", f"{src}/", daemon.url("m")), timeout=60)
        finally:
            shutil.rmtree(mod)
        lines = [re.sub(r'"\.f\.\w+"', '".f.XXXXXX"', line) for line in result.stderr.splitlines()]
        said[name] = (result.returncode, sorted(lines))
    assert said["rsync"][0] == 23
    assert (
        'rsync: [generator] failed to set times on "." (in m): Operation not permitted (1)'
        in (said["rsync"][1])
    )
    assert said["ours"] == said["rsync"]
