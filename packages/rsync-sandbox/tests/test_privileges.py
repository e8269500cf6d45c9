"""Privilege drop and its verification, in children."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

from rsync_sandbox import SandboxError, drop_privileges
from rsync_sandbox.privileges import capabilities, no_new_privs

if TYPE_CHECKING:
    from conftest import RunChild


def test_drop_refuses_uid_or_gid_0() -> None:
    # Raises before changing anything, so it is safe in the test process.
    with pytest.raises(SandboxError, match="non-zero"):
        drop_privileges(0, 65534)
    with pytest.raises(SandboxError, match="non-zero"):
        drop_privileges(65534, 0)


def test_capabilities_match_proc_status() -> None:
    with open("/proc/self/status", encoding="ascii") as f:
        status = dict(line.split(":", 1) for line in f.read().splitlines())
    caps = capabilities()
    assert caps.effective == int(status["CapEff"], 16)
    assert caps.permitted == int(status["CapPrm"], 16)
    assert no_new_privs() is (status["NoNewPrivs"].strip() == "1")


@pytest.mark.privileged
def test_drop_to_nobody_cannot_be_undone(run_child: RunChild) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    child = run_child(
        """
        privileges.drop_privileges(ARGS["uid"], ARGS["gid"])
        privileges.verify_dropped(ARGS["uid"], ARGS["gid"])
        with open("/proc/self/status") as f:
            status = dict(line.split(":", 1) for line in f.read().splitlines())
        emit(
            uids=os.getresuid(),
            gids=os.getresgid(),
            groups=os.getgroups(),
            setuid0=attempt(lambda: os.setuid(0)),
            seteuid0=attempt(lambda: os.seteuid(0)),
            setgid0=attempt(lambda: os.setgid(0)),
            status={k: status[k].strip() for k in ("CapEff", "CapPrm", "CapBnd", "NoNewPrivs")},
        )
        """,
        uid=65534,
        gid=65533,
    )
    assert child.returncode == 0, child.stderr
    assert child.data == {
        "uids": [65534] * 3,
        "gids": [65533] * 3,
        "groups": [],
        "setuid0": "EPERM",
        "seteuid0": "EPERM",
        "setgid0": "EPERM",
        "status": {
            "CapEff": "0" * 16,
            "CapPrm": "0" * 16,
            "CapBnd": "0" * 16,
            "NoNewPrivs": "1",
        },
    }


@pytest.mark.privileged
def test_verify_fails_while_still_root(run_child: RunChild) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    child = run_child(
        """
        try:
            privileges.verify_dropped()
        except SandboxViolation as exc:
            emit(error=str(exc))
        """
    )
    assert child.returncode == 0, child.stderr
    assert "expected uids/gids 65534/65534" in child.data["error"]


@pytest.mark.privileged
def test_verify_fails_when_only_the_effective_uid_changed(run_child: RunChild) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    child = run_child(
        """
        os.setegid(65534)
        os.seteuid(65534)  # the saved uid stays 0: root can come back
        try:
            privileges.verify_dropped()
        except SandboxViolation as exc:
            emit(error=str(exc), back=attempt(lambda: os.seteuid(0)))
        """
    )
    assert child.returncode == 0, child.stderr
    assert "(65534, 65534, 65534)" not in child.data["error"]
    assert child.data["back"] == "ok"


@pytest.mark.privileged
def test_keep_capabilities_then_switch_to_a_module_user(run_child: RunChild) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    child = run_child(
        """
        import tempfile
        fd, path = tempfile.mkstemp()
        os.close(fd)
        privileges.keep_capabilities()
        kept = privileges.capabilities()
        chown = attempt(lambda: os.chown(path, 1, 1))
        os.unlink(path)
        privileges.switch_user(65534, 65534, [65534, 4])
        emit(
            kept=[kept.effective, kept.permitted],
            chown=chown,
            ids=[os.getresuid(), os.getresgid()],
            groups=sorted(os.getgroups()),
            caps=[privileges.capabilities().effective, privileges.capabilities().permitted],
            setuid0=attempt(lambda: os.setuid(0)),
            nnp=privileges.no_new_privs(),
        )
        """
    )
    assert child.returncode == 0, child.stderr
    data = child.data
    assert data["kept"] == [0x1C0, 0x1C0]  # setgid, setuid, setpcap
    assert data["chown"] == "EPERM"  # root, but without CAP_CHOWN
    assert data["ids"] == [[65534] * 3, [65534] * 3]
    assert data["groups"] == [4, 65534]
    assert data["caps"] == [0, 0]
    assert data["setuid0"] == "EPERM"
    assert data["nnp"] is True


@pytest.mark.privileged
def test_switch_user_reports_the_failed_step_without_root(run_child: RunChild) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    child = run_child(
        """
        privileges.drop_privileges(65534, 65534)
        try:
            privileges.switch_user(1, 1, [1])
        except privileges.SwitchError as exc:
            emit(step=exc.step, errno=exc.errno)
        privileges.switch_user(65534, 65534, [65534])  # already so: nothing to change
        """
    )
    assert child.returncode == 0, child.stderr
    assert child.data == {"step": "setgid", "errno": 1}
