"""Socket handover; anything touching descriptors 0 to 3 runs in a child interpreter."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap

from rsync_daemon.systemd import is_listening


def _child(code: str, *, stdin: int | None = None, report: str = "stdout") -> str:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=stdin,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout if report == "stdout" else result.stderr


def test_is_listening() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        assert not is_listening(listener)
        listener.listen()
        assert is_listening(listener)


LISTEN_FDS = """
    import os, socket
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    a, b = socket.socketpair()
    os.dup2(listener.fileno(), 3)
    os.dup2(a.fileno(), 4)
    os.environ.update(LISTEN_FDS="2", LISTEN_FDNAMES="rsync:anonssh", LISTEN_PID=__PID__)
    from rsync_daemon.systemd import listen_fds
    found = listen_fds()
    print([(s.sock.fileno(), s.name, s.listening) for s in found])
    print(sorted(k for k in os.environ if k.startswith("LISTEN_")))
    print(os.get_inheritable(3))
"""


def test_listen_fds() -> None:
    out = _child(LISTEN_FDS.replace("__PID__", "str(os.getpid())"))
    assert out.splitlines() == ["[(3, 'rsync', True), (4, 'anonssh', False)]", "[]", "False"]


def test_listen_fds_for_another_pid() -> None:
    out = _child(LISTEN_FDS.replace("__PID__", '"1"'))
    assert out.splitlines()[0] == "[]"


STDIN = """
    import os, sys
    from rsync_daemon.systemd import stdin_socket
    sock = stdin_socket()  # stdout is /dev/null from here on: report on stderr
    print(sock is not None, sock is not None and sock.fileno() > 2, file=sys.stderr)
    if sock is not None:
        sock.sendall(b"over the socket")
        fds = [os.path.realpath(f"/proc/self/fd/{fd}") for fd in (0, 1)]
        print(*fds, file=sys.stderr)
"""


def test_stdin_socket() -> None:
    a, b = socket.socketpair()
    with a, b:
        out = _child(STDIN, stdin=a.fileno(), report="stderr")
        assert b.recv(100) == b"over the socket"
    assert out.splitlines() == ["True True", "/dev/null /dev/null"]


def test_stdin_not_a_socket() -> None:
    out = _child(STDIN, stdin=subprocess.DEVNULL, report="stderr")
    assert out.splitlines() == ["False False"]
