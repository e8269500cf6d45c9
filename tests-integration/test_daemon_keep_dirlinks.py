"""``--keep-dirlinks`` (-K) in uploads: pyrsyncd's receiver as rsync's daemon.

A module that holds ``blink -> pub/`` receives ``blink/...`` from a client using -K into
``pub/``: the symlink is kept and taken as the directory it points at, and a module
``exclude`` is about names, so the physical ``pub/...`` it reaches is not checked
(rsync's test suite: symlink-exclude-*; a writable module defends itself with ``munge
symlinks``). A symlink that leads out of the destination is never followed: the pushed
directory replaces it, as without -K. Each case runs against rsync's daemon too, with
the real rsync client, and both modules must end the same.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

from harness.daemon import DaemonModule
from harness.proc import run

if TYPE_CHECKING:
    from pathlib import Path

    from harness.daemon import RealDaemonFactory
    from harness.tools import RealRsync

pytestmark = pytest.mark.interop


def _snapshot(root: Path) -> dict[str, tuple[str, str]]:
    """Every name below ``root``: its kind and content (or link target)."""
    out: dict[str, tuple[str, str]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            if os.path.islink(path):
                out[rel] = ("link", os.readlink(path))
            elif os.path.isdir(path):
                out[rel] = ("dir", oct(os.stat(path).st_mode & 0o7777))
            else:
                with open(path) as f:
                    out[rel] = ("file", f.read())
    return out


def _module(base: Path, outside: Path) -> Path:
    mod = base / "mod"
    (mod / "pub" / "secret").mkdir(parents=True)
    for rel in ("pub/secret/x", "pub/blocked"):
        (mod / rel).write_text("OLD\n")
        os.utime(mod / rel, (1_000_000_000, 1_000_000_000))
    os.symlink("pub/", mod / "blink")
    os.symlink(str(outside), mod / "away")
    return mod


def _source(tmp_path: Path, *, away: bool = False) -> Path:
    src = tmp_path / ("src-away" if away else "src")
    (src / "blink" / "secret").mkdir(parents=True)
    (src / "blink" / "secret" / "x").write_text("NEW\n")
    (src / "blink" / "blocked").write_text("NEW\n")
    (src / "blink" / "added").write_text("NEW\n")
    if away:
        (src / "away").mkdir()
        (src / "away" / "f").write_text("NEW\n")
    return src


def _push(
    factory: RealDaemonFactory, real_rsync: RealRsync, mod: Path, args: list[str], dest: str = ""
) -> tuple[int, str]:
    rules = {"exclude": "/pub/secret/ /pub/blocked", "use chroot": "no"}
    daemon = factory([DaemonModule("m", mod, read_only=False, options=rules)])
    code, _, err = run(real_rsync.argv(*args, daemon.url("m", dest)))
    return code, err


@pytest.mark.timeout(120)
@pytest.mark.parametrize("extra", [[], ["--no-inc-recursive"], ["--protocol=29"]])
def test_keep_dirlinks_upload_writes_through_an_in_module_dir_symlink(
    our_daemon: RealDaemonFactory,
    real_daemon: RealDaemonFactory,
    real_rsync: RealRsync,
    tmp_path: Path,
    extra: list[str],
) -> None:
    src = _source(tmp_path)
    results = []
    for name, factory in (("rsync", real_daemon), ("ours", our_daemon)):
        outside = tmp_path / "outside"
        outside.mkdir(exist_ok=True)
        mod = _module(tmp_path / name, outside)
        code, err = _push(factory, real_rsync, mod, ["-rlt", "-K", *extra, f"{src}/"])
        assert code == 0, err
        results.append(_snapshot(mod))
    assert results[0] == results[1]
    tree = results[1]
    assert tree["blink"] == ("link", "pub/")
    assert tree["pub/secret/x"] == ("file", "NEW\n")
    assert tree["pub/blocked"] == ("file", "NEW\n")
    assert tree["pub/added"] == ("file", "NEW\n")


@pytest.mark.timeout(120)
def test_keep_dirlinks_does_not_chmod_the_link(
    our_daemon: RealDaemonFactory,
    real_daemon: RealDaemonFactory,
    real_rsync: RealRsync,
    tmp_path: Path,
) -> None:
    src = _source(tmp_path)
    os.chmod(src / "blink", 0o700)
    results = []
    for name, factory in (("rsync", real_daemon), ("ours", our_daemon)):
        outside = tmp_path / "outside"
        outside.mkdir(exist_ok=True)
        mod = _module(tmp_path / name, outside)
        code, err = _push(factory, real_rsync, mod, ["-rltp", "-K", f"{src}/"])
        assert '"blink"' in err
        assert "Too many levels of symbolic links (40)" in err
        results.append((code, _snapshot(mod)))
    assert results[0] == results[1]
    assert results[1][0] == 23
    assert results[1][1]["pub"] == ("dir", "0o755")


@pytest.mark.timeout(120)
@pytest.mark.parametrize("extra", [[], ["--no-inc-recursive"]])
def test_keep_dirlinks_never_writes_through_a_link_out_of_the_module(
    our_daemon: RealDaemonFactory,
    real_daemon: RealDaemonFactory,
    real_rsync: RealRsync,
    tmp_path: Path,
    extra: list[str],
) -> None:
    """rsync keeps the link and refuses ``away/f`` (exit 23); pyrsyncd's connection cannot
    see outside the module at all, so for it the link leads nowhere and the pushed
    directory replaces it. Either way nothing outside changes."""
    src = _source(tmp_path, away=True)
    for name, factory in (("rsync", real_daemon), ("ours", our_daemon)):
        outside = tmp_path / "outside"
        outside.mkdir(exist_ok=True)
        mod = _module(tmp_path / name, outside)
        code, err = _push(factory, real_rsync, mod, ["-rlt", "-K", *extra, f"{src}/"])
        assert code in (0, 23), err
        assert list(outside.iterdir()) == []
        tree = _snapshot(mod)
        assert tree["pub/secret/x"] == ("file", "NEW\n")
        assert tree.get("away/f", ("file", "NEW\n")) == ("file", "NEW\n")


@pytest.mark.timeout(120)
def test_keep_dirlinks_upload_into_a_symlinked_destination(
    our_daemon: RealDaemonFactory,
    real_daemon: RealDaemonFactory,
    real_rsync: RealRsync,
    tmp_path: Path,
) -> None:
    src = tmp_path / "src2"
    (src / "secret").mkdir(parents=True)
    (src / "secret" / "x").write_text("NEW\n")
    results = []
    for name, factory in (("rsync", real_daemon), ("ours", our_daemon)):
        outside = tmp_path / "outside"
        outside.mkdir(exist_ok=True)
        mod = _module(tmp_path / f"{name}2", outside)
        code, err = _push(factory, real_rsync, mod, ["-rlt", "-K", f"{src}/"], "blink/")
        assert code == 0, err
        results.append(_snapshot(mod))
    assert results[0] == results[1]
    assert results[1]["pub/secret/x"] == ("file", "NEW\n")
