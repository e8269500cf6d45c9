"""pyrsync confines itself with Landlock once connected: it can write only below the destination.

Run as an unprivileged user when the tests run as root (``setpriv`` to uid 65534; the
interpreter lives where nobody cannot read it, so the ambient CAP_DAC_READ_SEARCH lets it
start, and makes the test stronger: Landlock must stop what file permissions would not).
"""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING

import pytest

from harness.compare import assert_trees_equal
from harness.proc import run
from harness.tools import find_tool, unavailable

if TYPE_CHECKING:
    from pathlib import Path

    from harness.daemon import RealDaemonFactory

pytestmark = pytest.mark.interop

ROOT = os.geteuid() == 0
NOBODY = 65534


def _landlock_abi() -> int:
    from rsync_sandbox.landlock import abi_version

    try:
        return abi_version()
    except OSError:
        return 0


@pytest.fixture
def unprivileged() -> list[str]:
    """The command prefix that runs a program as uid 65534 (empty when not root)."""
    if _landlock_abi() <= 0:
        unavailable("the kernel has no Landlock")
    if not ROOT:
        return []
    setpriv = find_tool("setpriv")
    if setpriv is None:
        unavailable("setpriv (util-linux) is needed to run pyrsync as uid 65534")
    prefix = [str(setpriv), f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    if run([*prefix, sys.executable, "-c", "import rsync_client"], timeout=60).returncode != 0:
        prefix += ["--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search"]
    return prefix


_PROBE = r"""
import json, os, sys
from rsync_client.confine import confine_client
from rsync_client.options import ClientOptions
dest, src, outside_dir, secret = sys.argv[1:5]
note = confine_client(ClientOptions(), [src], dest)
result = {"note": note}
def attempt(name, fn):
    try:
        fn()
        result[name] = "ok"
    except OSError as exc:
        result[name] = exc.errno
attempt("write_inside", lambda: open(os.path.join(dest, "new.txt"), "w").write("x"))
attempt("mkdir_inside", lambda: os.mkdir(os.path.join(dest, "sub")))
attempt("read_source", lambda: open(os.path.join(src, "f.txt")).read())
attempt("write_outside", lambda: open(os.path.join(outside_dir, "evil.txt"), "w").write("x"))
attempt("unlink_outside", lambda: os.unlink(os.path.join(outside_dir, "victim.txt")))
attempt("read_outside", lambda: open(secret).read())
attempt("write_into_source", lambda: open(os.path.join(src, "f.txt"), "a").write("x"))
print(json.dumps(result))
"""


def _probe(
    unprivileged: list[str], tmp_path: Path, env: dict[str, str] | None = None
) -> tuple[dict[str, object], Path]:
    """Run the probe below ``tmp_path`` (dest, src, outside, a secret); its answers and outside."""
    dest = tmp_path / "dest"
    src = tmp_path / "src"
    outside = tmp_path / "outside"
    for d in (dest, src, outside):
        d.mkdir()
        d.chmod(0o777)
    (src / "f.txt").write_text("source\n")
    (src / "f.txt").chmod(0o666)
    (outside / "victim.txt").write_text("keep me\n")
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET\n")
    secret.chmod(0o644)
    code, out, err = run(
        [
            *unprivileged,
            sys.executable,
            "-c",
            _PROBE,
            str(dest),
            str(src),
            str(outside),
            str(secret),
        ],
        timeout=60,
        env=env,
    )
    assert code == 0, err
    return json.loads(out), outside


def test_confined_client_cannot_touch_anything_else(
    unprivileged: list[str], tmp_path: Path
) -> None:
    result, outside = _probe(unprivileged, tmp_path)
    assert result["note"].startswith("confined with Landlock"), result
    assert result["write_inside"] == "ok"
    assert result["mkdir_inside"] == "ok"
    assert result["read_source"] == "ok"
    for attempt in ("write_outside", "unlink_outside", "read_outside", "write_into_source"):
        assert result[attempt] == 13, (attempt, result)  # EACCES from Landlock
    assert (outside / "victim.txt").read_text() == "keep me\n"
    assert not (outside / "evil.txt").exists()


def test_unprivileged_confined_pull_still_works(
    unprivileged: list[str],
    real_daemon: RealDaemonFactory,
    tree_factory: object,
    tmp_path: Path,
) -> None:
    src = tmp_path / "src"
    (src / "dir").mkdir(parents=True)
    (src / "dir" / "a.txt").write_text("hello\n")
    (src / "b.bin").write_bytes(os.urandom(300_000))
    (src / "link").symlink_to("dir/a.txt")
    for p in (src, src / "dir"):
        p.chmod(0o755)
    daemon = real_daemon({"src": src})
    work = tmp_path / "work"
    work.mkdir()
    work.chmod(0o777)
    dest = work / "dest"
    pyrsync = [sys.executable, "-m", "rsync_client"]
    code, out, err = run(
        [*unprivileged, *pyrsync, "-rltvvv", daemon.url("src"), str(dest)], timeout=120
    )
    assert code == 0, err
    assert "confined with Landlock ABI" in out
    assert_trees_equal(src, dest, perms=False, symlink_times=True)
    code, out, err = run(
        [*unprivileged, *pyrsync, "-rltvvv", "--no-sandbox", daemon.url("src"), str(dest)],
        timeout=120,
    )
    assert code == 0, err
    assert "confined" not in out


def test_preloaded_code_keeps_the_users_rights(unprivileged: list[str], tmp_path: Path) -> None:
    """With LD_PRELOAD set, the client stays unconfined: preloaded code writes where it means to.

    A fault injector, fakeroot or a profiler loaded into pyrsync runs with the user's rights;
    confined, its writes outside the destination would fail with EACCES inside the hook.
    """
    import ctypes.util

    libc = ctypes.util.find_library("c")
    if libc is None:
        unavailable("no C library to preload")
    result, outside = _probe(unprivileged, tmp_path, env={**os.environ, "LD_PRELOAD": libc})
    assert result["note"] == "not confined: LD_PRELOAD is set", result
    assert result["write_outside"] == "ok"
    assert (outside / "evil.txt").read_text() == "x"
