"""Every failure ends in rsync's lines and exit code: root causes, messages, the CLI guard."""

from __future__ import annotations

import errno
import os
from typing import TYPE_CHECKING

import anyio
import pytest

from rsync_client import cli
from rsync_client.errors import describe_failure, root_cause
from rsync_client.options import OptionError, parse_location
from rsync_client.safeopen import UntrustedSymlinkError, open_no_attacker_symlinks
from rsync_wire.errors import ConnectionLost, ProtocolError, RemoteError
from rsync_wire.roles.receiving import ReceiverGone

if TYPE_CHECKING:
    from pathlib import Path


def _raised_while_handling(first: BaseException, second: BaseException) -> BaseException:
    """``second`` as raised in an ``except``/``finally`` that handled ``first``."""
    try:
        try:
            raise first
        finally:
            raise second
    except BaseException as exc:  # noqa: BLE001 - returned for the test
        return exc


def _enospc() -> OSError:
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_full_disk_wins_over_the_broken_pipe_it_caused() -> None:
    # The receiver's write fails; the flush in its cleanup then finds the peer gone.
    broken = _raised_while_handling(_enospc(), anyio.BrokenResourceError())
    group = BaseExceptionGroup("tasks", [broken, anyio.ClosedResourceError()])
    assert isinstance(root_cause(group), OSError)
    failure = describe_failure(group)
    assert failure.exit_code == 11
    assert failure.lines == ["rsync: [Receiver] No space left on device (28)"]
    # Reversed order in the group: the same answer.
    group = BaseExceptionGroup("tasks", [anyio.BrokenResourceError(), _enospc()])
    assert describe_failure(group).exit_code == 11


def test_full_disk_found_behind_a_collapsed_group() -> None:
    # A task group's errors collapsed to one member, raised "from None" while the group
    # was handled (rsync_wire's receiving side does this): the group is its context.
    def tasks() -> None:
        msg = "tasks"
        raise ExceptionGroup(msg, [anyio.BrokenResourceError(), _enospc()])

    collapsed: BaseException | None = None
    try:
        try:
            tasks()
        except ExceptionGroup:
            raise anyio.BrokenResourceError from None
    except anyio.BrokenResourceError as exc:
        collapsed = exc
    assert collapsed is not None
    failure = describe_failure(collapsed)
    assert failure.exit_code == 11
    assert failure.lines == ["rsync: [Receiver] No space left on device (28)"]


def test_a_write_error_with_its_file_name_is_rsyncs_write_failed_line() -> None:
    exc = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "dest/big")
    failure = describe_failure(ExceptionGroup("tasks", [exc]))
    assert failure.lines == [
        'rsync: [receiver] write failed on "dest/big": No space left on device (28)'
    ]
    assert failure.exit_code == 11


def test_a_typed_error_beats_the_lost_connection_and_nesting() -> None:
    lost = ConnectionLost("connection unexpectedly closed")
    inner = ExceptionGroup("inner", [lost, ProtocolError("bad index 7")])
    failure = describe_failure(BaseExceptionGroup("outer", [anyio.EndOfStream(), inner]))
    assert failure.lines == ["rsync: bad index 7"]
    assert failure.exit_code == 2


def test_lost_connection_reset_and_remote_exit() -> None:
    lost = ConnectionLost("connection unexpectedly closed")
    lost.bytes_received = 123  # type: ignore[attr-defined]
    assert describe_failure(lost).lines == [
        "rsync: connection unexpectedly closed (123 bytes received so far) [Receiver]"
    ]
    assert describe_failure(lost).exit_code == 12
    reset = _raised_while_handling(
        ConnectionResetError(errno.ECONNRESET, "reset"), ConnectionLost("closed")
    )
    failure = describe_failure(reset)
    assert failure.lines == ["rsync: [Receiver] read error: Connection reset by peer (104)"]
    assert failure.exit_code == 10
    gone = RemoteError("the sender ended the session", exit_code=None)
    gone.remote_exit = True  # type: ignore[attr-defined]
    assert describe_failure(gone).lines == []  # the peer already said why
    status = ConnectionLost("closed")
    status.child_status = 255  # type: ignore[attr-defined]
    assert describe_failure(status).exit_code == 255  # ssh's status, as rsync takes it


def test_a_pipe_lost_without_errno_is_secondary() -> None:
    # asyncio's subprocess pipe: ConnectionResetError("Connection lost"), no errno
    lost = ConnectionLost("connection unexpectedly closed")
    lost.child_status = 255  # type: ignore[attr-defined]
    group = ExceptionGroup("tasks", [ConnectionResetError("Connection lost"), lost])
    failure = describe_failure(group)
    assert failure.exit_code == 255
    assert failure.lines == ["rsync: connection unexpectedly closed [Receiver]"]


def test_only_secondary_errors_and_bugs() -> None:
    assert describe_failure(anyio.BrokenResourceError()).exit_code == 12
    failure = describe_failure(ExceptionGroup("tasks", [EOFError()]))
    assert failure.exit_code == 15
    assert failure.lines[0].startswith("rsync: [Receiver] internal error: EOFError")
    assert describe_failure(MemoryError()).exit_code == 22
    assert describe_failure(KeyboardInterrupt()).exit_code == 20
    # Ctrl-C also reaches the remote shell, whose end of stream follows: still code 20.
    lost = ConnectionLost("connection unexpectedly closed")
    assert describe_failure(BaseExceptionGroup("t", [lost, KeyboardInterrupt()])).exit_code == 20


def test_guard_prints_rsync_lines_and_the_traceback_only_at_vvvv(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def crash(*_args: object) -> int:
        msg = "tasks"
        raise ExceptionGroup(msg, [anyio.BrokenResourceError(), _enospc()])

    monkeypatch.setattr(cli, "_run_with_signals", crash)
    assert cli.main(["-a", "src/", "dest/"]) == 11
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.splitlines()[0] == "rsync: [Receiver] No space left on device (28)"
    assert err.splitlines()[-1].startswith("rsync error: error in file IO (code 11) at ")
    assert cli.main(["-vvvv", "-a", "src/", "dest/"]) == 11
    err = capsys.readouterr().err
    assert "Traceback" in err
    assert "BrokenResourceError" in err
    assert err.splitlines()[-1].startswith("rsync error: error in file IO (code 11)")


def test_port_syntax_follows_rsyncs_parser() -> None:
    assert parse_location("rsync://h:99999/m/p").port == 99999  # low 16 bits at connect
    assert parse_location("rsync://h:0/m").port is None  # the default
    assert parse_location("rsync://h:/m").port is None
    assert parse_location("rsync://[::1]:8730/m").port == 8730
    # not a URL: a remote-shell host "rsync" (ssh then fails, as rsync's does)
    loc = parse_location("rsync://h:notaport/m/")
    assert (loc.kind, loc.host, loc.path) == ("shell", "rsync", "//h:notaport/m/")
    assert parse_location("rsync://h:12x/m").kind == "shell"
    with pytest.raises(OptionError, match="invalid numeric value"):
        cli.parse_args(["--port=notaport", "h::m", "d"])


def test_untrusted_symlinks_refused_trusted_followed(tmp_path: Path) -> None:
    target = tmp_path / "real"
    target.mkdir()
    (target / "rules").write_text("- x\n")
    (tmp_path / "mine").symlink_to(target)
    fd = open_no_attacker_symlinks(str(tmp_path / "mine" / "rules"))
    with os.fdopen(fd, "rb") as f:
        assert f.read() == b"- x\n"
    if os.geteuid() != 0:
        pytest.skip("planting a symlink owned by another user needs root")
    os.lchown(tmp_path / "mine", 65534, 65534)
    with pytest.raises(UntrustedSymlinkError):
        open_no_attacker_symlinks(str(tmp_path / "mine" / "rules"))
    (tmp_path / "leaf").symlink_to(target / "rules")
    os.lchown(tmp_path / "leaf", 65534, 65534)
    with pytest.raises(UntrustedSymlinkError) as caught:
        open_no_attacker_symlinks(str(tmp_path / "leaf"))
    assert caught.value.errno == errno.ELOOP
    # a symlink owned by another user on the way to the one we own is refused too
    (tmp_path / "via").symlink_to(tmp_path / "mine")
    with pytest.raises(UntrustedSymlinkError):
        open_no_attacker_symlinks(str(tmp_path / "via" / "rules"))
    with pytest.raises(FileNotFoundError):
        open_no_attacker_symlinks(str(tmp_path / "missing"))
    with pytest.raises(NotADirectoryError):
        open_no_attacker_symlinks(str(target / "rules" / "x"))


def test_the_generator_seeing_its_receiver_gone_is_a_closed_connection() -> None:
    # The far side died after sending the data: the receiver task ended, the generator
    # waiting for the end of the session noticed. rsync says the connection closed (12).
    alone = describe_failure(ReceiverGone("the receiver stopped before the end of the session"))
    assert alone.exit_code == 12
    assert alone.lines == ["rsync: connection unexpectedly closed [Receiver]"]
    lost = ConnectionLost("connection unexpectedly closed (9 bytes received so far) [Receiver]")
    group = BaseExceptionGroup("tasks", [ReceiverGone("gone"), lost])
    assert root_cause(group) is lost
