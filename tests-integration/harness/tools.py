"""Finding the real tools, and the policy for when one is missing.

Policy: a missing tool skips the test on a developer machine, but **fails** it when the
environment variable ``CI`` is set (CI installs rsync, openssh-server and rdiff), so interop
is never silently skipped. ``PYRSYNC_IT_<NAME>`` (for example ``PYRSYNC_IT_RSYNC``) points a
fixture at another binary, such as an older rsync or openrsync.

Not here: starting anything (see ``daemon`` and ``sshd``).
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final, NoReturn

import pytest

from harness.proc import run

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

SBIN_DIRS: Final = ("/usr/local/sbin", "/usr/sbin", "/sbin")
"""Searched after PATH, which often lacks them for normal users."""


def in_ci() -> bool:
    """Return whether ``CI`` is set (to anything but empty, 0, false or no)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def unavailable(reason: str) -> NoReturn:
    """Skip the current test because of ``reason``, or fail it when running in CI.

    Raises:
        pytest.fail.Exception: in CI.
        pytest.skip.Exception: elsewhere.
    """
    if in_ci():
        pytest.fail(f"{reason} (CI is set, so this fails instead of skipping)", pytrace=False)
    pytest.skip(reason)


def env_override_name(name: str) -> str:
    """Return the environment variable that overrides the binary ``name``."""
    return "PYRSYNC_IT_" + re.sub(r"[^A-Za-z0-9]", "_", name).upper()


def find_tool(name: str, *, extra_dirs: Sequence[str] = SBIN_DIRS) -> Path | None:
    """Return the absolute path of the program ``name``, or None.

    Looks at ``PYRSYNC_IT_<NAME>`` first, then PATH, then ``extra_dirs``.
    """
    override = os.environ.get(env_override_name(name))
    if override:
        return Path(override).absolute()
    found = shutil.which(name)
    if found is None:
        found = shutil.which(name, path=os.pathsep.join(extra_dirs))
    return None if found is None else Path(found).absolute()


def require_tool(name: str, *, extra_dirs: Sequence[str] = SBIN_DIRS) -> Path:
    """Return the absolute path of ``name``; skip the test, or fail it in CI, when absent."""
    path = find_tool(name, extra_dirs=extra_dirs)
    if path is None:
        unavailable(f"{name} not found on PATH or in {', '.join(extra_dirs)}")
    if not os.access(path, os.X_OK):
        pytest.fail(f"{name}: {path} is not executable", pytrace=False)
    return path


@dataclass(frozen=True)
class RsyncVersion:
    """What ``rsync --version`` says about a binary."""

    version: str
    """As printed, for example ``3.2.7`` or ``3.4.0dev``; empty when not found."""
    protocol: int
    """The newest protocol it speaks."""
    capabilities: frozenset[str]
    """Items of the "Capabilities:" paragraph, for example ``symtimes`` or ``no crtimes``."""
    checksums: tuple[str, ...]
    """The "Checksum list:", best first (empty before rsync 3.2)."""
    compressions: tuple[str, ...]
    """The "Compress list:", best first (empty before rsync 3.2)."""
    daemon_auth: tuple[str, ...]
    """The "Daemon auth list:" (empty before rsync 3.2.7)."""

    @property
    def version_info(self) -> tuple[int, ...]:
        """The leading numbers of ``version``, for comparisons: ``(3, 2, 7)``."""
        match = re.match(r"\d+(?:\.\d+)*", self.version)
        return tuple(int(p) for p in match.group().split(".")) if match else ()

    def has(self, capability: str) -> bool:
        """Return whether the capability is listed (and not as ``no <capability>``)."""
        return capability in self.capabilities


_LIST_HEADINGS: Final = {
    "capabilities": "capabilities",
    "checksum list": "checksums",
    "compress list": "compressions",
    "daemon auth list": "daemon_auth",
}


def parse_rsync_version(text: str) -> RsyncVersion:
    """Parse the output of ``rsync --version`` (rsync 2.6 to 3.5, openrsync).

    Raises:
        ValueError: no protocol version in ``text``.
    """
    proto = re.search(r"protocol version (\d+)", text)
    if proto is None:
        msg = f"no protocol version in rsync --version output:\n{text}"
        raise ValueError(msg)
    version = re.search(r"\bversion\s+v?(\d[\w.]*)\s+protocol", text)
    lists: dict[str, list[str]] = {v: [] for v in _LIST_HEADINGS.values()}
    current: list[str] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        heading = line.rstrip(":").lower()
        if line.endswith(":") and heading in _LIST_HEADINGS:
            current = lists[_LIST_HEADINGS[heading]]
        elif line.endswith(":") or not line:
            current = None
        elif current is not None and raw[:1].isspace():
            sep = "," if "," in line or current is lists["capabilities"] else None
            items = (item.strip() for item in line.split(sep))
            current.extend(i for i in items if i and not i.startswith("("))
    return RsyncVersion(
        version=version.group(1) if version else "",
        protocol=int(proto.group(1)),
        capabilities=frozenset(lists["capabilities"]),
        checksums=tuple(lists["checksums"]),
        compressions=tuple(lists["compressions"]),
        daemon_auth=tuple(lists["daemon_auth"]),
    )


@dataclass(frozen=True)
class RealRsync:
    """A real rsync binary and what it supports."""

    path: Path
    info: RsyncVersion

    @property
    def version(self) -> str:
        """The version string, for example ``3.2.7``."""
        return self.info.version

    @property
    def protocol(self) -> int:
        """The newest protocol the binary speaks."""
        return self.info.protocol

    def argv(self, *args: str | os.PathLike[str]) -> list[str]:
        """Return the command line ``rsync ARGS...`` with the binary's absolute path."""
        return [str(self.path), *(os.fspath(a) for a in args)]


def discover_rsync() -> RealRsync:
    """Find rsync and ask its version (skip or fail per policy when absent).

    Raises:
        pytest.fail.Exception: the binary does not answer ``--version`` sensibly.
    """
    path = require_tool("rsync")
    result = run([path, "--version"], timeout=20)
    try:
        info = parse_rsync_version(result.stdout)
    except ValueError:
        pytest.fail(f"cannot read the version of {path}:\n{result.describe()}", pytrace=False)
    return RealRsync(path=path, info=info)


def case_protocols(cases: Iterable[str], protocols: Sequence[int]) -> list[tuple[str, int]]:
    """``(case, protocol)`` pairs: the first case at every protocol, the others at three.

    The three are the oldest of ``protocols``, 30 (varints, incremental lists, MD5) when
    listed, and the newest: where an option's wire form changes. The plain case shows
    each protocol works at all; crossing every case with every protocol repeats it.
    """
    some = sorted({protocols[0], *(p for p in protocols if p == 30), protocols[-1]})
    ordered = list(cases)
    return [(c, p) for i, c in enumerate(ordered) for p in (protocols if i == 0 else some)]
