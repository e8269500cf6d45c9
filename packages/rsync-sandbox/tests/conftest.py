"""Fixtures: run sandbox code in a child interpreter, probe kernel features, world-readable trees.

Every sandbox application happens in a child process started with ``python -c``
(`run_child`), never in the pytest process: the confinement is irreversible.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import pytest

from rsync_sandbox import SandboxUnavailable, abi_version

if TYPE_CHECKING:
    from collections.abc import Iterator

NOBODY = 65534

# Imported by every child before it changes anything: after pivot_root or Landlock the
# interpreter can no longer read its own files.
PRELUDE = """
import errno, json, os, sys, threading
import rsync_sandbox
from rsync_sandbox import _libc, landlock, namespaces, privileges, writeprobe
from rsync_sandbox import SandboxError, SandboxPolicy, SandboxViolation, apply
ARGS = json.loads(sys.argv[1])

def emit(**values):
    print(json.dumps(values), flush=True)

def attempt(call):
    try:
        call()
    except OSError as exc:
        return errno.errorcode.get(exc.errno, str(exc.errno))
    return "ok"

def write_new(path):
    with open(path, "x") as f:
        f.write("new")

def read(path):
    with open(path) as f:
        return f.read()
"""


@dataclass(frozen=True)
class Child:
    returncode: int
    data: dict[str, Any]
    stderr: str


class RunChild(Protocol):
    def __call__(self, body: str, /, **args: object) -> Child: ...


@pytest.fixture
def run_child() -> RunChild:
    """Run ``PRELUDE + body`` in a fresh interpreter; ``args`` arrive as ``ARGS``.

    The child reports through ``emit(**values)``; the last line of its standard output
    is decoded as ``Child.data`` (empty when it emitted nothing).
    """

    def run(body: str, /, **args: object) -> Child:
        # Coverage cannot save its data from inside the sandbox: keep it out of children.
        env = {k: v for k, v in os.environ.items() if not k.startswith("COVERAGE_")}
        proc = subprocess.run(
            [sys.executable, "-c", PRELUDE + textwrap.dedent(body), json.dumps(args)],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            cwd="/",
            check=False,
        )
        lines = proc.stdout.strip().splitlines()
        data = json.loads(lines[-1]) if lines else {}
        return Child(proc.returncode, data, proc.stderr)

    return run


def _namespaces_work() -> bool:
    if os.geteuid() != 0:
        return False
    probe = "from rsync_sandbox import _libc; _libc.unshare(_libc.CLONE_NEWNS | _libc.CLONE_NEWPID)"
    return (
        subprocess.run([sys.executable, "-c", probe], capture_output=True, check=False).returncode
        == 0
    )


@pytest.fixture(scope="session")
def need_namespaces() -> None:
    """Skip unless this process is root and mount and PID namespaces can be created."""
    if not _namespaces_work():
        pytest.skip("needs root with CAP_SYS_ADMIN (unshare of mount/PID namespaces failed)")


@pytest.fixture(scope="session")
def need_landlock() -> int:
    """Skip unless the kernel has Landlock; return its ABI version."""
    try:
        return abi_version()
    except SandboxUnavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture
def world_tmp() -> Iterator[str]:
    """A temporary directory every user can traverse (pytest's tmp_path is 0700 up the tree)."""
    path = tempfile.mkdtemp(prefix="rsync-sandbox-test-")
    os.chmod(path, 0o755)  # noqa: S103 (a child that became nobody must traverse it)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def tree(world_tmp: str) -> dict[str, str]:
    """Directories ``ro`` (a file ``ro/data.txt``), ``rw`` (owned by nobody when root), ``outside``.

    Everything is world-readable, so that a child that became nobody can read it.
    """
    paths = {name: os.path.join(world_tmp, name) for name in ("ro", "rw", "outside")}
    for name, path in paths.items():
        os.mkdir(path, 0o755)
        os.chmod(path, 0o755)  # noqa: S103 (readable by nobody on purpose)
        with open(os.path.join(path, "data.txt"), "w", encoding="utf-8") as f:
            f.write(f"{name} content")
        os.chmod(os.path.join(path, "data.txt"), 0o644)
    if os.geteuid() == 0:
        os.chown(paths["rw"], NOBODY, NOBODY)
    return paths
