"""The ctypes layer: syscall numbers, struct layouts, errno mapping (nothing is changed)."""

from __future__ import annotations

import ctypes
import errno

import pytest

from rsync_sandbox import SandboxUnavailable, _libc


def test_syscall_numbers_for_this_machine() -> None:
    if _libc.MACHINE not in ("x86_64", "aarch64"):
        pytest.skip(f"no syscall table for {_libc.MACHINE}")
    assert _libc.syscall_number("landlock_create_ruleset") == 444
    assert _libc.syscall_number("landlock_add_rule") == 445
    assert _libc.syscall_number("landlock_restrict_self") == 446
    expected_pivot = {"x86_64": 155, "aarch64": 41}[_libc.MACHINE]
    assert _libc.syscall_number("pivot_root") == expected_pivot


def test_unknown_machine_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_libc, "MACHINE", "pdp11")
    with pytest.raises(SandboxUnavailable, match="pdp11"):
        _libc.syscall_number("pivot_root")


def test_struct_layouts_match_the_kernel_uapi() -> None:
    assert ctypes.sizeof(_libc.LandlockRulesetAttr) == 24
    assert ctypes.sizeof(_libc.LandlockPathBeneathAttr) == 12
    assert _libc.LandlockPathBeneathAttr.parent_fd.offset == 8


def test_errno_becomes_the_matching_oserror() -> None:
    # Unmounting a path that does not exist changes nothing: ENOENT as root, EPERM otherwise.
    with pytest.raises(OSError, match="umount2") as info:
        _libc.umount2("/nonexistent/rsync-sandbox-test", 0)
    assert info.value.errno in (errno.ENOENT, errno.EPERM)
    assert info.value.filename == "/nonexistent/rsync-sandbox-test"


def test_prctl_reads_no_new_privs() -> None:
    assert _libc.prctl(_libc.PR_GET_NO_NEW_PRIVS) in (0, 1)
