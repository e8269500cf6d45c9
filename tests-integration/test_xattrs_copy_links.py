"""``-X`` with ``-L``, ``--copy-unsafe-links`` and ``--copy-dirlinks``, against rsync 3.5.

A symlink the sender follows becomes a file or directory in the list, but rsync reads its
attributes by name with ``llistxattr()``/``lgetxattr()`` (rsync: flist.c send_file_name(),
xattrs.c get_xattr() with no descriptor): the copy gets the symlink's own attributes, not
its target's. On Linux a symlink holds no ``user.`` attribute, but root may give it a
``trusted.`` one, which is what these trees carry to tell the two apart. pyrsync's sender
used to open the name ``O_NOFOLLOW``, fail with ``ELOOP`` and end with code 23.

Every case runs our sender (a local copy, a push to rsync's daemon, rsync pulling from
pyrsyncd) and compares the destination with rsync's own local copy of the same tree.
"""

from __future__ import annotations

import errno
import os
from typing import TYPE_CHECKING

import pytest

from harness.client import pyrsync_argv
from harness.daemon import DaemonModule
from harness.proc import run

if TYPE_CHECKING:
    from pathlib import Path

    from harness.daemon import RealDaemonFactory
    from harness.tools import RealRsync

pytestmark = pytest.mark.interop

MTIME = 1_300_000_000
LINK_OPTS = ["-L", "--copy-unsafe-links", "--copy-dirlinks"]


def _set_link_attr(path: Path, name: str, value: bytes) -> None:
    try:
        os.setxattr(path, name, value, follow_symlinks=False)
    except OSError as exc:
        if exc.errno in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP):
            pytest.skip(f"no trusted. xattr on a symlink here: {exc.strerror}")
        raise


def _source(tmp_path: Path, *, outside: bool = True) -> Path:
    """A tree with links inside (file, directory) and, with ``outside``, out of it."""
    root = tmp_path / "src"
    (root / "d").mkdir(parents=True)
    (root / "f").write_bytes(b"file\n")
    (root / "d" / "g").write_bytes(b"in d\n")
    os.setxattr(root / "f", "user.x", b"of f")
    os.setxattr(root / "d", "user.d", b"of d")
    os.symlink("f", root / "l")
    os.symlink("d", root / "dl")
    _set_link_attr(root / "l", "trusted.t", b"of l")
    if outside:
        out = tmp_path / "outside"
        out.mkdir()
        (out / "o").write_bytes(b"outside\n")
        os.setxattr(out / "o", "user.o", b"of o")
        os.symlink("../outside/o", root / "unsafe")
        os.symlink("../outside", root / "unsafed")
        _set_link_attr(root / "unsafe", "trusted.t", b"of unsafe")
        for path in (out / "o", out):
            os.utime(path, (MTIME, MTIME))
    for dirpath, dirnames, filenames in os.walk(root, topdown=False):
        for name in [*dirnames, *filenames]:
            os.utime(os.path.join(dirpath, name), (MTIME, MTIME), follow_symlinks=False)
    os.utime(root, (MTIME, MTIME))
    return root


def _tree(root: Path) -> dict[str, tuple[str, dict[str, bytes]]]:
    """Each entry's type and ``user.``/``trusted.`` attributes (a followed link's own).

    A symlink kept as one shows none: rsync also copies a kept symlink's own ``trusted.``
    attributes, which pyrsync does not yet (not what these cases are about).
    """
    out: dict[str, tuple[str, dict[str, bytes]]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [".", *dirnames, *filenames]:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            kind = "l" if os.path.islink(path) else "d" if os.path.isdir(path) else "f"
            attrs = {
                n: os.getxattr(path, n, follow_symlinks=False)
                for n in sorted(os.listxattr(path, follow_symlinks=False))
                if n.startswith(("user.", "trusted.")) and kind != "l"
            }
            out[os.path.relpath(path, root)] = (
                f"{kind} {st.st_size if kind == 'f' else ''}",
                attrs,
            )
    return out


def _expected(real_rsync: RealRsync, src: Path, dest: Path, opt: str) -> dict[str, object]:
    code, _, err = run(real_rsync.argv("-aX", opt, f"{src}/", f"{dest}/"))
    assert code == 0, err
    tree = _tree(dest)
    # what the case is about: a followed link carries its own attribute, not its target's
    if opt == "-L":
        assert tree["l"] == ("f 5", {"trusted.t": b"of l"})
        assert tree["dl"] == ("d ", {})
    elif opt == "--copy-unsafe-links" and "unsafe" in tree:
        assert tree["unsafe"] == ("f 8", {"trusted.t": b"of unsafe"})
        assert tree["unsafed/o"] == ("f 8", {"user.o": b"of o"})
    elif opt == "--copy-dirlinks":
        assert tree["dl"] == ("d ", {})
    return tree  # type: ignore[return-value]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("opt", LINK_OPTS)
def test_local_copy(real_rsync: RealRsync, tmp_path: Path, opt: str) -> None:
    src = _source(tmp_path)
    expected = _expected(real_rsync, src, tmp_path / "rsync", opt)
    code, _, err = run(pyrsync_argv("-aX", opt, f"{src}/", f"{tmp_path / 'ours'}/"))
    assert (code, err) == (0, "")
    assert _tree(tmp_path / "ours") == expected


@pytest.mark.timeout(120)
@pytest.mark.parametrize("opt", LINK_OPTS)
def test_push_to_rsync_daemon(
    real_daemon: RealDaemonFactory, real_rsync: RealRsync, tmp_path: Path, opt: str
) -> None:
    src = _source(tmp_path)
    expected = _expected(real_rsync, src, tmp_path / "rsync", opt)
    dest = tmp_path / "ours"
    dest.mkdir()
    daemon = real_daemon([DaemonModule("m", dest, read_only=False)])
    code, _, err = run(pyrsync_argv("-aX", opt, f"{src}/", daemon.url("m") + "/"))
    assert (code, err) == (0, "")
    assert _tree(dest) == expected


@pytest.mark.timeout(120)
@pytest.mark.parametrize("opt", LINK_OPTS)
def test_rsync_pulls_from_pyrsyncd(
    our_daemon: RealDaemonFactory, real_rsync: RealRsync, tmp_path: Path, opt: str
) -> None:
    src = _source(tmp_path, outside=False)  # a daemon follows no link out of its module
    expected = _expected(real_rsync, src, tmp_path / "rsync", opt)
    daemon = our_daemon([DaemonModule("m", src)])
    dest = tmp_path / "ours"
    code, _, err = run(real_rsync.argv("-aX", opt, daemon.url("m") + "/", f"{dest}/"))
    assert (code, err) == (0, "")
    assert _tree(dest) == expected
