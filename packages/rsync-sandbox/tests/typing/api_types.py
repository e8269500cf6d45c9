"""Static checks of the public API (mypy only: nothing here is called at run time)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import assert_type

import rsync_sandbox
from rsync_sandbox import (
    LandlockStatus,
    Mechanism,
    SandboxPolicy,
    SandboxReport,
    WriteCheck,
    abi_version,
    apply,
    check_writable,
    find_writable,
    python_runtime_paths,
    refuse_writable,
    verify_dropped,
)
from rsync_sandbox.landlock import AccessFs, handled_access_fs, restrict
from rsync_sandbox.namespaces import NamespaceResult, confine_filesystem


def _exercise_policy() -> None:
    policy = SandboxPolicy(
        read_only={"docs": "/srv/docs"},
        read_write={"incoming": "/srv/incoming"},
        extra_read_only=python_runtime_paths(),
        mode="auto",
    )
    assert_type(policy.read_only, Mapping[str, str])
    assert_type(policy.uid, int | None)
    report = apply(policy)
    assert_type(report, SandboxReport)
    assert_type(report.mechanisms, frozenset[Mechanism])
    assert_type(report.module_paths, Mapping[str, str])
    assert_type(report.landlock_abi, int | None)
    assert_type(report.warnings, tuple[str, ...])
    assert_type(report.confined, bool)


def _exercise_parts() -> None:
    assert_type(abi_version(), int)
    assert_type(handled_access_fs(7), AccessFs)
    status = restrict(read_only=["/srv/docs"], read_write=[], optional_read_only=())
    assert_type(status, LandlockStatus)
    assert_type(status.verified_outside, str | None)
    assert_type(find_writable(["/srv/docs"]), list[str])
    assert_type(check_writable("/srv/docs", probe=False), WriteCheck)
    assert_type(check_writable("/srv/docs").writable, bool)
    assert_type(refuse_writable({"docs": "/srv/docs"}), None)
    assert_type(verify_dropped(65534, 65534), None)
    result = confine_filesystem(read_only={"docs": "/srv/docs"}, pid_namespace=False)
    assert_type(result, NamespaceResult)
    assert_type(rsync_sandbox.__all__, list[str])
