"""SandboxPolicy validation (pure) and the "off" mode (in a child)."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

import pytest

from rsync_sandbox import SandboxError, SandboxPolicy, python_runtime_paths

if TYPE_CHECKING:
    from conftest import RunChild


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mode": "sometimes"}, "expected one of"),
        ({"read_only": {"a/b": "/srv"}}, "cannot be a directory name"),
        ({"read_only": {"..": "/srv"}}, "cannot be a directory name"),
        ({"read_only": {"": "/srv"}}, "cannot be a directory name"),
        ({"read_only": {"m": "srv"}}, "expected an absolute path"),
        ({"extra_read_only": ("lib",)}, "expected an absolute path"),
        ({"read_only": {"m": "/a"}, "read_write": {"m": "/b"}}, "both read-only and read-write"),
        ({"uid": 0}, "expected both non-zero"),
        ({"uid": None}, "expected both non-zero, or both None"),
    ],
)
def test_invalid_policies_are_rejected(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(SandboxError, match=message):
        SandboxPolicy(**kwargs)


def test_policy_is_frozen_and_copies_its_mappings() -> None:
    modules = {"m": "/srv/m"}
    policy = SandboxPolicy(read_only=modules)
    modules["n"] = "/srv/n"
    assert dict(policy.read_only) == {"m": "/srv/m"}
    with pytest.raises(AttributeError):
        policy.mode = "off"  # type: ignore[misc]  # frozen on purpose
    assert hash(policy) == hash(SandboxPolicy(read_only={"m": "/srv/m"}))


def test_python_runtime_paths_cover_the_interpreter() -> None:
    paths = python_runtime_paths()
    assert sys.prefix in paths
    assert all(os.path.isabs(p) and os.path.exists(p) for p in paths)
    assert len(paths) == len(set(paths))
    import json  # a stdlib module: its directory must be below one of the paths

    assert any(json.__file__.startswith(p + "/") for p in paths)


def test_off_mode_confines_nothing_and_says_so(run_child: RunChild, tree: dict[str, str]) -> None:
    child = run_child(
        """
        report = apply(SandboxPolicy(read_only={"m": ARGS["ro"]}, mode="off", check_writable=False))
        emit(
            mechanisms=sorted(report.mechanisms),
            confined=report.confined,
            description=report.description,
            warnings=list(report.warnings),
            paths=dict(report.module_paths),
            nnp=privileges.no_new_privs(),
            uid=os.geteuid(),
        )
        """,
        ro=tree["ro"],
    )
    assert child.returncode == 0, child.stderr
    assert child.data == {
        "mechanisms": [],
        "confined": False,
        "description": "sandbox: NOT confined (mode off)",
        "warnings": ["sandbox off: the process is not confined"],
        "paths": {"m": tree["ro"]},
        "nnp": False,
        "uid": os.geteuid(),
    }
