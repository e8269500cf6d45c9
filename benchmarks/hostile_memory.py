"""Peak RSS of one daemon connection under hostile input: pyrsyncd beside ``rsync --daemon``.

Needs only Python (with this repository's packages installed) and rsync. Starts both daemons
on free ports of 127.0.0.1, each serving a module ``mod`` that holds one file, plays a raw
protocol-29 client that pulls ``mod/`` (the daemon is the sender) and sends one of:

``none``: the floor to compare with: an empty filter list, read the file list, hang up.

``sums``: after an empty filter list and the file list, a transfer request for ``keep.txt``
whose checksum header claims 2^31-1 block sums, then --sums-mib MiB of sums (or until the
daemon drops the connection).

``rules``: a filter list of --rules rules before the file list; then read until the file
list arrives (the rules were accepted) or the connection ends, and hang up.

Peak RSS of the connection: the largest VmHWM among the daemon's new descendants (the
process it forked for the connection, and any it forks), read from /proc every 10 ms while
the attack lasts; a high-water mark, so polling misses nothing but the last 10 ms of a
process. pyrsyncd also logs its connection's peak (``wait4``), shown in its outcome. Both
daemons fork per connection, so both figures start from the daemon's size at the fork.

    python benchmarks/hostile_memory.py [--sums-mib 64] [--rules 1000000]
    python benchmarks/hostile_memory.py --inputs none,sums --rsync /usr/local/bin/rsync
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_data import descendants, free_port, our_program, wait_port  # noqa: E402

INPUTS = ("none", "sums", "rules")
ITEM_TRANSFER = 0x8000
MPLEX_BASE = 7
LOCAL = ["--address=127.0.0.1"]


@dataclass
class Daemon:
    name: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def start_daemon(name: str, argv: list[str], root: Path) -> Daemon:
    conf = root / f"{name}.conf"
    log = root / f"{name}.log"
    module = root / "mod"
    conf.write_text(
        f"use chroot = no\nreverse lookup = no\nlog file = {log}\n[mod]\npath = {module}\n"
    )
    port = free_port()
    proc = subprocess.Popen(
        [*argv, "--daemon", "--no-detach", f"--config={conf}", f"--port={port}", *LOCAL],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_port(port)
    return Daemon(name, port, proc, log)


def _cpu_ticks(pid: int) -> int:
    """A process's user + system CPU time in clock ticks; 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)


def _hwm_kib(pid: int) -> int:
    """A process's peak resident set (VmHWM) in KiB; 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


@dataclass
class _Sampler:
    """Largest VmHWM among the daemon's descendants that were not there at the start, and
    their CPU time (the last seen of each: up to 10 ms of a process's end is missed)."""

    daemon: Daemon
    kib: int = 0
    ticks: dict[int, int] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)

    def _loop(self) -> None:
        while not self._stop.is_set():
            for pid in descendants(self.daemon.proc.pid):
                if pid not in self._before:
                    self.kib = max(self.kib, _hwm_kib(pid))
                    self.ticks[pid] = max(self.ticks.get(pid, 0), _cpu_ticks(pid))
            time.sleep(0.01)

    @property
    def cpu_seconds(self) -> float:
        return sum(self.ticks.values()) / os.sysconf("SC_CLK_TCK")

    def __enter__(self) -> _Sampler:
        self._before = set(descendants(self.daemon.proc.pid))
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


class _Reader:
    """Drains the daemon's output in a thread (the attack only writes) until it closes."""

    def __init__(self, sock: socket.socket, initial: bytes) -> None:
        self.sock = sock
        self.data = bytearray(initial)
        self.closed = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            try:
                chunk = self.sock.recv(65536)
            except OSError:
                chunk = b""
            if not chunk:
                self.closed.set()
                return
            self.data += chunk

    def wait(self, until: bytes, timeout: float) -> None:
        """Until ``until`` is in the payload, the daemon closes, or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.closed.is_set():
            if until and until in demux(bytes(self.data))[0]:
                return
            time.sleep(0.05)


def demux(raw: bytes) -> tuple[bytes, list[str]]:
    """rsync's multiplexed stream: the data, and the text of the messages."""
    data = bytearray()
    messages: list[str] = []
    pos = 0
    while pos + 4 <= len(raw):
        (head,) = struct.unpack_from("<I", raw, pos)
        tag, length = (head >> 24) - MPLEX_BASE, head & 0xFFFFFF
        body = raw[pos + 4 : pos + 4 + length]
        pos += 4 + length
        if tag == 0:
            data += body
        else:
            messages.append(body.decode("utf-8", "replace").strip())
    return bytes(data), messages


def _connect(port: int) -> tuple[socket.socket, bytes]:
    """Greeting, module, arguments of a pull of ``mod/``; returns the socket and what follows
    the daemon's "@RSYNCD: OK" (the checksum seed, then multiplexed output)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=600)
    sock.sendall(b"@RSYNCD: 29.0\nmod\n")
    raw = b""
    while b"@RSYNCD: OK\n" not in raw:
        chunk = sock.recv(4096)
        if not chunk:
            msg = f"no @RSYNCD: OK from port {port}: {raw!r}"
            raise SystemExit(msg)
        raw += chunk
    sock.sendall(b"--server\n--sender\n-r\n.\nmod/\n\n")
    rest = raw.split(b"@RSYNCD: OK\n", 1)[1]
    while len(rest) < 4:
        rest += sock.recv(4096)
    return sock, rest[4:]


def _send(sock: socket.socket, data: bytes | bytearray) -> bool:
    """False once the daemon has dropped the connection."""
    try:
        sock.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        return False
    return True


def attack_sums(port: int, sums_mib: int) -> tuple[str, int]:
    """The checksum attack; returns what happened on the wire and the client's port."""
    sock, rest = _connect(port)
    with sock:
        reader = _Reader(sock, rest)
        _send(sock, b"\0\0\0\0")  # an empty filter list
        reader.wait(b"keep.txt", 60)
        # The list of "mod/" holds "." and "keep.txt": keep.txt is index 1 (protocol 29).
        head = struct.pack("<iHiiii", 1, ITEM_TRANSFER, 2**31 - 1, 700, 16, 0)
        sent = 0
        if _send(sock, head):
            row = struct.pack("<i", 12345) + b"s" * 16
            chunk = row * 50_000  # about 1 MiB
            while sent < sums_mib << 20 and _send(sock, chunk):
                sent += len(chunk)
        reader.wait(b"", 60)
        return _hang_up(reader, f"{sent / (1 << 20):.0f} MiB of sums sent")


def baseline(port: int) -> tuple[str, int]:
    """No attack: an empty filter list, the file list, hang up (a connection's floor)."""
    sock, rest = _connect(port)
    with sock:
        reader = _Reader(sock, rest)
        _send(sock, b"\0\0\0\0")
        reader.wait(b"keep.txt", 60)
        return _hang_up(reader, "file list read")


def attack_rules(port: int, count: int) -> tuple[str, int]:
    """The filter-list attack; returns what happened on the wire and the client's port."""
    sock, rest = _connect(port)
    shapes = (b"- file%d.dat", b"- *.x%d", b"- dir%d/", b"- /top/a%d/b")
    with sock:
        reader = _Reader(sock, rest)
        batch = bytearray()
        sent = 0
        ok = True
        for i in range(count):
            rule = shapes[i % 4] % i
            batch += struct.pack("<i", len(rule)) + rule
            if len(batch) > 1 << 20:
                ok = _send(sock, batch)
                if not ok:
                    break
                sent = i + 1
                batch.clear()
        if ok and _send(sock, bytes(batch) + b"\0\0\0\0"):
            sent = count
        reader.wait(b"keep.txt", 600)
        listed = "file list sent" if b"keep.txt" in demux(bytes(reader.data))[0] else "no file list"
        return _hang_up(reader, f"{sent:,} rules sent, {listed}")


def _hang_up(reader: _Reader, what: str) -> tuple[str, int]:
    """Close the connection; return what happened on the wire, and the client's port."""
    _, messages = demux(bytes(reader.data))
    errors = [line for m in messages for line in m.splitlines() if line]
    said = f' (client got "{errors[0][:100]}")' if errors else ""
    closer = "daemon" if reader.closed.is_set() else "client"
    port = int(reader.sock.getsockname()[1])
    # shutdown, not only close: the reader thread's recv would keep the socket open
    with contextlib.suppress(OSError):
        reader.sock.shutdown(socket.SHUT_RDWR)
    return f"{what}{said}, closed by the {closer}", port


NOTEWORTHY = re.compile(
    r"unexpectedly|error|exceeded|invalid|overflow|too (big|large|many)|refus", re.I
)


PREFIX = re.compile(r"^\S+ \S+ \[\d+\] (\[[^\]]*:\d+[^\]]*\] )?")


def _running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _ended(daemon: Daemon, text: str, client_port: int) -> tuple[str, list[str]] | None:
    """The connection's "exit N" and log lines, once it has ended; else None.

    pyrsyncd tags its lines with the client's address and logs "done: exit N, peak RSS";
    rsync tags them with the connection's pid and ends with "rsync error: ... (code N)"
    or, when all went well, "sent N bytes  received N bytes".
    """
    if daemon.name == "pyrsyncd":
        mine = [line for line in text.splitlines() if f"127.0.0.1:{client_port}" in line]
        for line in mine:
            if m := re.search(r"done: exit (\d+), peak RSS (\S+)", line):
                return f"exit {m.group(1)}, logged peak {m.group(2)} MiB", mine
        return None
    pid = re.search(r"\[(\d+)\] rsync on mod/ from", text)
    if not pid or _running(int(pid.group(1))):
        return None
    mine = [line for line in text.splitlines() if f"[{pid.group(1)}]" in line]
    if found := re.search(r"rsync error: .*\(code (\d+)\)", "\n".join(mine)):
        return f"exit {found.group(1)}", mine
    if any(" bytes  received " in line for line in mine):
        return "exit 0", mine
    return None


def _connection_end(daemon: Daemon, before: int, client_port: int) -> str:
    """The connection's exit code and first complaint, from the daemon's log file."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        text = daemon.log.read_bytes()[before:].decode(errors="replace")
        if ended := _ended(daemon, text, client_port):
            code, mine = ended
            # without the date, the pid and pyrsyncd's "[address module]"
            said = [PREFIX.sub("", line) for line in mine if NOTEWORTHY.search(line)]
            return code + (f', "{said[0][:110]}"' if said else "")
        time.sleep(0.1)
    return "the daemon logged no end of the connection"


def measure(daemon: Daemon, which: str, args: argparse.Namespace) -> tuple[float, str]:
    before = daemon.log.stat().st_size if daemon.log.exists() else 0
    with _Sampler(daemon) as sampler:
        start = time.monotonic()
        if which == "sums":
            wire, port = attack_sums(daemon.port, args.sums_mib)
        elif which == "rules":
            wire, port = attack_rules(daemon.port, args.rules)
        else:
            wire, port = baseline(daemon.port)
        seconds = time.monotonic() - start
        end = _connection_end(daemon, before, port)
    cpu = sampler.cpu_seconds
    return sampler.kib / 1024, f"{end}; {wire}; {seconds:.1f} s, connection CPU {cpu:.2f} s"


def run(args: argparse.Namespace) -> None:
    inputs = [i for i in INPUTS if i in args.inputs.split(",")]
    with tempfile.TemporaryDirectory(prefix="pyrsync-hostile-") as tmp:
        root = Path(tmp)
        (root / "mod").mkdir()
        (root / "mod" / "keep.txt").write_text("kept\n")
        # as root, both daemons read the module as "nobody"
        os.chmod(root, 0o755)  # noqa: S103 - a directory of one public file
        daemons: list[Daemon] = []
        rows: list[tuple[str, list[tuple[float, str]]]] = []
        try:
            daemons.append(start_daemon("rsyncd", [args.rsync], root))
            daemons.append(start_daemon("pyrsyncd", our_program("pyrsyncd", "rsync_daemon"), root))
            for which in inputs:
                got = []
                for d in daemons:
                    got.append(measure(d, which, args))
                    print(f"  {which} {d.name}: {got[-1][0]:.1f} MiB", file=sys.stderr)
                rows.append((which, got))
        finally:
            for d in daemons:
                with contextlib.suppress(Exception):
                    d.stop()
    label = {
        "none": "none (a pull of the file list, then hang up)",
        "sums": f"checksum count 2^31-1, then {args.sums_mib} MiB of sums",
        "rules": f"{args.rules:,} filter rules",
    }
    print("| input | rsync MiB | pyrsyncd MiB | rsync outcome | pyrsyncd outcome |")
    print("|---|---|---|---|---|")
    for which, ((r_mib, r_out), (p_mib, p_out)) in rows:
        print(f"| {label[which]} | {r_mib:.1f} | {p_mib:.1f} | {r_out} | {p_out} |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--inputs", default=",".join(INPUTS), help="of none, sums, rules")
    p.add_argument("--sums-mib", type=int, default=64, help="block sums to stream after the header")
    p.add_argument("--rules", type=int, default=1_000_000, help="filter rules to send")
    p.add_argument("--rsync", default="rsync", help="the rsync whose daemon to compare with")
    args = p.parse_args()
    if not shutil.which(args.rsync):
        msg = f"no rsync at {args.rsync}"
        raise SystemExit(msg)
    run(args)


if __name__ == "__main__":
    main()
