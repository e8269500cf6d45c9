"""An absolute ``--partial-dir`` in an upload: one directory, rooted at the module.

rsync's daemon takes ``--partial-dir=/DIR`` as ``MODULE/DIR``, one directory for every
file (not ``DIR`` beside each file), reached through symlinks that stay in the module
and made when a file first goes there. Module rules are about names: a symlink whose
name is not excluded may lead into an excluded directory (rsync's test suite:
operator-path-dir-daemon-*, operator-path-partial-dir-*). A symlink out of the module is
never followed and never removed: the file fails and the destination is left alone.
Each case runs against rsync's daemon too, with the real rsync client.
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

_DAEMONS = ("rsync", "ours")


def _snapshot(root: Path) -> dict[str, tuple[str, str]]:
    """Every name below ``root``: its kind and content, link target or mode."""
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


def _factories(
    real_daemon: RealDaemonFactory, our_daemon: RealDaemonFactory
) -> dict[str, RealDaemonFactory]:
    return {"rsync": real_daemon, "ours": our_daemon}


def _push(
    factory: RealDaemonFactory, rsync: RealRsync, mod: Path, exclude: str, args: list[str]
) -> tuple[int, str]:
    options = {"use chroot": "no"}
    if exclude:
        options["exclude"] = exclude
    daemon = factory([DaemonModule("m", mod, read_only=False, options=options)])
    code, _, err = run(rsync.argv("-a", *args, daemon.url("m")))
    return code, err


def _source(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "f0").write_text("NEW\n")
    (src / "sub" / "f1").write_text("NEW1\n")
    return src


@pytest.mark.timeout(120)
@pytest.mark.parametrize("extra", [[], ["--no-inc-recursive"], ["--protocol=29"]])
def test_absolute_partial_dir_is_one_directory_made_through_an_in_module_link(
    our_daemon: RealDaemonFactory,
    real_daemon: RealDaemonFactory,
    real_rsync: RealRsync,
    tmp_path: Path,
    extra: list[str],
) -> None:
    src = _source(tmp_path)
    results = []
    for name, factory in _factories(real_daemon, our_daemon).items():
        mod = tmp_path / name / "mod"
        (mod / "public").mkdir(parents=True)
        os.symlink("public", mod / "blink")
        args = ["--delay-updates", "--partial-dir=/blink/pdir", *extra, f"{src}/"]
        code, err = _push(factory, real_rsync, mod, "/public/pdir/", args)
        assert code == 0, err
        results.append(_snapshot(mod))
    assert results[0] == results[1]
    tree = results[1]
    assert tree["public/pdir"] == ("dir", "0o700")  # made, left (empty) for the next run
    assert tree["f0"] == ("file", "NEW\n")
    assert tree["sub/f1"] == ("file", "NEW1\n")
    assert "sub/pdir" not in tree
    assert tree["blink"] == ("link", "public")


@pytest.mark.timeout(120)
def test_absolute_partial_dir_file_is_the_basis_and_is_consumed(
    our_daemon: RealDaemonFactory,
    real_daemon: RealDaemonFactory,
    real_rsync: RealRsync,
    tmp_path: Path,
) -> None:
    src = _source(tmp_path)
    (src / "f0").write_text("NEW-CONTENT\n" * 500)
    results = []
    for name, factory in _factories(real_daemon, our_daemon).items():
        mod = tmp_path / name / "mod"
        (mod / "secret").mkdir(parents=True)
        (mod / "secret" / "f0").write_text("NEW-CONTENT\n" * 400)  # an earlier partial
        os.symlink("secret", mod / "blink")
        code, err = _push(
            factory, real_rsync, mod, "/secret/", ["--partial-dir=/blink", "--no-W", f"{src}/"]
        )
        assert code == 0, err
        results.append(_snapshot(mod))
    assert results[0] == results[1]
    tree = results[1]
    assert "secret/f0" not in tree  # used as the basis, then removed
    assert tree["f0"] == ("file", "NEW-CONTENT\n" * 500)


@pytest.mark.timeout(120)
def test_absolute_partial_dir_through_a_link_out_of_the_module_fails_the_file(
    our_daemon: RealDaemonFactory,
    real_daemon: RealDaemonFactory,
    real_rsync: RealRsync,
    tmp_path: Path,
) -> None:
    """rsync refuses the partial basis it finds outside (exit 2); pyrsyncd cannot see out
    of the module, cannot make the partial dir there, and fails the file (exit 23)."""
    src = _source(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "f0").write_text("OUTSIDE\n")
    for name, factory in _factories(real_daemon, our_daemon).items():
        mod = tmp_path / name / "mod"
        mod.mkdir(parents=True)
        (mod / "f0").write_text("OLD\n")
        os.utime(mod / "f0", (1_000_000_000, 1_000_000_000))
        os.symlink(str(outside), mod / "blink")
        args = ["--delay-updates", "--partial-dir=/blink", f"{src}/"]
        code, err = _push(factory, real_rsync, mod, "", args)
        assert code in (2, 23), err
        tree = _snapshot(mod)
        assert tree["f0"] == ("file", "OLD\n")
        assert tree["blink"] == ("link", str(outside))  # never removed
        assert sorted(os.listdir(outside)) == ["f0"]
        assert (outside / "f0").read_text() == "OUTSIDE\n"
    assert "Unable to create partial-dir for f0 -- discarding completed file." in err


@pytest.mark.timeout(120)
def test_absolute_partial_dir_hidden_by_the_module_is_rejected(
    our_daemon: RealDaemonFactory,
    real_daemon: RealDaemonFactory,
    real_rsync: RealRsync,
    tmp_path: Path,
) -> None:
    src = _source(tmp_path)
    for name, factory in _factories(real_daemon, our_daemon).items():
        mod = tmp_path / name / "mod"
        mod.mkdir(parents=True)
        code, err = _push(factory, real_rsync, mod, "/pdir/", ["--partial-dir=/pdir", f"{src}/"])
        assert code != 0
        assert "Your options have been rejected by the server." in err, name
        assert not (mod / "f0").exists()
        assert not (mod / "pdir").exists()
