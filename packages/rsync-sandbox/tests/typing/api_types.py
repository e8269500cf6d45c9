"""Static checks of the public API (mypy only: nothing here is called at run time)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import assert_type

import rsync_sandbox
from rsync_sandbox import (
    ConnectionPolicy,
    ConnectionReport,
    LandlockStatus,
    Mechanism,
    SandboxPolicy,
    SandboxReport,
    WriteCheck,
    abi_version,
    apply,
    check_writable,
    confine_connection,
    find_writable,
    python_runtime_paths,
    refuse_writable,
    verify_dropped,
)
from rsync_sandbox.landlock import AccessFs, AccessNet, Scope, handled_access_fs, isolate, restrict
from rsync_sandbox.namespaces import NamespaceResult, confine_filesystem
from rsync_sandbox.seccomp import SeccompStatus, SyscallPolicy, build_filter, install


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


def _exercise_connection() -> None:
    report = confine_connection(ConnectionPolicy(socket_families=frozenset({2})))
    assert_type(report, ConnectionReport)
    assert_type(report.landlock, LandlockStatus | None)
    assert_type(report.seccomp, SeccompStatus | None)
    assert_type(report.description, str)
    assert_type(report.confined, bool)
    status = isolate(deny_net=AccessNet.BIND_TCP, scopes=Scope.SIGNAL)
    assert_type(status.handled_access_net, AccessNet)
    program, filt = build_filter(SyscallPolicy(unix_datagram=True))
    assert_type(program, bytes)
    assert_type(install(SyscallPolicy()).denied, tuple[str, ...])
    assert_type(filt.restricted, tuple[str, ...])
