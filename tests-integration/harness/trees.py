"""Deterministic source trees holding every kind of entry rsync has to transfer.

``make_tree(root)`` builds the same tree every time (seeded randomness, fixed modes and
times, whatever the umask): nested and empty directories; files of sizes around rsync's block
boundaries, an empty one and a ~1 MiB random one; a compressible text; awkward names
(unicode, spaces, a newline, a leading dash, shell metacharacters, bytes that are not UTF-8);
relative, absolute and dangling symlinks and one to a directory; hard links; a FIFO and a
socket; device nodes (root only); unusual modes (0600, 0755, 0444, setuid, a setgid, a
sticky and a read-only directory); mtimes before 1970, after 2038 and 2106, with
nanoseconds; files of other owners (root only); a small sparse file, and optionally one
larger than 4 GiB (``HUGE_SPARSE``).

``update_tree(root)`` turns such a tree into a deterministic "next version": files changed in
the middle (so a delta transfer finds matching blocks), appended to, touched, deleted and
added, a symlink retargeted, modes changed, a directory replaced by a file, a hard link added.

Not here: comparing trees (see ``compare``).
"""

from __future__ import annotations

import os
import random
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Protocol

KiB: Final = 1024
MiB: Final = 1024 * KiB
GiB: Final = 1024 * MiB

BASE_MTIME_NS: Final = 1_600_000_000 * 10**9
"""Entries without a special time get BASE_MTIME_NS plus their index (seconds and ns)."""
UPDATE_MTIME_NS: Final = 1_700_000_000 * 10**9
"""Entries changed by ``update_tree`` get times from here on."""

BLOCK_SIZES: Final = (699, 700, 701, 1400, 4095, 4096, 65537, MiB + 7)
"""Sizes of ``sizes/NNNNNNN.bin``: around rsync's 700-byte minimum block and 4 KiB pages."""

SMALL_SPARSE: Final = "sparse/small.sparse"
SMALL_SPARSE_SIZE: Final = 3 * MiB + 5
HUGE_SPARSE: Final = "sparse/huge.sparse"
"""The optional sparse file above 4 GiB; exclude it with ``--exclude=/sparse/huge.sparse``."""
HUGE_SPARSE_SIZE: Final = 4 * GiB + 3 * 4096 + 7

ODD_NAMES: Final = (
    "unicode-é-ü-日本語-🙂.txt",
    "with space.txt",
    " leading-space",
    "trailing-space ",
    "new\nline.txt",
    "tab\there.txt",
    "-leading-dash.txt",
    "--double-dash",
    "star*query?[x].txt",
    "quote'single\"double.txt",
    "back\\slash.txt",
    "dollar$HOME.txt",
    "colon:in-name.txt",
    "#hash",
    "~tilde",
)
"""Names created in ``names/``, plus ``NON_UTF8_NAME`` (raw bytes)."""
NON_UTF8_NAME: Final = b"latin1-\xe9.txt"

DEVICES: Final = {
    "dev/char-1-3": (stat.S_IFCHR, 1, 3),
    "dev/block-7-0": (stat.S_IFBLK, 7, 0),
    "dev/char-big": (stat.S_IFCHR, 300, 70_000),
}
"""Device nodes (root only): path -> (type, major, minor); one needs 32-bit numbers."""

_WORDS: Final = (
    "rsync",
    "delta",
    "block",
    "rolling",
    "checksum",
    "sender",
    "receiver",
    "generator",
    "file",
    "list",
    "module",
    "daemon",
    "protocol",
    "literal",
    "matched",
    "token",
    "sparse",
    "hard",
    "link",
    "symlink",
    "mtime",
    "permission",
    "owner",
    "group",
)


@dataclass(frozen=True)
class Tree:
    """A tree made by ``make_tree``: its root and which optional parts it holds."""

    root: Path
    devices: bool
    """Device nodes under ``dev/`` (only possible as root)."""
    owners: bool
    """Entries under ``owners/`` belong to other users and groups (only possible as root)."""
    huge_sparse: bool
    """``HUGE_SPARSE`` exists."""
    seed: int = 0

    def __fspath__(self) -> str:
        return os.fspath(self.root)

    def __truediv__(self, rel: str) -> Path:
        return self.root / rel

    def __str__(self) -> str:
        return str(self.root)

    @property
    def slash(self) -> str:
        """The root with a trailing slash: rsync's "contents of" form."""
        return str(self.root) + "/"


@dataclass
class _Builder:
    root: Path
    rng: random.Random
    times: dict[str, int] = field(default_factory=dict)
    modes: dict[str, int] = field(default_factory=dict)
    dirs: list[str] = field(default_factory=list)
    owners: dict[str, tuple[int, int]] = field(default_factory=dict)

    def path(self, rel: str | bytes) -> bytes:
        return os.fsencode(self.root) + b"/" + os.fsencode(rel)

    def _parent(self, rel: str | bytes) -> None:
        parent = os.fsdecode(rel).rpartition("/")[0]
        if parent and parent not in self.dirs:
            self.dir(parent)

    def _stamp(self, rel: str | bytes, mtime_ns: int | None) -> None:
        key = os.fsdecode(rel)
        if mtime_ns is None:
            index = len(self.times)
            mtime_ns = BASE_MTIME_NS + index * 1_000_003_711
        self.times[key] = mtime_ns

    def dir(self, rel: str, mode: int = 0o755, mtime_ns: int | None = None) -> None:
        self._parent(rel)
        if rel not in self.dirs:
            os.mkdir(self.path(rel), 0o700)
            self.dirs.append(rel)
        self.modes[rel] = mode
        self._stamp(rel, mtime_ns)

    def file(
        self, rel: str | bytes, data: bytes, mode: int = 0o644, mtime_ns: int | None = None
    ) -> None:
        self._parent(rel)
        fd = os.open(self.path(rel), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        self.modes[os.fsdecode(rel)] = mode
        self._stamp(rel, mtime_ns)

    def random_file(self, rel: str, size: int, mode: int = 0o644) -> None:
        self.file(rel, self.rng.randbytes(size), mode)

    def sparse(self, rel: str, size: int, chunks: dict[int, bytes]) -> None:
        self._parent(rel)
        fd = os.open(self.path(rel), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            for offset, data in chunks.items():
                os.pwrite(fd, data, offset)
            os.ftruncate(fd, size)
        finally:
            os.close(fd)
        self.modes[rel] = 0o644
        self._stamp(rel, None)

    def symlink(self, rel: str, target: str, mtime_ns: int | None = None) -> None:
        self._parent(rel)
        os.symlink(os.fsencode(target), self.path(rel))
        self._stamp(rel, mtime_ns)

    def hardlink(self, rel: str, existing: str) -> None:
        self._parent(rel)
        os.link(self.path(existing), self.path(rel))

    def node(self, rel: str, kind: int, mode: int = 0o644, device: int = 0) -> None:
        self._parent(rel)
        os.mknod(self.path(rel), 0o600 | kind, device)
        self.modes[rel] = mode
        self._stamp(rel, None)

    def finish(self) -> None:
        """Apply owners, then modes (chown clears setuid), then times; directories last."""
        for rel, (uid, gid) in self.owners.items():
            os.chown(self.path(rel), uid, gid, follow_symlinks=False)
        dirs = set(self.dirs)
        for rel, mode in self.modes.items():
            if rel not in dirs:
                os.chmod(self.path(rel), mode)
        for rel, ns in self.times.items():
            if rel not in dirs:
                _set_mtime(self.path(rel), ns)
        # Deepest first, so that setting a child's time does not disturb its parent's.
        for rel in sorted(dirs, key=lambda r: r.count("/"), reverse=True):
            _set_mtime(self.path(rel), self.times[rel])
            os.chmod(self.path(rel), self.modes[rel])
        _set_mtime(os.fsencode(self.root), BASE_MTIME_NS - 10**9)
        os.chmod(self.root, 0o755)  # noqa: S103 -- the tree's modes are fixed on purpose


def _set_mtime(path: bytes, mtime_ns: int) -> None:
    """Set atime and mtime (atime equal, so that nothing depends on the clock)."""
    os.utime(path, ns=(mtime_ns, mtime_ns), follow_symlinks=False)


def _lorem(rng: random.Random, lines: int) -> bytes:
    text = []
    for i in range(lines):
        words = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(4, 12)))
        text.append(f"{i:05d} {words}\n")
    return "".join(text).encode()


def can_make_devices(directory: Path) -> bool:
    """Return whether device nodes can be created in ``directory`` (root, not blocked)."""
    if os.geteuid() != 0:
        return False
    probe = directory / ".mknod-probe"
    try:
        os.mknod(probe, 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    except OSError:
        return False
    probe.unlink()
    return True


def make_tree(
    root: Path,
    *,
    seed: int = 0,
    huge_sparse: bool = False,
    devices: bool | None = None,
    owners: bool | None = None,
    specials: bool = True,
    odd_names: bool = True,
) -> Tree:
    """Create the test tree in ``root`` (created; must not exist or be empty).

    Args:
        root: the directory to fill.
        seed: seeds every random byte; the same seed gives the same tree.
        huge_sparse: add ``HUGE_SPARSE``, a sparse file above 4 GiB (a few KiB on disk).
        devices: add device nodes; None means "when possible" (root, mknod allowed).
        owners: give ``owners/*`` other owners; None means "when root".
        specials: add a FIFO and a socket.
        odd_names: add ``names/`` (awkward and non-UTF-8 names).

    Returns:
        The tree and which optional parts it holds.

    Raises:
        PermissionError: ``devices`` or ``owners`` was forced on without root.
    """
    root.mkdir(parents=True, exist_ok=True)
    if any(root.iterdir()):
        msg = f"{root} is not empty"
        raise FileExistsError(msg)
    if devices is None:
        devices = can_make_devices(root)
    if owners is None:
        owners = os.geteuid() == 0
    rng = random.Random(seed)  # noqa: S311 -- seeded on purpose: same tree every run
    b = _Builder(root, rng)

    # Structure.
    b.file("empty-file", b"")
    b.dir("empty-dir")
    b.file("nested/a/file-a.txt", b"file a\n")
    b.file("nested/a/b/c/d/deep.txt", b"deep down\n")
    b.dir("nested/a/b/empty")
    b.file("nested/top.txt", b"top\n" * 100)

    # Sizes around block boundaries, and compressible text.
    for size in BLOCK_SIZES:
        b.random_file(f"sizes/{size:07d}.bin", size)
    b.file("text/lorem.txt", _lorem(rng, 2000))

    # Names.
    if odd_names:
        for i, name in enumerate(ODD_NAMES):
            b.file(f"names/{name}", f"odd name {i}\n".encode())
        b.file(b"names/" + NON_UTF8_NAME, b"not utf-8\n")

    # Symlinks (targets do not depend on where the tree is).
    b.symlink("links/relative", "../nested/a/file-a.txt")
    b.symlink("links/absolute", "/etc/passwd")
    b.symlink("links/dangling", "does/not/exist")
    b.symlink("links/to-dir", "../nested")
    b.symlink("links/to-odd-name", "../names/with space.txt")

    # Hard links: a group of three across directories, and a pair.
    b.file("hard/a", b"hard-linked a\n" * 50)
    b.hardlink("hard/b", "hard/a")
    b.hardlink("nested/hard-c", "hard/a")
    b.file("hard/x", b"hard-linked x\n")
    b.hardlink("hard/y", "hard/x")

    # FIFO, socket and devices.
    if specials:
        b.node("special/fifo", stat.S_IFIFO)
        b.node("special/socket", stat.S_IFSOCK, mode=0o755)
    if devices:
        for rel, (kind, major, minor) in DEVICES.items():
            b.node(rel, kind, mode=0o640, device=os.makedev(major, minor))

    # Modes.
    b.file("modes/0600.txt", b"private\n", 0o600)
    b.file("modes/0755.sh", b"#!/bin/sh\necho hello\n", 0o755)
    b.file("modes/0444.txt", b"read only\n", 0o444)
    b.file("modes/4755-setuid", b"setuid\n", 0o4755)
    b.dir("modes/setgid-dir", 0o2775)
    b.file("modes/setgid-dir/inside.txt", b"inside setgid\n")
    b.dir("modes/sticky-dir", 0o1777)
    b.file("modes/readonly-dir/inside.txt", b"inside read-only\n")
    b.dir("modes/readonly-dir", 0o555)

    # Times.
    b.file("times/pre-1970.txt", b"1938\n", mtime_ns=-1_000_000_000 * 10**9 + 250_000_000)
    b.file("times/epoch.txt", b"1970\n", mtime_ns=0)
    b.file("times/post-2038.txt", b"2049\n", mtime_ns=2_500_000_000 * 10**9 + 999_999_999)
    b.file("times/post-2106.txt", b"2112\n", mtime_ns=4_500_000_000 * 10**9)
    b.file("times/nanos.txt", b"ns\n", mtime_ns=1_650_000_000_123_456_789)
    b.symlink("times/link", "nanos.txt", mtime_ns=1_234_567_890_987_654_321)

    # Owners.
    if owners:
        b.file("owners/uid-1234", b"owned by 1234:5678\n")
        b.owners["owners/uid-1234"] = (1234, 5678)
        b.file("owners/gid-4321", b"group 4321\n")
        b.owners["owners/gid-4321"] = (0, 4321)
        b.symlink("owners/link-1234", "uid-1234")
        b.owners["owners/link-1234"] = (1234, 1234)
        b.dir("owners/dir-2345")
        b.owners["owners/dir-2345"] = (2345, 2345)

    # Sparse files.
    b.sparse(
        SMALL_SPARSE,
        SMALL_SPARSE_SIZE,
        {0: rng.randbytes(4096), MiB + 100: rng.randbytes(4096), SMALL_SPARSE_SIZE - 5: b"tail!"},
    )
    if huge_sparse:
        b.sparse(
            HUGE_SPARSE,
            HUGE_SPARSE_SIZE,
            {
                0: rng.randbytes(4096),
                4 * GiB - 5: b"across-4GiB",
                HUGE_SPARSE_SIZE - 3: b"end",
            },
        )

    b.finish()
    return Tree(root=root, devices=devices, owners=owners, huge_sparse=huge_sparse, seed=seed)


def update_tree(root: Path | Tree, *, seed: int = 1) -> None:
    """Turn a ``make_tree`` tree into its deterministic "next version", in place.

    Changes (each changed entry gets a new, fixed mtime; directory times are fixed again at
    the end, so the result does not depend on the clock):

    - changed in the middle, same size: ``sizes/1048583.bin``, ``sizes/0065537.bin``;
    - lines inserted in the middle (later data shifts): ``text/lorem.txt``;
    - appended to: ``sizes/0004096.bin``, ``nested/top.txt``;
    - only touched (same content, new mtime): ``sizes/0001400.bin``;
    - deleted: ``sizes/0000699.bin``, ``nested/a/b/c/d/deep.txt``, ``hard/y``;
    - added: ``added/new.bin`` (random), ``nested/a/b/empty/now-full.txt``, and a hard link
      ``hard/z`` to ``hard/x``;
    - symlink ``links/relative`` retargeted; ``empty-dir`` replaced by a file;
    - modes: ``modes/0600.txt`` becomes 0640, ``modes/0755.sh`` 0700.
    """
    base = Path(root)
    rng = random.Random(seed)  # noqa: S311 -- seeded on purpose: same tree every run
    stamp = iter(range(UPDATE_MTIME_NS, UPDATE_MTIME_NS + 10**15, 1_000_000_007))

    def p(rel: str) -> Path:
        return base / rel

    def touch(rel: str) -> None:
        _set_mtime(os.fsencode(p(rel)), next(stamp))

    def overwrite(rel: str, offset: int, data: bytes) -> None:
        fd = os.open(p(rel), os.O_WRONLY)
        try:
            os.pwrite(fd, data, offset)
        finally:
            os.close(fd)
        touch(rel)

    def append(rel: str, data: bytes) -> None:
        with p(rel).open("ab") as f:
            f.write(data)
        touch(rel)

    overwrite("sizes/1048583.bin", 500_000, rng.randbytes(64))
    overwrite("sizes/0065537.bin", 30_000, rng.randbytes(10))
    lorem = p("text/lorem.txt").read_bytes()
    middle = lorem.index(b"\n", len(lorem) // 2) + 1
    p("text/lorem.txt").write_bytes(lorem[:middle] + _lorem(rng, 7) + lorem[middle:])
    touch("text/lorem.txt")
    append("sizes/0004096.bin", rng.randbytes(3000))
    append("nested/top.txt", b"appended\n")
    touch("sizes/0001400.bin")

    for rel in ("sizes/0000699.bin", "nested/a/b/c/d/deep.txt", "hard/y"):
        p(rel).unlink()

    p("added").mkdir()
    p("added").chmod(0o755)
    p("added/new.bin").write_bytes(rng.randbytes(100_000))
    p("added/new.bin").chmod(0o644)
    touch("added/new.bin")
    p("nested/a/b/empty/now-full.txt").write_bytes(b"no longer empty\n")
    p("nested/a/b/empty/now-full.txt").chmod(0o644)
    touch("nested/a/b/empty/now-full.txt")
    os.link(p("hard/x"), p("hard/z"))

    p("links/relative").unlink()
    p("links/relative").symlink_to("../sizes/0000700.bin")
    touch("links/relative")
    p("empty-dir").rmdir()
    p("empty-dir").write_bytes(b"was a directory\n")
    p("empty-dir").chmod(0o644)
    touch("empty-dir")

    p("modes/0600.txt").chmod(0o640)
    p("modes/0755.sh").chmod(0o700)

    _restamp_dirs(base, next(stamp))


def _restamp_dirs(base: Path, mtime_ns: int) -> None:
    """Give every directory (not symlinks to one) the same fixed mtime, deepest first."""
    dirs = [base]
    for dirpath, dirnames, _files in os.walk(base):
        dirs.extend(Path(dirpath) / d for d in dirnames if not (Path(dirpath) / d).is_symlink())
    for d in sorted(dirs, key=lambda d: len(d.parts), reverse=True):
        _set_mtime(os.fsencode(d), mtime_ns)


class TreeFactory(Protocol):
    """The ``tree_factory`` fixture: ``make_tree`` in a fresh directory of the test."""

    def __call__(
        self,
        name: str = "src",
        /,
        *,
        seed: int = 0,
        huge_sparse: bool = False,
        devices: bool | None = None,
        owners: bool | None = None,
        specials: bool = True,
        odd_names: bool = True,
    ) -> Tree:
        """Build the tree in ``tmp_path / name``; see ``make_tree``."""
        ...
