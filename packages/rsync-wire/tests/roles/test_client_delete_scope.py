"""``--delete`` never reaches outside what the request maps to, whatever the sender claims.

The sender is built from our codecs (``fake_sender``); it flags directories as content
directories that the client only knows as parents of what it asked for.

rsync: testsuite malicious-dot-dir-delete-scope, malicious-sender-delete-scope,
malicious-dot-file-delete-scope.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import anyio
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fake_sender import FakeSender, encode_list, run_against, session_for

from rsync_wire.errors import RemoteProtocolError
from rsync_wire.proto.flist import FileEntry
from rsync_wire.proto.options import TransferOptions
from rsync_wire.roles.receiving import ImpliedRules, ReceiveConfig

DIR = stat.S_IFDIR | 0o755
REG = stat.S_IFREG | 0o644


def entry(name: bytes, mode: int, **kw: object) -> FileEntry:
    return FileEntry(name=name, mode=mode, mtime=1_600_000_000, **kw)  # type: ignore[arg-type]


def opts(**extra: object) -> TransferOptions:
    base = {"sender": True, "recursive": True, "delete_mode": ""}
    return TransferOptions(**{**base, **extra})  # type: ignore[arg-type]


def pull(sender: FakeSender, dest: Path, o: TransferOptions, requested: list[bytes]) -> object:
    config = ReceiveConfig(requested=requested)
    return anyio.run(run_against, sender, os.fsencode(dest), o, config)


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    d = tmp_path / "dest"
    (d / "private").mkdir(parents=True)
    (d / "private" / "must-survive").write_text("receiver-owned\n")
    (d / "sibling").write_text("receiver-owned too\n")
    return d


@pytest.mark.parametrize("protocol", [29, 30, 32])
def test_forged_dot_content_dir_does_not_widen_delete(dest: Path, protocol: int) -> None:
    """malicious-dot-dir-delete-scope: ``rsync://h/mod/requested`` with "." as a content dir."""
    session = session_for(protocol)
    o = opts()
    flist = encode_list(
        session, o, [entry(b".", DIR, top_dir=True), entry(b"requested", REG, size=6)]
    )
    sender = FakeSender(
        session, o, flist, sorted_names=[b".", b"requested"], content={b"requested": b"hello\n"}
    )
    pull(sender, dest, o, [b"requested"])
    assert (dest / "private" / "must-survive").read_text() == "receiver-owned\n"
    assert (dest / "sibling").exists()
    assert (dest / "requested").read_bytes() == b"hello\n"


@pytest.mark.parametrize("protocol", [29, 32])
def test_forged_implied_parent_does_not_widen_delete(dest: Path, protocol: int) -> None:
    """malicious-sender-delete-scope: ``-R rsync://h/m/private/file`` with "private" as content."""
    session = session_for(protocol)
    o = opts(relative=True)
    flist = encode_list(
        session,
        o,
        [entry(b"private", DIR, top_dir=True), entry(b"private/file", REG, size=3)],
    )
    sender = FakeSender(
        session,
        o,
        flist,
        sorted_names=[b"private", b"private/file"],
        content={b"private/file": b"new"},
    )
    pull(sender, dest, o, [b"private/file"])
    assert (dest / "private" / "must-survive").exists()
    assert (dest / "private" / "file").read_bytes() == b"new"


def test_requested_directory_contents_still_delete(dest: Path) -> None:
    """The honest case: ``rsync://h/mod/dir/`` asks for the top's contents; extras go."""
    session = session_for()
    o = opts()
    flist = encode_list(
        session, o, [entry(b".", DIR, top_dir=True), entry(b"requested", REG, size=6)]
    )
    sender = FakeSender(
        session, o, flist, sorted_names=[b".", b"requested"], content={b"requested": b"hello\n"}
    )
    pull(sender, dest, o, [b"dir/"])
    assert sorted(p.name for p in dest.iterdir()) == ["requested"]


def test_dot_as_a_file_is_refused(dest: Path) -> None:
    """malicious-dot-file-delete-scope: "." sent as a regular file ends the session."""
    session = session_for()
    o = opts(delete_mode=None, force=True)
    flist = encode_list(session, o, [entry(b".", REG, size=3)])
    sender = FakeSender(session, o, flist, stop_after_flist=True)
    with pytest.raises(RemoteProtocolError, match="non-directory transfer-root"):
        pull(sender, dest, o, [b"requested"])
    assert (dest / "private" / "must-survive").exists()


@pytest.mark.parametrize(
    ("requested", "relative", "name", "is_dir", "allowed", "parent_only"),
    [
        ([b"requested"], False, b"requested", False, True, False),
        ([b"requested"], False, b"requested/x", False, True, False),
        ([b"requested"], False, b"other", False, False, False),
        ([b"requested"], False, b".", True, True, True),
        ([b"dir/"], False, b".", True, True, False),
        ([b"."], False, b".", True, True, False),
        ([b"a/b/c"], False, b"c", False, True, False),
        ([b"a/b/c"], True, b"a", True, True, True),
        ([b"a/b/c"], True, b"a/b", True, True, True),
        ([b"a/b/c"], True, b"a", False, False, False),
        ([b"a/b/c"], True, b"a/b/c", True, True, False),
        ([b"a/b/c"], True, b"a/b/c/d", False, True, False),
        ([b"a/b/c"], True, b"a/x", False, False, False),
        ([b"/src/./a/b"], True, b"a", True, True, True),
        ([b"/src/./a/b"], True, b"src", True, False, False),
        ([b"x/*.txt"], False, b"f.txt", False, True, False),
        ([b"x/a[b"], False, b"a[b", False, True, False),
        ([b"a//b/c/"], True, b"a/b/c", True, True, False),
    ],
)
def test_implied_rules(
    requested: list[bytes],
    relative: bool,
    name: bytes,
    is_dir: bool,
    allowed: bool,
    parent_only: bool,
) -> None:
    rules = ImpliedRules(requested, relative=relative, recurse=True, dirs=False)
    if name != b".":
        assert rules.allows(name, is_dir=is_dir) is allowed
    if is_dir:
        assert rules.is_parent_only(name) is parent_only
