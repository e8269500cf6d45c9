"""Landlock: ABI tables (pure), then confinement in children, as root and as nobody."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

from rsync_sandbox import SandboxViolation, landlock
from rsync_sandbox.landlock import AccessFs, Scope

if TYPE_CHECKING:
    from conftest import RunChild

ABI1_BITS = (1 << 13) - 1

# What a confined child checks; the same body runs as root and as nobody.
CONFINED_BODY = """
if ARGS["become_nobody"]:
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)
status = landlock.restrict(read_only=[ARGS["ro"]], read_write=[ARGS["rw"]])
emit(
    uid=os.getuid(),
    abi=status.abi,
    handled=int(status.handled_access_fs),
    scoped=int(status.scoped),
    verified_outside=status.verified_outside,
    read_inside=read(ARGS["ro"] + "/data.txt"),
    list_inside=sorted(os.listdir(ARGS["ro"])),
    read_outside=attempt(lambda: read(ARGS["outside"] + "/data.txt")),
    list_outside=attempt(lambda: os.listdir(ARGS["outside"])),
    write_ro=attempt(lambda: write_new(ARGS["ro"] + "/new.txt")),
    overwrite_ro=attempt(lambda: open(ARGS["ro"] + "/data.txt", "r+")),
    remove_ro=attempt(lambda: os.unlink(ARGS["ro"] + "/data.txt")),
    write_rw=attempt(lambda: write_new(ARGS["rw"] + "/new.txt")),
    rename_rw=attempt(lambda: os.rename(ARGS["rw"] + "/new.txt", ARGS["rw"] + "/renamed.txt")),
    read_rw=read(ARGS["rw"] + "/renamed.txt"),
)
"""


@pytest.mark.parametrize(
    ("abi", "expected"),
    [
        (1, ABI1_BITS),
        (2, ABI1_BITS | AccessFs.REFER),
        (3, ABI1_BITS | AccessFs.REFER | AccessFs.TRUNCATE),
        (4, ABI1_BITS | AccessFs.REFER | AccessFs.TRUNCATE),
        (5, ABI1_BITS | AccessFs.REFER | AccessFs.TRUNCATE | AccessFs.IOCTL_DEV),
        (7, (1 << 16) - 1),
    ],
)
def test_handled_rights_follow_the_abi(abi: int, expected: int) -> None:
    assert landlock.handled_access_fs(abi) == expected


def test_scopes_only_from_abi_6() -> None:
    assert landlock.handled_scopes(5) == Scope(0)
    assert landlock.handled_scopes(6) == Scope.ABSTRACT_UNIX_SOCKET | Scope.SIGNAL


def test_abi_version_is_reported(need_landlock: int) -> None:
    assert need_landlock >= 1
    assert landlock.abi_version() == need_landlock


def test_verify_catches_an_unconfined_process() -> None:
    # Nothing is restricted here, so "/" stays readable: the self-check must say so.
    with pytest.raises(SandboxViolation, match="still readable"):
        landlock.verify(outside="/", read_only=[])


@pytest.mark.parametrize("become_nobody", [False, True], ids=["root-or-self", "nobody"])
def test_confines_reads_and_writes(
    run_child: RunChild, tree: dict[str, str], need_landlock: int, become_nobody: bool
) -> None:
    if become_nobody and os.geteuid() != 0:
        pytest.skip("becoming nobody needs root")
    child = run_child(CONFINED_BODY, become_nobody=become_nobody, **tree)
    assert child.returncode == 0, child.stderr
    data = child.data
    assert data["uid"] == (65534 if become_nobody else os.geteuid())
    assert data["abi"] == need_landlock
    assert data["handled"] == landlock.handled_access_fs(need_landlock)
    assert data["scoped"] == landlock.handled_scopes(need_landlock)
    assert data["verified_outside"] == "/"
    assert data["read_inside"] == "ro content"
    assert data["list_inside"] == ["data.txt"]
    assert data["read_outside"] == "EACCES"
    assert data["list_outside"] == "EACCES"
    assert data["write_ro"] == "EACCES"
    assert data["overwrite_ro"] == "EACCES"
    assert data["remove_ro"] == "EACCES"
    assert data["write_rw"] == "ok"
    assert data["rename_rw"] == "ok"
    assert data["read_rw"] == "new"
    # The host side is untouched where it had to be.
    assert os.path.exists(os.path.join(tree["ro"], "data.txt"))
    assert not os.path.exists(os.path.join(tree["ro"], "new.txt"))


def test_landlock_mode_policy_without_namespace(
    run_child: RunChild, tree: dict[str, str], need_landlock: int
) -> None:
    child = run_child(
        """
        report = apply(SandboxPolicy(
            read_only={"ro": ARGS["ro"]}, read_write={"rw": ARGS["rw"]}, mode="landlock"
        ))
        emit(
            mechanisms=sorted(report.mechanisms),
            paths=dict(report.module_paths),
            uid=os.geteuid(),
            read=read(ARGS["ro"] + "/data.txt"),
            outside=attempt(lambda: read(ARGS["outside"] + "/data.txt")),
        )
        """,
        **tree,
    )
    assert child.returncode == 0, child.stderr
    root = os.geteuid() == 0
    expected = ["Landlock", "no_new_privs", *(["privilege drop"] if root else [])]
    assert child.data["mechanisms"] == expected
    assert child.data["paths"] == {"ro": tree["ro"], "rw": tree["rw"]}
    assert child.data["uid"] == (65534 if root else os.geteuid())
    assert child.data["read"] == "ro content"
    assert child.data["outside"] == "EACCES"


def test_lazy_import_after_landlock_needs_the_python_paths(
    run_child: RunChild, tree: dict[str, str], need_landlock: int
) -> None:
    child = run_child(
        """
        landlock.restrict(read_only=[ARGS["ro"]])
        try:
            import colorsys
        except (ImportError, OSError) as exc:
            without = type(exc).__name__
        landlock.restrict(
            read_only=[ARGS["ro"]], optional_read_only=rsync_sandbox.python_runtime_paths()
        )
        emit(without=without)
        """,
        ro=tree["ro"],
    )
    assert child.returncode == 0, child.stderr
    assert child.data["without"] in {"PermissionError", "ModuleNotFoundError"}


def test_python_paths_allow_lazy_imports(
    run_child: RunChild, tree: dict[str, str], need_landlock: int
) -> None:
    child = run_child(
        """
        landlock.restrict(
            read_only=[ARGS["ro"]], optional_read_only=rsync_sandbox.python_runtime_paths()
        )
        import colorsys
        emit(imported=colorsys.__name__, outside=attempt(lambda: os.listdir(ARGS["outside"])))
        """,
        **tree,
    )
    assert child.returncode == 0, child.stderr
    assert child.data == {"imported": "colorsys", "outside": "EACCES"}


def test_missing_required_path_is_an_error_and_changes_nothing(
    run_child: RunChild, tree: dict[str, str], need_landlock: int
) -> None:
    child = run_child(
        """
        try:
            landlock.restrict(read_only=[ARGS["ro"] + "/missing"])
        except SandboxError as exc:
            emit(error=str(exc), outside=read(ARGS["outside"] + "/data.txt"))
        """,
        **tree,
    )
    assert child.returncode == 0, child.stderr
    assert "does not exist" in child.data["error"]
    assert child.data["outside"] == "outside content"


WRITES_BODY = """
landlock.restrict(read_only=[ARGS["ro"]], read_write=[ARGS["rw"], ARGS["outside"]])
landlock.isolate(deny_net=landlock.AccessNet.BIND_TCP, scopes=landlock.Scope(0))
os.mkdir(ARGS["rw"] + "/a")
os.mkdir(ARGS["rw"] + "/b")
write_new(ARGS["rw"] + "/a/f")
landlock.restrict_writes(ARGS["rw"])
emit(
    link_across=attempt(lambda: os.link(ARGS["rw"] + "/a/f", ARGS["rw"] + "/b/g")),
    rename_across=attempt(lambda: os.rename(ARGS["rw"] + "/b/g", ARGS["rw"] + "/a/h")),
    write_module=attempt(lambda: write_new(ARGS["rw"] + "/b/new.txt")),
    write_other=attempt(lambda: write_new(ARGS["outside"] + "/new.txt")),
    remove_other=attempt(lambda: os.unlink(ARGS["outside"] + "/data.txt")),
    read_other=read(ARGS["outside"] + "/data.txt"),
)
"""


def test_writes_stay_in_the_chosen_module(
    run_child: RunChild, tree: dict[str, str], need_landlock: int
) -> None:
    """After restrict_writes(module), a second writable tree is read-only; renames and links
    across directories inside the module still work under the connection's own layer."""
    child = run_child(WRITES_BODY, become_nobody=False, **tree)
    assert child.returncode == 0, child.stderr
    data = child.data
    assert data["link_across"] == "ok"
    assert data["rename_across"] == "ok"
    assert data["write_module"] == "ok"
    assert data["write_other"] == "EACCES"
    assert data["remove_other"] == "EACCES"
    assert data["read_other"] == "outside content"
    assert os.path.exists(os.path.join(tree["outside"], "data.txt"))


READS_BODY = """
landlock.restrict(read_only=[ARGS["ro"], ARGS["outside"]], read_write=[ARGS["rw"]])
write_new(ARGS["rw"] + "/new.txt")
landlock.restrict_reads([ARGS["rw"]], optional=[ARGS["ro"], ARGS["rw"] + "/missing"])
emit(
    read_module=read(ARGS["rw"] + "/new.txt"),
    read_optional=read(ARGS["ro"] + "/data.txt"),
    read_other=attempt(lambda: read(ARGS["outside"] + "/data.txt")),
    list_other=attempt(lambda: os.listdir(ARGS["outside"])),
)
"""


def test_reads_narrow_to_the_chosen_module(
    run_child: RunChild, tree: dict[str, str], need_landlock: int
) -> None:
    """A daemon that may read anywhere (a module with insecure links = yes) narrows a
    connection to another module back to that module (and the optional paths)."""
    child = run_child(READS_BODY, become_nobody=False, **tree)
    assert child.returncode == 0, child.stderr
    data = child.data
    assert data["read_module"] == "new"
    assert data["read_optional"] == "ro content"
    assert data["read_other"] == "EACCES"
    assert data["list_other"] == "EACCES"
