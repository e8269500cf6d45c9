"""The operator's commands and name lookups, run outside the confinement.

A connection process is confined before it reads the first network byte: it sees only
its modules, cannot run ``/bin/sh`` and cannot reach DNS. rsync runs ``early exec``,
``pre-xfer exec`` and ``post-xfer exec`` from the connection process before it drops
privileges, and resolves names there. pyrsyncd keeps one *helper* process for this,
forked before confinement (it keeps the daemon's user, as rsync's hooks run as the
daemon's user). A connection process asks it over an inherited UNIX socket:

- ``exec``: run the named hook *of the named module*, as configured (the helper has its
  own copy of the configuration; a request carries only the module name, which hook,
  and the ``RSYNC_*`` values that rsync puts in the environment) with ``/bin/sh -c``,
  the given bytes on standard input; answer the wait status and what the command
  wrote on standard output.
- ``reverse``: the host name of an address (reverse lookup confirmed by a forward
  lookup, else ``UNKNOWN``), as rsync's client_name().
- ``forward``: the addresses of a host name (``hosts allow``/``hosts deny`` tokens).
- ``n`` (a session of its own, not a request): the module's ``name converter``, started
  once for the connection and asked one line at a time (``uid N``, ``gid N``, ``usr
  NAME``, ``grp NAME``), each answer relayed back, until the connection closes its pipe.
- ``secrets``: the module's secrets file as it is now (lines, mode, whether root reads
  another user's file), since rsync reads it for each login; the connection falls back
  to the copy read at start-up when the helper cannot answer.
- ``attach``: each module sits on a mount point of its own in the daemon's mount
  namespace, empty when its path did not exist at start-up. rsync looks its module
  paths up for each connection (it reads its configuration and changes into the path
  every time), so a connection asks for its module's path as it is now: checked through
  trusted symbolic links only, as at start-up, and bound on that mount point, in the
  namespace of the process asking (`rsync_sandbox.attach_module`), unless the
  directory there is already that one. A module path created after start-up is then
  served at once, and one removed and made anew is the new directory for this and
  later connections (one still inside the old keeps it). One attach at a time.

Each request travels with two pipes of its own (passed as SCM_RIGHTS), so that
concurrent connections never read each other's answers; the helper forks a worker
per request.

rsync: clientserver.c start_pre_exec(), write_pre_exec_args(), finish_pre_exec(), the
post-xfer fork in rsync_module(); clientname.c client_name(); access.c match_hostname().
"""

from __future__ import annotations

import array
import contextlib
import fcntl
import logging
import os
import signal
import socket
import struct
import subprocess
import sys
from typing import TYPE_CHECKING, Final

import msgspec

if TYPE_CHECKING:
    from rsync_daemon.config import DaemonConfig

__all__ = [
    "HELPER_GONE",
    "HookResult",
    "NameConverterSession",
    "attach_module",
    "available",
    "forward_lookup",
    "mounted",
    "pinned",
    "read_secrets",
    "reverse_lookup",
    "run_hook",
    "set_mounted_modules",
    "set_pinned_modules",
    "start_helper",
    "start_name_converter",
]

log = logging.getLogger("rsync_daemon")

_UCRED: Final = struct.Struct("3i")  # struct ucred: pid, uid, gid
_MAX_REQUEST: Final = 16 << 20
_MAX_OUTPUT: Final = 4096  # rsync: BIGPATHBUFLEN bytes of a pre-xfer command's output
_ENV_PREFIX: Final = "RSYNC_"
_HOOKS: Final = ("early_exec", "pre_xfer_exec", "post_xfer_exec")
_NAMECVT: Final = "name_converter"
_MAX_NAMECVT_LINE: Final = 1024  # rsync: namecvt_call()'s buffer


class _Request(msgspec.Struct, kw_only=True):
    kind: str
    module: str = ""
    hook: str = ""
    env: dict[str, str] = msgspec.field(default_factory=dict)
    stdin: bytes = b""
    name: str = ""


class HookResult(msgspec.Struct, kw_only=True):
    """What a request answered: ``status`` is a wait status (-1: could not run)."""

    status: int = -1
    output: bytes = b""
    names: list[str] = msgspec.field(default_factory=list)
    refused: str = ""
    """The %RSYNC_*% variable whose value made the command unsafe to run (not run)."""


# Built at import, in the listener: a decoder's type information is then shared by every
# connection process instead of being worked out again in each one after the fork.
_REQUEST_DECODER: Final = msgspec.msgpack.Decoder(_Request)
_RESULT_DECODER: Final = msgspec.msgpack.Decoder(HookResult)
_ENCODER: Final = msgspec.msgpack.Encoder()

HELPER_GONE: Final = "the daemon's helper is gone"
"""`attach_module`'s reason when no answer came (the helper, or its worker, ended)."""

_socket: list[socket.socket | None] = [None]
_mounted: set[str] = set()
_pinned: dict[str, tuple[int, int]] = {}


def set_mounted_modules(names: set[str]) -> None:
    """Say which modules sit on a mount point of their own (the daemon's namespace).

    Their connections ask for the module path as it is now (`attach_module`) before
    serving; called once the daemon has confined itself, inherited by every connection.
    """
    _mounted.clear()
    _mounted.update(names)


def mounted(module: str) -> bool:
    """Whether ``module``'s path is bound anew for each connection (`set_mounted_modules`)."""
    return module in _mounted


def set_pinned_modules(dirs: dict[str, tuple[int, int]]) -> None:
    """Say which directory (device, inode) each module was confined to by Landlock alone.

    Without root there is no namespace to bind a module path anew in, and Landlock's rules
    hold for the directories that existed at start-up: a connection checks that its module
    path still names that one (`pinned`).
    """
    _pinned.clear()
    _pinned.update(dirs)


def pinned(module: str) -> tuple[int, int] | None:
    """The (device, inode) ``module`` must still be (`set_pinned_modules`); None: no check."""
    return _pinned.get(module)


def available() -> bool:
    """Whether this process can ask the helper (it was started before confinement)."""
    return _socket[0] is not None


def start_helper(config: DaemonConfig) -> None:
    """Fork the helper (once, before confinement); this process keeps its socket.

    The helper ends when every process holding the other end has gone.
    """
    if _socket[0] is not None:
        return
    parent_end, helper_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    hooks = {
        name: {hook: getattr(mod, hook) for hook in (*_HOOKS, _NAMECVT) if getattr(mod, hook)}
        for name, mod in config.modules.items()
    }
    from rsync_daemon.auth import may_write

    paths = {name: mod.path for name, mod in config.modules.items()}
    secrets = {name: mod.secrets_file for name, mod in config.modules.items() if mod.secrets_file}
    writable = {name for name, mod in config.modules.items() if may_write(mod)}
    # every module's path is looked up again for each connection (`attach_module`)
    pending = set(config.modules)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            parent_end.close()
            _helper_main(helper_end, hooks, paths, _Attachable(pending, writable, secrets))
        except BaseException:  # noqa: BLE001 - the helper must never unwind into the daemon
            code = 1
        finally:
            os._exit(code)
    helper_end.close()
    parent_end.set_inheritable(False)
    _socket[0] = parent_end


class _Attachable(msgspec.Struct):
    """Modules attachable per connection, the writable ones, secrets files."""

    pending: set[str]
    writable: set[str]
    secrets: dict[str, str]
    lock: int = -1


def _helper_main(
    sock: socket.socket,
    hooks: dict[str, dict[str, str]],
    paths: dict[str, str],
    attachable: _Attachable,
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # workers are reaped by the kernel
    with contextlib.suppress(OSError):
        os.setsid()  # out of the daemon's process group: a Ctrl-C is the daemon's
    # The kernel then adds the sender's pid to every request, as this process sees it:
    # outside the daemon's PID namespace, the pid rsync would log.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    # one attach at a time: a worker holds a POSIX lock on this (such locks belong to a
    # process, so the workers forked from here exclude each other)
    attachable.lock = os.memfd_create("pyrsyncd-attach", os.MFD_CLOEXEC)
    space = socket.CMSG_SPACE(2 * array.array("i").itemsize) + socket.CMSG_SPACE(_UCRED.size)
    while True:
        fds = array.array("i")
        try:
            msg, ancdata, _flags, _addr = sock.recvmsg(16, space)
        except InterruptedError:
            continue
        if not ancdata and not msg:
            return  # every connection process and the daemon are gone
        sender = 0
        for level, kind, data in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(data[: len(data) - (len(data) % fds.itemsize)])
            elif level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                sender = _UCRED.unpack(data[: _UCRED.size])[0]
        if msg == b"p" and len(fds) == 1:
            with contextlib.suppress(OSError):
                os.write(fds[0], str(sender).encode())
            os.close(fds[0])
            continue
        if len(fds) != 2:
            for fd in fds:
                os.close(fd)
            continue
        req_r, rep_w = fds[0], fds[1]
        if msg == b"n" and os.fork() == 0:
            code = 0
            try:
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                sock.close()
                _serve_name_converter(req_r, rep_w, hooks, paths)
            except BaseException:  # noqa: BLE001 - a worker only ever ends itself
                code = 1
            finally:
                os._exit(code)
        elif msg != b"n" and os.fork() == 0:
            code = 0
            try:
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                sock.close()
                _serve_request(req_r, rep_w, hooks, paths, attachable, sender)
            except BaseException:  # noqa: BLE001 - a worker only ever ends itself
                code = 1
            finally:
                os._exit(code)
        os.close(req_r)
        os.close(rep_w)


def _read_all(fd: int, limit: int) -> bytes:
    chunks: list[bytes] = []
    total = 0
    while total <= limit:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


def _serve_request(
    req_r: int,
    rep_w: int,
    hooks: dict[str, dict[str, str]],
    paths: dict[str, str],
    attachable: _Attachable,
    sender: int,
) -> None:
    data = _read_all(req_r, _MAX_REQUEST)
    os.close(req_r)
    result = HookResult()
    try:
        req = _REQUEST_DECODER.decode(data)
    except msgspec.DecodeError:
        req = None
    if req is not None and req.kind == "exec" and req.hook in _HOOKS:
        command = hooks.get(req.module, {}).get(req.hook)
        if command:
            result = _run_command(command, req, paths.get(req.module, ""))
    elif req is not None and req.kind == "reverse":
        result = HookResult(status=0, names=[_client_name(req.name)])
    elif req is not None and req.kind == "forward":
        result = HookResult(status=0, names=_addresses(req.name))
    elif req is not None and req.kind == "secrets" and req.module in attachable.secrets:
        from rsync_daemon.auth import read_secrets

        found = read_secrets(attachable.secrets[req.module])
        if found is not None:
            lines, mode, foreign = found
            result = HookResult(
                status=0, output=b"\n".join(lines), names=[str(mode), "1" if foreign else ""]
            )
    elif req is not None and req.kind == "attach" and req.module in attachable.pending:
        result = _attach(req.module, paths[req.module], attachable, sender)
    payload = _ENCODER.encode(result)
    view = memoryview(payload)
    while view:
        view = view[os.write(rep_w, view) :]
    os.close(rep_w)


class UnsafeHookValue(Exception):  # noqa: N818 - a refusal, named as rsync's message
    """A %RSYNC_*% value holds a character a shell (or a nested one) would act on."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


_SHELL_UNSAFE: Final = frozenset("'\"`$\\;&|<>()*?[]# !~{}")


def _shell_unsafe(value: str) -> bool:
    """rsync: loadparm.c shell_unsafe_value()."""
    return any(c in _SHELL_UNSAFE or ord(c) < 0x20 or ord(c) == 0x7F for c in value)


def _shell_escape(value: str, context: str) -> str:
    """rsync: loadparm.c expand_vars_shell_escape() (context: "", "'" or '"')."""
    out = []
    for c in value:
        if context == '"' and c in '\\"`$':
            out.append("\\" + c)
        elif c == "'":
            out.append("'\\''")
        else:
            out.append(c)
    text = "".join(out)
    return text if context == "'" else f"'{text}'"


def expand_hook_vars(command: str, env: dict[str, str]) -> str:
    """``%VAR%`` in a hook command replaced as rsync does before it runs the shell.

    A variable that is set is replaced; an ``RSYNC_*`` one (its value comes from the
    client) is quoted for where it stands in the command, and refused when it holds a
    shell metacharacter, since a hook may pass it on to a second shell. Anything else
    stays as written.

    Raises:
        UnsafeHookValue: an ``RSYNC_*`` value with a metacharacter (rsync: exit 4).

    rsync: loadparm.c expand_vars() with shell_escape.
    """
    out: list[str] = []
    context = ""  # "", "'" or '"'
    escaped = False
    i = 0
    n = len(command)
    while i < n:
        c = command[i]
        if c == "%" and i + 1 < n and "A" <= command[i + 1] <= "Z":
            end = command.find("%", i + 1)
            name = command[i + 1 : end] if end > 0 else ""
            if name in env:
                value = env[name]
                if name.startswith(_ENV_PREFIX):
                    if _shell_unsafe(value):
                        raise UnsafeHookValue(name)
                    value = _shell_escape(value, context)
                out.append(value)
                i = end + 1
                continue
        if context == "'":
            if c == "'":
                context = ""
        elif escaped:
            escaped = False
        elif c == "\\":
            escaped = True
        elif context == '"':
            if c == '"':
                context = ""
        elif c in "'\"":
            context = c
        out.append(c)
        i += 1
    return "".join(out)


_SET_BEFORE_HOOKS: Final = ("RSYNC_HOST_NAME", "RSYNC_HOST_ADDR", "RSYNC_USER_NAME")


def _expansion_env(req: _Request, module_path: str) -> dict[str, str]:
    """The variables a hook command's %VAR% sees: those rsync has set when it expands it.

    rsync expands every hook command once, before it forks the first one: the module's
    name and path, the client's host and (after authentication) user name are set; the
    request, arguments, pid and exit status are not yet, so %RSYNC_REQUEST% and the like
    come from the daemon's own environment, or stay as written.

    rsync: clientserver.c rsync_module() (lp_prexfer_exec() before set_env_num("RSYNC_PID")).
    """
    env = dict(os.environ)
    env.update({k: req.env[k] for k in _SET_BEFORE_HOOKS if req.env.get(k)})
    env["RSYNC_MODULE_NAME"] = req.module
    env["RSYNC_MODULE_PATH"] = module_path
    return env


def _run_command(command: str, req: _Request, module_path: str) -> HookResult:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_ENV_PREFIX)}
    env.update({k: v for k, v in req.env.items() if k.startswith(_ENV_PREFIX) and "\0" not in v})
    env["RSYNC_MODULE_NAME"] = req.module
    env["RSYNC_MODULE_PATH"] = module_path
    try:
        command = expand_hook_vars(command, _expansion_env(req, module_path))
    except UnsafeHookValue as exc:
        return HookResult(status=-1, refused=exc.name)
    capture = req.hook == "pre_xfer_exec"
    try:
        proc = subprocess.run(  # noqa: S602 - the operator's command, run by the shell as rsync does
            command,
            shell=True,
            input=req.stdin,
            stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
            stderr=None,
            env=env,
            cwd="/",
            check=False,
        )
    except OSError:
        return HookResult(status=-1)
    code = proc.returncode
    status = (-code & 0x7F) if code < 0 else (code & 0xFF) << 8  # a wait status, as rsync's
    output = (proc.stdout or b"")[:_MAX_OUTPUT] if capture else b""
    return HookResult(status=status, output=output.replace(b"\r\n", b"\n"))


def _serve_name_converter(
    req_r: int, rep_w: int, hooks: dict[str, dict[str, str]], paths: dict[str, str]
) -> None:
    """Run a module's name converter for one connection and relay its lines.

    The first line names the module, then the environment (``NAME=VALUE`` lines up to
    an empty one, ``RSYNC_*`` only); every later line is a request, answered by one
    line of the program's (an empty line when it says nothing more).

    rsync: clientserver.c start_pre_exec() (for the name converter), namecvt_call().
    """
    requests = os.fdopen(req_r, "rb")
    module = requests.readline(_MAX_NAMECVT_LINE).rstrip(b"\n").decode("utf-8", "replace")
    command = hooks.get(module, {}).get(_NAMECVT)
    env = {k: v for k, v in os.environ.items() if not k.startswith(_ENV_PREFIX)}
    while True:
        line = requests.readline(_MAX_NAMECVT_LINE).rstrip(b"\n")
        if not line:
            break
        key, _, value = line.decode("utf-8", "surrogateescape").partition("=")
        if key.startswith(_ENV_PREFIX):
            env[key] = value
    env["RSYNC_MODULE_NAME"] = module
    env["RSYNC_MODULE_PATH"] = paths.get(module, "")
    if not command:
        return
    proc = subprocess.Popen(  # noqa: S602 - the operator's command, run by the shell as rsync does
        command,
        shell=True,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
        cwd="/",
    )
    assert proc.stdin is not None  # noqa: S101 - PIPE above
    assert proc.stdout is not None  # noqa: S101 - PIPE above
    try:
        while True:
            request = requests.readline(_MAX_NAMECVT_LINE)
            if not request.endswith(b"\n"):
                break
            proc.stdin.write(request)
            proc.stdin.flush()
            answer = proc.stdout.readline(_MAX_NAMECVT_LINE)
            if not answer.endswith(b"\n"):
                break  # the program ended or answered too much: no more answers
            os.write(rep_w, answer)
    except OSError:
        pass
    finally:
        os.close(rep_w)
        with contextlib.suppress(OSError):
            proc.stdin.close()
        proc.wait()


class NameConverterSession:
    """A connection's line to its module's name converter (run by the helper).

    rsync: clientserver.c namecvt_call().
    """

    def __init__(self, req_w: int, rep_r: int) -> None:
        self._req_w = req_w
        self._answers = os.fdopen(rep_r, "rb")

    def __call__(self, request: str, argument: str) -> str | None:
        """Ask ``request argument``; the answer line without its newline (None: none)."""
        line = f"{request} {argument}\n".encode("utf-8", "surrogateescape")
        if len(line) >= _MAX_NAMECVT_LINE:
            return None
        try:
            os.write(self._req_w, line)
            answer = self._answers.readline(_MAX_NAMECVT_LINE)
        except OSError:
            return None
        if not answer.endswith(b"\n"):
            return None
        return answer[:-1].decode("utf-8", "surrogateescape")


def start_name_converter(module: str, env: dict[str, str]) -> NameConverterSession | None:
    """Start ``module``'s name converter for this connection (None: the helper is gone)."""
    sock = _socket[0]
    if sock is None:
        return None
    req_r, req_w = os.pipe()
    rep_r, rep_w = os.pipe()
    try:
        sock.sendmsg(
            [b"n"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [req_r, rep_w]))]
        )
    except OSError:
        for fd in (req_r, req_w, rep_r, rep_w):
            os.close(fd)
        return None
    os.close(req_r)
    os.close(rep_w)
    head = [module, *(f"{k}={v}" for k, v in env.items() if "\n" not in k + v), ""]
    try:
        os.write(req_w, ("\n".join(head) + "\n").encode("utf-8", "surrogateescape"))
    except OSError:
        os.close(req_w)
        os.close(rep_r)
        return None
    return NameConverterSession(req_w, rep_r)


def _attach(module: str, path: str, attachable: _Attachable, pid: int) -> HookResult:
    """Bind a module's path as it is now into ``pid``'s mount namespace (see the top).

    rsync: clientserver.c rsync_module() (the module path, looked up per connection).
    """
    from rsync_daemon.safeopen import resolve_trusted_dir
    from rsync_sandbox import SandboxError, attach_module

    if pid <= 0 or os.geteuid() != 0:
        return HookResult(status=-1, output=b"the daemon is not root: restart it")
    if attachable.lock >= 0:
        fcntl.lockf(attachable.lock, fcntl.LOCK_EX)  # released when this worker ends
    try:
        real = resolve_trusted_dir(path)
    except OSError as exc:
        why = f"chdir {path} failed: {exc.strerror or exc}"
        return HookResult(status=-1, output=why.encode("utf-8", "surrogateescape"))
    try:
        target = attach_module(real, module, pid=pid, read_only=module not in attachable.writable)
    except SandboxError as exc:
        return HookResult(status=-1, output=str(exc).encode("utf-8", "replace"))
    return HookResult(status=0, names=[target])


def read_secrets(module: str) -> tuple[list[bytes], int, bool] | bool | None:
    """The module's secrets file as it is now: (lines, mode, root reads another's file).

    Returns:
        None when the file is unusable now; False when the helper cannot answer (use
        the copy read at start-up).
    """
    result = _ask(_Request(kind="secrets", module=module))
    if result is None:
        return False
    if result.status != 0 or len(result.names) != 2 or not result.names[0].isdigit():
        return None
    return result.output.split(b"\n"), int(result.names[0]), bool(result.names[1])


def attach_module(module: str) -> tuple[str | None, str]:
    """Ask the helper to bind ``module``'s path as it is now for this connection (blocking).

    Returns:
        (its path in this process's view, "") once attached; else (None, the reason).
    """
    result = _ask(_Request(kind="attach", module=module))
    if result is None:
        return None, HELPER_GONE
    if result.status != 0 or not result.names:
        return None, result.output.decode("utf-8", "replace") or "not attached"
    return result.names[0], ""


def _client_name(addr: str) -> str:
    """rsync: clientname.c client_name() (reverse, confirmed by forward, else UNKNOWN)."""
    try:
        name = socket.getnameinfo((addr, 0), socket.NI_NAMEREQD)[0]
    except (OSError, UnicodeError):
        return "UNKNOWN"
    if addr in _addresses(name):
        return name
    return "UNKNOWN"


def _addresses(name: str) -> list[str]:
    try:
        infos = socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    return sorted({str(info[4][0]) for info in infos})


def _ask(req: _Request) -> HookResult | None:
    sock = _socket[0]
    if sock is None:
        return None
    req_r, req_w = os.pipe()
    rep_r, rep_w = os.pipe()
    try:
        sock.sendmsg(
            [b"r"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [req_r, rep_w]))]
        )
    except OSError:
        for fd in (req_r, req_w, rep_r, rep_w):
            os.close(fd)
        return None
    os.close(req_r)
    os.close(rep_w)
    try:
        payload = _ENCODER.encode(req)
        view = memoryview(payload)
        while view:
            view = view[os.write(req_w, view) :]
    except OSError:
        pass
    finally:
        os.close(req_w)
    try:
        data = _read_all(rep_r, _MAX_REQUEST)
    finally:
        os.close(rep_r)
    try:
        return _RESULT_DECODER.decode(data)
    except msgspec.DecodeError:
        return None


def host_pid() -> int | None:
    """This process's pid outside the daemon's PID namespace (None: not known).

    Inside the namespace ``getpid()`` is a small number that names nothing to an
    operator (or to ``kill``); the helper, started before the namespace, is told the
    caller's pid by the kernel.
    """
    sock = _socket[0]
    if sock is None:
        return None
    rep_r, rep_w = os.pipe()
    try:
        sock.sendmsg([b"p"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [rep_w]))])
    except OSError:
        os.close(rep_r)
        return None
    finally:
        os.close(rep_w)
    try:
        data = _read_all(rep_r, 32)
    finally:
        os.close(rep_r)
    return int(data) if data.isdigit() and int(data) > 0 else None


def run_hook(module: str, hook: str, env: dict[str, str], stdin: bytes = b"") -> HookResult:
    """Run a module's ``early_exec``, ``pre_xfer_exec`` or ``post_xfer_exec`` (blocking).

    Returns:
        The result; ``status`` -1 when the helper could not run it.
    """
    result = _ask(_Request(kind="exec", module=module, hook=hook, env=env, stdin=stdin))
    return result if result is not None else HookResult(status=-1)


def reverse_lookup(addr: str) -> str:
    """The confirmed host name of ``addr``, or ``UNKNOWN`` (blocking)."""
    result = _ask(_Request(kind="reverse", name=addr))
    return result.names[0] if result is not None and result.names else "UNKNOWN"


def forward_lookup(name: str) -> list[str] | None:
    """The addresses of host ``name`` (empty: it does not resolve; None: cannot ask)."""
    result = _ask(_Request(kind="forward", name=name))
    return None if result is None else result.names
