"""``name converter``: a module's program maps user and group names, against real rsync.

rsync's daemon asks the module's name converter (one long-running program per
connection, a line per question: ``uid N``/``gid N`` answer a name, ``usr NAME``/``grp
NAME`` a number) instead of the local databases. pyrsyncd runs it from the helper
process forked before confinement and relays the lines. Beside rsync's own daemon.
"""

from __future__ import annotations

import grp
import os
import pwd
import subprocess
from typing import TYPE_CHECKING

import pytest

from harness.confd import ConfDaemons
from harness.daemon import LOOPBACK

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from harness.tools import RealRsync

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(os.geteuid() != 0, reason="setting owners needs root"),
]

USER = pwd.getpwuid(1).pw_name  # "daemon" on Debian
GROUP = grp.getgrgid(4).gr_name  # "adm" on Debian
MAPPED_UID, MAPPED_GID = 4242, 4343


@pytest.fixture
def start_conf(
    real_rsync: RealRsync, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[str, str], int]]:
    """``start_conf(...)`` starts a daemon on an rsyncd.conf on loopback; returns its port."""
    daemons = ConfDaemons(real_rsync, tmp_path_factory.mktemp("namecvt"))
    yield lambda body, daemon: daemons.start(daemon, body, head=True)
    daemons.stop_all()


def _converter(tmp_path: Path) -> tuple[Path, Path]:
    """A converter that knows one user and one group under other numbers; logs questions."""
    asked = tmp_path / "asked"
    script = tmp_path / "namecvt.sh"
    script.write_text(
        "#!/bin/sh\n"
        "while read req arg; do\n"
        f'  echo "$req $arg" >> {asked}\n'
        '  case "$req $arg" in\n'
        f'    "usr {USER}") echo {MAPPED_UID} ;;\n'
        f'    "grp {GROUP}") echo {MAPPED_GID} ;;\n'
        f'    "uid {MAPPED_UID}") echo {USER} ;;\n'
        f'    "gid {MAPPED_GID}") echo {GROUP} ;;\n'
        "    *) echo ;;\n"
        "  esac\n"
        "done\n"
    )
    script.chmod(0o755)
    return script, asked


def _rsync(real_rsync: RealRsync, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        real_rsync.argv(*args), capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.parametrize("daemon", ["ours", "rsync"])
def test_the_converter_maps_names_both_ways(
    start_conf: Callable[[str, str], int], real_rsync: RealRsync, tmp_path: Path, daemon: str
) -> None:
    script, asked = _converter(tmp_path)
    module = tmp_path / "mod"
    module.mkdir()
    port = start_conf(
        f"[m]\npath = {module}\nread only = no\nname converter = {script}\nnumeric ids = no\n",
        daemon,
    )
    url = f"rsync://{LOOPBACK}:{port}/m/"
    src = tmp_path / "src"
    src.mkdir()
    (src / "up").write_text("upload\n")
    os.chown(src / "up", 1, 4)
    push = _rsync(real_rsync, "-rog", f"{src}/", url)
    assert push.returncode == 0, push.stderr
    st = (module / "up").stat()
    assert (st.st_uid, st.st_gid) == (MAPPED_UID, MAPPED_GID)
    # and back: the daemon's sender names MAPPED_UID/GID through the converter
    dst = tmp_path / "dst"
    pull = _rsync(real_rsync, "-rog", url, f"{dst}/")
    assert pull.returncode == 0, pull.stderr
    st = (dst / "up").stat()
    assert (st.st_uid, st.st_gid) == (1, 4)
    questions = set(asked.read_text().splitlines())
    assert {f"usr {USER}", f"grp {GROUP}", f"uid {MAPPED_UID}", f"gid {MAPPED_GID}"} <= questions
