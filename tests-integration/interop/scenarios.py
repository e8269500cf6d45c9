"""The scenarios of the matrix: which tree is sent, what the destination holds before, the flags.

Source trees are built once per run under ``WORK/sources`` (``harness.trees`` makes them) and
served read-only: every cell reads the same bytes. A scenario whose destination starts with
the previous version of the tree (a delta update, ``--delete``, filters, ``-z``) gets a copy
of ``full-old`` in its destination before the run (``cp -a``, which keeps hard links, times,
sparseness and owners).

Not here: running the transfers (see ``matrix``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from harness.trees import (
    BASE_MTIME_NS,
    NON_UTF8_NAME,
    ODD_NAMES,
    MiB,
    make_tree,
    update_tree,
)

if TYPE_CHECKING:
    from pathlib import Path


@dataclass(frozen=True)
class Scenario:
    """One scenario: the same for every cell of a column."""

    name: str
    title: str
    flags: tuple[str, ...]
    needs: tuple[str, ...]
    """Long option names both ends must claim (see ``impls.KNOWN_OPTIONS``)."""
    tree: str
    """The source tree: ``full``, ``full-new``, ``names`` or ``sparse``."""
    prefill: bool = False
    """The destination starts as a copy of ``full-old``."""
    junk: bool = False
    """Extra entries in the destination before the run (for ``--delete``)."""
    hardlinks: bool = False
    """Compare which names share an inode."""


SCENARIOS: Final = (
    Scenario("initial", "initial copy of every kind of file", ("-a",), ("--archive",), "full"),
    Scenario(
        "delta",
        "delta update of the previous version",
        ("-a",),
        ("--archive",),
        "full-new",
        prefill=True,
    ),
    Scenario(
        "delete",
        "update with --delete of extra entries",
        ("-a", "--delete"),
        ("--archive", "--delete"),
        "full-new",
        prefill=True,
        junk=True,
    ),
    Scenario(
        "filters",
        "exclude and filter rules, with --delete",
        (
            "-a",
            "--delete",
            "--exclude=*.bin",
            "--filter=- /links/",
            "--filter=+ /nested/**",
            "--exclude=*.txt",
        ),
        ("--archive", "--delete", "--exclude", "--filter"),
        "full-new",
        prefill=True,
        junk=True,
    ),
    Scenario(
        "hardlinks",
        "hard links (-H)",
        ("-aH",),
        ("--archive", "--hard-links"),
        "full",
        hardlinks=True,
    ),
    Scenario(
        "sparse",
        "sparse and large files (-S)",
        ("-aS",),
        ("--archive", "--sparse"),
        "sparse",
    ),
    Scenario("names", "odd file names", ("-a",), ("--archive",), "names"),
    Scenario(
        "compress",
        "compressed delta update (-z)",
        ("-az",),
        ("--archive", "--compress"),
        "full-new",
        prefill=True,
    ),
)

BY_NAME: Final = {s.name: s for s in SCENARIOS}

QUICK_SCENARIOS: Final = ("initial", "delta", "hardlinks", "names", "compress")
"""The scenarios of ``--quick``."""

TREES: Final = ("full", "full-old", "full-new", "names", "sparse")
"""The trees built under ``WORK/sources`` (``full-old`` is only ever copied)."""

LARGE_SIZE: Final = 12 * MiB + 13
SPARSE_SIZE: Final = 48 * MiB + 1
HUGE_SIZE: Final = 4 * 1024 * MiB + 4096 * 3 + 7


def _set_times(root: Path, mtime_ns: int) -> None:
    for dirpath, dirnames, filenames in os.walk(root, topdown=False):
        for name in [*filenames, *dirnames]:
            os.utime(os.path.join(dirpath, name), ns=(mtime_ns, mtime_ns), follow_symlinks=False)
    os.utime(root, ns=(mtime_ns, mtime_ns))


def make_names_tree(root: Path) -> None:
    """Odd names: every name of ``harness.trees.ODD_NAMES``, a non-UTF-8 one, odd directories."""
    root.mkdir(parents=True)
    for sub in ("", "dir with space/", "-dash-dir/", "unicode-ディレクトリ/"):
        (root / sub).mkdir(exist_ok=True)
        for i, name in enumerate(ODD_NAMES):
            (root / sub / name).write_bytes(f"odd name {i}\n".encode())
        with open(os.fsencode(root / sub) + b"/" + NON_UTF8_NAME, "wb") as f:
            f.write(b"not utf-8\n")
    os.symlink("with space.txt", root / "link to space")
    os.symlink("new\nline.txt", root / "link-to-newline")
    for path in root.rglob("*"):
        if not path.is_symlink():
            path.chmod(0o755 if path.is_dir() else 0o644)
    _set_times(root, BASE_MTIME_NS)


def make_sparse_tree(root: Path, *, huge: bool) -> None:
    """Sparse and large files: holes at the start, middle and end; a large random file."""
    root.mkdir(parents=True)
    seed = bytes(range(256)) * 16

    def sparse(name: str, size: int, chunks: dict[int, bytes]) -> None:
        fd = os.open(root / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            for offset, data in chunks.items():
                os.pwrite(fd, data, offset)
            os.ftruncate(fd, size)
        finally:
            os.close(fd)

    sparse("holes.sparse", SPARSE_SIZE, {MiB: seed, 30 * MiB + 3: seed, SPARSE_SIZE - 5: b"tail!"})
    sparse("leading-hole.sparse", 8 * MiB, {8 * MiB - 4096: seed})
    sparse("all-hole.sparse", 5 * MiB + 1, {})
    if huge:
        sparse("huge.sparse", HUGE_SIZE, {0: seed, 4 * 1024 * MiB - 5: b"across-4GiB"})
    with (root / "large.bin").open("wb") as f:
        block = os.urandom(MiB)
        for i in range(LARGE_SIZE // MiB):
            f.write(block[i:] + block[:i])
        f.write(block[: LARGE_SIZE % MiB])
    _set_times(root, BASE_MTIME_NS)


def copy_tree(src: Path, dest: Path) -> None:
    """Copy ``src`` to ``dest`` keeping everything (``cp -a``, sparse files stay sparse).

    Raises:
        subprocess.CalledProcessError: cp failed.
    """
    subprocess.run(
        ["cp", "-a", "--sparse=always", "--", os.fspath(src), os.fspath(dest)],
        check=True,
        capture_output=True,
    )


def add_junk(dest: Path) -> None:
    """Entries that only the destination has (``--delete`` removes them; filters keep some)."""
    (dest / "junk-dir" / "deeper").mkdir(parents=True)
    (dest / "junk-dir" / "deeper" / "junk.txt").write_bytes(b"junk\n")
    (dest / "junk-file").write_bytes(b"junk\n")
    (dest / "junk.bin").write_bytes(b"excluded junk, kept by filters\n")
    os.symlink("nowhere", dest / "junk-link")
    for rel in ("junk-dir/deeper/junk.txt", "junk-file", "junk.bin", "junk-dir/deeper", "junk-dir"):
        os.utime(dest / rel, ns=(BASE_MTIME_NS, BASE_MTIME_NS))


def build_sources(root: Path, *, huge: bool = False) -> dict[str, Path]:
    """Build every tree of ``TREES`` under ``root``; return their paths by name."""
    root.mkdir(parents=True, exist_ok=True)
    paths = {name: root / name for name in TREES}
    make_tree(paths["full-old"], odd_names=False)
    copy_tree(paths["full-old"], paths["full"])
    copy_tree(paths["full-old"], paths["full-new"])
    update_tree(paths["full-new"])
    make_names_tree(paths["names"])
    make_sparse_tree(paths["sparse"], huge=huge)
    return paths


def remove_tree(path: Path) -> None:
    """Remove ``path`` even where a tree made its directories read-only."""
    if not os.path.lexists(path):
        return
    for dirpath, dirnames, _files in os.walk(path):
        for name in dirnames:
            full = os.path.join(dirpath, name)
            if not os.path.islink(full):
                os.chmod(full, 0o755)  # noqa: S103 -- to delete what is inside
    if os.path.isdir(path) and not os.path.islink(path):
        os.chmod(path, 0o755)  # noqa: S103
        shutil.rmtree(path, ignore_errors=True)
    else:
        os.unlink(path)
