"""``--usermap``, ``--groupmap`` and ``--chown`` in uploads: pyrsyncd maps ids as rsync does.

The receiving daemon applies the client's maps (``FROM:TO`` items, first match wins:
numbers, ranges, names, wildcards; ``*`` takes every id) to the owner and group of
what it writes. ``--chown=U:G`` reaches the server as ``--usermap=*:U
--groupmap=*:G``. Each case runs against rsync's daemon too, as root, with the real
rsync client, and the owners must be the same.
"""

from __future__ import annotations

import grp
import os
import pwd
from typing import TYPE_CHECKING

import pytest

from harness.daemon import DaemonModule
from harness.proc import run

if TYPE_CHECKING:
    from pathlib import Path

    from harness.daemon import RealDaemonFactory
    from harness.tools import RealRsync

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(os.geteuid() != 0, reason="setting owners needs root"),
]


def _two_groups() -> tuple[grp.struct_group, grp.struct_group]:
    groups = [g for g in grp.getgrall() if g.gr_gid != 0]
    if len(groups) < 2:
        pytest.skip("needs two groups besides root's")
    return groups[0], groups[1]


def _two_users() -> tuple[pwd.struct_passwd, pwd.struct_passwd]:
    users = [u for u in pwd.getpwall() if u.pw_uid != 0]
    if len(users) < 2:
        pytest.skip("needs two users besides root")
    return users[0], users[1]


def _owners(root: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            out[os.path.relpath(path, root)] = (st.st_uid, st.st_gid)
    return out


def _cases() -> list[list[str]]:
    (g1, g2), (u1, u2) = _two_groups(), _two_users()
    return [
        [f"--groupmap=*:{g2.gr_gid}"],
        [f"--groupmap=*:{g2.gr_name}"],
        [f"--groupmap={g1.gr_name}:{g2.gr_name}"],
        [f"--groupmap={g1.gr_gid}:{g2.gr_gid},*:0"],
        [f"--groupmap={g1.gr_gid}-{g1.gr_gid + 1}:{g2.gr_gid}"],
        [f"--groupmap=x*:{g2.gr_gid}"],  # matches no name: groups kept
        [f"--usermap=*:{u2.pw_name}", f"--groupmap=*:{g2.gr_gid}"],
        [f"--usermap={u1.pw_name}:{u2.pw_uid}"],
        [f"--chown={u2.pw_name}:{g2.gr_name}"],
        [f"--chown=:{g2.gr_gid}", "--secluded-args"],
    ]


@pytest.mark.timeout(180)
def test_upload_maps_owners_as_rsyncs_daemon(
    our_daemon: RealDaemonFactory,
    real_daemon: RealDaemonFactory,
    real_rsync: RealRsync,
    tmp_path: Path,
) -> None:
    (g1, g2), (u1, _) = _two_groups(), _two_users()
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    for rel in ("f", "d/g"):
        (src / rel).write_text(f"{rel}\n")
        os.chown(src / rel, u1.pw_uid, g1.gr_gid)
    os.chown(src / "d", 0, g1.gr_gid)
    daemons = {}
    for name, factory in (("rsync", real_daemon), ("ours", our_daemon)):
        mod = tmp_path / f"mod-{name}"
        mod.mkdir()
        daemons[name] = (mod, factory([DaemonModule("m", mod, read_only=False)]))
    for k, args in enumerate(_cases()):
        results = []
        for name, (mod, daemon) in daemons.items():
            code, _, err = run(
                real_rsync.argv("-rog", *args, f"{src}/", daemon.url("m", f"case{k}/"))
            )
            assert code == 0, (name, args, err)
            results.append(_owners(mod / f"case{k}"))
        assert results[0] == results[1], args
        if k == 0:  # every group mapped, the directory's too
            assert {gid for _, gid in results[1].values()} == {g2.gr_gid}
