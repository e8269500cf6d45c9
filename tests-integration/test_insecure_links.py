"""``--insecure-links``: paths the user named follow any symlink again, as before rsync 3.5.

Without it a symlink another user owns on the way of a named path (an exclude file, the
destination, the log file) is refused; with it the path is followed. Ours and rsync run
the same commands; exit codes, messages and what was written must agree. It is local
only: it cannot be combined with ``--confine-root`` and is never sent to the server.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

from harness.client import pyrsync_argv
from harness.proc import run

if TYPE_CHECKING:
    from pathlib import Path

    from harness.tools import RealRsync

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(os.geteuid() != 0, reason="planting another user's symlink needs root"),
]


def _plant(link: Path, target: Path) -> None:
    os.symlink(target, link)
    os.lchown(link, 65534, 65534)


def _setup(base: Path) -> dict[str, Path]:
    src = base / "src"
    src.mkdir(parents=True)
    (src / "keep").write_text("keep\n")
    (src / "skip").write_text("skip\n")
    rules = base / "rules"
    rules.write_text("- skip\n")
    real_dest = base / "real-dest"
    real_dest.mkdir()
    _plant(base / "rules-link", rules)
    _plant(base / "dest-link", real_dest)
    return {"src": src, "real_dest": real_dest}


CASES = {
    "exclude-from": lambda b: ["--exclude-from", str(b / "rules-link"), f"{b}/src/", f"{b}/out/"],
    "destination": lambda b: [f"{b}/src/", f"{b}/dest-link/"],
    "log-file": lambda b: [f"--log-file={b}/dest-link/log", f"{b}/src/", f"{b}/out/"],
}


@pytest.mark.parametrize("insecure", [False, True])
@pytest.mark.parametrize("case", sorted(CASES))
def test_insecure_links_as_rsync(
    real_rsync: RealRsync, tmp_path: Path, case: str, insecure: bool
) -> None:
    results = []
    for who, argv in (("ours", pyrsync_argv()), ("theirs", real_rsync.argv())):
        base = tmp_path / who
        _setup(base)
        extra = ["--insecure-links"] if insecure else []
        code, out, err = run([*argv, "-a", *extra, *CASES[case](base)])
        written = sorted(
            os.path.relpath(os.path.join(d, f), base)
            for d, _dirs, files in os.walk(base)
            for f in files
        )
        err = "\n".join(ln for ln in err.splitlines() if not ln.startswith("rsync error:"))
        results.append((code, out, err.replace(str(base), "BASE"), written))
    assert results[0] == results[1]
    if insecure:
        assert results[0][0] == 0


def test_insecure_links_and_confine_root_conflict(real_rsync: RealRsync, tmp_path: Path) -> None:
    results = []
    for argv in (pyrsync_argv(), real_rsync.argv()):
        code, out, err = run(
            [*argv, "-a", "--insecure-links", f"--confine-root={tmp_path}", f"{tmp_path}/", "x/"]
        )
        results.append((code, out, err.splitlines()[0]))
    assert results[0] == results[1]
    assert results[0][0] == 1
