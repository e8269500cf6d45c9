"""The mount-namespace sandbox as root: run in children, checked from inside and outside."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import RunChild

pytestmark = [pytest.mark.privileged, pytest.mark.usefixtures("need_namespaces")]


def _mount_count() -> int:
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        return len(f.read().splitlines())


def _sandbox_roots() -> set[str]:
    tmp = tempfile.gettempdir()
    return {name for name in os.listdir(tmp) if name.startswith("rsync-sandbox-root-")}


def test_namespace_mode_shows_only_read_only_modules_as_nobody(
    run_child: RunChild, tree: dict[str, str]
) -> None:
    mounts_before = _mount_count()
    roots_before = _sandbox_roots()
    child = run_child(
        """
        policy = SandboxPolicy(
            read_only={"alpha": ARGS["ro"], "beta": ARGS["outside"]}, mode="namespace"
        )
        report = apply(policy)
        emit(
            root=sorted(os.listdir("/")),
            ids=[os.getresuid(), os.getresgid()],
            groups=os.getgroups(),
            nnp=privileges.no_new_privs(),
            caps=[privileges.capabilities().effective, privileges.capabilities().permitted],
            read=read("/alpha/module/data.txt"),
            write_new=attempt(lambda: write_new("/alpha/module/new.txt")),
            overwrite=attempt(lambda: open("/alpha/module/data.txt", "w")),
            write_root=attempt(lambda: write_new("/new.txt")),
            setuid0=attempt(lambda: os.setuid(0)),
            proc=os.path.exists("/proc/self"),
            mechanisms=sorted(report.mechanisms),
            paths=dict(report.module_paths),
            description=report.description,
            warnings=list(report.warnings),
        )
        """,
        ro=tree["ro"],
        outside=tree["outside"],
    )
    assert child.returncode == 0, child.stderr
    data = child.data
    assert data["root"] == ["alpha", "beta"]
    assert data["ids"] == [[65534] * 3, [65534] * 3]
    assert data["groups"] == []
    assert data["nnp"] is True
    assert data["caps"] == [0, 0]
    assert data["read"] == "ro content"
    assert data["write_new"] == "EROFS"
    assert data["overwrite"] == "EROFS"
    assert data["write_root"] == "EROFS"
    assert data["setuid0"] == "EPERM"
    assert data["proc"] is False
    assert data["mechanisms"] == ["mount namespace", "no_new_privs", "pivot_root", "privilege drop"]
    assert data["paths"] == {"alpha": "/alpha/module", "beta": "/beta/module"}
    assert "pivot_root" in data["description"]
    assert "uid 65534" in data["description"]
    assert data["warnings"] == []
    # Nothing leaked to the host: no new mounts here, no temporary mount point left behind.
    assert _mount_count() == mounts_before
    assert _sandbox_roots() <= roots_before


def test_read_write_module_is_writable_inside(run_child: RunChild, tree: dict[str, str]) -> None:
    child = run_child(
        """
        report = apply(SandboxPolicy(
            read_only={"ro": ARGS["ro"]}, read_write={"rw": ARGS["rw"]}, mode="namespace"
        ))
        emit(
            write_rw=attempt(lambda: write_new("/rw/module/new.txt")),
            write_ro=attempt(lambda: write_new("/ro/module/new.txt")),
            write_above=attempt(lambda: write_new("/rw/new.txt")),
            exec_flag=bool(os.statvfs("/rw/module").f_flag & os.ST_NOEXEC),
            nosuid=bool(os.statvfs("/rw/module").f_flag & os.ST_NOSUID),
        )
        """,
        ro=tree["ro"],
        rw=tree["rw"],
    )
    assert child.returncode == 0, child.stderr
    assert child.data == {
        "write_rw": "ok",
        "write_ro": "EROFS",
        "write_above": "EROFS",
        "exec_flag": True,
        "nosuid": True,
    }
    assert os.path.exists(os.path.join(tree["rw"], "new.txt"))
    assert not os.path.exists(os.path.join(tree["ro"], "new.txt"))


def test_pid_namespace_makes_the_child_pid_1_and_propagates_its_exit_status(
    run_child: RunChild, tree: dict[str, str]
) -> None:
    child = run_child(
        """
        apply(SandboxPolicy(read_only={"m": ARGS["ro"]}, mode="namespace", pid_namespace=True))
        emit(pid=os.getpid(), uid=os.getuid())
        sys.exit(7)
        """,
        ro=tree["ro"],
    )
    assert child.returncode == 7, child.stderr
    assert child.data == {"pid": 1, "uid": 65534}


def test_auto_as_root_adds_landlock_on_top(
    run_child: RunChild, tree: dict[str, str], need_landlock: int
) -> None:
    child = run_child(
        """
        report = apply(SandboxPolicy(read_only={"ro": ARGS["ro"]}, read_write={"rw": ARGS["rw"]}))
        emit(
            mechanisms=sorted(report.mechanisms),
            abi=report.landlock_abi,
            list_root=attempt(lambda: os.listdir("/")),
            list_module=sorted(os.listdir("/ro/module")),
            read=read("/ro/module/data.txt"),
            write_rw=attempt(lambda: write_new("/rw/module/new.txt")),
            write_ro=attempt(lambda: write_new("/ro/module/new.txt")),
            description=report.description,
        )
        """,
        ro=tree["ro"],
        rw=tree["rw"],
    )
    assert child.returncode == 0, child.stderr
    data = child.data
    assert data["mechanisms"] == [
        "Landlock",
        "mount namespace",
        "no_new_privs",
        "pivot_root",
        "privilege drop",
    ]
    assert data["abi"] == need_landlock
    assert data["list_root"] == "EACCES"  # Landlock: "/" of the new root is not an allowed tree
    assert data["list_module"] == ["data.txt"]
    assert data["read"] == "ro content"
    assert data["write_rw"] == "ok"
    assert data["write_ro"] == "EROFS"
    assert f"Landlock ABI {need_landlock}" in data["description"]


def test_extra_read_only_paths_keep_lazy_imports_working(
    run_child: RunChild, tree: dict[str, str]
) -> None:
    # A symbolic link given as an extra path (like /etc/localtime) appears at its own path.
    link = os.path.join(os.path.dirname(tree["ro"]), "link.txt")
    os.symlink(os.path.join(tree["outside"], "data.txt"), link)
    child = run_child(
        """
        assert "colorsys" not in sys.modules
        extras = (*rsync_sandbox.python_runtime_paths(), ARGS["link"])
        apply(SandboxPolicy(read_only={"m": ARGS["ro"]}, extra_read_only=extras, mode="namespace"))
        import colorsys
        emit(
            imported=colorsys.__name__,
            write_extra=attempt(lambda: write_new(os.path.join(sys.prefix, "new.txt"))),
            link=read(ARGS["link"]),
            link_is_file=os.path.isfile(ARGS["link"]) and not os.path.islink(ARGS["link"]),
        )
        """,
        ro=tree["ro"],
        link=link,
    )
    assert child.returncode == 0, child.stderr
    assert child.data == {
        "imported": "colorsys",
        "write_extra": "EROFS",
        "link": "outside content",
        "link_is_file": True,
    }


def test_without_extra_paths_a_lazy_import_fails(run_child: RunChild, tree: dict[str, str]) -> None:
    child = run_child(
        """
        apply(SandboxPolicy(read_only={"m": ARGS["ro"]}, mode="namespace"))
        try:
            import colorsys
        except ImportError as exc:
            emit(failed=type(exc).__name__)
        """,
        ro=tree["ro"],
    )
    assert child.returncode == 0, child.stderr
    assert child.data == {"failed": "ModuleNotFoundError"}


def test_refuses_to_start_in_a_thread(run_child: RunChild, tree: dict[str, str]) -> None:
    child = run_child(
        """
        stop = threading.Event()
        threading.Thread(target=stop.wait).start()
        try:
            apply(SandboxPolicy(read_only={"m": ARGS["ro"]}, mode="namespace"))
        except SandboxError as exc:
            emit(error=str(exc), uid=os.getuid(), host_view=os.path.exists(ARGS["ro"]))
        stop.set()
        """,
        ro=tree["ro"],
    )
    assert child.returncode == 0, child.stderr
    assert "single-threaded" in child.data["error"]
    assert child.data["uid"] == 0
    assert child.data["host_view"] is True


def test_read_only_module_inside_a_read_write_one_stays_read_only(
    run_child: RunChild, tree: dict[str, str]
) -> None:
    """rsync lets two modules share a tree with different settings: through its own mount
    the read-only one cannot be written, while the writable one can."""
    child = run_child(
        """
        report = apply(SandboxPolicy(
            read_only={"inner": ARGS["inner"]}, read_write={"outer": ARGS["outer"]}
        ))
        inner = report.module_paths["inner"]
        outer = report.module_paths["outer"]
        emit(
            write_inner=attempt(lambda: write_new(inner + "/new-inner.txt")),
            write_outer=attempt(lambda: write_new(outer + "/" + ARGS["leaf"] + "/new.txt")),
        )
        """,
        inner=tree["rw"],
        outer=os.path.dirname(tree["rw"]),
        leaf=os.path.basename(tree["rw"]),
    )
    assert child.returncode == 0, child.stderr
    assert child.data["write_inner"] == "EROFS"
    assert child.data["write_outer"] == "ok"


def test_chroot_fallback_when_pivot_root_is_impossible(
    run_child: RunChild, tree: dict[str, str]
) -> None:
    roots_before = _sandbox_roots()
    child = run_child(
        """
        def no_pivot(new_root, put_old):
            raise OSError(errno.EINVAL, "pivot_root: Invalid argument (simulated)", new_root)

        _libc.pivot_root = no_pivot
        report = apply(SandboxPolicy(read_only={"m": ARGS["ro"]}, mode="namespace"))
        emit(
            mechanisms=sorted(report.mechanisms),
            warnings=list(report.warnings),
            root=sorted(os.listdir("/")),
            parent=sorted(os.listdir("/..")),
            read=read("/m/module/data.txt"),
            write=attempt(lambda: write_new("/m/module/new.txt")),
            chroot_back=attempt(lambda: os.chroot("/m")),
        )
        """,
        ro=tree["ro"],
    )
    try:
        assert child.returncode == 0, child.stderr
        assert child.data == {
            "mechanisms": ["chroot", "mount namespace", "no_new_privs", "privilege drop"],
            "warnings": ["pivot_root impossible here (EINVAL): fell back to chroot"],
            "root": ["m"],
            "parent": ["m"],
            "read": "ro content",
            "write": "EROFS",
            "chroot_back": "EPERM",
        }
    finally:
        # The chroot fallback cannot remove its mount point: it is still mounted in the
        # child's namespace. The namespace is gone now, so the empty directory can go.
        for name in _sandbox_roots() - roots_before:
            os.rmdir(os.path.join(tempfile.gettempdir(), name))


def test_a_pending_module_is_attached_later_read_only_and_readable_under_landlock(
    run_child: RunChild, tree: dict[str, str], need_landlock: int
) -> None:
    late = os.path.join(os.path.dirname(tree["ro"]), "late-module")
    os.mkdir(late)
    os.chmod(late, 0o755)  # noqa: S103 - the confined user reads it
    with open(os.path.join(late, "f"), "w") as f:
        f.write("late content")
    child = run_child(
        """
        go_r, go_w = os.pipe()
        confined = os.getpid()
        attacher = os.fork()
        if attacher == 0:  # stays root in the host's namespaces, as the daemon's helper
            os.close(go_w)
            os.read(go_r, 1)
            try:
                target = namespaces.attach_module(ARGS["late"], "late", pid=confined,
                                                  read_only=True)
            except BaseException as exc:
                print(repr(exc), file=sys.stderr, flush=True)
                os._exit(1)
            os._exit(0 if target == "/late/module" else 2)
        os.close(go_r)
        report = apply(SandboxPolicy(read_only={"alpha": ARGS["ro"]},
                                     pending_read_only=("late",), mode="auto"))
        before = attempt(lambda: read("/late/module/f"))
        os.write(go_w, b"g")
        _, status = os.waitpid(attacher, 0)
        emit(
            paths=dict(report.module_paths),
            before=before,
            attached=os.waitstatus_to_exitcode(status),
            read=read("/late/module/f"),
            write=attempt(lambda: write_new("/late/module/new")),
            beside=attempt(lambda: write_new("/late/new")),
        )
        """,
        ro=tree["ro"],
        late=late,
    )
    assert child.returncode == 0, child.stderr
    data = child.data
    assert data["paths"] == {"alpha": "/alpha/module", "late": "/late/module"}
    assert data["before"] == "ENOENT"
    assert data["attached"] == 0
    assert data["read"] == "late content"
    assert data["write"] in ("EROFS", "EACCES")
    assert data["beside"] in ("EROFS", "EACCES")


def test_a_module_made_anew_is_attached_over_the_old_one_under_landlock(
    run_child: RunChild, tree: dict[str, str], need_landlock: int
) -> None:
    """A module directory removed and made anew while confined: attach_module puts the new
    one on the module's mount point (a process inside the old keeps it), the Landlock rules
    on the directory above hold for it, and attaching the same directory again is a no-op."""
    top = os.path.join(os.path.dirname(tree["ro"]), "made-anew")
    os.mkdir(top)
    os.chmod(top, 0o755)  # noqa: S103 - the confined user reads it
    with open(os.path.join(top, "f"), "w") as f:
        f.write("old content")
    child = run_child(
        """
        import shutil

        go_r, go_w = os.pipe()
        confined = os.getpid()
        attacher = os.fork()
        if attacher == 0:  # stays root in the host's namespaces, as the daemon's helper
            os.close(go_w)
            os.read(go_r, 1)
            shutil.rmtree(ARGS["top"])
            os.mkdir(ARGS["top"])
            os.chmod(ARGS["top"], 0o755)
            with open(os.path.join(ARGS["top"], "g"), "w") as f:
                f.write("new content")
            for _ in range(2):  # a worker each, as the helper's (setns is for good)
                worker = os.fork()
                if worker == 0:
                    try:
                        target = namespaces.attach_module(
                            ARGS["top"], "m", pid=confined, read_only=True
                        )
                    except BaseException as exc:
                        print(repr(exc), file=sys.stderr, flush=True)
                        os._exit(1)
                    os._exit(0 if target == "/m/module" else 2)
                _, status = os.waitpid(worker, 0)
                if status:
                    os._exit(os.waitstatus_to_exitcode(status))
            os._exit(0)
        os.close(go_r)
        report = apply(SandboxPolicy(read_only={"m": ARGS["top"]}, mode="auto"))
        old = os.open("/m/module", os.O_RDONLY | os.O_DIRECTORY)
        os.write(go_w, b"g")
        _, status = os.waitpid(attacher, 0)
        emit(
            paths=dict(report.module_paths),
            attached=os.waitstatus_to_exitcode(status),
            listed=sorted(os.listdir("/m/module")),
            read=read("/m/module/g"),
            kept=sorted(os.listdir(old)),
            write=attempt(lambda: write_new("/m/module/new")),
        )
        """,
        top=top,
    )
    assert child.returncode == 0, child.stderr
    data = child.data
    assert data["paths"] == {"m": "/m/module"}
    assert data["attached"] == 0, child.stderr
    assert data["listed"] == ["g"]
    assert data["read"] == "new content"
    assert data["kept"] == []  # the old directory, deleted: a process inside it keeps it
    assert data["write"] in ("EROFS", "EACCES")
    assert sorted(os.listdir(top)) == ["g"]


def test_a_signal_ends_pid_1_before_it_has_handlers_of_its_own() -> None:
    """PID 1 drops a signal it has no handler for: the waiter's forwarded SIGTERM used to
    leave a child that had not installed handlers yet (a daemon still starting up) running
    for ever, and its waiter waiting. The child now ends as an ordinary process would."""
    script = (
        "import sys, time\n"
        "from rsync_sandbox.namespaces import fork_into_pid_namespace\n"
        "fork_into_pid_namespace()\n"
        "print('up', flush=True)\n"
        "time.sleep(60)\n"
        "sys.exit(3)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("COVERAGE_")}
    with subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env
    ) as proc:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "up\n"
        proc.send_signal(signal.SIGTERM)  # to the waiter, which forwards it
        try:
            code = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert code == 128 + signal.SIGTERM
